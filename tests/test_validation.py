"""Input validation of the public API.

Bad input must raise a clear exception (right type, message naming the
offending argument and, where there is one, showing the bad value); it must
never crash, hang or return a plausible-looking number. Valid but unusual input
(integer arrays, broadcasting shapes, 0-d arrays, strided views) must work and
give the same numbers as the plain float64 equivalent.
"""

import re

import numpy as np
import pytest

import sigprop as sp

X2 = np.array([[1.0, 0.5], [-0.3, 2.0]])

# ---------------------------------------------------------------------------
# Activations: names and parameters
# ---------------------------------------------------------------------------


def test_unknown_activation_name_lists_builtins():
    with pytest.raises(ValueError, match="unknown activation 'foo'") as info:
        sp.activation("foo")
    msg = str(info.value)
    for name in sp.ACTIVATIONS:
        assert name in msg


@pytest.mark.parametrize(
    "call",
    [
        lambda: sp.gaussian_moments("not_an_activation", 1.0),
        lambda: sp.bivariate_expectation("not_an_activation", 1.0, 1.0, 0.5),
        lambda: sp.qmap("not_an_activation", 1.0, 1.0, 0.0),
        lambda: sp.fixed_point("not_an_activation", 1.0, 0.0),
        lambda: sp.eoc("not_an_activation", 0.1),
        lambda: sp.propagate("not_an_activation", 1.0, 0.0, 2, 1.0),
        lambda: sp.nngp_kernel("not_an_activation", X2, 1.0, 0.0, 2),
    ],
    ids=["gaussian_moments", "bivariate", "qmap", "fixed_point", "eoc", "propagate", "nngp"],
)
def test_unknown_activation_name_in_every_function(call):
    with pytest.raises(ValueError, match=r"unknown activation 'not_an_activation'.*tanh"):
        call()


@pytest.mark.parametrize(
    "alias, canonical",
    [("swish", "silu"), ("HardTanh", "hard_tanh"), ("identity", "linear"), ("TANH", "tanh")],
)
def test_aliases_and_case(alias, canonical):
    assert sp.activation(alias).name == canonical


@pytest.mark.parametrize("name", [3, None, 1.5, ["tanh"]])
def test_activation_name_of_wrong_type(name):
    with pytest.raises(TypeError, match="activation must be a name"):
        sp.activation(name)


