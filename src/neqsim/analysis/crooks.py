"""Crooks' fluctuation theorem as a check: log P_F(W) / P_R(-W) = beta (W - dF)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from .._keywords import suggest_keywords
from ._common import as_work, fp_local

__all__ = ["crooks", "CrooksCheck"]


@dataclass(frozen=True)
class CrooksCheck:
    """Result of :func:`crooks`. The fit of r(W) = log P_F(W) / P_R(-W) = a W + b should
    give slope a = beta and intercept b = -beta dF; the histograms cross at W = dF.

    Like every result: ``value`` +- ``std_error`` (dF from the fit with the slope fixed at
    beta, the weighted mean of W - r/beta; also ``delta_f``/``delta_f_error``), ``ci``,
    ``reliable`` (False, with the reason in ``warnings``, when the chi-square test says
    the data contradict the Crooks line), ``diagnostics``.
    ``slope``/``slope_std_error``, ``intercept``/``intercept_std_error``: free weighted
    linear fit (``slope_error``/``intercept_error`` are 0.1.0's names). ``crossing``: where the fitted line crosses zero
    (= -b/a), and ``crossing_histogram``: where the binned log ratio changes sign
    (linear interpolation; NaN if it does not). ``chi2``, ``dof``, ``p_value``:
    goodness of fit of the Crooks line with slope beta (a small p-value means the data
    contradict Crooks, e.g. integrator error or a non-equilibrium start).
    ``w_eff``: the abscissa used for each bin (see :func:`crooks`).
    ``chi2_free``/``p_value_free``: of the free fit. Plot data: ``centers``,
    ``log_ratio``, ``log_ratio_error``, ``edges``, ``density_f``, ``density_r`` (P_R at
    -W), ``counts_f``, ``counts_r``.
    """
    beta: float
    slope: float
    slope_error: float
    intercept: float
    intercept_error: float
    delta_f: float
    delta_f_error: float
    crossing: float
    crossing_histogram: float
    chi2: float
    dof: int
    p_value: float
    chi2_free: float
    p_value_free: float
    n_bins_used: int
    plot: dict = field(default_factory=dict, repr=False)

    # the vocabulary of every result (as Estimate): value, std_error, ci, reliable,
    # warnings, diagnostics; the value is dF from the line with slope beta
    MIN_P = 1e-3  # a fit with a smaller chi-square p-value says the data contradict Crooks

    @property
    def value(self):
        return self.delta_f

    @property
    def std_error(self):
        return self.delta_f_error

    @property
    def ci(self):
        return (math.nan, math.nan)  # no bootstrap: see std_error

    @property
    def slope_std_error(self):
        return self.slope_error

    @property
    def intercept_std_error(self):
        return self.intercept_error

    @property
    def warnings(self):
        out = []
        if not self.p_value >= self.MIN_P:
            out.append(f"the log ratio deviates from beta (W - dF): chi2/dof = "
                       f"{self.chi2:.1f}/{self.dof}, p = {self.p_value:.2g}")
        if not math.isfinite(self.delta_f):
            out.append("too little overlap of P_F(W) and P_R(-W) to fit")
        return tuple(out)

    @property
    def reliable(self):
        return not self.warnings

    @property
    def diagnostics(self):
        return {"slope": self.slope, "slope_std_error": self.slope_error,
                "intercept": self.intercept, "intercept_std_error": self.intercept_error,
                "crossing": self.crossing, "crossing_histogram": self.crossing_histogram,
                "chi2": self.chi2, "dof": self.dof, "p_value": self.p_value,
                "chi2_free": self.chi2_free, "p_value_free": self.p_value_free,
                "n_bins_used": self.n_bins_used}

    def __getattr__(self, name):
        plot = self.__dict__.get("plot")
        if plot is not None and name in plot:
            return plot[name]
        raise AttributeError(f"CrooksCheck has no attribute {name!r}")

    def __str__(self):
        return (f"Crooks: slope {self.slope:.4g} +- {self.slope_error:.2g} (beta = "
                f"{self.beta:g}), intercept {self.intercept:.4g} +- "
                f"{self.intercept_error:.2g}; dF (slope beta) {self.delta_f:.5g} +- "
                f"{self.delta_f_error:.2g}; crossing {self.crossing:.5g}; "
                f"chi2/dof {self.chi2:.1f}/{self.dof}, p = {self.p_value:.3g}")


@suggest_keywords
@fp_local
def crooks(work_f, work_r, beta=None, *, bins=None, min_count=5):
    """Binned check of Crooks' theorem P_F(W) / P_R(-W) = exp(beta (W - dF)).

    Forward works and negated reverse works are histogrammed on common bins over the
    range where both are present (``bins``: a count or edges; default: about
    2 n^(1/3) bins over that range, Freedman-Diaconis-like). For each bin with at least
    ``min_count`` samples in both, r = log(c_F / n_F) - log(c_R / n_R) with variance
    1/c_F + 1/c_R - 1/n_F - 1/n_R (multinomial counts, delta method); r is fitted by
    weighted least squares against w_eff, the W at which the bin-averaged ratio equals the
    pointwise one (E over the bin's reverse samples of e^{beta W} = e^{beta w_eff},
    averaged with the forward-side analogue), so wide bins cause no bias. Bins are independent only approximately (the counts of one
    histogram are multinomial), which the chi-square ignores.

    Raises ValueError if fewer than 3 bins have enough counts in both directions
    (the distributions do not overlap enough to check anything).
    """
    wf, beta = as_work(work_f, beta, name="forward work")
    wr, _ = as_work(work_r, beta, name="reverse work")
    nf, nr = wf.size, wr.size
    f = wf[np.isfinite(wf)]
    r = -wr[np.isfinite(wr)]
    lo, hi = max(f.min(), r.min()), min(f.max(), r.max())
    if not hi > lo:
        raise ValueError("Crooks: the forward works and the negated reverse works do not "
                         "overlap; nothing to compare")
    if bins is None:
        n_overlap = min(np.count_nonzero((f >= lo) & (f <= hi)),
                        np.count_nonzero((r >= lo) & (r <= hi)))
        bins = int(np.clip(2 * n_overlap ** (1 / 3), 5, 200))
    edges = np.linspace(lo, hi, bins + 1) if np.isscalar(bins) else np.asarray(bins, float)
    cf, _ = np.histogram(f, edges)
    cr, _ = np.histogram(r, edges)
    width = np.diff(edges)
    centers = 0.5 * (edges[1:] + edges[:-1])
    ok = (cf >= min_count) & (cr >= min_count)
    if np.count_nonzero(ok) < 3:
        raise ValueError(f"Crooks: only {np.count_nonzero(ok)} bins have >= {min_count} "
                         "samples in both directions; more samples or overlap are needed")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ok, np.log(cf / nf) - np.log(cr / nr), np.nan)
        var = np.where(ok, 1.0 / cf + 1.0 / cr - 1.0 / nf - 1.0 / nr, np.nan)
    # abscissa of each bin: the W at which the bin-averaged ratio equals the pointwise one,
    # E_R,bin[e^{beta W}] = e^{beta x} (and the same from the forward side): unbiased for
    # wide bins, where the bin center is off by O((beta h)^2)
    idx_f, idx_r = np.digitize(f, edges) - 1, np.digitize(r, edges) - 1
    w_eff = np.full(centers.shape, np.nan)
    for i in np.nonzero(ok)[0]:
        fb, rb = f[idx_f == i], r[idx_r == i]
        xr = (logsumexp(beta * rb) - math.log(rb.size)) / beta
        xf = -(logsumexp(-beta * fb) - math.log(fb.size)) / beta
        w_eff[i] = 0.5 * (xr + xf)
    x, y = w_eff[ok], ratio[ok]
    cfo, cro = cf[ok].astype(float), cr[ok].astype(float)
    # weights from observed counts correlate with y (an upward fluctuation of c_F raises
    # y and its weight), which biases the slope low; so the variances use the counts the
    # fitted line predicts from the pooled counts c_F + c_R, iterated to consistency
    rate_f, rate_r = cfo, cro
    for _ in range(4):
        wts = 1.0 / (1.0 / rate_f + 1.0 / rate_r - 1.0 / nf - 1.0 / nr)
        sw, sx, sy = wts.sum(), (wts * x).sum(), (wts * y).sum()
        sxx, sxy = (wts * x * x).sum(), (wts * x * y).sum()
        det = sw * sxx - sx * sx
        a = (sw * sxy - sx * sy) / det
        b = (sxx * sy - sx * sxy) / det
        p_bin = (cfo + cro) / (nf + nr * np.exp(-(a * x + b)))
        rate_f, rate_r = nf * p_bin, nr * p_bin * np.exp(-(a * x + b))
    var[ok] = 1.0 / wts
    a_err, b_err = math.sqrt(sw / det), math.sqrt(sxx / det)
    chi2_free = float((wts * (y - a * x - b) ** 2).sum())
    k = x.size
    # slope fixed at beta: y = beta (x - dF) -> dF = weighted mean of x - y / beta
    z = x - y / beta
    wz = wts * beta * beta
    df = float((wz * z).sum() / wz.sum())
    df_err = float(1.0 / math.sqrt(wz.sum()))
    chi2 = float((wz * (z - df) ** 2).sum())
    crossing_hist = math.nan
    sign = np.sign(y)
    for i in range(k - 1):
        if sign[i] < 0 <= sign[i + 1] or sign[i] > 0 >= sign[i + 1]:
            crossing_hist = float(x[i] - y[i] * (x[i + 1] - x[i]) / (y[i + 1] - y[i]))
            break
    plot = {"centers": centers, "w_eff": w_eff, "edges": edges, "log_ratio": ratio,
            "log_ratio_error": np.sqrt(var), "counts_f": cf, "counts_r": cr,
            "density_f": cf / (nf * width), "density_r": cr / (nr * width), "used": ok}
    return CrooksCheck(beta, float(a), a_err, float(b), b_err, df, df_err, float(-b / a),
                       crossing_hist, chi2, k - 1, float(_chi2_sf(chi2, k - 1)),
                       chi2_free, float(_chi2_sf(chi2_free, k - 2)) if k > 2 else math.nan,
                       k, plot)


def _chi2_sf(x, dof):
    from scipy import stats  # here: scipy.stats costs ~0.3 s to import
    return stats.chi2.sf(x, dof)
