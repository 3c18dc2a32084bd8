"""Free-energy profiles along the protocol and PMFs from pulling (issue 17), against exact
answers: every slice or bin within 4 sigma, Bonferroni-corrected over the slices."""
import math

import numpy as np
import pytest
from scipy import stats

import neqsim as nq

FOUR_SIGMA = 2 * stats.norm.sf(4.0)   # the two-sided tail of one 4-sigma test


def bonferroni(k):
    """|z| below which all of k independent Gaussian slices lie with the probability one
    4-sigma test has."""
    return stats.norm.isf(FOUR_SIGMA / (2 * k))


@pytest.fixture(scope="module")
def breathing_pair():
    """k: 1 -> 4 and back with MALA (Metropolized: the recorded work is exact), 20 000
    trajectories each way, recorded every 10 of 200 steps (crooks_pair adds one)."""
    trap = nq.systems.harmonic_trap()
    fp, rp = nq.protocols.crooks_pair(nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 198))
    mala = nq.MALA(dt=0.01)
    fwd = nq.simulate(trap, fp, mala, 20_000, seed=1, record_every=10, progress=False)
    rev = nq.simulate(trap, rp, mala, 20_000, seed=2, record_every=10, progress=False)
    return fwd, rev


@pytest.mark.parametrize("direction", ["forward", "both"])
def test_breathing_trap_profile_at_every_slice(breathing_pair, direction):
    """dF(t) = (kT/2) ln(k_t / k_0) at every recorded step within the Bonferroni-corrected
    4 sigma, forward-only (Jarzynski per slice) and bidirectional (Minh-Adib); every
    slice reliable; the exact curve is the system's own."""
    fwd, rev = breathing_pair
    p = nq.analysis.profile(fwd, rev if direction == "both" else None, n_bootstrap=100)
    k_t = p.lam[:, 1]
    np.testing.assert_allclose(p.exact, 0.5 * np.log(k_t / k_t[0]), atol=1e-12)
    z = p.z_scores()
    ok = np.isfinite(z)
    assert ok.sum() >= 18 and p.reliable.all()
    assert np.abs(z[ok]).max() < bonferroni(ok.sum()), (np.abs(z[ok]).max(), p.method)
    if direction == "both":
        b = nq.analysis.bar(fwd.work, rev.work, n_bootstrap=0)
        assert p.diagnostics["delta_f"] == pytest.approx(b.value, abs=1e-10)
        # both directions beat one where the forward alone is weakest
        one = nq.analysis.profile(fwd, n_bootstrap=0)
        assert p.std_error[-1] < one.std_error[-1]
    p.plot()


def test_profile_needs_traces_and_matching_reversals(breathing_pair):
    fwd, _ = breathing_pair
    trap = nq.systems.harmonic_trap()
    plain = nq.simulate(trap, nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 20),
                        nq.MALA(dt=0.01), 100, seed=1, progress=False)
    with pytest.raises(ValueError, match="record_every > 0"):
        nq.analysis.profile(plain)
    odd = nq.simulate(trap, nq.protocols.linear([0.0, 4.0], [0.0, 1.0], 199),
                      nq.MALA(dt=0.01), 100, seed=1, record_every=7, progress=False)
    with pytest.raises(ValueError, match="do not include every forward slice"):
        nq.analysis.profile(fwd, odd)


def _pull(base, controls, k_s, n_steps, seed, n=2000, lam=(-1.5, 1.5), dt=0.005):
    system = nq.systems.spring_pulled(base, k_s=k_s, base_controls=controls)
    proto = nq.protocols.linear([lam[0]], [lam[1]], n_steps)
    return nq.simulate(system, proto, nq.MALA(dt=dt), n, seed=seed, record_every=10,
                       record_positions=True, progress=False)


@pytest.mark.parametrize("n_steps", [200, 600, 2000])
def test_hummer_szabo_recovers_a_harmonic_pmf_at_several_speeds(n_steps):
    """U_0 = k_0 x^2 / 2 (k_0 = 1) pulled by a k_s = 5 spring from -1.5 to 1.5 at three
    speeds: G_0 on every bin with >= 100 samples within the Bonferroni-corrected 4 sigma
    of k_0 x^2 / 2 (relative to the reference bin)."""
    run = _pull(nq.systems.harmonic_trap(), [0.0, 1.0], 5.0, n_steps, seed=n_steps)
    p = nq.analysis.hummer_szabo(run, bins=30, x_range=(-2.5, 2.5))
    exact = 0.5 * p.centers ** 2
    exact -= exact[p.reference]
    use = p.reliable & (p.std_error > 0) & (p.counts >= 100)
    z = (p.value - exact)[use] / p.std_error[use]
    assert use.sum() >= 15
    assert np.abs(z).max() < bonferroni(use.sum()), (n_steps, np.abs(z).max())


def test_hummer_szabo_on_a_double_well_where_the_histogram_fails():
    """U_0 = x^4 - 2 x^2 pulled across its barrier (k_s = 10): Hummer-Szabo recovers it
    within the corrected 4 sigma, while the unweighted position histogram misses it by
    more than 0.5 kT and 6 standard errors somewhere."""
    run = _pull(nq.systems.double_well(), [2.0, 0.0], 10.0, 1000, seed=3)
    assert run.work.mean() > 1.0      # far from equilibrium: about 1.3 kT dissipated
    p = nq.analysis.hummer_szabo(run, bins=30, x_range=(-2.0, 2.0))
    exact = p.centers ** 4 - 2 * p.centers ** 2
    exact -= exact[p.reference]
    use = p.reliable & (p.std_error > 0)
    z = (p.value - exact)[use] / p.std_error[use]
    assert use.sum() >= 20 and np.abs(z).max() < bonferroni(use.sum())
    dev = np.abs(p.naive - exact)[use]
    assert dev.max() > 0.5 and (dev / p.std_error[use]).max() > 6
    p.plot(exact=lambda x: x ** 4 - 2 * x ** 2)


