import numpy as np
import pytest
from scipy.special import logsumexp

import neqsim as nq


def jarzynski(work, beta=1.0):
    """dF = -kT log mean exp(-beta W) and its delta-method standard error."""
    w = np.asarray(work, dtype=np.float64)
    n = w.size
    df = -(logsumexp(-beta * w) - np.log(n)) / beta
    e = np.exp(-beta * (w - w.min()))
    se = np.std(e, ddof=1) / (np.sqrt(n) * e.mean()) / beta
    return df, se


def mean_se(a):
    a = np.asarray(a, dtype=np.float64)
    return a.mean(), a.std(ddof=1) / np.sqrt(a.size)


def assert_within(est, se, exact, nsigma=4.0, what=""):
    z = (est - exact) / se
    assert abs(z) < nsigma, f"{what}: {est:.6g} +- {se:.3g} vs exact {exact:.6g} (z = {z:.2f})"
    return z


@pytest.fixture(scope="session")
def trap():
    return nq.systems.harmonic_trap()


@pytest.fixture(scope="session")
def well():
    return nq.systems.double_well()


ALL_INTEGRATORS = [
    nq.EulerMaruyama(dt=0.01),
    nq.MALA(dt=0.05),
    nq.Langevin(dt=0.05, splitting="V R O R V"),
    nq.Langevin(dt=0.05, gamma=2.0, mass=0.5, splitting="O V R V O"),
    nq.GHMC(dt=0.2),
    nq.VelocityVerlet(dt=0.05),
]
