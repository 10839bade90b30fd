"""Type stubs of ``sigprop._core``, the compiled core (pybind11, csrc/bindings.cpp).

Internal: use the ``sigprop`` package. Array arguments are converted to
C-contiguous float64 (any array-like is accepted; the core requires them
one-dimensional and of equal lengths, except ``K``, a square matrix); every
array returned is newly allocated. ``kind``, ``p0``, ``p1`` identify an
activation (``sigprop.activations``); ``n_threads`` is in [1, 1024] here (the
Python layer resolves None and negative counts). ``progress``, when given, is
called with the number of cells each block finished; Ctrl-C between blocks
raises KeyboardInterrupt.
"""

from collections.abc import Callable
from typing import Final, TypedDict, final

import numpy as np
from numpy.typing import ArrayLike, NDArray

_Float64Array = NDArray[np.float64]
_Progress = Callable[[int], object] | None

class _BuiltinInfo(TypedDict):
    """One row of :func:`builtins`."""

    kind: int
    name: str
    aliases: str  # comma-separated, may be empty
    formula: str
    params: list[tuple[str, float, str]]  # (name, default, range: "any" | "positive" | ...)
    odd: bool
    arccos_family: bool

class _CustomInfo(TypedDict):
    """What :func:`custom_info` reports of a registered custom activation."""

    n_pieces: int
    lo: float
    hi: float
    left_affine: bool
    right_affine: bool
    bytes: int

class _FixedPoints(TypedDict):
    """The arrays :func:`fixed_points` returns, one entry per cell."""

    q_star: NDArray[np.float64]
    status: NDArray[np.int32]
    iterations: NDArray[np.int32]
    chi1: NDArray[np.float64]
    slope: NDArray[np.float64]
    c_star: NDArray[np.float64]
    chi_c: NDArray[np.float64]
    xi_q: NDArray[np.float64]
    xi_c: NDArray[np.float64]
    beta_q: NDArray[np.float64]

@final
class CustomHandle:
    """A registered custom activation; dropping the last reference releases it.

    Made only by :func:`register_custom` (no Python constructor).
    """

    @property
    def id(self) -> int: ...

has_openmp: Final[bool]
n_kinds: Final[int]
custom_kind: Final[int]
max_kinks: Final[int]
eoc_max_branches: Final[int]

def max_threads() -> int: ...
def builtins() -> list[_BuiltinInfo]:
    """The table of built-in activations (kind, name, aliases, formula, params, flags)."""

def register_custom(
    breaks: ArrayLike,
    c0: list[ArrayLike],
    c1: list[ArrayLike],
    c2: list[ArrayLike],
    kinks: ArrayLike,
    odd: bool,
    phi_one_signed: bool,
    dphi_one_signed: bool,
    homogeneous: bool,
) -> CustomHandle: ...
def custom_info(id: float) -> _CustomInfo: ...
def n_custom_live() -> int: ...
def n_moment_tables() -> int: ...
def clear_cache() -> None:
    """Free every cached table (moment, Hermite, near-diagonal, smoothing and EOC tables)."""

def build_limits(hold_s: float, min_s: float) -> tuple[float, float]:
    """How long a table segment's build may hold a block (tests); returns the previous limits."""

def n_hermite_tables() -> int: ...
def n_near_diagonal_tables() -> int: ...
def n_eoc_tables() -> int: ...
def near_diagonal(kind: int, p0: float, p1: float, d: int, q: float, c: float) -> float: ...
def evaluate(kind: int, p0: float, p1: float, d: int, x: ArrayLike) -> _Float64Array: ...
def kinks(kind: int, p0: float, p1: float) -> list[tuple[float, float]]:
    """The kinks of phi as (x, jump of phi' at x)."""

