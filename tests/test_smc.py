"""Sequential Monte Carlo (issue 16): evidence with resampling, against exact answers.

The Gaussian problem is the README's: prior N(0, I_d), one observation y_j = 1 of each x_j
with noise sd 0.5, so log Z = d [-1/2 ln(2 pi 1.25) - 0.4] and the posterior is
N(0.8, 0.2 I).
"""
import math
import warnings
from math import exp, lgamma, log1p

import numpy as np
import pytest
from scipy import stats

import neqsim as nq
from neqsim.sampling.resampling import SCHEMES, resample


@nq.log_density
def log_prior(x, grad):
    s = 0.0
    for j in range(x.shape[0]):
        grad[j] = -x[j]
        s += x[j] * x[j]
    return -0.5 * s - 0.5 * x.shape[0] * np.log(2 * np.pi)


@nq.log_density
def log_likelihood(x, grad):
    s = 0.0
    for j in range(x.shape[0]):
        r = 1.0 - x[j]
        grad[j] = r / 0.25
        s += r * r
    return -0.5 * s / 0.25 - 0.5 * x.shape[0] * np.log(2 * np.pi * 0.25)


def exact_log_z(d):
    return d * (-0.5 * math.log(2 * math.pi * 1.25) - 0.4)


def prior_draws(d):
    return lambda n, rng: rng.standard_normal((n, d))


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_resampling_schemes_are_unbiased(scheme):
    """E[count of i] = m W_i: over 2000 seeded draws every particle's mean count is within
    5 standard errors of m W_i (Bonferroni over 20 particles), for m = n and m = n / 4."""
    w = np.random.default_rng(0).gamma(0.5, size=20)
    w /= w.sum()
    for m in (20, 5):
        counts = np.zeros((2000, 20))
        for r in range(2000):
            anc = resample(w, scheme, np.random.default_rng([1, r]), m)
            assert anc.size == m and np.all(np.diff(anc) >= 0)
            counts[r] = np.bincount(anc, minlength=20)
        se = counts.std(axis=0, ddof=1) / math.sqrt(2000) + 1e-12
        z = np.abs(counts.mean(axis=0) - m * w) / se
        assert np.all((z < 5) | (se < 1e-9)), (scheme, m, z.max())
    if scheme == "systematic":  # keeps every count within one of m W_i
        assert np.all(np.abs(counts[0] - 5 * w) < 1 + 1e-9)


