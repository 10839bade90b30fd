"""Width-4 triangle-composition networks (Milkert et al. 2023) and oracle T11.

Theory: docs/theory/exponential_regions.rst.
"""

import numpy as np
import pytest

from sigprop.papers.milkert.regions import count_linear_regions, relu_network_forward
from sigprop.papers.milkert.sawtooth import (
    smooth_scales,
    triangle,
    triangle_composition,
    triangle_network,
)


def direct_sum(x, peaks, scales):
    """F_L(x) = x - sum_k s_k g_k(x), composing the triangles directly."""
    f, g = np.array(x, dtype=float), np.array(x, dtype=float)
    for a, s in zip(peaks, scales, strict=False):
        g = triangle(g, a)
        f = f - s * g
    return f


def test_triangle():
    a = 0.3
    np.testing.assert_allclose(triangle([0.0, 0.15, 0.3, 0.65, 1.0], a), [0, 0.5, 1, 0.5, 0])
    with pytest.raises(ValueError, match="a must"):
        triangle(0.5, 1.0)


def test_smooth_scales_yarotsky_and_recurrence():
    np.testing.assert_allclose(smooth_scales(np.full(6, 0.5)), 4.0 ** -np.arange(1, 6), rtol=1e-15)
    a = np.array([0.3, 0.6, 0.25, 0.7])
    s = smooth_scales(a)
    assert s[0] == pytest.approx((1 - a[0]) * a[1], rel=1e-15)
    for k in range(1, 3):  # s_{k+1} = s_k (1 - a_{k+1}) a_{k+2}
        assert s[k] == pytest.approx(s[k - 1] * (1 - a[k]) * a[k + 1], rel=1e-15)


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 8, 12])
def test_network_computes_composition_and_sum(depth):
    rng = np.random.default_rng(depth)
    peaks = rng.uniform(0.2, 0.8, depth + 1)
    x = np.linspace(0.0, 1.0, 1001)
    w, b = triangle_network(peaks, output="composition")
    assert [m.shape for m in w] == [(4, 1)] + [(4, 4)] * (depth - 1) + [(1, 4)]
    g = relu_network_forward(w, b, x)[:, 0]
    np.testing.assert_allclose(g, triangle_composition(x, peaks[:-1]), atol=1e-12 * 2**depth)
    w, b = triangle_network(peaks)
    f = relu_network_forward(w, b, x)[:, 0]
    np.testing.assert_allclose(f, direct_sum(x, peaks[:-1], smooth_scales(peaks)), atol=1e-14)
    assert f[0] == pytest.approx(0.0, abs=1e-15) and f[-1] == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("depth", [1, 2, 4, 7, 10, 13])
def test_exactly_two_to_the_depth_regions(depth):
    """T11: the composition of `depth` triangles has 2^depth linear pieces."""
    rng = np.random.default_rng(50 + depth)
    peaks = rng.uniform(0.2, 0.8, depth + 1)
    w, b = triangle_network(peaks, output="composition")
    r = count_linear_regions(w, b, 0.0, 1.0)
    assert r.count == r.n_activation_regions == 2**depth
    # g_L alternates between 1 and 0 at its breakpoints (monotone pieces onto [0, 1])
    g = triangle_composition(r.breakpoints, peaks[:-1])
    np.testing.assert_allclose(g, np.arange(1, 2**depth) % 2, atol=1e-9)
    # F_L is convex with the same 2^depth pieces
    w, b = triangle_network(peaks)
    rf = count_linear_regions(w, b, 0.0, 1.0)
    assert rf.count == 2**depth
    np.testing.assert_allclose(rf.breakpoints, r.breakpoints, atol=1e-13)
    assert np.all(np.diff(rf.slope[:, 0]) > 0)


@pytest.mark.parametrize("m", [1, 2, 3, 6, 9])
def test_yarotsky_square_error_T11(m):
    """All peaks 1/2: F_m interpolates x^2 on a grid of 2^-m, max error 2^(-2m-2)."""
    w, b = triangle_network(np.full(m + 1, 0.5))
    x = np.linspace(0.0, 1.0, 2 ** (m + 4) + 1)  # dyadic: contains the cell midpoints
    err = relu_network_forward(w, b, x)[:, 0] - x**2
    assert np.max(np.abs(err)) == pytest.approx(2.0 ** (-2 * m - 2), rel=1e-12)
    knots = x[:: 2**4]
    np.testing.assert_allclose(relu_network_forward(w, b, knots)[:, 0], knots**2, atol=1e-15)


@pytest.mark.parametrize(("m", "ref_mse"), [(5, 3.18e-8), (6, 1.99e-9)])
def test_yarotsky_grid_mse_matches_reference(m, ref_mse):
    """Computed reference: MSE on [0, 1] of the interpolation error, h^4 / 30 with h = 2^-m."""
    w, b = triangle_network(np.full(m + 1, 0.5))
    x = np.linspace(0.0, 1.0, 40_001)
    mse = np.mean((relu_network_forward(w, b, x)[:, 0] - x**2) ** 2)
    assert mse == pytest.approx(2.0 ** (-4 * m) / 30, rel=1e-3)
    assert mse == pytest.approx(ref_mse, rel=5e-3)


def test_slope_jumps_shrink_with_depth():
    """With tied scales the limit is differentiable: the largest slope jump decays."""
    rng = np.random.default_rng(3)
    peaks = rng.uniform(0.2, 0.8, 15)
    jumps = []
    for depth in (4, 8, 14):
        w, b = triangle_network(peaks[: depth + 1])
        r = count_linear_regions(w, b)
        jumps.append(np.max(np.diff(r.slope[:, 0])))
    assert jumps[0] > 3 * jumps[1] > 9 * jumps[2]
    # [D] the slope of F at 1 tends to 2: F'(1) = 2 - prod_{k=2..L+1} (1 - a_k)
    w, b = triangle_network(peaks)
    r = count_linear_regions(w, b)
    assert r.slope[-1, 0] == pytest.approx(2.0 - np.prod(1.0 - peaks[1:]), rel=1e-12)


def test_batched_build_matches_single():
    rng = np.random.default_rng(9)
    peaks = rng.uniform(0.2, 0.8, (3, 5))
    w, b = triangle_network(peaks)
    for r in range(3):
        w1, b1 = triangle_network(peaks[r])
        for m, m1 in zip(w + b, w1 + b1, strict=True):
            np.testing.assert_array_equal(m[r], m1)


def test_explicit_scales():
    peaks = np.array([0.4, 0.55, 0.3])
    scales = np.array([0.2, 0.05, 0.01])
    w, b = triangle_network(peaks, scales)
    x = np.linspace(0, 1, 301)
    np.testing.assert_allclose(
        relu_network_forward(w, b, x)[:, 0], direct_sum(x, peaks, scales), atol=1e-15
    )


def test_bad_input_raises():
    with pytest.raises(ValueError, match="open interval"):
        triangle_network([0.5, 1.0, 0.3])
    with pytest.raises(ValueError, match="output"):
        triangle_network([0.5, 0.5], output="max")
    with pytest.raises(ValueError, match="scales must have shape"):
        triangle_network([0.5, 0.5], [0.1])
    with pytest.raises(ValueError, match="at least 2"):
        triangle_network([0.5])
    with pytest.raises(TypeError, match="peaks"):
        triangle_network(["a", "b"])
