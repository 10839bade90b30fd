"""Building user-defined activations for the compiled core (internal).

A user's phi (a NumPy-vectorised callable, a SymPy expression, or a torch / JAX
elementwise function) is sampled once, in vectorised batches, and turned into
piecewise Chebyshev interpolants of phi, phi' and phi'' (the representation of
chebfun: Trefethen, *Approximation Theory and Approximation Practice*, 2013) on
[-2^20, 2^20], with pieces that end at every kink and grow geometrically away
from 0 (breakpoints 0, +-2^k for k = -24, ..., 20). Each piece holds the
interpolant at 33 Chebyshev points of the first kind (never the endpoints, so
that the value a function takes exactly at a kink does not matter); a piece
whose coefficients have not decayed to rounding level is bisected. A piece
that still does not converge when it is 2^-30 wide contains an undeclared kink:
it is located, the user is warned, and the fit is redone with the kink as a
breakpoint. Derivatives come, in order of preference, from the user (or the
exact SymPy derivative, or autodiff), from the complex step phi'(x) =
Im phi(x + ih) / h where phi accepts complex input (checked against the
differentiated interpolant), or from differentiating the interpolant.

Outside [-2^20, 2^20] the core continues phi as an affine function when the end
piece is affine (every activation that saturates or grows linearly), and returns
NaN otherwise. The compiled core then evaluates the interpolants itself: the
user's function is never called by a kernel.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import _core

#: Exponents of the breakpoints +-2^k.
_K_LO, _K_HI = -24, 20
#: Half-width of the range on which phi is represented.
RANGE = 2.0**_K_HI
#: Points per piece (Chebyshev points of the first kind).
_N = 33
_EPS = np.finfo(float).eps
#: Pieces narrower than this (relative to max(1, |x|)) that still do not converge
#: contain a kink.
_MIN_WIDTH = 2.0**-30
_MAX_ROUNDS = 60
_MAX_PIECES = 4000


def _cheb_matrix(n: int) -> tuple[np.ndarray, np.ndarray]:
    """First-kind Chebyshev points t_j (ascending) and the values-to-coefficients matrix."""
    j = np.arange(n)
    theta = np.pi * (j + 0.5) / n
    t = np.cos(theta)[::-1].copy()
    theta = theta[::-1]
    k = np.arange(n)[:, None]
    M = (2.0 / n) * np.cos(k * theta[None, :])
    M[0] *= 0.5
    return t, M


_T, _M = _cheb_matrix(_N)


def _coefficients(vals: np.ndarray) -> np.ndarray:
    """Chebyshev coefficients from values at the points _T (rows), by a DCT-II
    through the FFT (Makhoul, 1980): rounding ~eps |f|, not n eps |f| as with
    the matrix. Rows whose values are all equal give exactly one coefficient."""
    x = vals[..., ::-1]
    n = x.shape[-1]
    v = np.concatenate([x[..., ::2], x[..., 1::2][..., ::-1]], axis=-1)
    y = np.real(np.exp(-1j * np.pi * np.arange(n) / (2 * n)) * np.fft.fft(v, axis=-1))
    c = (2.0 / n) * y
    c[..., 0] *= 0.5
    const = np.all(vals == vals[..., :1], axis=-1)
    c[const] = 0.0
    c[const, 0] = vals[const, 0]
    return c


def _chop(c: np.ndarray, tol: float) -> np.ndarray:
    """Drop trailing coefficients below tol (keep at least one)."""
    big = np.nonzero(np.abs(c) > tol)[0]
    return c[: big[-1] + 1].copy() if big.size else np.zeros(1)


def _chebder(c: np.ndarray, half_width: float) -> np.ndarray:
    """Coefficients of the x-derivative of a Chebyshev series on a piece."""
    if c.size <= 1:
        return np.zeros(1)
    return np.polynomial.chebyshev.chebder(c) / half_width


def base_breaks(kinks: Sequence[float], k_lo: int = _K_LO) -> np.ndarray:
    """Breakpoints 0, +-2^k (k = k_lo..20) and the kinks, sorted and distinct."""
    g = 2.0 ** np.arange(k_lo, _K_HI + 1)
    b = np.concatenate([-g, [0.0], g, np.asarray(kinks, dtype=float)])
    b = np.unique(b)
    # a kink very close to a geometric breakpoint replaces it
    keep = np.ones(b.size, bool)
    ks = set(float(k) for k in kinks)
    for i in range(1, b.size):
        if b[i] - b[i - 1] < 1e-9 * max(1.0, abs(b[i])):
            drop = i - 1 if float(b[i]) in ks else i
            keep[drop] = False
    return b[keep]


class BuildError(ValueError):
    """A user's activation cannot be represented (the message says why)."""