def test_spring_pulled_system(tmp_path):
    """U = U_0 + k_s/2 (x - lam)^2 for a built-in U_0 (rebuilt from a run file by name) and
    for a user's U_0; F(lam) by quadrature."""
    s = nq.systems.spring_pulled(nq.systems.double_well(), k_s=5.0, base_controls=[2.0, 0.0])
    x = np.array([[0.5], [1.0]])
    np.testing.assert_allclose(s.energy(x, [0.3]),
                               x[:, 0] ** 4 - 2 * x[:, 0] ** 2 + 2.5 * (x[:, 0] - 0.3) ** 2)
    np.testing.assert_allclose(s.gradient(x, [0.3])[:, 0],
                               4 * x[:, 0] ** 3 - 4 * x[:, 0] + 5.0 * (x[:, 0] - 0.3))
    run = nq.simulate(s, nq.protocols.linear([-1.0], [1.0], 20), nq.MALA(dt=0.01), 50,
                      seed=0, out=tmp_path / "pull.h5", progress=False)
    again = nq.open_run(tmp_path / "pull.h5")
    assert again.system.name == "spring_pulled" and again.system.params["k_s"] == 5.0
    np.testing.assert_array_equal(again.work, run.work)

    def u0(x, lam, out):
        out[0] = 2.0 * x[0]
        return x[0] * x[0]
    user = nq.from_functions(lambda x, lam: x[0] * x[0], lambda x, lam, out: u0(x, lam, out),
                             dim=1, n_controls=1)
    t = nq.systems.spring_pulled(user, k_s=2.0, base_controls=[0.0])
    # U = x^2 + (x - lam)^2 = 2 (x - lam/2)^2 + lam^2/2: F(lam) - F(0) = lam^2 / 2
    assert t.free_energy([1.0]) - t.free_energy([0.0]) == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(ValueError, match="base_controls"):
        nq.systems.spring_pulled(nq.systems.double_well(), k_s=1.0)


def test_minh_adib_bidirectional_pmf():
    """Forward and reverse pulls over the double well combined (Minh-Adib): within the
    corrected 4 sigma of U_0, with smaller errors than the forward pulls alone."""
    system = nq.systems.spring_pulled(nq.systems.double_well(), k_s=10.0,
                                      base_controls=[2.0, 0.0])
    fp, rp = nq.protocols.crooks_pair(nq.protocols.linear([-1.5], [1.5], 998))
    kw = dict(record_every=10, record_positions=True, progress=False)
    fwd = nq.simulate(system, fp, nq.MALA(dt=0.005), 2000, seed=5, **kw)
    rev = nq.simulate(system, rp, nq.MALA(dt=0.005), 2000, seed=6, **kw)
    one = nq.analysis.hummer_szabo(fwd, bins=30, x_range=(-2.0, 2.0), n_bootstrap=50)
    both = nq.analysis.hummer_szabo(fwd, rev, bins=30, x_range=(-2.0, 2.0), n_bootstrap=50)
    assert both.method.startswith("Minh-Adib")
    exact = both.centers ** 4 - 2 * both.centers ** 2
    exact -= exact[both.reference]
    use = both.reliable & (both.std_error > 0)
    z = (both.value - exact)[use] / both.std_error[use]
    assert use.sum() >= 20 and np.abs(z).max() < bonferroni(use.sum()), np.abs(z).max()
    common = use & one.reliable & (one.std_error > 0) & (one.reference == both.reference)
    assert np.median(both.std_error[common] / one.std_error[common]) < 1.0


def test_analyze_profile_on_the_command_line(breathing_pair, tmp_path, capsys):
    """neqsim analyze FWD REV --profile PNG prints one row per recorded step with its
    z-score against the exact profile, and writes the figure."""
    from neqsim.cli import main
    trap = nq.systems.harmonic_trap()
    fp, rp = nq.protocols.crooks_pair(nq.protocols.linear([0.0, 1.0], [0.0, 4.0], 48))
    for proto, name, seed in ((fp, "f.h5", 1), (rp, "r.h5", 2)):
        nq.simulate(trap, proto, nq.MALA(dt=0.01), 2000, seed=seed, record_every=10,
                    out=tmp_path / name, progress=False)
    png = tmp_path / "profile.png"
    assert main(["analyze", str(tmp_path / "f.h5"), str(tmp_path / "r.h5"), "--profile",
                 str(png), "--bootstrap", "30"]) == 0
    out = capsys.readouterr().out
    assert "free-energy profile: bidirectional path ensemble" in out
    rows = [ln for ln in out.splitlines() if ln.strip().endswith(("yes", "UNRELIABLE"))
            and ln.strip()[:1].isdigit()]
    assert len(rows) == 5 and png.stat().st_size > 10_000


def test_the_bidirectional_profile_is_mbar_over_the_path_ensemble(breathing_pair):
    """MBAR over the slices (states 'slice t' with reduced energies beta w_n(t), samples
    from slice 0 and from the end; Minh and Chodera 2009) reproduces the bidirectional
    profile to 1e-10, and its asymptotic errors agree with the bootstrap within 20%."""
    fwd, rev = breathing_pair
    p = nq.analysis.profile(fwd, rev, n_bootstrap=100, path_mbar=True)
    m = p.diagnostics["path_mbar"]
    np.testing.assert_allclose(m.delta_f[0, :-1], p.value, atol=1e-10)
    ratio = p.diagnostics["std_error_asymptotic"][1:] / p.std_error[1:]
    assert np.all(np.abs(ratio - 1) < 0.2), ratio