def moments(
    kind: int, p0: float, p1: float, q: ArrayLike, n_threads: int, progress: _Progress = None
) -> tuple[_Float64Array, _Float64Array, _Float64Array, _Float64Array, _Float64Array]:
    """(E[phi], E[phi^2], E[phi'^2], E[phi''^2], V'(q) / sigma_w^2) at each q."""

def bivariate(
    kind: int,
    p0: float,
    p1: float,
    d: int,
    q1: ArrayLike,
    q2: ArrayLike,
    c: ArrayLike,
    n_threads: int,
    progress: _Progress = None,
    direct: bool = False,
) -> tuple[_Float64Array, NDArray[np.int8]]:
    """E[phi^(d)(u) phi^(d)(v)] (d = 0 or 1) and per-point flags (1: quadrature shortfall)."""

def normal_orthant(
    h: float,
    k: float,
    r: float,
    one_minus_r: float,
    one_plus_r: float,
    tilt: float = 0.0,
) -> tuple[tuple[float, float, float, float], tuple[float, float, float, float]]:
    """e^tilt (P, E[X], E[Y], E[XY]) over {X > h, Y > k} of the standard bivariate normal
    with correlation r (1 - r and 1 + r passed exactly), and error estimates of each."""

def bivariate_nested_quadrature(
    kind: int, p0: float, p1: float, d: int, q1: float, q2: float, c: float
) -> tuple[float, bool]:
    """E[phi^(d)(u) phi^(d)(v)] by the nested quadrature alone (no closed form), and
    whether it reached its tolerance: the independent check of the closed forms."""

def laguerre_orthant(h: float, k: float, c: float, ramp: bool) -> float:
    """P(X > h, Y > k) (ramp false) or E[(X - h)_+ (Y - k)_+] (ramp true), X, Y standard
    normal with correlation c, by the Gauss-Laguerre form of Price's theorem
    (piecewise_closed_forms.hpp, laguerre_orthant); NaN where it declines."""

def elu_small_variance(
    kind: int, p0: float, p1: float, d: int, q1: float, q2: float, c: float
) -> float:
    """E[f(u) f(v)] (f = phi, d = 0; phi', d = 1) of elu / selu by the exponential's Taylor
    series on both sides (elu_small_variance.hpp); NaN where it defers."""

def softsign_small_variances(d: int, q1: float, q2: float, c: float) -> float:
    """E[f(u) f(v)] (f = phi, d = 0; phi', d = 1) of softsign by its power series on both
    sides against the orthant moments (small_variance.hpp, softsign_small_variances);
    NaN where it defers."""

def elu_one_small_variance(
    kind: int, p0: float, p1: float, q1: float, q2: float, c: float
) -> float:
    """E[phi(u) phi(v)] of elu / selu by the Taylor series on the smaller variance's side
    alone (elu_small_variance.hpp), q1 the small variance; NaN where it defers."""

def saturating_table_serves(kind: int, p0: float, p1: float, d: int, w: float) -> bool:
    """Whether the process-wide smoothing table of a saturating kind's remainder
    (smoothing_table.hpp) serves the conditional spread w (its segment, or that
    segment's halves, built and checked)."""

def piecewise_closed_form(
    kind: int,
    p0: float,
    p1: float,
    d: int,
    q1: float,
    q2: float,
    c: float,
    tol: float = 1e-13,
    relative: bool = False,
    passes: str = "tail",
) -> float:
    """The closed form of piecewise_closed_forms.hpp for E[phi^(d)(u) phi^(d)(v)]; NaN
    where it defers (its error estimate above tol of the Cauchy-Schwarz scale, or of
    the result with relative) or the kind has none. passes: 'tail' (with the tail
    quadrature of far orthants), 'fast' (without) or 'fast_then_tail' (the fast path,
    then where it defers the tail pass reading its orthants, OrthantMemo: the
    dispatch's two passes for elu's and selu's phi and phi')."""

def hermite_coefficients(
    kind: int, p0: float, p1: float, q: float, n_max: int
) -> tuple[_Float64Array, bool]:
    """Normalised Hermite coefficients 0..n_max of phi(sqrt(q) Z), and whether they meet
    Parseval's identity to rounding."""