@dataclass
class Sampler:
    """What the builder may call: phi, and optionally phi', phi'' and a complex phi."""

    phi: Callable[[np.ndarray], np.ndarray]
    dphi: Callable[[np.ndarray], np.ndarray] | None = None
    d2phi: Callable[[np.ndarray], np.ndarray] | None = None
    complex_phi: Callable[[np.ndarray], np.ndarray] | None = None
    what: str = "fn"


def _call(f: Callable, x: np.ndarray, what: str) -> np.ndarray:
    """Call a user function on an array and check what comes back."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            y = f(x)
    except Exception as exc:
        raise ValueError(
            f"{what} raised {type(exc).__name__}: {exc} when called on a float64 NumPy array "
            f"of shape {x.shape}; it must be vectorised (accept and return NumPy arrays)"
        ) from exc
    if np.isscalar(y) or not hasattr(y, "shape"):
        try:
            y = np.asarray(y)
        except Exception:  # pragma: no cover - defensive
            raise TypeError(f"{what} must return a NumPy array, got {type(y).__name__}") from None
    y = np.asarray(y)
    if y.shape != x.shape:
        raise ValueError(
            f"{what} must be vectorised: called on an array of shape {x.shape} it returned shape "
            f"{y.shape} (use NumPy functions, e.g. np.tanh rather than math.tanh)"
        )
    if np.iscomplexobj(y):
        if np.any(y.imag != 0):
            raise TypeError(f"{what} must be real-valued, it returned complex values")
        y = y.real
    if y.dtype.kind not in "iufb":
        raise TypeError(f"{what} must return real numbers, got dtype {y.dtype}")
    y = y.astype(np.float64)
    bad = ~np.isfinite(y)
    if bad.any():
        xb = x[bad]
        xi = xb[np.argmin(np.abs(xb))]
        raise ValueError(
            f"{what} returned {y[bad][np.argmin(np.abs(xb))]} at x = {xi:.17g}: it must be finite "
            f"on [-2^20, 2^20] (NaN/inf on part of the real line, or phi grows faster than the "
            "Gaussian expectations at q up to 1e10 allow: E[phi^2] would be infinite or overflow)"
        )
    return y


def _complex_step(s: Sampler, x: np.ndarray) -> np.ndarray | None:
    """phi'(x) by the complex step, or None where phi does not take complex input."""
    if s.complex_phi is None:
        return None
    h = 1e-150
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = np.asarray(s.complex_phi(x + 1j * h))
    except Exception:
        return None
    if y.shape != x.shape or not np.iscomplexobj(y):
        return None
    d = y.imag / h
    return d if np.all(np.isfinite(d)) else None


@dataclass
class Fit:
    breaks: np.ndarray
    coefs: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]
    kinks: np.ndarray
    detected: list[float]
    derivative_source: str


