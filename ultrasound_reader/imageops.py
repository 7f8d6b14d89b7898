"""NumPy ports of the OpenCV image operations the reading path uses.

The reading path (dicom -> case -> ai -> study/gui/export) uses these instead of OpenCV so
that a frozen application can leave OpenCV (about 150 MB) out. Each function matches
the OpenCV 5.0 call named in its docstring bit for bit on the inputs the application
passes; ``tests/test_imageops.py`` checks that against cv2 (OpenCV stays the oracle in
the tests, and a dependency of phantom/, training/ and dicom/synth.py).

Resize follows ``imgproc/src/resize.cpp``: the tables (source index, weight) are
computed as OpenCV computes them (doubles, then float32 or 11-bit fixed point), and the
arithmetic is done in the same type and the same order, vectorised across the image and
looped over the contribution index, so the results are equal, not just close.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["resize", "rgb_to_gray", "pad", "apply_lut", "colormap", "COLORMAPS"]

_DBL_EPSILON = float(np.finfo(np.float64).eps)
_COEF_BITS = 11  # INTER_RESIZE_COEF_BITS
_COEF_SCALE = 1 << _COEF_BITS


def _cv_round(x: float) -> int:
    """cvRound: round half to even (the SSE conversion under the default rounding mode)."""
    return int(np.rint(x))


def _check_image(img: np.ndarray, what: str) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype not in (np.uint8, np.float32):
        raise ValueError(f"{what}: uint8 or float32 image expected, got {img.dtype}")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3, 4)):
        raise ValueError(f"{what}: H x W or H x W x 1/3/4 image expected, got shape {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"{what}: empty image {img.shape}")
    return img


# -- resize: tables ---------------------------------------------------------------------------

def _freeze(*arrays: np.ndarray) -> None:
    """Cached tables are shared between calls (and threads): read-only."""
    for a in arrays:
        a.setflags(write=False)

@lru_cache(maxsize=256)
def _area_tab(ssize: int, dsize: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """computeResizeAreaTab as (K, dsize) source indices and float32 weights, K = max per output.

    Unused slots have weight 0 (adding ``0 * x`` leaves a float sum unchanged).
    """
    per: list[list[tuple[int, float]]] = []
    for dx in range(dsize):
        fsx1 = dx * scale
        fsx2 = fsx1 + scale
        cell = min(scale, ssize - fsx1)
        sx1, sx2 = math.ceil(fsx1), math.floor(fsx2)
        sx2 = min(sx2, ssize - 1)
        sx1 = min(sx1, sx2)
        row: list[tuple[int, float]] = []
        if sx1 - fsx1 > 1e-3:
            row.append((sx1 - 1, (sx1 - fsx1) / cell))
        for sx in range(sx1, sx2):
            row.append((sx, 1.0 / cell))
        if fsx2 - sx2 > 1e-3:
            row.append((sx2, min(min(fsx2 - sx2, 1.0), cell) / cell))
        per.append(row)
    k = max(len(r) for r in per)
    idx = np.zeros((k, dsize), np.intp)
    wts = np.zeros((k, dsize), np.float32)
    for dx, row in enumerate(per):
        for j, (s, a) in enumerate(row):
            idx[j, dx] = s
            wts[j, dx] = np.float32(a)  # (float)(double)
    _freeze(idx, wts)
    return idx, wts


@lru_cache(maxsize=256)
def _linear_tab(ssize: int, dsize: int, scale: float, inv_scale: float, area_mode: bool,
                clamp_low: bool) -> tuple[np.ndarray, np.ndarray]:
    """Source index and float32 fraction per output (hal::resize's xofs/alpha, yofs/beta loops).

    ``clamp_low``: the x loop also moves negative indices to 0 with fraction 0 (the y loop
    does not; its rows are clipped later). Indices at or past the last pixel become the last
    pixel with fraction 0 in both (the x loop's xmax, the y loop's row clip give the same sum).
    """
    d = np.arange(dsize, dtype=np.float64)
    if not area_mode:
        f = ((d + 0.5) * scale - 0.5).astype(np.float32)
        s = np.floor(f)
        f = (f - s).astype(np.float32)
    else:
        s = np.floor(d * scale)
        f = ((d + 1) - (s + 1) * inv_scale).astype(np.float32)
        f = np.where(f <= 0, np.float32(0), (f - np.floor(f)).astype(np.float32)).astype(np.float32)
    s = s.astype(np.intp)
    if clamp_low:
        low = s < 0
        f[low] = 0
        s[low] = 0
        high = s >= ssize - 1
        f[high] = 0
        s[high] = ssize - 1
    _freeze(s, f)
    return s, f


def _fixed(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """saturate_cast<short>(cbuf * 2048) for cbuf = (1 - f, f), computed in float32."""
    a0 = np.rint((np.float32(1) - f) * np.float32(_COEF_SCALE)).astype(np.int32)
    a1 = np.rint(f * np.float32(_COEF_SCALE)).astype(np.int32)
    return a0, a1


# -- resize: kernels ----------------------------------------------------------------------------

def _resize_area_fast(src: np.ndarray, dw: int, dh: int, sx: int, sy: int) -> np.ndarray:
    """resizeAreaFast_: integer scale factors, each output the mean of an sy x sx block."""
    h, w, cn = src.shape
    blocks = src[: dh * sy, : dw * sx].reshape(dh, sy, dw, sx, cn)
    if src.dtype == np.uint8:
        total = blocks.sum(axis=(1, 3), dtype=np.int32)
        if sx == 2 and sy == 2 and cn in (1, 3, 4):
            return ((total + 2) >> 2).astype(np.uint8)  # ResizeAreaFastVec: (a+b+c+d+2)>>2
        prod = total.astype(np.float32) * np.float32(1.0 / (sx * sy))
        return np.clip(np.rint(prod), 0, 255).astype(np.uint8)
    # float32: sum += ((S[k] + S[k+1]) + S[k+2]) + S[k+3] over the block in row-major order
    terms = blocks.transpose(0, 2, 4, 1, 3).reshape(dh, dw, cn, sx * sy)
    area = sx * sy
    acc = np.zeros((dh, dw, cn), np.float32)
    k = 0
    while k <= area - 4:
        acc += ((terms[..., k] + terms[..., k + 1]) + terms[..., k + 2]) + terms[..., k + 3]
        k += 4
    while k < area:
        acc += terms[..., k]
        k += 1
    out = acc * np.float32(1.0 / area)
    if sx == 2 and sy == 2 and cn in (1, 4):
        # ResizeAreaFastVec_SIMD_32f (4 lanes): ((a00 + a01) + (a10 + a11)) * 0.25 on whole
        # vectors of the interleaved row; the scalar tail keeps the sequential sum above.
        flat = out.reshape(dh, dw * cn)
        nvec = (dw * cn // 4) * 4
        if nvec:
            pair = blocks.transpose(0, 2, 4, 1, 3).reshape(dh, dw * cn, 4)[:, :nvec]
            flat[:, :nvec] = ((pair[..., 0] + pair[..., 1]) + (pair[..., 2] + pair[..., 3])) * np.float32(0.25)
        out = flat.reshape(dh, dw, cn)
    return out


def _cols(idx: np.ndarray, cn: int) -> np.ndarray:
    """Pixel column indices -> element columns of the (rows, width * cn) view."""
    return (idx[..., None] * cn + np.arange(cn)).reshape(*idx.shape[:-1], -1)


def _resize_area(src: np.ndarray, dw: int, dh: int, scale_x: float, scale_y: float) -> np.ndarray:
    """ResizeArea_Invoker: float32 box-weighted sums, horizontal then vertical, fixed order."""
    h, w, cn = src.shape
    xi, xa = _area_tab(w, dw, scale_x)
    yi, ya = _area_tab(h, dh, scale_y)
    flat = src.reshape(h, w * cn)
    xc, xw = _cols(xi, cn), np.repeat(xa, cn, axis=1)
    # uint8 * float32 -> float32 (the uint8 -> float conversion is exact); gathering the
    # uint8 columns first saves converting the whole frame
    buf = np.take(flat, xc[0], axis=1) * xw[0]
    tmp = np.empty_like(buf)
    for j in range(1, len(xi)):
        np.multiply(np.take(flat, xc[j], axis=1), xw[j], out=tmp)
        buf += tmp
    acc = np.take(buf, yi[0], axis=0) * ya[0][:, None]
    tmp = np.empty_like(acc)
    for j in range(1, len(yi)):
        np.multiply(np.take(buf, yi[j], axis=0), ya[j][:, None], out=tmp)
        acc += tmp
    if src.dtype == np.uint8:
        acc = np.clip(np.rint(acc, out=acc), 0, 255, out=acc).astype(np.uint8)
    return acc.reshape(dh, dw, cn)


def _resize_linear_u8(src: np.ndarray, dw: int, dh: int, scale_x: float, scale_y: float,
                      inv_x: float, inv_y: float, area_mode: bool) -> np.ndarray:
    """resizeGeneric_ with HResizeLinear/VResizeLinear on 8U: 11-bit fixed point weights."""
    h, w, cn = src.shape
    sx, fx = _linear_tab(w, dw, scale_x, inv_x, area_mode, True)
    sy, fy = _linear_tab(h, dh, scale_y, inv_y, area_mode, False)
    ax0, ax1 = (np.repeat(a, cn) for a in _fixed(fx))
    by0, by1 = _fixed(fy)
    c0, c1 = _cols(sx, cn), _cols(np.minimum(sx + 1, w - 1), cn)
    r0 = np.clip(sy, 0, h - 1)
    r1 = np.clip(sy + 1, 0, h - 1)
    rows = np.unique(np.concatenate([r0, r1]))
    flat = src[rows].reshape(len(rows), w * cn)
    hbuf = np.take(flat, c0, axis=1).astype(np.int32)
    hbuf *= ax0
    t = np.take(flat, c1, axis=1).astype(np.int32)
    t *= ax1
    hbuf += t
    hbuf >>= 4
    v0 = np.take(hbuf, np.searchsorted(rows, r0), axis=0)
    v0 *= by0[:, None]
    v0 >>= 16
    v1 = np.take(hbuf, np.searchsorted(rows, r1), axis=0)
    v1 *= by1[:, None]
    v1 >>= 16
    v0 += v1
    v0 += 2
    v0 >>= 2
    return v0.astype(np.uint8).reshape(dh, dw, cn)


def _resize_linear_f32(src: np.ndarray, dw: int, dh: int, scale_x: float, scale_y: float,
                       inv_x: float, inv_y: float, area_mode: bool) -> np.ndarray:
    """resizeGeneric_ with HResizeLinear/VResizeLinear on 32F: S0*a0 + S1*a1 in float32."""
    h, w, cn = src.shape
    sx, fx = _linear_tab(w, dw, scale_x, inv_x, area_mode, True)
    sy, fy = _linear_tab(h, dh, scale_y, inv_y, area_mode, False)
    one = np.float32(1)
    sx1 = np.minimum(sx + 1, w - 1)
    r0 = np.clip(sy, 0, h - 1)
    r1 = np.clip(sy + 1, 0, h - 1)
    hbuf = src[:, sx, :] * (one - fx)[None, :, None] + src[:, sx1, :] * fx[None, :, None]
    return hbuf[r0] * (one - fy)[:, None, None] + hbuf[r1] * fy[:, None, None]


def resize(img: np.ndarray, size_wh: tuple[int, int], interpolation: str = "area") -> np.ndarray:
    """``cv2.resize(img, size_wh, interpolation=INTER_AREA | INTER_LINEAR)``, bit-exact for uint8.

    ``img``: uint8 or float32, H x W or H x W x 1/3/4; ``size_wh`` = (width, height);
    ``interpolation``: ``"area"`` or ``"linear"``. The result has the input's dtype and
    number of dimensions.

    Exact (equal to OpenCV 5.0's output) for uint8 (both modes, any scale, 1/3/4
    channels), float32 ``"area"``, and single-channel float32 ``"linear"`` (the heat
    maps). uint8 follows OpenCV's own code; float32 ``"linear"`` follows what OpenCV's
    IPP call computes (worked out against cv2, see ``_resize_linear_ipp_f32``). One known
    gap: float32 ``"linear"`` with 3 or 4 channels can differ by one float32 ulp (relative
    error <= 2.4e-7) in the output columns clamped to the left/right image edge. Float
    inputs are assumed finite (a NaN or inf may spread one pixel further than in cv2).
    """
    img = _check_image(img, "resize")
    dw, dh = int(size_wh[0]), int(size_wh[1])
    if dw < 1 or dh < 1:
        raise ValueError(f"resize: output size must be at least 1 x 1, got {dw} x {dh}")
    if interpolation not in ("area", "linear"):
        raise ValueError(f"resize: interpolation 'area' or 'linear' expected, got {interpolation!r}")
    squeeze = img.ndim == 2
    src = np.ascontiguousarray(img[:, :, None] if squeeze else img)
    h, w = src.shape[:2]
    if (dw, dh) == (w, h):
        out = src.copy()
    else:
        out = _resize3(src, dw, dh, interpolation)
    return out[:, :, 0] if squeeze else out


def _resize3(src: np.ndarray, dw: int, dh: int, interpolation: str) -> np.ndarray:
    h, w = src.shape[:2]
    inv_x, inv_y = dw / w, dh / h
    if src.dtype == np.float32 and interpolation == "linear":
        return _resize_linear_ipp_f32(src, dw, dh)
    scale_x, scale_y = 1.0 / inv_x, 1.0 / inv_y
    iscale_x, iscale_y = _cv_round(scale_x), _cv_round(scale_y)
    area_fast = abs(scale_x - iscale_x) < _DBL_EPSILON and abs(scale_y - iscale_y) < _DBL_EPSILON
    if interpolation == "linear" and area_fast and iscale_x == 2 and iscale_y == 2:
        interpolation = "area"
    if interpolation == "area" and scale_x >= 1 and scale_y >= 1:
        if area_fast:
            return _resize_area_fast(src, dw, dh, iscale_x, iscale_y)
        return _resize_area(src, dw, dh, scale_x, scale_y)
    area_mode = interpolation == "area"
    if src.dtype == np.uint8:
        return _resize_linear_u8(src, dw, dh, scale_x, scale_y, inv_x, inv_y, area_mode)
    return _resize_linear_f32(src, dw, dh, scale_x, scale_y, inv_x, inv_y, area_mode)


def _fma32(d: np.ndarray, f: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float32 fused multiply-add ``d * f + c`` rounded once (as the FMA instruction).

    The product of two float32 is exact in float64, so the float64 sum is off by at most
    half a float64 ulp; that changes the float32 rounding only where the sum lands
    exactly on a float32 tie (checked on the bits), and there the exact error term
    (TwoSum) decides. ``f`` broadcasts against ``d``. Normal float32 range.
    """
    p = d.astype(np.float64) * f
    c64 = c.astype(np.float64)
    s = p + c64
    r = s.astype(np.float32)
    tie = (s.view(np.int64) & 0x1FFFFFFF) == 0x10000000
    if tie.any():
        idx = np.nonzero(tie)
        ss, pp, cc = s[idx], np.broadcast_to(p, s.shape)[idx], c64[idx]
        bb = ss - pp
        err = (pp - (ss - bb)) + (cc - bb)
        rr = r[idx]
        up = np.nextafter(rr, np.float32(np.inf))
        dn = np.nextafter(rr, np.float32(-np.inf))
        lo_hi = np.where(ss > rr.astype(np.float64), up, dn)  # the other float32 of the tie
        pick = np.where(err > 0, np.maximum(rr, lo_hi), np.where(err < 0, np.minimum(rr, lo_hi), rr))
        r[idx] = pick
    return r


def _resize_linear_ipp_f32(src: np.ndarray, dw: int, dh: int) -> np.ndarray:
    """Bilinear float32 resize as OpenCV's IPP path (ippiResizeLinear_32f) computes it.

    Positions ``(d + 0.5) * s / d - 0.5``, clamped to the image along x, rows replicated
    along y. Images of two or more rows and columns: fractions are float64 ``p - floor(p)``
    rounded to float32, each pass is ``fma(a1 - a0, f, a0)`` in float32, horizontal first.
    A single row or column: positions rounded to float32 first, each pass
    ``a0 * (1 - f) + a1 * f`` in float32. Worked out against cv2 (IPP's source is not
    public) and checked by the tests; a different IPP build could round differently.
    """
    h, w, cn = src.shape
    if h == 1 or w == 1:
        sx0, sx1, fx = _ipp_axis(w, dw, True, True)
        sy0, sy1, fy = _ipp_axis(h, dh, False, True)
        one = np.float32(1)
        hb = src[:, sx0, :] * (one - fx)[None, :, None] + src[:, sx1, :] * fx[None, :, None]
        return hb[sy0] * (one - fy)[:, None, None] + hb[sy1] * fy[:, None, None]
    sx0, sx1, fx = _ipp_axis(w, dw, True, False)
    sy0, sy1, fy = _ipp_axis(h, dh, False, False)
    a0 = src[:, sx0, :]
    hb = _fma32(src[:, sx1, :] - a0, fx.astype(np.float64)[None, :, None], a0)
    b0 = hb[sy0]
    return _fma32(hb[sy1] - b0, fy.astype(np.float64)[:, None, None], b0)


@lru_cache(maxsize=256)
def _ipp_axis(ssize: int, dsize: int, clamp: bool, pos32: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = (np.arange(dsize, dtype=np.float64) + 0.5) * (ssize / dsize) - 0.5
    if pos32:
        pos = pos.astype(np.float32).astype(np.float64)  # exact either way: float32 -> float64
    if clamp:
        pos = np.clip(pos, 0, ssize - 1)
    i = np.floor(pos).astype(np.intp)
    f = (pos - i).astype(np.float32)
    i0, i1 = np.clip(i, 0, ssize - 1), np.clip(i + 1, 0, ssize - 1)
    _freeze(i0, i1, f)
    return i0, i1, f


# -- colour, borders, tables --------------------------------------------------------------------

def rgb_to_gray(img: np.ndarray) -> np.ndarray:
    """``cv2.cvtColor(img, COLOR_RGB2GRAY)`` for uint8 H x W x 3 (or x 4, alpha ignored).

    Fixed point as OpenCV: Y = (9798 R + 19235 G + 3735 B + 2**14) >> 15 (RY15, GY15, BY15).
    """
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"rgb_to_gray: uint8 H x W x 3 image expected, got {img.dtype} {img.shape}")
    y = img[:, :, 0].astype(np.int32) * 9798
    y += img[:, :, 1].astype(np.int32) * 19235
    y += img[:, :, 2].astype(np.int32) * 3735
    y += 1 << 14
    y >>= 15
    return y.astype(np.uint8)


def pad(img: np.ndarray, top: int, bottom: int, left: int, right: int, mode: str = "edge",
        value: float = 0) -> np.ndarray:
    """``cv2.copyMakeBorder``: ``mode="edge"`` is BORDER_REPLICATE, ``"constant"`` BORDER_CONSTANT.

    ``value`` fills every channel (cv2's ``value=(v, v, v)``).
    """
    img = np.asarray(img)
    if min(top, bottom, left, right) < 0:
        raise ValueError("pad: border widths must be >= 0")
    widths = [(top, bottom), (left, right)] + [(0, 0)] * (img.ndim - 2)
    if mode == "edge":
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError("pad: cannot replicate the border of an empty image")
        return np.pad(img, widths, mode="edge")
    if mode == "constant":
        return np.pad(img, widths, mode="constant", constant_values=np.asarray(value).astype(img.dtype))
    raise ValueError(f"pad: mode 'edge' or 'constant' expected, got {mode!r}")


def apply_lut(frame: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``cv2.LUT(frame, lut)`` for a uint8 frame (any shape) and a 256-entry table."""
    frame = np.asarray(frame)
    lut = np.asarray(lut)
    if frame.dtype != np.uint8 or lut.shape != (256,) or lut.dtype != np.uint8:
        raise ValueError(f"apply_lut: uint8 frame and 256-entry uint8 table expected, got {frame.dtype}, "
                         f"{lut.dtype} {lut.shape}")
    # bytes.translate is a C byte-table loop: no intp index array (np.take's cost), about
    # OpenCV's speed; the bytearray makes the result writable
    frame = np.ascontiguousarray(frame)
    return np.frombuffer(bytearray(frame.data).translate(lut.tobytes()),
                         np.uint8).reshape(frame.shape)


# -- colour maps --------------------------------------------------------------------------------

COLORMAPS = ("jet", "turbo", "inferno", "viridis", "hot", "magma")


def _linspace32(n: int) -> np.ndarray:
    """colormap.cpp's linspace(0, 1, n): x0 + i*step in float32."""
    step = np.float32(1) / np.float32(n - 1)
    return (np.arange(n, dtype=np.float32) * step).astype(np.float32)


def _interp1(x: np.ndarray, y: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """colormap.cpp interp1_<float>: clamp-free linear interpolation, float32 throughout."""
    out = np.zeros(len(xi), np.float32)
    n = len(x)
    for i, v in enumerate(xi):
        low, high = 0, n - 1
        if v < x[low]:
            high = 1
        if v > x[high]:
            low = high - 1
        while high - low > 1:
            c = low + ((high - low) >> 1)
            if v > x[c]:
                low = c
            else:
                high = c
        out[i] = np.float32(0) + (y[low] + (v - x[low]) * (y[high] - y[low]) / (x[high] - x[low]))
    return out


@lru_cache(maxsize=None)
def colormap_table(name: str) -> np.ndarray:
    """The 256 x 3 uint8 RGB table OpenCV builds for COLORMAP_<NAME> (from its base arrays)."""
    from ultrasound_reader._colormap_data import BASE

    if name not in BASE:
        raise ValueError(f"unknown colour map {name!r} (known: {', '.join(COLORMAPS)})")
    chans = [np.array([float(v) for v in s.split(",")], np.float32) for s in BASE[name]]
    x = _linspace32(len(chans[0]))
    xi = _linspace32(256)
    with np.errstate(all="ignore"):
        planes = [_interp1(x, c, xi) for c in chans]
    table = np.stack(planes, axis=1) * np.float32(255)
    table = np.clip(np.rint(table), 0, 255).astype(np.uint8)
    table.setflags(write=False)
    return table


def colormap(u8: np.ndarray, name: str) -> np.ndarray:
    """``cv2.applyColorMap(u8, COLORMAP_<NAME>)[..., ::-1]``: H x W uint8 -> H x W x 3 RGB."""
    u8 = np.asarray(u8)
    if u8.dtype != np.uint8 or u8.ndim != 2:
        raise ValueError(f"colormap: uint8 H x W image expected, got {u8.dtype} {u8.shape}")
    return np.take(colormap_table(name), u8, axis=0)