def hermite_tail(kind: int, p0: float, p1: float, q: float, d: int) -> tuple[float, float]:
    """The relative mass beyond the highest tabulated Hermite order of phi^(d) at q as
    the table predicts it (the least at its segment's nodes; 0 without a table) and as
    the expansion finds it once every order is evaluated (floored at 4e-15)."""

def qmap(
    kind: int,
    p0: float,
    p1: float,
    q: ArrayLike,
    sigma_w: ArrayLike,
    sigma_b: ArrayLike,
    n_threads: int,
    progress: _Progress = None,
) -> tuple[_Float64Array, _Float64Array, _Float64Array]:
    """(V(q), V'(q), chi1) per cell."""

def covmap(
    kind: int,
    p0: float,
    p1: float,
    q1: ArrayLike,
    q2: ArrayLike,
    c: ArrayLike,
    sigma_w: ArrayLike,
    sigma_b: ArrayLike,
    with_slope: bool,
    n_threads: int,
    progress: _Progress = None,
) -> tuple[_Float64Array, _Float64Array]:
    """(q_ab, d q_ab / d c) per cell; the second array is empty unless with_slope."""

def moments_point(
    kind: int, p0: float, p1: float, q: float
) -> tuple[float, float, float, float, float]:
    """(mean, phi_sq, dphi_sq, d2phi_sq, dV) at one q: moments' cell, floats in and out."""

def qmap_point(
    kind: int, p0: float, p1: float, q: float, sigma_w: float, sigma_b: float
) -> tuple[float, float, float]:
    """(V(q), V'(q), chi1) at one point: qmap's cell, floats in and out."""

def covmap_point(
    kind: int,
    p0: float,
    p1: float,
    q1: float,
    q2: float,
    c: float,
    sigma_w: float,
    sigma_b: float,
) -> float:
    """q_ab at one point: covmap's cell, floats in and out."""

def bivariate_point(
    kind: int, p0: float, p1: float, d: int, q1: float, q2: float, c: float
) -> tuple[float, bool]:
    """E[f(u) f(v)] at one point and whether its quadrature ended short of its tolerance."""

def fixed_points(
    kind: int,
    p0: float,
    p1: float,
    sigma_w: ArrayLike,
    sigma_b: ArrayLike,
    q0: ArrayLike | None,
    with_correlation: bool,
    n_threads: int,
    progress: _Progress = None,
    keep_prob: float = 1.0,
) -> _FixedPoints: ...
def propagate(
    kind: int,
    p0: float,
    p1: float,
    sigma_w_q: float,
    sigma_w_c: float,
    sigma_b: float,
    depth: int,
    q_a: ArrayLike,
    q_b: ArrayLike,
    c: ArrayLike,
    n_threads: int,
) -> tuple[_Float64Array, _Float64Array, _Float64Array, int]:
    """Two inputs' (q_a, q_b, c) through depth layers: (Q, QB, C), each (depth + 1, n),
    and the number of pairs whose quadrature ended short of its tolerance."""

def fixed_point_point(
    kind: int,
    p0: float,
    p1: float,
    sigma_w: float,
    sigma_b: float,
    q0: float | None,
    with_correlation: bool,
    keep_prob: float = 1.0,
) -> tuple[float, int, int, float, float, float, float, float, float, float]:
    """One cell of fixed_points: (q*, status, iterations, chi1, slope, c*, chi_c, xi_q,
    xi_c, beta_q)."""

def eoc(
    kind: int, p0: float, p1: float, sigma_b: ArrayLike, n_threads: int, progress: _Progress = None
) -> tuple[_Float64Array, _Float64Array, _Float64Array, NDArray[np.int32], NDArray[np.int32]]:
    """(sigma_w, q*, slope, kind of branch: 0 curve, 1 limit, 2 point), each of shape
    (n, eoc_max_branches), and the number of branches per sigma_b, shape (n,)."""