def _fit_pieces(s: Sampler, breaks: np.ndarray, use_cs: bool | None):
    """Adaptive fit. Returns (pieces, values, suspected kink intervals, use_cs)."""
    pending = [(float(a), float(b)) for a, b in itertools.pairwise(breaks)]
    done: list[tuple[float, float, list[np.ndarray]]] = []
    stuck: list[tuple[float, float, list[np.ndarray]]] = []
    have = [True, s.dphi is not None, s.d2phi is not None]
    scales = None
    for _ in range(_MAX_ROUNDS):
        if not pending:
            break
        a = np.array([p[0] for p in pending])
        b = np.array([p[1] for p in pending])
        mid, half = 0.5 * (a + b), 0.5 * (b - a)
        x = mid[:, None] + half[:, None] * _T[None, :]
        flat = x.ravel()
        vals = [_call(s.phi, flat, s.what).reshape(x.shape)]
        vals.append(
            _call(s.dphi, flat, f"derivative of {s.what}").reshape(x.shape) if have[1] else None
        )
        vals.append(
            _call(s.d2phi, flat, f"second_derivative of {s.what}").reshape(x.shape)
            if have[2]
            else None
        )
        if not have[1] and use_cs is not False:
            cs = _complex_step(s, flat)
            if cs is None:
                use_cs = False
            else:
                vals[1] = cs.reshape(x.shape)
                use_cs = True
        if scales is None:
            # global scales: the largest values on [-8, 8] (a floor for the chop)
            inner = np.abs(mid) <= 8
            scales = [
                float(np.max(np.abs(v[inner]))) if v is not None and inner.any() else 0.0
                for v in vals
            ]
        coefs = [None if v is None else _coefficients(v) for v in vals]
        nxt = []
        for i in range(len(pending)):
            ok = True
            for f in range(3):
                if coefs[f] is None:
                    continue
                c = coefs[f][i]
                vs = float(np.max(np.abs(vals[f][i])))
                if vs <= 64 * _EPS * scales[f]:
                    continue  # values at the rounding level of the function's scale
                tol = 32 * _EPS * vs + 4 * _EPS * scales[f] + 1e-300
                if np.max(np.abs(c[-3:])) > tol:
                    ok = False
            entry = (pending[i][0], pending[i][1], [None if c is None else c[i] for c in coefs])
            entry[2].extend(None if v is None else v[i] for v in vals)
            if ok:
                done.append(entry)
            elif half[i] * 2 < _MIN_WIDTH * max(1.0, abs(mid[i])):
                stuck.append(entry)
            else:
                nxt.append((pending[i][0], float(mid[i])))
                nxt.append((float(mid[i]), pending[i][1]))
        pending = nxt
        if len(pending) + len(done) > _MAX_PIECES:
            x0 = pending[0][0]
            raise BuildError(
                f"{s.what} could not be resolved by piecewise polynomials (more than "
                f"{_MAX_PIECES} pieces needed, e.g. near x = {x0:.6g}): is it noisy or "
                "discontinuous?"
            )
    if pending:
        raise BuildError(f"{s.what} could not be resolved by piecewise polynomials")
    return done, stuck, scales, use_cs


def _simplest_in(lo: float, hi: float) -> float:
    """The number with the fewest decimal digits in [lo, hi]."""
    if lo <= 0.0 <= hi:
        return 0.0
    for d in range(0, 17):
        for v in (round(lo, d), round(hi, d), round(0.5 * (lo + hi), d)):
            if lo <= v <= hi:
                return float(v)
    return 0.5 * (lo + hi)


