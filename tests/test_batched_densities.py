"""Batched log densities (NumPy, JAX, PyTorch) and the vectorized Metropolis-Hastings
moves around them: each kernel reaches its Gaussian target from prior draws (moments
within 4 standard errors of independent chains), the MH correction is there, gradients
come from JAX, numbers are reproducible and independent of how chains are split, and
bad outputs give one clear error."""
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

import neqsim as nq
from neqsim._numba.rng import make_states
from neqsim.sampling import batched
from neqsim.sampling.batched import BatchedLogDensity, BatchedMover

D = 5
MU = np.array([1.0, -0.5, 0.3, 2.0, 0.0])
S = np.array([0.7, 1.0, 1.5, 0.8, 1.2])
PRIOR_S = 3.0  # the likelihood path's prior N(0, 3^2 I)


def log_target(X):
    return -0.5 * np.sum(((X - MU) / S) ** 2, axis=1)


def grad_target(X):
    return -(X - MU) / S ** 2


def log_ref(X):  # the geometric path's reference N(0, I)
    return -0.5 * np.sum(X * X, axis=1)


def grad_ref(X):
    return -X


def log_prior(X):
    return -0.5 * np.sum((X / PRIOR_S) ** 2, axis=1)


def grad_prior(X):
    return -X / PRIOR_S ** 2


def model(path):
    """(f0, f1, prior scale, exact mean, exact variance) of pi_1 on this path."""
    f1 = nq.log_density(log_target, batched=True, grad=grad_target)
    if path == "geometric":  # f_1 is the target itself
        return nq.log_density(log_ref, grad=grad_ref), f1, 1.0, MU, S ** 2
    var = 1.0 / (1.0 / S ** 2 + 1.0 / PRIOR_S ** 2)  # Gaussian prior x likelihood
    return nq.log_density(log_prior, grad=grad_prior), f1, PRIOR_S, var * MU / S ** 2, var


def z_scores(X, mean, var):
    """z of each coordinate's sample mean and sample variance: the chains are independent
    (own start, own stream), so the standard errors are those of n iid draws."""
    n = X.shape[0]
    zm = (X.mean(0) - mean) / np.sqrt(var / n)
    zv = (X.var(0, ddof=1) - var) / (var * np.sqrt(2.0 / (n - 1)))
    return zm, zv


def assert_moments(X, mean, var, what):
    zm, zv = z_scores(X, mean, var)
    assert np.all(np.abs(zm) < 4), f"{what}: mean z = {np.round(zm, 2)}"
    assert np.all(np.abs(zv) < 4), f"{what}: variance z = {np.round(zv, 2)}"


def start(mover, n, scale, seed):
    X = scale * np.random.default_rng(seed).standard_normal((n, D))
    a, b = mover.components(X)
    return X, a, b, make_states(seed + 100, n)


# (kernel, eps, moves): HMC's trajectory eps * L = 1.5 stays away from the half periods
# of every coordinate (fixed-length HMC mixes slowly near them)
KERNELS = {"rwm": (nq.kernels.RandomWalk(), 0.6, 400),
           "mala": (nq.kernels.MALA(), 0.7, 150),
           "hmc": (nq.kernels.HMC(n_leapfrog=5), 0.3, 40)}


@pytest.mark.parametrize("path", ["geometric", "likelihood"])
@pytest.mark.parametrize("name", list(KERNELS))
def test_kernels_reach_the_target_from_prior_draws(name, path):
    """4000 independent chains from exact draws of f_0, moved at t = 1: the means and
    variances of pi_1 (the target, or the Gaussian posterior) within 4 sigma."""
    kernel, eps, n_moves = KERNELS[name]
    f0, f1, scale, mean, var = model(path)
    mover = BatchedMover(f0, f1, path, kernel)
    X, a, b, rng = start(mover, 4000, scale, seed=1)
    acc = mover.move(X, a, b, rng, 1.0, eps, n_moves)
    assert 0.3 < acc.mean() / n_moves < 0.999
    assert_moments(X, mean, var, f"{name}/{path}")
    a2, b2 = mover.components(X)  # the components were carried with the moves
    np.testing.assert_allclose(a, a2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b, b2, rtol=1e-12, atol=1e-12)