def input_kernel(XT: ArrayLike, sigma_w: float, sigma_b: float, n_threads: int) -> _Float64Array:
    """The first layer of the NNGP kernel, sigma_b^2 + sigma_w^2 X X^T / d, from XT = X^T
    (d, m): exactly symmetric, the same bitwise for any thread count."""

def kernel_layer(
    kind: int,
    p0: float,
    p1: float,
    K: ArrayLike,
    sigma_w: float,
    sigma_b: float,
    n_threads: int,
    progress: _Progress = None,
    out: _Float64Array | None = None,
) -> tuple[_Float64Array, int]:
    """One layer of the NNGP kernel map: the (m, m) kernel after the layer (in ``out``
    if given: a writeable C-contiguous float64 (m, m) array not overlapping K), and the
    number of pairs whose quadrature ended short of its tolerance."""

def threshold_pair_near_one(
    kind: int, p0: float, p1: float, d: int, q1: float, q2: float, c: float, tol: float
) -> tuple[float, float]:
    """Price's theorem from c = 1 for shifted_relu, soft_threshold and hard_tanh
    (csrc/sigprop/two_point.hpp, threshold_pair_near_one): the value and its error
    bound, NaN where the form declines (a diagnostic, for the tests)."""

def fourier_pair(
    kind: int,
    p0: float,
    p1: float,
    d: int,
    q1: float,
    q2: float,
    c: float,
    atol: float,
    asymptotic: bool = True,
) -> float:
    """E[f(u) f(v)] (f = phi^(d)) of softplus, shifted_softplus, silu, tanh or sigmoid
    from their Fourier forms (csrc/sigprop/linear_tail_pair.hpp, sign_tail_pair.hpp: the
    skeleton's kernel in closed form and the remainder's in Fourier space; for phi of the
    linear tails at large variances their asymptotic form first, unless asymptotic is
    false) to absolute tolerance atol; NaN where the form declines (a diagnostic, for the
    tests)."""

def large_variance_asymptotic(
    kind: int, p0: float, p1: float, q1: float, q2: float, c: float, atol: float
) -> float:
    """E[phi(u) phi(v)] at large variances by the kind's asymptotic form
    (csrc/sigprop/two_point.hpp, large_variance_asymptotic): softplus, shifted_softplus and
    silu by relu's kernel in closed form and the remainder's terms from its moments
    (linear_tail_pair.hpp), elu and selu by relu's and the step's kernels and the terms of
    the exponential's narrow part (elu_large_variance.hpp), each with bounded Taylor
    remainders, to absolute tolerance atol; NaN where its bound exceeds atol, or for
    another kind (a diagnostic, for the tests)."""

def covariance_taylor(
    kind: int, p0: float, p1: float, d: int, q1: float, q2: float, c: float, atol: float
) -> float:
    """E[f(u) f(v)] (f = phi^(d)) of tanh, sigmoid, softplus, shifted_softplus or silu next
    to c = 1 by the Taylor series in the covariance from c = 1
    (csrc/sigprop/covariance_taylor.hpp), its order chosen by its remainder's bound, to
    absolute tolerance atol; NaN where it does not serve (another kind, variances below
    its range or more than 1.21x apart, c < 1/2, or no order within atol) (a diagnostic,
    for the tests)."""

def remainder_table(
    kind: int, p0: float, p1: float, d: int, q1: float, q2: float, c: float, rtol: float
) -> float:
    """E[f(u) f(v)] (f = phi^(d)) of tanh, sigmoid, softplus, shifted_softplus or silu next
    to c = 1 at large variances, or of elu, selu, softsign or linear_region_tanh next to |c|
    = 1, from the remainder tables (csrc/sigprop/remainder_table.hpp), where they serve the
    pair within rtol of its Cauchy-Schwarz scale; NaN elsewhere (a diagnostic, for the
    tests)."""