def fit(s: Sampler, kinks: Sequence[float]) -> Fit:
    """Piecewise Chebyshev interpolants of phi, phi', phi'' (see the module docstring)."""
    kinks = [float(k) for k in kinks]
    detected: list[float] = []
    use_cs: bool | None = None
    for _attempt in range(3):
        all_kinks = sorted(set(kinks) | set(detected))
        if len(all_kinks) > _core.max_kinks:
            raise BuildError(
                f"{s.what} has {len(all_kinks)} kinks ({all_kinks[:20]}); at most "
                f"{_core.max_kinks} are supported"
            )
        breaks = base_breaks(all_kinks)
        done, stuck, scales, use_cs = _fit_pieces(s, breaks, use_cs)
        if not stuck:
            break
        if use_cs and s.dphi is None:
            # a complex step that blows up (numpy's sign(z) = z / |z|) is no derivative
            return fit(Sampler(s.phi, what=s.what), kinks)
        new = sorted({_simplest_in(a, b) for a, b, _ in stuck})
        new = [k for k in new if k not in all_kinks]
        if not new:
            raise BuildError(f"{s.what} could not be resolved near x = {stuck[0][0]:.17g}")
        detected.extend(new)
    else:
        raise BuildError(f"{s.what}: kinks could not be located")
    done.sort(key=lambda e: e[0])
    br = np.array([e[0] for e in done] + [done[-1][1]])
    all_kinks = np.array(sorted(set(kinks) | set(detected)), dtype=float)
    source = "given"
    if s.dphi is None:
        source = "complex step" if use_cs else "differentiated interpolant"
    coarse = None
    if s.dphi is None or s.d2phi is None:
        coarse = _coarse_derivatives(s, all_kinks, use_cs)
        if coarse is None:  # the complex step disagreed: phi is not complex-analytic
            return fit(Sampler(s.phi, what=s.what), kinks)
    c0, c1, c2 = [], [], []
    for i, (a, b, (k0, k1, k2, v0, v1, v2)) in enumerate(done):
        x = 0.5 * (a + b) + 0.5 * (b - a) * _T
        t0 = 4 * _EPS * float(np.max(np.abs(v0))) + 1e-18 * scales[0]
        p0 = _chop(k0, t0)
        if k1 is not None:
            t1 = 4 * _EPS * float(np.max(np.abs(v1))) + 1e-18 * scales[1]
            p1 = _chop(k1, t1)
        else:
            p1 = _resample(coarse, 0, x, 0.5 * (a + b))
        if k2 is not None:
            t2 = 4 * _EPS * float(np.max(np.abs(v2))) + 1e-18 * scales[2]
            p2 = _chop(k2, t2)
        else:
            p2 = _resample(coarse, 1, x, 0.5 * (a + b))
        if p0.size <= 2 and k2 is None and i in (0, len(done) - 1):
            # an affine end piece: the tail beyond the range continues it exactly
            p1 = p1[:1] if p1.size and np.all(p1[1:] == 0) else p1
            p2 = np.zeros(1)
        c0.append(p0)
        c1.append(p1)
        c2.append(p2)
    # Undeclared kinks at breakpoints (0, +-2^k): jumps of phi' or phi'' there.
    at_breaks = _jumps_at_breaks(br, (c1, c2), set(all_kinks.tolist()), s.dphi is not None)
    if at_breaks:
        detected = sorted(set(detected) | set(at_breaks))
        all_kinks = np.array(sorted(set(all_kinks.tolist()) | set(at_breaks)), dtype=float)
        if all_kinks.size > _core.max_kinks:
            raise BuildError(
                f"{s.what} has {all_kinks.size} kinks; at most {_core.max_kinks} are supported"
            )
    _pin_at_zero(s, br, (c0, c1, c2), all_kinks, use_cs)
    return Fit(br, (c0, c1, c2), all_kinks, detected, source)


def _jumps_at_breaks(br, coefs, known: set, exact: bool) -> list[float]:
    """Interior breakpoints where phi' or phi'' jumps (beyond the interpolants' accuracy)."""
    out = []
    cheb = np.polynomial.chebyshev.chebval
    # tolerances: the interpolants' accuracy (relative, and absolute on the scale
    # of the function), looser where phi', phi'' come from differentiation
    tols = ((1e-9, 1e-12), (1e-8, 1e-11)) if exact else ((1e-7, 1e-11), (1e-5, 1e-9))
    for f, (rtol, atol) in enumerate(tols):
        cs = coefs[f]
        scale = max(float(np.max(np.abs(c))) for c in cs[: len(cs)]) if cs else 0.0
        for j in range(1, len(cs)):
            x = float(br[j])
            if x in known or x in out:
                continue
            left, right = cheb(1.0, cs[j - 1]), cheb(-1.0, cs[j])
            if abs(right - left) > rtol * (abs(left) + abs(right)) + atol * scale:
                out.append(x)
    return sorted(out)


