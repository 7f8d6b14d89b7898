"""Small R base functions whose exact behaviour the nomogram tables depend on.

``pretty`` decides every tick value of an rms nomogram, so it is ported from R's
``src/appl/pretty.c`` (R >= 4.2: ``rounding_eps = 1e-10``, ``f.min = 2^-20``,
``bounds = TRUE``) and ``pretty.default``. ``quantile`` type 7 is numpy's default
``linear`` method and needs no port.
"""

from __future__ import annotations

import math
import sys

import numpy as np

_DBL_EPS = sys.float_info.epsilon
_ROUNDING_EPS = 1e-10


def pretty(x: object, n: int = 5, min_n: int | None = None, shrink_sml: float = 0.75,
           high_u_bias: float = 1.5, u5_bias: float | None = None, f_min: float = 2.0 ** -20) -> np.ndarray:
    """R's ``pretty(x, n)``: about n+1 equally spaced round values covering range(x)."""
    arr = np.asarray(x, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return arr
    if min_n is None:
        min_n = n // 3
    h = high_u_bias
    h5 = 0.5 + 1.5 * h if u5_bias is None else u5_bias
    lo, up = float(arr.min()), float(arr.max())
    ndiv = n
    dx = up - lo
    if dx == 0 and up == 0:
        cell = 1.0
        i_small = True
    else:
        cell = max(abs(lo), abs(up))
        u = 1 + (1 / (1 + h) if h5 >= 1.5 * h + 0.5 else 1.5 / (1 + h5))
        u *= max(1, ndiv) * _DBL_EPS
        i_small = dx < cell * u * 3
    if i_small:
        if cell > 10:
            cell = 9 + cell / 10
        cell *= shrink_sml
        if min_n > 1:
            cell /= min_n
    else:
        cell = dx
        if ndiv > 1:
            cell /= ndiv
    subsmall = f_min * sys.float_info.min or sys.float_info.min
    if cell < subsmall:
        cell = subsmall
    elif cell > sys.float_info.max / 1.25:
        cell = 0.1 * sys.float_info.max
    base = 10.0 ** math.floor(math.log10(cell))
    unit = base
    if (u2 := 2 * base) - cell < h * (cell - unit):
        unit = u2
        if (u5 := 5 * base) - cell < h5 * (cell - unit):
            unit = u5
            if (u10 := 10 * base) - cell < h * (cell - unit):
                unit = u10
    ns = math.floor(lo / unit + _ROUNDING_EPS)
    nu = math.ceil(up / unit - _ROUNDING_EPS)
    while ns * unit > lo + _ROUNDING_EPS * unit:
        ns -= 1
    while nu * unit < up - _ROUNDING_EPS * unit:
        nu += 1
    k = int(0.5 + nu - ns)
    if k < min_n:
        k = min_n - k
        if ns >= 0:
            nu += k // 2
            ns -= k // 2 + k % 2
        else:
            ns -= k // 2
            nu += k // 2 + k % 2
        ndiv = min_n
    else:
        ndiv = k
    # bounds = TRUE: widen (lo, up) to the tick range, then seq(lo, up, length.out = ndiv + 1)
    lo_b = min(lo, ns * unit)
    up_b = max(up, nu * unit)
    if ndiv == 0:
        return np.array([lo_b])
    s = lo_b + np.arange(ndiv + 1) * ((up_b - lo_b) / ndiv)
    s[-1] = up_b
    delta = (up_b - lo_b) / ndiv
    s[np.abs(s) < 1e-14 * delta] = 0.0  # pretty.default zaps rounding noise near zero
    return s


def plogis(x: object) -> np.ndarray:
    """R's ``plogis`` (logistic CDF), overflow-safe."""
    from scipy.special import expit

    return expit(np.asarray(x, dtype=float))


def approx(x: np.ndarray, y: np.ndarray, xout: object) -> np.ndarray:
    """R's ``approx(x, y, xout, ties = mean)$y``: linear, NaN outside range(x)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    ux, inv = np.unique(x, return_inverse=True)
    uy = np.bincount(inv, weights=y) / np.bincount(inv)
    xo = np.asarray(xout, float)
    out = np.interp(xo, ux, uy)
    out[(xo < ux[0]) | (xo > ux[-1]) | np.isnan(xo)] = np.nan
    return out