def test_the_moment_test_fails_without_the_mh_correction(monkeypatch):
    """The test above can fail: MALA with its proposal-density ratio dropped (a biased
    kernel) misses the target variance by far more than 4 sigma."""
    monkeypatch.setattr(batched, "_mala_log_q", lambda x, y, z, gy, eps: 0.0)
    f0, f1, scale, mean, var = model("geometric")
    mover = BatchedMover(f0, f1, "geometric", nq.kernels.MALA())
    X, a, b, rng = start(mover, 4000, scale, seed=1)
    mover.move(X, a, b, rng, 1.0, 1.0, 150)
    zm, zv = z_scores(X, mean, var)
    assert np.max(np.abs(np.concatenate([zm, zv]))) > 8


@pytest.mark.parametrize("name", ["mala", "hmc"])
def test_a_wrong_sign_gradient_collapses_acceptance_but_not_the_target(name):
    """MALA and HMC read the user's gradient: with its sign flipped the proposals run
    uphill and acceptance collapses, but the Metropolis-Hastings correction (with the
    same wrong gradient in the proposal densities / the leapfrog) keeps the target
    invariant: exact draws stay exact draws."""
    kernel, eps, _ = KERNELS[name]
    f0 = nq.log_density(log_ref, grad=grad_ref)
    right = nq.log_density(log_target, grad=grad_target)
    wrong = nq.log_density(log_target, grad=lambda X: -grad_target(X))
    n, n_moves = 4000, 30
    rates = {}
    for label, f1 in (("right", right), ("wrong", wrong)):
        mover = BatchedMover(f0, f1, "geometric", kernel)
        X = MU + S * np.random.default_rng(5).standard_normal((n, D))
        a, b = mover.components(X)
        acc = mover.move(X, a, b, make_states(6, n), 1.0, eps, n_moves)
        rates[label] = acc.mean() / n_moves
        assert_moments(X, MU, S ** 2, f"{name}, {label} gradient")
    assert rates["right"] > 0.8
    assert rates["wrong"] < 0.25 * rates["right"], rates


def test_zero_undefined_and_infinite_densities_are_rejections():
    """-inf (a hard wall at x0 = 0), NaN (x1 > 2) and +inf (x2 > 3) log densities at a
    proposal are rejections, never errors: no chain crosses, and the chains keep the
    truncated Gaussian exact (its moments from scipy, within 4 sigma)."""
    def log_f(X):
        v = -0.5 * np.sum(X * X, axis=1)
        v = np.where(X[:, 0] < 0, -np.inf, v)
        v = np.where(X[:, 1] > 2, np.nan, v)
        return np.where(X[:, 2] > 3, np.inf, v)

    def grad_f(X):
        return np.where(X[:, 1:2] > 2, np.nan, -X)

    f = nq.log_density(log_f, grad=grad_f, name="walled")
    flat = nq.log_density(lambda X: np.zeros(X.shape[0]), grad=np.zeros_like)
    n = 4000
    dists = [stats.truncnorm(0, np.inf), stats.truncnorm(-np.inf, 2),
             stats.truncnorm(-np.inf, 3), stats.norm(), stats.norm()]
    for kernel, eps, n_moves in KERNELS.values():
        mover = BatchedMover(flat, f, "likelihood", kernel)
        r = np.random.default_rng(8)
        X = np.column_stack([d.rvs(n, random_state=r) for d in dists])
        a, b = mover.components(X)
        mover.move(X, a, b, make_states(9, n), 1.0, eps * 1.5, min(n_moves, 60))
        assert X[:, 0].min() >= 0 and X[:, 1].max() <= 2 and X[:, 2].max() <= 3
        assert np.all(np.isfinite(a + b))
        assert_moments(X, np.array([d.mean() for d in dists]),
                       np.array([d.var() for d in dists]), type(kernel).__name__)