def _pin_at_zero(s: Sampler, br: np.ndarray, coefs, kinks: np.ndarray, use_cs) -> None:
    """Make the interpolants exact at x = 0 (a breakpoint).

    The pieces next to 0 are 2^-24 wide; their constant coefficient carries
    rounding of ~eps 2^-24, which would turn phi(0) = 0 into phi(0) = 3e-24 and
    with it the fixed point q* = 0 of an activation with phi(0) = 0 into a
    spurious q* ~ 1e-46. phi is continuous, so both pieces take phi(0); phi'
    and phi'' are pinned where 0 is not a kink and their value at 0 is known.
    """
    j = int(np.searchsorted(br, 0.0))
    if j >= br.size or br[j] != 0.0 or j == 0 or j >= len(coefs[0]):
        return
    zero = np.zeros(1)
    vals: list[float | None] = [float(_call(s.phi, zero, s.what)[0]), None, None]
    if 0.0 not in set(kinks.tolist()):
        if s.dphi is not None:
            vals[1] = float(_call(s.dphi, zero, s.what)[0])
        elif use_cs:
            d = _complex_step(s, zero)
            vals[1] = None if d is None else float(d[0])
        if s.d2phi is not None:
            vals[2] = float(_call(s.d2phi, zero, s.what)[0])
    for f in range(3):
        if vals[f] is None:
            continue
        sides = ((j, -1.0), (j - 1, 1.0)) if f == 0 or 0.0 not in kinks else ((j, -1.0),)
        for piece, t in sides:
            c = coefs[f][piece]
            c[0] += vals[f] - np.polynomial.chebyshev.chebval(t, c)


def _coarse_derivatives(s: Sampler, kinks: np.ndarray, use_cs: bool | None):
    """phi' and phi'' where they are not given: differentiated interpolants on pieces
    no narrower than 1/4 (differentiating the tiny pieces near 0 would amplify the
    rounding of phi by 1/width^2). Returns (breaks, d1 coefs, d2 coefs), or None
    when the complex-step phi' disagrees with the differentiated phi."""
    done, _stuck, scales, _ = _fit_pieces(s, base_breaks(list(kinks), -2), use_cs)
    done.sort(key=lambda e: e[0])
    d1s, d2s = [], []
    for a, b, (k0, k1, _k2, v0, v1, _v2) in done:
        half = 0.5 * (b - a)
        dphi0 = _chebder(_chop(k0, 4 * _EPS * float(np.max(np.abs(v0)))), half)
        if k1 is not None:
            d1 = _chop(k1, 4 * _EPS * float(np.max(np.abs(v1))) + 1e-18 * scales[1])
            if s.dphi is None:  # complex step: check it
                y_int = np.polynomial.chebyshev.chebval(_T, dphi0)
                y_cs = np.polynomial.chebyshev.chebval(_T, d1)
                scale = float(np.max(np.abs(y_int))) + 1e-6 * scales[1] + 1e-300
                if np.max(np.abs(y_int - y_cs)) > 1e-6 * scale:
                    return None
        else:
            d1 = dphi0
        d1s.append(d1)
        d2s.append(_chebder(d1, half))
    br = np.array([e[0] for e in done] + [done[-1][1]])
    return br, d1s, d2s


def _resample(coarse, which: int, x: np.ndarray, mid: float) -> np.ndarray:
    """Chebyshev coefficients on a fine piece (points x) of a coarse derivative."""
    br, d1s, d2s = coarse
    cs = d1s if which == 0 else d2s
    j = np.clip(np.searchsorted(br, x, side="right") - 1, 0, len(cs) - 1)
    y = np.empty_like(x)
    for p in np.unique(j):
        m = j == p
        t = (2 * x[m] - (br[p] + br[p + 1])) / (br[p + 1] - br[p])
        y[m] = np.polynomial.chebyshev.chebval(t, cs[p])
    c = _coefficients(y[None, :])[0]
    return _chop(c, 4 * _EPS * float(np.max(np.abs(y))) + 1e-300)