@pytest.mark.parametrize(
    "name, params, pattern",
    [
        ("tanh", {"a": 1.0}, r"unknown parameter\(s\) \['a'\] for activation 'tanh'.*none"),
        ("hard_tanh", {"b": 1.0}, r"unknown parameter\(s\) \['b'\].*parameters are: a"),
        ("leaky_relu", {"alpha": 0.1}, r"\['alpha'\].*parameters are: negative_slope"),
        ("shifted_relu", {"a": 1.0}, r"\['a'\].*parameters are: tau"),
    ],
)
def test_unknown_parameter(name, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        sp.activation(name, **params)


def test_parameters_given_with_activation_object():
    with pytest.raises(ValueError, match=r"parameters \['a'\] given for an Activation"):
        sp.activation(sp.activation("hard_tanh"), a=2.0)


@pytest.mark.parametrize(
    "name, params, pattern",
    [
        ("hard_tanh", {"a": 0.0}, r"parameter a of hard_tanh must be > 0, got 0\.0"),
        ("hard_tanh", {"a": -1.5}, r"parameter a of hard_tanh must be > 0, got -1\.5"),
        ("linear_region_tanh", {"a": 0}, r"parameter a of linear_region_tanh must be > 0"),
        ("linear_floor", {"a": -2}, r"parameter a of linear_floor must be > 0, got -2\.0"),
        ("shifted_relu", {"tau": -0.5}, r"parameter tau of shifted_relu must be >= 0, got -0\.5"),
        ("soft_threshold", {"tau": -1e-3}, r"parameter tau of soft_threshold must be >= 0"),
        ("elu", {"alpha": -1.0}, r"parameter alpha of elu must be >= 0, got -1\.0"),
        ("hard_tanh", {"a": float("nan")}, r"parameter a of hard_tanh must be finite, got nan"),
        ("shifted_relu", {"tau": float("inf")}, r"parameter tau of shifted_relu must be finite"),
        ("leaky_relu", {"negative_slope": -np.inf}, r"negative_slope of leaky_relu must be finite"),
    ],
)
def test_parameter_out_of_range(name, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        sp.activation(name, **params)


def test_linear_region_validates_a_and_tail():
    with pytest.raises(ValueError, match=r"parameter a of hard_tanh must be > 0, got -1\.0"):
        sp.theory.linear_region(-1.0)
    with pytest.raises(ValueError, match=r"parameter a of linear_region_tanh must be > 0"):
        sp.theory.linear_region(0.0, tail="tanh")
    with pytest.raises(ValueError, match="unknown tail 'cubic'; choose one of clip, tanh, floor"):
        sp.theory.linear_region(1.0, tail="cubic")


@pytest.mark.parametrize(
    "value",
    ["1", None, 1j, True, [1.0], object()],
    ids=["str", "None", "complex", "bool", "list", "object"],
)
def test_non_numeric_parameter(value):
    with pytest.raises(TypeError, match="parameter a of hard_tanh must be a real number"):
        sp.activation("hard_tanh", a=value)


def test_array_parameter_names_the_parameter():
    with pytest.raises(TypeError, match="parameter a of hard_tanh"):
        sp.activation("hard_tanh", a=np.array([1.0, 2.0]))


def test_numeric_parameter_types_accepted():
    for value in (2, 2.0, np.float32(2.0), np.int64(2), np.array(2.0)):
        act = sp.activation("hard_tanh", a=value)
        assert act.params == {"a": 2.0}
        assert type(act.params["a"]) is float


# ---------------------------------------------------------------------------
# Variances, standard deviations, correlations: sign, finiteness, range
# ---------------------------------------------------------------------------

# Every (function, argument name) pair taking a standard deviation or variance,
# as a callable of the bad value.
NONNEGATIVE_ARGS = [
    ("q", lambda v: sp.gaussian_moments("tanh", v)),
    ("q1", lambda v: sp.bivariate_expectation("tanh", v, 1.0, 0.5)),
    ("q2", lambda v: sp.bivariate_expectation("tanh", 1.0, v, 0.5)),
    ("q", lambda v: sp.qmap("tanh", v, 1.0, 0.1)),
    ("sigma_w", lambda v: sp.qmap("tanh", 1.0, v, 0.1)),
    ("sigma_b", lambda v: sp.qmap("tanh", 1.0, 1.0, v)),
    ("q", lambda v: sp.theory.qmap_slope("tanh", v, 1.0)),
    ("sigma_w", lambda v: sp.theory.qmap_slope("tanh", 1.0, v)),
    ("q", lambda v: sp.chi1("tanh", v, 1.0)),
    ("sigma_w", lambda v: sp.chi1("tanh", 1.0, v)),
    ("q", lambda v: sp.cmap("tanh", v, 0.5, 1.0, 0.1)),
    ("sigma_w", lambda v: sp.cmap("tanh", 1.0, 0.5, v, 0.1)),
    ("sigma_b", lambda v: sp.cmap("tanh", 1.0, 0.5, 1.0, v)),
    ("q1", lambda v: sp.covmap("tanh", v, 1.0, 0.5, 1.0, 0.1)),
    ("q2", lambda v: sp.covmap("tanh", 1.0, v, 0.5, 1.0, 0.1)),
    ("sigma_w", lambda v: sp.covmap("tanh", 1.0, 1.0, 0.5, v, 0.1)),
    ("sigma_b", lambda v: sp.covmap("tanh", 1.0, 1.0, 0.5, 1.0, v)),
    ("sigma_w", lambda v: sp.propagate("tanh", v, 0.1, 2, 1.0)),
    ("sigma_b", lambda v: sp.propagate("tanh", 1.0, v, 2, 1.0)),
    ("q0", lambda v: sp.propagate("tanh", 1.0, 0.1, 2, v)),
    ("q0_b", lambda v: sp.propagate("tanh", 1.0, 0.1, 2, 1.0, q0_b=v)),
    ("sigma_w", lambda v: sp.nngp_kernel("tanh", X2, v, 0.1, 2)),
    ("sigma_b", lambda v: sp.nngp_kernel("tanh", X2, 1.0, v, 2)),
    ("sigma_w", lambda v: sp.fixed_point("tanh", v, 0.1)),
    ("sigma_b", lambda v: sp.fixed_point("tanh", 1.0, v)),
    ("q0", lambda v: sp.fixed_point("tanh", 1.0, 0.1, q0=v)),
    ("sigma_b", lambda v: sp.eoc("tanh", v)),
]
NONNEGATIVE_IDS = [f"{i}-{name}" for i, (name, _) in enumerate(NONNEGATIVE_ARGS)]


def _named(name: str) -> str:
    """Regex for the argument name as a word (so that 'q' does not match 'q0')."""
    return rf"(?<![\w]){re.escape(name)}(?![\w])"


@pytest.mark.parametrize("name, call", NONNEGATIVE_ARGS, ids=NONNEGATIVE_IDS)
def test_negative_value_raises_naming_argument_and_value(name, call):
    with pytest.raises(ValueError, match=_named(name) + r" must be >= 0, got .*-1\.5"):
        call(-1.5)


@pytest.mark.parametrize("name, call", NONNEGATIVE_ARGS, ids=NONNEGATIVE_IDS)
def test_negative_entry_in_array_is_shown(name, call):
    with pytest.raises(ValueError, match=_named(name) + r" must be >= 0, got .*-2\.25"):
        call(np.array([0.5, 1.0, -2.25, 3.0]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name, call", NONNEGATIVE_ARGS, ids=NONNEGATIVE_IDS)
def test_non_finite_value_raises(name, call, bad):
    with pytest.raises(ValueError, match=_named(name) + r" must be finite, got .*(nan|inf)"):
        call(bad)
    with pytest.raises(ValueError, match=_named(name) + " must be finite"):
        call(np.array([1.0, bad]))


@pytest.mark.parametrize("size", [1, 3, 8, 9, 1000])
@pytest.mark.parametrize(
    "bad, message",
    [
        (-2.25, r"q1 must be >= 0, got -2\.25"),
        (np.nan, r"q1 must be finite, got nan"),
        (np.inf, r"q1 must be finite, got inf"),
        (-np.inf, r"q1 must be finite, got -inf"),
    ],
    ids=["negative", "nan", "inf", "-inf"],
)
def test_bad_value_found_at_any_size_and_place(size, bad, message):
    # Arrays are first checked whole (as Python floats up to 8 values, else by their
    # least and largest values); the offending value is then found for the message, at
    # the start, the middle or the end.
    for where in {0, size // 2, size - 1}:
        q1 = np.full(size, 0.5)
        q1[where] = bad
        with pytest.raises(ValueError, match=message):
            sp.bivariate_expectation("tanh", q1, 1.0, 0.5)
        c = np.full(size, 0.25)
        c[where] = 1.0 + abs(bad) if np.isfinite(bad) else bad
        cmessage = r"c must lie in \[-1, 1\]" if np.isfinite(bad) else r"c must be finite"
        with pytest.raises(ValueError, match=cmessage):
            sp.bivariate_expectation("tanh", 1.0, 1.0, c)
    # the bounds themselves pass: q = 0, c = -1 and 1, the largest double variance
    ok = np.full(size, 0.5)
    ok[0], ok[-1] = 0.0, np.finfo(np.float64).max
    cs = np.zeros(size)
    cs[0], cs[-1] = -1.0, 1.0
    assert sp.bivariate_expectation("relu", ok, ok, cs).shape == (size,)


CORRELATION_ARGS = [
    ("c", lambda v: sp.bivariate_expectation("tanh", 1.0, 2.0, v)),
    ("c", lambda v: sp.bivariate_expectation("tanh", 1.0, 2.0, v, derivative=1)),
    ("c", lambda v: sp.cmap("tanh", 1.0, v, 1.0, 0.1)),
    ("c", lambda v: sp.covmap("tanh", 1.0, 2.0, v, 1.0, 0.1)),
    ("c0", lambda v: sp.propagate("tanh", 1.0, 0.1, 2, 1.0, c0=v)),
]
CORRELATION_IDS = ["bivariate", "bivariate_d1", "cmap", "covmap", "propagate"]


@pytest.mark.parametrize("value", [1.5, -1.0000001, 2, -3])
@pytest.mark.parametrize("name, call", CORRELATION_ARGS, ids=CORRELATION_IDS)
def test_correlation_outside_unit_interval(name, call, value):
    shown = re.escape(repr(float(value)))
    with pytest.raises(ValueError, match=_named(name) + rf" must lie in \[-1, 1\], got .*{shown}"):
        call(value)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("name, call", CORRELATION_ARGS, ids=CORRELATION_IDS)
def test_correlation_non_finite(name, call, bad):
    with pytest.raises(ValueError, match=_named(name) + " must be finite"):
        call(bad)


@pytest.mark.parametrize("name, call", CORRELATION_ARGS, ids=CORRELATION_IDS)
def test_correlation_endpoints_accepted(name, call):
    for c in (-1.0, 1.0, -1, 1, 0):
        out = call(c)
        assert np.all(np.isfinite(getattr(out, "c", out)))


def test_cmap_needs_positive_q():
    with pytest.raises(ValueError, match=r"q must be > 0 for the correlation map, got 0\.0"):
        sp.cmap("tanh", 0.0, 0.5, 1.0, 0.1)
    with pytest.raises(ValueError, match="q must be > 0"):
        sp.cmap("tanh", [1.0, 0.0], 0.5, 1.0, 0.1)


# ---------------------------------------------------------------------------
# Array dtypes
# ---------------------------------------------------------------------------

BAD_ARRAYS = [
    ("str", "1.0"),
    ("bytes", b"1.0"),
    ("str_array", np.array(["1.0", "2.0"])),
    ("complex", 1.0 + 0.0j),
    ("complex_array", np.array([1.0, 2.0], dtype=complex)),
    ("object_array", np.array([1.0, 2.0], dtype=object)),
    ("bool", True),
    ("bool_array", np.array([True, False])),
    ("None", None),
    ("mixed_list", [1.0, "a"]),
    ("ragged", [[1.0, 2.0], [3.0]]),
]

# (argument name, callable of the bad value) for every real-array argument.
ARRAY_ARGS = [
    ("q", lambda v: sp.gaussian_moments("relu", v)),
    ("q1", lambda v: sp.bivariate_expectation("relu", v, 1.0, 0.5)),
    ("q2", lambda v: sp.bivariate_expectation("relu", 1.0, v, 0.5)),
    ("c", lambda v: sp.bivariate_expectation("relu", 1.0, 1.0, v)),
    ("q", lambda v: sp.qmap("relu", v, 1.0, 0.1)),
    ("sigma_w", lambda v: sp.qmap("relu", 1.0, v, 0.1)),
    ("sigma_b", lambda v: sp.qmap("relu", 1.0, 1.0, v)),
    ("c", lambda v: sp.cmap("relu", 1.0, v, 1.0, 0.1)),
    ("q", lambda v: sp.cmap("relu", v, 0.5, 1.0, 0.1)),
    ("q1", lambda v: sp.covmap("relu", v, 1.0, 0.5, 1.0, 0.1)),
    ("sigma_w", lambda v: sp.fixed_point("relu", v, 0.1)),
    ("sigma_b", lambda v: sp.fixed_point("relu", 1.0, v)),
    ("q0", lambda v: sp.fixed_point("relu", 1.0, 0.1, q0=v if v is not None else [None])),
    ("sigma_b", lambda v: sp.eoc("relu", v)),
    ("sigma_w", lambda v: sp.propagate("relu", v, 0.1, 2, 1.0)),
    ("q0", lambda v: sp.propagate("relu", 1.0, 0.1, 2, v)),
    ("c0", lambda v: sp.propagate("relu", 1.0, 0.1, 2, 1.0, c0=v)),
    ("X", lambda v: sp.nngp_kernel("relu", v, 1.0, 0.1, 2)),
    ("x", lambda v: sp.activation("relu")(v)),
]


@pytest.mark.parametrize("kind, value", BAD_ARRAYS, ids=[k for k, _ in BAD_ARRAYS])
@pytest.mark.parametrize(
    "name, call", ARRAY_ARGS, ids=[f"{i}-{n}" for i, (n, _) in enumerate(ARRAY_ARGS)]
)
def test_non_real_input_raises_type_error(name, call, kind, value):
    with pytest.raises(TypeError, match=_named(name)):
        call(value)


def test_fixed_point_q0_none_is_the_default():
    a = sp.fixed_point("tanh", 1.5, 0.1, q0=None)
    b = sp.fixed_point("tanh", 1.5, 0.1)
    assert a.q_star == b.q_star


# ---------------------------------------------------------------------------
# Integer arguments: depth, derivative, n_threads
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [-1, -10])
def test_propagate_negative_depth(depth):
    with pytest.raises(ValueError, match=rf"depth must be a non-negative int, got {depth}"):
        sp.propagate("tanh", 1.0, 0.1, depth, 1.0)


@pytest.mark.parametrize(
    "depth",
    [2.5, 2.0, "3", None, True, np.float64(3.0)],
    ids=["2.5", "2.0", "str", "None", "bool", "np.float64"],
)
def test_propagate_non_int_depth(depth):
    with pytest.raises((TypeError, ValueError), match="depth"):
        sp.propagate("tanh", 1.0, 0.1, depth, 1.0)


def test_propagate_numpy_int_depth_and_depth_zero():
    p = sp.propagate("tanh", 1.0, 0.1, np.int64(3), 1.0)
    assert p.q.shape == (4,)
    p0 = sp.propagate("tanh", 1.0, 0.1, 0, 1.3, c0=0.2)
    assert p0.q.tolist() == [1.3] and p0.c.tolist() == [0.2]


@pytest.mark.parametrize("depth", [0, -1, 1.5, "2", True], ids=["0", "-1", "1.5", "str", "bool"])
def test_nngp_kernel_bad_depth(depth):
    with pytest.raises((TypeError, ValueError), match="depth must be an int >= 1"):
        sp.nngp_kernel("tanh", X2, 1.0, 0.1, depth)


@pytest.mark.parametrize(
    "X",
    [np.ones(3), np.ones((0, 3)), np.ones((3, 0)), np.ones((2, 2, 2)), np.float64(1.0), []],
    ids=["1d", "no_rows", "no_columns", "3d", "scalar", "empty_list"],
)
def test_nngp_kernel_bad_shape(X):
    shape = re.escape(str(np.shape(X)))
    with pytest.raises(
        ValueError,
        match=rf"X must be a non-empty 2-d array \(n, d\), got shape "
        rf"{shape}",
    ):
        sp.nngp_kernel("tanh", X, 1.0, 0.1, 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nngp_kernel_non_finite_X(bad):
    X = X2.copy()
    X[1, 0] = bad
    with pytest.raises(ValueError, match="X must be finite"):
        sp.nngp_kernel("tanh", X, 1.0, 0.1, 2)


@pytest.mark.parametrize("q0", [0.0, 0, [1.0, 0.0], -0.0])
def test_fixed_point_q0_must_be_positive(q0):
    # (the message names the offending value, the scalar path's as the array path's)
    shown = "-0.0" if isinstance(q0, float) and np.signbit(q0) else "0.0"
    with pytest.raises(ValueError, match=rf"^q0 must be > 0, got {shown}$"):
        sp.fixed_point("tanh", 1.0, 0.1, q0=q0)


@pytest.mark.parametrize("derivative", [3, -1, 2.5, "1", None])
def test_activation_call_bad_derivative(derivative):
    act = sp.activation("tanh")
    with pytest.raises(ValueError, match=r"derivative must be 0, 1 or 2, got"):
        act(0.3, derivative=derivative)


@pytest.mark.parametrize("derivative", [2, 3, -1, "0", None])
def test_bivariate_bad_derivative(derivative):
    with pytest.raises(ValueError, match=r"derivative must be 0 or 1, got"):
        sp.bivariate_expectation("tanh", 1.0, 1.0, 0.5, derivative=derivative)


# Every function that takes n_threads, as a callable of n_threads.
THREADED = [
    ("gaussian_moments", lambda n: sp.gaussian_moments("tanh", [0.5, 1.0], n_threads=n)),
    ("bivariate", lambda n: sp.bivariate_expectation("erf", 1.0, [1.0, 2.0], 0.3, n_threads=n)),
    ("qmap", lambda n: sp.qmap("tanh", 1.0, 1.0, 0.1, n_threads=n)),
    ("qmap_slope", lambda n: sp.theory.qmap_slope("tanh", 1.0, 1.0, n_threads=n)),
    ("chi1", lambda n: sp.chi1("tanh", 1.0, 1.0, n_threads=n)),
    ("cmap", lambda n: sp.cmap("erf", 1.0, 0.3, 1.0, 0.1, n_threads=n)),
    ("covmap", lambda n: sp.covmap("erf", 1.0, 2.0, 0.3, 1.0, 0.1, n_threads=n)),
    ("propagate", lambda n: sp.propagate("erf", 1.0, 0.1, 2, 1.0, n_threads=n)),
    ("nngp_kernel", lambda n: sp.nngp_kernel("erf", X2, 1.0, 0.1, 2, n_threads=n)),
    ("fixed_point", lambda n: sp.fixed_point("erf", 1.0, 0.1, n_threads=n)),
    ("eoc", lambda n: sp.eoc("erf", 0.1, n_threads=n)),
]


@pytest.mark.parametrize("fname, call", THREADED, ids=[f for f, _ in THREADED])
def test_n_threads_zero(fname, call):
    with pytest.raises(ValueError, match=r"n_threads must be a non-zero int or None, got 0"):
        call(0)


@pytest.mark.parametrize(
    "n", ["2", 2.0, True, [2], np.float64(2.0)], ids=["str", "float", "bool", "list", "np.float64"]
)
@pytest.mark.parametrize("fname, call", THREADED, ids=[f for f, _ in THREADED])
def test_n_threads_wrong_type(fname, call, n):
    with pytest.raises(TypeError, match=r"n_threads must be an int or None, got "):
        call(n)


@pytest.mark.parametrize("fname, call", THREADED, ids=[f for f, _ in THREADED])
@pytest.mark.parametrize("n", [100_000, 2**31, 10**30])
def test_n_threads_too_large(fname, call, n):
    # Far more threads than CPUs made libgomp abort the process or segfault.
    with pytest.raises(ValueError, match=r"n_threads must be at most \d+ \(4 x os.cpu_count"):
        call(n)


def test_n_threads_bound_in_core():
    with pytest.raises(ValueError, match=r"n_threads must be in \[1, 1024\] here, got 1025"):
        sp._core.moments(9, 0.0, 0.0, np.ones(2), 1025)


@pytest.mark.parametrize("fname, call", THREADED, ids=[f for f, _ in THREADED])
def test_n_threads_valid_values_agree(fname, call):
    ref = call(None)
    for n in (1, 2, -1, -2, -1000, np.int32(2)):
        out = call(n)
        for a, b in zip(_fields(ref), _fields(out), strict=True):
            np.testing.assert_array_equal(a, b)


def _fields(result):
    """The arrays of a result (a plain array, a NamedTuple or a dataclass)."""
    if hasattr(result, "__dataclass_fields__"):
        return [np.asarray(getattr(result, k)) for k in result.__dataclass_fields__]
    if isinstance(result, tuple):
        return [np.asarray(x) for x in result]
    return [np.asarray(result)]


# ---------------------------------------------------------------------------
# Shapes and dtypes of valid input
# ---------------------------------------------------------------------------


def test_broadcasting_qmap_family():
    q = np.array([[0.5], [1.0], [4.0]])
    sw = np.array([0.5, 1.0, 1.5, 2.0])
    for f in (
        lambda: sp.qmap("tanh", q, sw, 0.2),
        lambda: sp.theory.qmap_slope("tanh", q, sw),
        lambda: sp.chi1("tanh", q, sw),
    ):
        out = f()
        assert out.shape == (3, 4)
    out = sp.qmap("tanh", q, sw, 0.2)
    for i in range(3):
        for j in range(4):
            assert out[i, j] == sp.qmap("tanh", float(q[i, 0]), float(sw[j]), 0.2)


def test_broadcasting_bivariate_and_covmap():
    q1 = np.array([[0.5], [1.0], [4.0]])
    c = np.array([-0.9, 0.0, 0.3, 1.0])
    out = sp.bivariate_expectation("tanh", q1, 2.0, c)
    assert out.shape == (3, 4)
    assert out[2, 1] == sp.bivariate_expectation("tanh", 4.0, 2.0, 0.0)
    cov = sp.covmap("tanh", q1, 2.0, c, 1.2, np.array([0.0, 0.1, 0.2, 0.3]))
    assert cov.shape == (3, 4)
    assert cov[1, 2] == sp.covmap("tanh", 1.0, 2.0, 0.3, 1.2, 0.2)
    cm = sp.cmap("tanh", q1, c, 1.2, 0.1)
    assert cm.shape == (3, 4)
    assert cm[0, 3] == sp.cmap("tanh", 0.5, 1.0, 1.2, 0.1)


def test_broadcasting_moments_fixed_point_eoc_propagate():
    m = sp.gaussian_moments("gelu", np.ones((2, 3)))
    assert all(np.shape(x) == (2, 3) for x in m)
    fp = sp.fixed_point(
        "tanh", np.array([[0.8], [1.2], [2.0]]), np.array([0.0, 0.1, 0.5, 1.0]), correlation=False
    )
    for k in fp.__dataclass_fields__:
        assert np.shape(getattr(fp, k)) == (3, 4), k
    assert fp.phase.shape == (3, 4) and fp.stable.shape == (3, 4)
    assert fp.q_star[1, 2] == sp.fixed_point("tanh", 1.2, 0.5, correlation=False).q_star
    r = sp.eoc("tanh", np.array([[0.1], [0.5], [1.0]]))
    assert r.n_branches.shape == (3, 1)
    assert r.sigma_w.shape == (3, 1)
    assert r.branches.sigma_w.shape == (3, 1, r.branches.sigma_w.shape[-1])
    p = sp.propagate(
        "tanh", 1.5, 0.1, 4, q0=np.array([[0.5], [1.0], [2.0]]), c0=np.array([0.0, 0.5, 0.9, 1.0])
    )
    assert p.q.shape == p.q_b.shape == p.c.shape == (5, 3, 4)


def test_incompatible_shapes_raise():
    with pytest.raises(ValueError, match="broadcast"):
        sp.qmap("tanh", np.ones(3), np.ones(4), 0.1)
    with pytest.raises(ValueError, match="broadcast"):
        sp.bivariate_expectation("tanh", np.ones(3), np.ones(4), 0.5)
    with pytest.raises(ValueError, match="broadcast"):
        sp.fixed_point("tanh", np.ones(3), np.ones(2))


def _is_numpy_scalar(x):
    return isinstance(x, np.generic) and np.ndim(x) == 0


def test_scalar_in_numpy_scalar_out():
    outs = [
        sp.qmap("tanh", 1.0, 1.0, 0.1),
        sp.theory.qmap_slope("tanh", 1.0, 1.0),
        sp.chi1("tanh", 1.0, 1.0),
        sp.cmap("tanh", 1.0, 0.5, 1.0, 0.1),
        sp.covmap("tanh", 1.0, 2.0, 0.5, 1.0, 0.1),
        sp.bivariate_expectation("tanh", 1.0, 2.0, 0.5),
        sp.bivariate_expectation("tanh", 1.0, 2.0, 0.5, derivative=1),
        sp.activation("tanh")(0.3),
        sp.activation("tanh")(0.3, derivative=2),
        *sp.gaussian_moments("tanh", 1.0),
        *(
            getattr(sp.fixed_point("erf", 1.5, 0.1), k)
            for k in sp.theory.FixedPointResult.__dataclass_fields__
        ),
        sp.fixed_point("erf", 1.5, 0.1).phase,
    ]
    for out in outs[:-1]:
        assert _is_numpy_scalar(out), repr(out)
    assert outs[-1] == "chaotic"
    # 0-d arrays count as scalars too
    assert _is_numpy_scalar(sp.qmap("tanh", np.array(1.0), np.array(1.0), np.array(0.1)))
    e = sp.eoc("tanh", 0.1)
    assert _is_numpy_scalar(e.sigma_w) and _is_numpy_scalar(e.q_star)
    assert e.branches.sigma_w.shape == (1,)


def test_array_in_array_out_even_of_size_one():
    out = sp.qmap("tanh", [1.0], 1.0, 0.1)
    assert isinstance(out, np.ndarray) and out.shape == (1,)
    m = sp.gaussian_moments("tanh", np.ones((1, 1)))
    assert m.phi_sq.shape == (1, 1)


def test_empty_arrays_give_empty_results():
    assert sp.qmap("tanh", np.array([]), 1.0, 0.1).shape == (0,)
    assert sp.gaussian_moments("tanh", np.zeros((0, 2))).mean.shape == (0, 2)
    assert sp.bivariate_expectation("tanh", [], 1.0, 0.5).shape == (0,)
    assert sp.fixed_point("tanh", [], 0.1).q_star.shape == (0,)
    r = sp.eoc("tanh", np.array([]))
    assert r.n_branches.shape == (0,) and r.sigma_w.shape[0] == 0


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int32, np.int64, np.uint16, np.float32, np.dtype(">f8")], ids=str
)
def test_integer_and_other_real_dtypes_accepted(dtype):
    q = np.array([0, 1, 2, 3], dtype=dtype)
    ref = sp.qmap("tanh", q.astype(np.float64), 1.0, 0.5)
    np.testing.assert_array_equal(sp.qmap("tanh", q, np.array(1, dtype=dtype), 0.5), ref)
    m = sp.gaussian_moments("elu", q)
    np.testing.assert_array_equal(m.phi_sq, sp.gaussian_moments("elu", q.astype(float)).phi_sq)
    c = np.array([0, 1, 0, 1], dtype=dtype)
    np.testing.assert_array_equal(
        sp.bivariate_expectation("erf", q, 2, c),
        sp.bivariate_expectation("erf", q.astype(float), 2.0, c.astype(float)),
    )


def test_python_ints_accepted():
    assert sp.qmap("tanh", 2, 1, 0) == sp.qmap("tanh", 2.0, 1.0, 0.0)
    assert (
        sp.fixed_point("tanh", 2, 1, correlation=False).q_star
        == sp.fixed_point("tanh", 2.0, 1.0, correlation=False).q_star
    )
    assert sp.eoc("tanh", 1).sigma_w == sp.eoc("tanh", 1.0).sigma_w
    assert sp.activation("tanh")(1) == sp.activation("tanh")(1.0)
    np.testing.assert_array_equal(
        sp.nngp_kernel("tanh", [[1, 2], [3, 4]], 1, 0, 2),
        sp.nngp_kernel("tanh", [[1.0, 2.0], [3.0, 4.0]], 1.0, 0.0, 2),
    )


def test_non_contiguous_and_fortran_inputs():
    base = np.linspace(0.1, 5.0, 24)
    strided = base[::3]
    np.testing.assert_array_equal(
        sp.qmap("gelu", strided, 1.1, 0.2), sp.qmap("gelu", strided.copy(), 1.1, 0.2)
    )
    qf = np.asfortranarray(base.reshape(4, 6))
    np.testing.assert_array_equal(
        sp.qmap("gelu", qf, 1.1, 0.2), sp.qmap("gelu", np.ascontiguousarray(qf), 1.1, 0.2)
    )
    c = np.linspace(-1, 1, 16).reshape(4, 4).T  # transposed view
    np.testing.assert_array_equal(
        sp.bivariate_expectation("elu", qf[:, :4], 1.0, c),
        sp.bivariate_expectation("elu", qf[:, :4].copy(), 1.0, c.copy()),
    )
    X = np.arange(12.0).reshape(3, 4)[:, ::2]
    np.testing.assert_array_equal(
        sp.nngp_kernel("relu", X, 1.2, 0.1, 3), sp.nngp_kernel("relu", X.copy(), 1.2, 0.1, 3)
    )


def test_inputs_are_not_modified():
    q = np.array([0.5, 1.0, 2.0])
    c = np.array([0.1, 1.0, -1.0])
    q_copy, c_copy = q.copy(), c.copy()
    sp.bivariate_expectation("tanh", q, q, c)
    sp.propagate("tanh", 1.0, 0.1, 3, q, c0=c)
    sp.fixed_point("tanh", q, 0.1, q0=q)
    np.testing.assert_array_equal(q, q_copy)
    np.testing.assert_array_equal(c, c_copy)


def test_zero_variance_and_zero_sigma_are_valid():
    assert sp.qmap("tanh", 0.0, 1.0, 0.3) == pytest.approx(0.09, rel=1e-15)
    assert sp.qmap("tanh", 2.0, 0.0, 0.3) == pytest.approx(0.09, rel=1e-15)
    assert sp.bivariate_expectation("tanh", 0.0, 0.0, 0.5) == 0.0
    fp = sp.fixed_point("tanh", 0.0, 0.0)
    assert fp.status_name == "converged" and fp.q_star == 0.0
    m = sp.gaussian_moments("relu", 0.0)
    assert np.isfinite(m.mean) and np.isfinite(m.phi_sq)


def test_messages_show_numpy_scalars_as_plain_numbers():
    # NumPy 2's repr of its scalars (np.float64(1.5)) is not what a user typed
    cases = [
        (lambda: sp.bivariate_expectation("tanh", 1.0, 1.0, np.float64(1.5)), "c", "1.5"),
        (lambda: sp.bivariate_expectation("tanh", 1.0, 1.0, [0.2, 1.5]), "c", "1.5"),
        (lambda: sp.fixed_point("tanh", np.float64(-1.0), 0.1), "sigma_w", "-1.0"),
        (lambda: sp.nngp_kernel("tanh", [[1.0]], np.float32("nan"), 0.1, 2), "sigma_w", "nan"),
    ]
    for call, name, shown in cases:
        with pytest.raises(ValueError) as info:
            call()
        msg = str(info.value)
        assert msg.startswith(name) and msg.endswith(f"got {shown}"), msg
        assert "np." not in msg


# ---------------------------------------------------------------------------
# Scalars: which inputs take the scalar path, and the same errors either way
# ---------------------------------------------------------------------------


def test_real_scalars_takes_python_and_numpy_real_scalars_only():
    from sigprop._validation import real_scalars

    got = real_scalars(0.5, 2, np.float32(0.1), np.int64(-3), np.float16(1.5), -(2**63))
    assert got == [0.5, 2.0, float(np.float32(0.1)), -3.0, 1.5, -(2.0**63)]
    assert all(type(v) is float for v in got)
    # bools, 0-d and other arrays, lists, ints beyond int64, complex, str, None: the
    # array path (which converts or rejects them with its messages)
    others = (True, np.bool_(False), np.array(1.0), [1.0], 2**63, 1j, np.complex128(1), "1", None)
    for other in others:
        assert real_scalars(1.0, other) is None


SCALAR_CALLS = [
    lambda v: sp.gaussian_moments("tanh", v),
    lambda v: sp.bivariate_expectation("tanh", v, 1.0, 0.5),
    lambda v: sp.bivariate_expectation("tanh", 1.0, v, 0.5),
    lambda v: sp.bivariate_expectation("tanh", 1.0, 1.0, v),
    lambda v: sp.qmap("tanh", v, 1.0, 0.1),
    lambda v: sp.qmap("tanh", 1.0, 1.0, v),
    lambda v: sp.chi1("tanh", 1.0, v),
    lambda v: sp.cmap("tanh", v, 0.5, 1.0, 0.1),
    lambda v: sp.cmap("tanh", 1.0, v, 1.0, 0.1),
    lambda v: sp.covmap("tanh", 1.0, 1.0, 0.5, v, 0.1),
    lambda v: sp.covmap("tanh", 1.0, 1.0, v, 1.0, 0.1),
    lambda v: sp.fixed_point("tanh", v, 0.1).q_star,
    lambda v: sp.fixed_point("tanh", 1.0, v).chi1,
    lambda v: sp.fixed_point("tanh", 1.0, 0.1, q0=v).q_star,
]


@pytest.mark.parametrize("i", range(len(SCALAR_CALLS)))
@pytest.mark.parametrize(
    "bad",
    [-1.5, -2, np.float32(-0.5), np.int64(-7), 1.0000001, 3, np.nan, np.inf, -np.inf, -0.0],
    ids=repr,
)
def test_scalar_errors_are_the_0d_array_errors(i, bad):
    # The scalar path checks Python floats; a 0-d array goes the array way: the same
    # exception and message (or the same value, where the input is valid there).
    call = SCALAR_CALLS[i]
    outcomes = []
    for v in (bad, np.asarray(bad)):
        try:
            outcomes.append(("value", np.asarray(call(v)).tolist()))
        except (ValueError, TypeError) as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    assert outcomes[0] == outcomes[1]


def test_scalar_n_threads_is_checked():
    with pytest.raises(ValueError, match="n_threads must be a non-zero int or None, got 0"):
        sp.bivariate_expectation("tanh", 1.0, 1.0, 0.5, n_threads=0)
    with pytest.raises(TypeError, match="n_threads must be an int or None"):
        sp.gaussian_moments("tanh", 1.0, n_threads=1.5)
    with pytest.raises(TypeError, match="n_threads must be an int or None"):
        sp.qmap("tanh", 1.0, 1.0, 0.1, n_threads="2")
    with pytest.raises(ValueError, match="n_threads must be at most"):
        sp.covmap("tanh", 1.0, 1.0, 0.5, 1.0, 0.1, n_threads=10**6)
    assert sp.cmap("tanh", 1.0, 0.5, 1.0, 0.1, n_threads=1) == sp.cmap("tanh", 1.0, 0.5, 1.0, 0.1)
    with pytest.raises(ValueError, match="n_threads must be a non-zero int or None, got 0"):
        sp.fixed_point("tanh", 1.0, 0.1, n_threads=0)


def test_builtin_by_name_is_built_once_and_checked_as_before():
    # activation("tanh") is cached by the name asked for; parameters, name= and the
    # callables' arguments still reach their checks.
    assert sp.activation("hard_tanh") is sp.activation("hard_tanh")
    assert sp.activation("HardTanh") == sp.activation("hard_tanh")
    assert sp.activation("hard_tanh", a=2).params == {"a": 2.0}
    assert sp.activation("hard_tanh").params == {"a": 1.0}
    with pytest.raises(ValueError, match="name applies to user-defined activations"):
        sp.activation("hard_tanh", name="mine")
    with pytest.raises(ValueError, match="derivative, second_derivative and kinks apply"):
        sp.activation("hard_tanh", kinks=[0.0])
    with pytest.raises(ValueError, match="unknown activation"):
        sp.activation("hard_tanhh")