def test_one_call_of_the_users_function_per_proposal():
    calls = {"f": 0, "g": 0}

    def f(X):
        calls["f"] += 1
        return log_target(X)

    def g(X):
        calls["g"] += 1
        return grad_target(X)

    f0 = nq.log_density(log_ref, grad=grad_ref)
    n = 50
    rwm = BatchedMover(f0, nq.log_density(f, batched=True), "geometric",
                       nq.kernels.RandomWalk(0.5))
    X, a, b, rng = start(rwm, n, 1.0, seed=2)
    calls["f"] = 0
    rwm.move(X, a, b, rng, 0.5, 0.5, 3)
    assert calls["f"] == 3 and rwm.n_evaluations == 4 * n
    hmc = BatchedMover(f0, nq.log_density(f, grad=g), "geometric", nq.kernels.HMC(0.2, 4))
    X, a, b, rng = start(hmc, n, 1.0, seed=2)
    calls.update(f=0, g=0)
    hmc.move(X, a, b, rng, 0.5, 0.2, 2)  # the gradient at the start, then one per leapfrog
    assert calls == {"f": 1 + 8, "g": 1 + 8}
    hmc.move(X, a, b, rng, 0.7, 0.2, 2)  # it ended at X: its gradients are reused
    assert calls == {"f": 1 + 16, "g": 1 + 16}
    assert hmc.f1.n_evaluations == n * (1 + 1 + 16)


# ---- reproducibility ------------------------------------------------------------------

@pytest.mark.parametrize("name", list(KERNELS))
def test_same_streams_same_numbers_and_splitting_chains_changes_nothing(name):
    kernel, eps, _ = KERNELS[name]
    f0, f1, scale, _, _ = model("likelihood")
    n = 300

    def run(lo, hi, block=None):
        mover = BatchedMover(f0, f1, "likelihood", kernel)
        X, a, b, rng = start(mover, n, scale, seed=4)
        X, a, b, rng = (np.ascontiguousarray(v[lo:hi]) for v in (X, a, b, rng))
        acc = mover.move(X, a, b, rng, 0.6, eps, 5, block=block)
        return X, a, b, rng, acc

    full = run(0, n)
    again = run(0, n)
    halves = [np.concatenate(p) for p in zip(run(0, 120), run(120, n))]
    blocks = run(0, n, block=64)
    before = start(BatchedMover(f0, f1, "likelihood", kernel), n, scale, seed=4)
    assert not np.array_equal(full[3], before[3])  # the streams advanced
    assert full[4].sum() > 0
    for other in (again, halves, blocks):
        for u, v in zip(full, other):
            np.testing.assert_array_equal(u, v)


# ---- JAX and PyTorch ------------------------------------------------------------------

@pytest.fixture
def jax64():
    """JAX in float64 for the test (neqsim never changes JAX's configuration; a float32
    density gets a warning, tested below)."""
    jax = pytest.importorskip("jax")
    old = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", old)


def test_jax_densities_get_their_gradient_from_jax(jax64):
    jax = jax64
    jnp = jax.numpy

    def log_target_jax(X):
        return -0.5 * jnp.sum(((X - MU) / S) ** 2, axis=1)

    def scalar(x):
        return -0.5 * jnp.sum(((x - MU) / S) ** 2)

    X = np.random.default_rng(3).standard_normal((64, D))
    for fn in (log_target_jax, jax.jit(log_target_jax), jax.vmap(scalar)):
        f = nq.log_density(fn, batched=True)
        assert f.has_gradient and f.framework == "jax"
        v, g = f.value_grad(X)
        assert v.dtype == np.float64 and g.dtype == np.float64 and g.shape == (64, D)
        np.testing.assert_allclose(v, log_target(X), rtol=0, atol=1e-10)
        np.testing.assert_allclose(g, grad_target(X), rtol=0, atol=1e-10)
        assert f.n_evaluations == 64


