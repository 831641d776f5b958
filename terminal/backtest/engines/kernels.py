"""Numba loops of the vectorized engine, compiled once and cached on disk (``cache=True``), never per run."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def band_positions(enter_long: np.ndarray, exit_long: np.ndarray, enter_short: np.ndarray,
                   exit_short: np.ndarray) -> np.ndarray:
    out = np.empty(len(enter_long))
    state = 0.0
    for i in range(len(enter_long)):
        if state == 0.0:
            if enter_long[i]:
                state = 1.0
            elif enter_short[i]:
                state = -1.0
        elif state > 0.0:
            if exit_long[i]:
                state = 0.0
        elif exit_short[i]:
            state = 0.0
        out[i] = state
    return out


@njit(cache=True)
def orders_from_wanted(wanted: np.ndarray) -> np.ndarray:
    """Wanted positions (NaN = no new decision) to the orders that reach them: the new position on the bar after
    each change of mind (fills at the next open), NaN elsewhere; a decision on the last bar never fills."""
    n = len(wanted)
    out = np.full(n, np.nan)
    held = 0.0
    for i in range(n - 1):
        want = wanted[i]
        if want == want and want != held:  # not NaN, and a change
            out[i + 1] = want
            held = want
    return out