def untabled_pair(kind: int, p0: float, p1: float, d: int, q1: float, q2: float, c: float) -> float:
    """E[f(u) f(v)] (f = phi^(d)) by the engine with the remainder tables off
    (csrc/sigprop/remainder_table.hpp), as their nodes are evaluated; NaN where it fell
    short (a diagnostic, for the tests)."""

def remainder_table_bound(
    kind: int, p0: float, p1: float, d: int, q1: float, q2: float, c: float
) -> float:
    """The error bound, relative to the scale, of the remainder table's segment that would
    serve the pair (built if need be): NaN outside the table's domain, inf where the segment
    failed its checks; tanh, softplus, shifted_softplus or silu (d = 1: tanh and silu), elu,
    selu, softsign or linear_region_tanh."""

def deadline_steps(steps: list[tuple[str, float]]) -> list[float]:
    """Deadlines in sequence, for the tests of the timer thread (csrc/sigprop/deadline.hpp):
    each step ('drop', s) makes a deadline s seconds out and drops it at once, ('hold', s)
    keeps it to the end, ('wait', s) spins until it has passed; returns the seconds each
    'wait' took (a diagnostic, for the tests)."""

def plain_arithmetic(name: str, x: _Float64Array) -> _Float64Array:
    """The core's functions in plain double arithmetic (special.hpp: exp_arith,
    expm1_arith, log1p_arith, erfc_arith, erfcx_arith (0 <= x < 6.75, NaN elsewhere),
    exp_neg_sq_arith as exp(-x^2) and exp(-x^2 / 2)) at each x (a diagnostic, for the
    tests)."""

def threshold_near_one_pairs(
    kind: int,
    p0: float,
    q1: _Float64Array,
    q2: _Float64Array,
    c: _Float64Array,
    together: bool,
) -> _Float64Array:
    """E[phi(u) phi(v)] of shifted_relu or soft_threshold next to c = 1 by the kernel
    layers' form (csrc/sigprop/two_point.hpp, threshold_near_one_kernel) from the
    one-point moments at q1 and q2: consecutive pairs eight at a time (together) or one
    at a time; NaN where it declines (a diagnostic, for the tests)."""

def trapezoid_pair(
    kind: int, p0: float, p1: float, d: int, q1: float, q2: float, c: float, atol: float
) -> float:
    """E[f(u) f(v)] (f = phi^(d)) of a user's activation without kinks next to |c| = 1 by
    the trapezoid rule on uniform grids (csrc/sigprop/trapezoid_pair.hpp) to absolute
    tolerance atol; NaN where the form declines (a diagnostic, for the tests)."""

def lrt_smoothing(d: int, A: float, m: float, w: float, eps: float) -> tuple[float, float]:
    """linear_region_tanh's branch b (A + tanh(y - A), or sech^2(y - A) for d = 1) smoothed
    at centre m and spread w: E[b(X) 1(X > A)] from tanh's Taylor series and E[b(X)] from
    the heat series (m >= A + 12 w), to absolute tolerance eps; NaN where a series
    declines (a diagnostic, for the tests)."""

def softsign_smoothing(d: int, m: float, w: float, eps: float) -> tuple[float, float]:
    """E[f(m + w T)] (f = softsign^(d), T ~ N(0, 1)) from its power series to absolute
    tolerance eps (NaN where the series declines) and from the panels of
    csrc/sigprop/softsign_pair.hpp (a diagnostic, for the tests)."""

def kernel_layer_table(
    kind: int, p0: float, p1: float, K: ArrayLike, n_threads: int
) -> tuple[int, bool, int]:
    """The layer table that kernel_layer would build for K (csrc/sigprop/layer_table.hpp):
    its number of build units (0: none planned), whether it passed its checks, and the
    number of inputs in its box (a diagnostic, for the tests)."""