def test_d50_gaussian_smc_reliable_where_ais_is_not():
    """d = 50 (exact log Z = -71.5255): SMC within 4 sigma and reliable; AIS with the same
    kernel and at least as many density evaluations is flagged unreliable."""
    d, exact = 50, exact_log_z(50)
    r = quiet(nq.smc, log_prior, log_likelihood, initial=prior_draws(d),
              kernel=nq.kernels.MALA("adapt", n_moves=5), n_particles=2000, seed=1,
              progress=False)
    assert r.reliable, r.estimate.warnings
    assert abs(r.log_z - exact) < 4 * r.log_z_err, (r.log_z, r.log_z_err)
    assert r.log_z_err < 0.2
    assert abs(r.mean().mean() - 0.8) < 0.02            # the posterior sample
    n_temps = -(-r.n_evaluations // (2000 * 5))          # AIS gets as many evaluations
    a = quiet(nq.ais, log_prior, log_likelihood, initial=prior_draws(d),
              schedule=nq.schedules.geometric(n_temps), n_chains=2000, seed=1,
              kernel=nq.kernels.MALA("adapt", n_moves=5), progress=False)
    assert 2000 * n_temps * 5 >= r.n_evaluations
    assert not a.reliable


@pytest.mark.slow
def test_unbiased_with_a_fixed_schedule_and_calibrated_single_run_error():
    """Fixed geometric schedule, fixed MALA steps, resampling at ESS < N/2: over 500 seeded
    replicates mean(Z_hat / Z) is within 3 standard errors of 1, and the genealogy
    error covers log Z at 1 sigma within 0.68 +- 0.05 (d = 5, N = 500)."""
    d, exact = 5, exact_log_z(5)
    vals, errs, resampled = [], [], 0
    for r in range(500):
        res = nq.smc(log_prior, log_likelihood, initial=prior_draws(d),
                     kernel=nq.kernels.MALA(0.5, n_moves=2), n_particles=500, seed=r,
                     schedule=20, options=nq.SMCOptions(adapt_step_size=False),
                     progress=False)
        vals.append(res.log_z)
        errs.append(res.log_z_err)
        resampled += res.resampled.sum()
    vals, errs = np.array(vals), np.array(errs)
    ratio = np.exp(vals - exact)
    assert abs(ratio.mean() - 1) < 3 * ratio.std(ddof=1) / math.sqrt(500), ratio.mean()
    cov = np.mean(np.abs(vals - exact) < errs)
    assert abs(cov - 0.6827) < 0.05, cov
    assert resampled > 500       # resampling happened: unbiasedness survived it


def test_adaptive_and_pilot_tempering():
    """On-line adaptive tempering and the pilot-fixed schedule both recover log Z within
    4 sigma; the pilot's schedule is the one used."""
    d, exact = 10, exact_log_z(10)
    for kind in ("adaptive", "pilot"):
        r = quiet(nq.smc, log_prior, log_likelihood, initial=prior_draws(d),
                  kernel=nq.kernels.HMC("adapt", n_leapfrog=5), n_particles=1000, seed=4,
                  schedule=kind, progress=False)
        assert r.reliable and abs(r.log_z - exact) < 4 * r.log_z_err, (kind, r)
        assert r.schedule[0] == 0 and r.schedule[-1] == 1 and np.all(np.diff(r.schedule) > 0)
        if kind == "pilot":
            np.testing.assert_array_equal(r.schedule, r.pilot["schedule"])


def test_waste_free_smc():
    """Waste-free (P = 10 states per chain, N = 2000): log Z within 4 sigma, reliable."""
    d, exact = 10, exact_log_z(10)
    r = quiet(nq.smc, log_prior, log_likelihood, initial=prior_draws(d),
              kernel=nq.kernels.MALA("adapt"), n_particles=2000, seed=5,
              options=nq.SMCOptions(waste_free=10), progress=False)
    assert r.reliable and abs(r.log_z - exact) < 4 * r.log_z_err, r
    assert r.resampled.all()
    with pytest.raises(ValueError, match="divisible by the chain length"):
        nq.smc(log_prior, log_likelihood, initial=prior_draws(d), progress=False,
               kernel=nq.kernels.MALA(0.3), n_particles=2001, seed=5,
               options=nq.SMCOptions(waste_free=10))


@nq.log_density
def log_mixture(x):
    """0.3 N(-3, 0.5^2) + 0.7 N(3, 0.5^2) per coordinate product over 2-D (unnormalized x
    2): the modes at (-3, -3) and (3, 3) with weights 0.3 and 0.7; Z = 2."""
    s1 = 0.0
    s2 = 0.0
    for j in range(x.shape[0]):
        s1 += (x[j] + 3.0) ** 2
        s2 += (x[j] - 3.0) ** 2
    c = -x.shape[0] * math.log(2 * math.pi * 0.25) / 2
    a = math.log(0.3) + c - s1 / (2 * 0.25)
    b = math.log(0.7) + c - s2 / (2 * 0.25)
    m = max(a, b)
    return math.log(2.0) + m + math.log(math.exp(a - m) + math.exp(b - m))


@nq.log_density
def log_wide(x):
    s = 0.0
    for j in range(x.shape[0]):
        s += x[j] * x[j]
    return -0.5 * s / 25.0 - x.shape[0] * math.log(2 * math.pi * 25.0) / 2


def test_two_mode_mixture_log_z_and_mode_weights():
    """Geometric path from N(0, 25 I) to a two-mode mixture with weights 0.3 / 0.7 and
    Z = 2: log Z within 4 sigma, and the posterior mode weights within 4 binomial sigma
    (effective sample size) of 0.3 / 0.7."""
    r = quiet(nq.smc, log_wide, log_mixture, path="geometric",
              initial=lambda n, rng: 5.0 * rng.standard_normal((n, 2)),
              kernel=nq.kernels.RandomWalk("adapt", n_moves=10), n_particles=4000, seed=2,
              progress=False)
    assert r.reliable and abs(r.log_z - math.log(2.0)) < 4 * r.log_z_err, r
    p = float(np.sum(r.weights[r.particles[:, 0] > 0]))
    n_eff = 1.0 / np.sum(r.weights ** 2)
    assert abs(p - 0.7) < 4 * math.sqrt(0.21 / min(n_eff, r.eve_count)), (p, n_eff)


def test_same_numbers_for_threads_and_blocks():
    """Bit-identical with 1 and 2 threads and with moves in blocks of 300 particles."""
    kw = dict(initial=prior_draws(5), kernel=nq.kernels.MALA("adapt", n_moves=2),
              n_particles=1000, seed=11, progress=False)
    a = nq.smc(log_prior, log_likelihood, n_threads=1, **kw)
    b = nq.smc(log_prior, log_likelihood, n_threads=2, **kw)
    c = nq.smc(log_prior, log_likelihood, options=nq.SMCOptions(block_particles=300), **kw)
    for other in (b, c):
        assert other.log_z == a.log_z and other.log_z_err == a.log_z_err
        np.testing.assert_array_equal(other.particles, a.particles)
        np.testing.assert_array_equal(other.schedule, a.schedule)


def test_bad_inputs_say_what_to_do():
    kw = dict(initial=prior_draws(3), kernel=nq.kernels.MALA(0.3), progress=False)
    with pytest.raises(ValueError, match="resampling scheme|resample must be one of"):
        nq.smc(log_prior, log_likelihood, n_particles=10, seed=0,
               options=nq.SMCOptions(resample="bogus"), **kw)
    with pytest.raises(ValueError, match="initial samples must have shape"):
        nq.smc(log_prior, log_likelihood, n_particles=10, seed=0, progress=False,
               initial=np.zeros((5, 3)), kernel=nq.kernels.MALA(0.3))
    with pytest.raises(TypeError, match="kernel must be"):
        nq.smc(log_prior, log_likelihood, n_particles=10, seed=0, progress=False,
               initial=prior_draws(3), kernel=nq.EulerMaruyama(dt=0.1))
    with pytest.raises(ValueError, match="target_cess"):
        nq.SMCOptions(target_cess=1.0)


def test_run_file_resumes_to_the_identical_result(tmp_path, monkeypatch):
    """A run stopped after its 4th temperature (the checkpoint written, then the process
    'dies') resumes from the file to the bit-identical result of an uninterrupted run; a
    finished file returns its result; another configuration is refused; neqsim info
    describes the file."""
    import neqsim.storage.smcfile as smcfile
    kw = dict(initial=prior_draws(5), kernel=nq.kernels.MALA("adapt", n_moves=2),
              n_particles=600, seed=8, progress=False)
    full = nq.smc(log_prior, log_likelihood, **kw)
    path = tmp_path / "smc.h5"
    real = smcfile.write_checkpoint
    calls = []

    def dying(*args, **kwargs):
        real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # killed right after a checkpoint
    monkeypatch.setattr(smcfile, "write_checkpoint", dying)
    with pytest.raises(KeyboardInterrupt):
        nq.smc(log_prior, log_likelihood, out=path, **kw)
    monkeypatch.setattr(smcfile, "write_checkpoint", real)
    _, state, records, _, complete = smcfile.read_checkpoint(path)
    assert not complete and int(state["k"]) == 4 and records["t"].size == 4
    with pytest.raises(nq.RunFileError, match="exists"):
        nq.smc(log_prior, log_likelihood, out=path, **kw)
    again = nq.smc(log_prior, log_likelihood, out=path, resume=True, **kw)
    assert again.log_z == full.log_z and again.log_z_err == full.log_z_err
    np.testing.assert_array_equal(again.particles, full.particles)
    np.testing.assert_array_equal(again.schedule, full.schedule)
    done = nq.smc(log_prior, log_likelihood, out=path, resume=True, **kw)
    assert done.log_z == full.log_z and done.n_evaluations == again.n_evaluations
    with pytest.raises(nq.RunFileError, match="another SMC run"):
        nq.smc(log_prior, log_likelihood, out=path, resume=True,
               **dict(kw, n_particles=601))
    from neqsim.cli import main
    assert main(["info", str(path)]) == 0


@pytest.mark.slow
def test_same_numbers_from_a_dask_cluster():
    """Moves computed by the workers of a Dask cluster (two worker processes) give the
    bit-identical result of one process."""
    distributed = pytest.importorskip("distributed")
    kw = dict(initial=prior_draws(5), kernel=nq.kernels.MALA("adapt", n_moves=2),
              n_particles=800, seed=12, progress=False)
    local = nq.smc(log_prior, log_likelihood, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = nq.smc(log_prior, log_likelihood, executor=client.get_executor(),
                        options=nq.SMCOptions(block_particles=300), **kw)
    assert remote.log_z == local.log_z
    np.testing.assert_array_equal(remote.particles, local.particles)


def _beta_bernoulli_exact():
    from scipy.special import betaln
    return betaln(52, 55) - betaln(2, 5)   # 50 heads, 50 tails, prior Beta(2, 5)


@nq.log_density
def bb_prior(x, grad):
    """Beta(2, 5) on theta = sigmoid(x), with the Jacobian theta (1 - theta)."""
    lt = -log1p(exp(-x[0])) if x[0] > -30 else x[0]
    l1 = -log1p(exp(x[0])) if x[0] < 30 else -x[0]
    th = 1.0 / (1.0 + exp(-x[0]))
    grad[0] = 2.0 * (1.0 - th) - 5.0 * th
    return 2.0 * lt + 5.0 * l1 - (lgamma(2.0) + lgamma(5.0) - lgamma(7.0))


@nq.log_density
def bb_likelihood(x, grad):
    lt = -log1p(exp(-x[0])) if x[0] > -30 else x[0]
    l1 = -log1p(exp(x[0])) if x[0] < 30 else -x[0]
    th = 1.0 / (1.0 + exp(-x[0]))
    grad[0] = 50.0 * (1.0 - th) - 50.0 * th
    return 50.0 * lt + 50.0 * l1


def _bb_initial(n, rng):
    th = rng.beta(2.0, 5.0, n)
    return np.log(th / (1 - th))[:, None]


def test_a_model_written_in_jax():
    """Beta-Bernoulli evidence (50 heads, 50 tails, prior Beta(2, 5); exact
    Z = B(52, 55) / B(2, 5)) with the model in jax.numpy and gradients from jax: within
    4 sigma; the same model in numba agrees within 4 combined sigma."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    from jax.scipy.special import gammaln
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        def prior(X):
            x = X[:, 0]
            return (-2.0 * jax.nn.softplus(-x) - 5.0 * jax.nn.softplus(x)
                    - (gammaln(2.0) + gammaln(5.0) - gammaln(7.0)))

        def likelihood(X):
            x = X[:, 0]
            return -50.0 * jax.nn.softplus(-x) - 50.0 * jax.nn.softplus(x)
        f0 = nq.log_density(prior, batched=True)
        f1 = nq.log_density(likelihood, batched=True)
        assert f0.framework in ("jax", None)
        kw = dict(initial=_bb_initial, kernel=nq.kernels.MALA("adapt", n_moves=3),
                  n_particles=2000, seed=3, progress=False)
        rj = nq.smc(f0, f1, **kw)
        assert f0.framework == "jax" and f0.has_gradient
    finally:
        jax.config.update("jax_enable_x64", old)
    rn = nq.smc(bb_prior, bb_likelihood, **kw)
    exact = _beta_bernoulli_exact()
    assert rj.reliable and abs(rj.log_z - exact) < 4 * rj.log_z_err, (rj, exact)
    assert rn.reliable and abs(rn.log_z - exact) < 4 * rn.log_z_err, (rn, exact)
    assert abs(rj.log_z - rn.log_z) < 4 * math.hypot(rj.log_z_err, rn.log_z_err)
    theta = 1 / (1 + np.exp(-rj.particles[:, 0]))
    assert abs(float(np.dot(rj.weights, theta)) - 52 / 107) < 0.01   # posterior mean


def test_ais_and_smc_with_batched_numpy_densities():
    """The README model written in NumPy (batched, analytic gradients): AIS (an SMC that
    never resamples, on a fixed schedule) and SMC both recover log Z within 4 sigma;
    ais with out= or an adaptive step size says what batched densities support."""
    d, exact = 5, exact_log_z(5)
    c0, c1 = 0.5 * d * math.log(2 * math.pi), 0.5 * d * math.log(2 * math.pi * 0.25)
    lp = nq.log_density(lambda X: -0.5 * np.sum(X * X, 1) - c0, batched=True,
                        grad=lambda X: -X)
    ll = nq.log_density(lambda X: -0.5 * np.sum((1 - X) ** 2, 1) / 0.25 - c1, batched=True,
                        grad=lambda X: (1 - X) / 0.25)
    a = nq.ais(lp, ll, initial=prior_draws(d), schedule=nq.schedules.geometric(200),
               kernel=nq.kernels.MALA(0.3), n_chains=2000, seed=0, progress=False)
    assert a.reliable and abs(a.log_z - exact) < 4 * a.log_z_err, (a.log_z, a.log_z_err)
    s = nq.smc(lp, ll, initial=prior_draws(d), kernel=nq.kernels.HMC("adapt", n_leapfrog=4),
               n_particles=1000, seed=0, progress=False)
    assert s.reliable and abs(s.log_z - exact) < 4 * s.log_z_err, s
    with pytest.raises(ValueError, match="fixed schedule and step sizes"):
        nq.ais(lp, ll, initial=prior_draws(d), kernel=nq.kernels.MALA("adapt"),
               n_chains=100, seed=0, progress=False)
