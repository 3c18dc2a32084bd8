"""Trace recording shared by every kernel: which row a step writes, and the write."""
from numba import njit


@njit(cache=True)
def record_row(s1, rec_every, rec_off, n_rec):
    """Trace row written after step s1, or -1 (decided once per step, not per trajectory:
    an integer modulo per particle-step cost ~8 ns)."""
    if rec_every > 0 and s1 % rec_every == 0:
        c = s1 // rec_every - rec_off
        if 0 <= c < n_rec:
            return c
    return -1


@njit(cache=True)
def record(c, i, Wi, Qi, xb, b, rec_W, rec_Q, rec_x):
    """Row c of trajectory i: cumulative W and Q, and its position if positions are kept."""
    rec_W[i, c] = Wi
    rec_Q[i, c] = Qi
    if rec_x.shape[2] > 0:
        for j in range(xb.shape[1]):
            rec_x[i, c, j] = xb[b, j]