def flags(s: Sampler, f: Fit) -> dict[str, bool]:
    """odd, one-signed phi / phi', positively homogeneous, from samples of the interpolants."""
    x = np.concatenate(
        [0.5 * (a + b) + 0.5 * (b - a) * _T for a, b in itertools.pairwise(f.breaks)]
    )
    y = np.concatenate([np.polynomial.chebyshev.chebval(_T, c) for c in f.coefs[0]])
    d = np.concatenate([np.polynomial.chebyshev.chebval(_T, c) for c in f.coefs[1]])
    ym = _call(s.phi, -x, s.what)
    yp = _call(s.phi, x, s.what)
    odd = bool(np.all(np.abs(ym + yp) <= 4 * _EPS * np.abs(yp)))
    affine = all(c.size <= 2 for c in f.coefs[0]) and set(f.kinks.tolist()) <= {0.0}
    homogeneous = False
    if affine:
        p = np.array([1.0, 2.0**10, 2.0**19])
        vp, vm = _call(s.phi, p, s.what), _call(s.phi, -p, s.what)
        v0 = _call(s.phi, np.zeros(1), s.what)[0]
        homogeneous = (
            v0 == 0.0
            and bool(np.all(np.abs(vp - vp[0] * p) <= 8 * _EPS * np.abs(vp)))
            and bool(np.all(np.abs(vm - vm[0] * p) <= 8 * _EPS * np.abs(vm)))
        )
    return {
        "odd": odd,
        "phi_one_signed": bool(np.all(y >= 0) or np.all(y <= 0)),
        "dphi_one_signed": bool(np.all(d >= 0) or np.all(d <= 0)),
        "homogeneous": homogeneous,
    }


def register(s: Sampler, kinks: Sequence[float]):
    """Fit and register with the core; returns (handle, Fit, flags)."""
    f = fit(s, kinks)
    fl = flags(s, f)
    # phi itself must be continuous (the expectations' kink terms assume so)
    cheb = np.polynomial.chebyshev.chebval
    for j in range(1, len(f.coefs[0])):
        left, right = cheb(1.0, f.coefs[0][j - 1]), cheb(-1.0, f.coefs[0][j])
        k = float(f.breaks[j])
        if abs(left - right) > 1e-9 * max(abs(left), abs(right)) + 1e-12 * max(1.0, abs(k)):
            raise BuildError(
                f"{s.what} jumps at x = {k:.17g} (from {left:.6g} to {right:.6g}): phi "
                "must be continuous (phi' and phi'' may jump)"
            )
    handle = _core.register_custom(
        np.ascontiguousarray(f.breaks),
        [np.ascontiguousarray(c) for c in f.coefs[0]],
        [np.ascontiguousarray(c) for c in f.coefs[1]],
        [np.ascontiguousarray(c) for c in f.coefs[2]],
        np.ascontiguousarray(f.kinks),
        fl["odd"],
        fl["phi_one_signed"],
        fl["dphi_one_signed"],
        fl["homogeneous"],
    )
    return handle, f, fl


def check_kinks(kinks, what: str = "kinks") -> list[float]:
    """Validate a user kink list: finite, strictly increasing, at most max_kinks."""
    if kinks is None:
        return []
    try:
        arr = np.asarray(kinks, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a sequence of real numbers, got {kinks!r}") from None
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-d sequence of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got {kinks!r}")
    if np.any(np.diff(arr) <= 0):
        raise ValueError(f"{what} must be sorted ascending without repeats, got {kinks!r}")
    if np.any(np.abs(arr) >= RANGE):
        raise ValueError(f"{what} must lie in (-2^20, 2^20), got {kinks!r}")
    if arr.size > _core.max_kinks:
        raise ValueError(f"{what}: at most {_core.max_kinks} kinks, got {arr.size}")
    return [float(v) for v in arr]


def is_finite_number(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