def test_jax_and_numpy_versions_of_a_model_agree(jax64):
    """The same model in JAX (gradient from jax) and NumPy (analytic gradient): with the
    same streams the chains are the same up to rounding; with different streams the
    moments agree with each other and with the exact ones (4 sigma)."""
    jnp = jax64.numpy
    f0 = nq.log_density(log_ref, grad=grad_ref)
    fj = nq.log_density(lambda X: -0.5 * jnp.sum(((X - MU) / S) ** 2, axis=1),
                        batched=True, name="jax_target")
    fn = nq.log_density(log_target, grad=grad_target)
    n, eps, n_moves = 4000, 0.7, 150
    out = {}
    for label, f1, seed in (("jax", fj, 1), ("numpy", fn, 1), ("numpy2", fn, 11)):
        mover = BatchedMover(f0, f1, "geometric", nq.kernels.MALA())
        X, a, b, rng = start(mover, n, 1.0, seed=seed)
        mover.move(X, a, b, rng, 1.0, eps, n_moves)
        out[label] = X
        assert_moments(X, MU, S ** 2, label)
    np.testing.assert_allclose(out["jax"], out["numpy"], rtol=0, atol=1e-8)
    xj, x2 = out["jax"], out["numpy2"]
    se = np.sqrt(xj.var(0, ddof=1) / n + x2.var(0, ddof=1) / n)
    assert np.all(np.abs(xj.mean(0) - x2.mean(0)) < 4 * se)
    se_v = S ** 2 * np.sqrt(2.0 / (n - 1)) * np.sqrt(2.0)
    assert np.all(np.abs(xj.var(0, ddof=1) - x2.var(0, ddof=1)) < 4 * se_v)


def test_float32_jax_warns_once():
    jax = pytest.importorskip("jax")
    old = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", False)
    try:
        f = nq.log_density(lambda X: -0.5 * jax.numpy.sum(X * X, axis=1), batched=True)
        with pytest.warns(UserWarning, match="float32.*jax_enable_x64"):
            v = f.value(np.ones((3, 2)))
        assert v.dtype == np.float64
        np.testing.assert_allclose(v, -1.0)
    finally:
        jax.config.update("jax_enable_x64", old)


def test_torch_densities_get_their_gradient_from_torch():
    torch = pytest.importorskip("torch")
    mu, s = torch.tensor(MU), torch.tensor(S)
    f = nq.log_density(lambda X: -0.5 * torch.sum(((X - mu) / s) ** 2, dim=1), batched=True)
    assert f.framework == "torch" and f.has_gradient
    X = np.random.default_rng(3).standard_normal((64, D))
    v, g = f.value_grad(X)
    np.testing.assert_allclose(v, log_target(X), rtol=0, atol=1e-10)
    np.testing.assert_allclose(g, grad_target(X), rtol=0, atol=1e-10)
    mover = BatchedMover(nq.log_density(log_ref, grad=grad_ref), f, "geometric",
                         nq.kernels.MALA())
    Xs, a, b, rng = start(mover, 64, 1.0, seed=1)
    assert mover.move(Xs, a, b, rng, 1.0, 0.7, 5).sum() > 0


def test_neqsim_imports_no_framework_for_a_numpy_density():
    code = ("import sys, numpy as np, neqsim as nq\n"
            "from neqsim.sampling.batched import BatchedMover\n"
            "from neqsim._numba.rng import make_states\n"
            "f = nq.log_density(lambda X: -0.5 * (X * X).sum(1), batched=True)\n"
            "m = BatchedMover(f, f, 'likelihood', nq.kernels.RandomWalk(0.5))\n"
            "X = np.zeros((4, 2)); a, b = m.components(X)\n"
            "m.move(X, a, b, make_states(1, 4), 0.5, 0.5, 2)\n"
            "print('jax' in sys.modules, 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


# ---- the decorator and bad input ------------------------------------------------------

def test_log_density_returns_a_batched_density_only_when_asked():
    def one(x):
        return -0.5 * np.sum(x * x)
    assert type(nq.log_density(one)) is nq.LogDensity
    assert type(nq.log_density(name="p")(one)) is nq.LogDensity
    assert type(nq.log_density(log_ref, batched=True)) is BatchedLogDensity
    assert type(nq.log_density(batched=True)(log_ref)) is BatchedLogDensity
    f = nq.log_density(log_ref, grad=grad_ref, name="ref")
    assert type(f) is nq.BatchedLogDensity and f.has_gradient and f.name == "ref"
    assert "BatchedLogDensity" in nq.__all__
    assert not nq.log_density(log_ref, batched=True).has_gradient


N_BAD = 7


@pytest.mark.parametrize("fn, grad, err, match", [
    (lambda X: np.zeros((X.shape[0], 1)), None, ValueError,
     r"shape \(7, 1\).*expected \(7,\)"),
    (lambda X: np.zeros(X.shape[0] - 1), None, ValueError, r"shape \(6,\)"),
    (lambda X: np.where(X[:, 0] > 0.5, np.nan, 0.0), None, ValueError,
     r"NaN at 3 of 7 points \(first: row 4"),
    (lambda X: np.full(X.shape[0], np.inf), None, ValueError, r"\+inf"),
    (lambda X: np.zeros(X.shape[0], complex), None, TypeError, r"dtype complex128"),
    (log_ref, lambda X: np.zeros((X.shape[0], 1)), ValueError,
     r"gradient of shape \(7, 1\)"),
    (log_ref, lambda X: np.full(X.shape, np.nan), ValueError, r"gradient .* not finite"),
], ids=["column", "length", "nan", "inf", "complex", "grad-shape", "grad-nan"])
def test_bad_outputs_give_one_clear_error(fn, grad, err, match):
    f = BatchedLogDensity(fn, grad=grad, name="my_density")
    X = np.linspace(0, 1, N_BAD * 2).reshape(N_BAD, 2)
    call = f.value if grad is None else f.value_grad
    with pytest.raises(err, match=match) as info:
        call(X)
    assert "my_density" in str(info.value) and "\n" not in str(info.value)


def test_bad_use_of_the_mover():
    f = nq.log_density(log_ref, batched=True, name="no_grad")
    m = BatchedMover(f, f, "likelihood", nq.kernels.MALA())
    X, a, b, rng = start(m, 5, 1.0, seed=1)
    with pytest.raises(TypeError, match="'no_grad' has no gradient"):
        m.move(X, a, b, rng, 0.5, 0.1, 1)
    with pytest.raises(TypeError, match="needs the gradient of batched log density"):
        BatchedMover(f, f, "likelihood", nq.kernels.HMC())  # known to be NumPy by now
    with pytest.raises(ValueError, match="path must be"):
        BatchedMover(f, f, "linear", nq.kernels.RandomWalk())
    with pytest.raises(TypeError, match="kernel must be"):
        BatchedMover(f, f, "likelihood", nq.Langevin(dt=0.1))
    rw = BatchedMover(f, f, "likelihood", nq.kernels.RandomWalk())
    with pytest.raises(ValueError, match="rng must be"):
        rw.move(X, a, b, rng.astype(np.int64), 0.5, 0.1, 1)
    with pytest.raises(ValueError, match="eps must be"):
        rw.move(X, a, b, rng, 0.5, -1.0, 1)
    with pytest.raises(ValueError, match="NaN"):
        rw.components(np.full((3, D), np.nan))
    with pytest.raises(ValueError, match="shape"):
        BatchedMover(BatchedLogDensity(lambda X: X), f, "likelihood",
                     nq.kernels.RandomWalk()).move(X, a, b, rng, 0.5, 0.1, 1)


def test_path_energy_conventions():
    """U = a + t b with the path's limits: a zero density of f0 is +inf everywhere on
    the geometric path (b = +inf too, so an SMC weight increment exp(-dt b) is zero),
    and t = 0 never multiplies an infinite b."""
    def log_f0(X):
        return np.where(X[:, 0] < 0, -np.inf, 0.0)

    def log_f1(X):
        return np.where(X[:, 1] < 0, -np.inf, -X[:, 0])

    X = np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    for path, b_exact in (("geometric", [1.0, np.inf, np.inf, np.inf]),
                          ("likelihood", [1.0, -1.0, np.inf, np.inf])):
        m = BatchedMover(log_f0, log_f1, path, nq.kernels.RandomWalk(0.1))
        a, b = m.components(X)
        np.testing.assert_array_equal(a, [0.0, np.inf, 0.0, np.inf])
        np.testing.assert_array_equal(b, b_exact)
        np.testing.assert_array_equal(m.energy(a, b, 0.0), a)
        np.testing.assert_array_equal(m.energy(a, b, 0.5), [0.5, np.inf, np.inf, np.inf])
