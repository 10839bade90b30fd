"""Exact linear-region counting (SPEC 5.3): compiled walk, NumPy reference, hand cases."""

import numpy as np
import pytest
from _regions_reference import count_linear_regions_reference

from sigprop.regions import LinearRegions, count_linear_regions, relu_network_forward


def random_network(rng, widths, sigma_w=1.4142135623730951, sigma_b=0.5):
    """Weights N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2)."""
    ws = [
        rng.normal(0.0, sigma_w / np.sqrt(widths[i]), (widths[i + 1], widths[i]))
        for i in range(len(widths) - 1)
    ]
    bs = [rng.normal(0.0, sigma_b, widths[i + 1]) for i in range(len(widths) - 1)]
    return ws, bs


def test_hand_example_hat_functions():
    # f(x) = relu(x) - 2 relu(x - 1) + relu(x - 2) on [-1, 3]: kinks at 0, 1, 2
    ws = [np.ones((3, 1)), np.array([[1.0, -2.0, 1.0]])]
    bs = [np.array([0.0, -1.0, -2.0]), np.zeros(1)]
    r = count_linear_regions(ws, bs, -1.0, 3.0)
    assert isinstance(r, LinearRegions)
    assert r.count == 4 and r.n_activation_regions == 4
    np.testing.assert_allclose(r.breakpoints, [0.0, 1.0, 2.0], atol=1e-15)
    np.testing.assert_allclose(r.t, [0.25, 0.5, 0.75], atol=1e-15)
    # slopes in t (dx/dt = 4): 0, 4, -4, 0
    np.testing.assert_allclose(r.slope[:, 0], [0.0, 4.0, -4.0, 0.0], atol=1e-14)


def test_equal_affine_maps_are_merged():
    # relu(x) - relu(-x) = x: two activation regions, one linear region
    ws = [np.array([[1.0], [-1.0]]), np.array([[1.0, -1.0]])]
    bs = [np.zeros(2), np.zeros(1)]
    r = count_linear_regions(ws, bs, -2.0, 3.0)
    assert r.n_activation_regions == 2
    assert r.count == 1 and r.t.size == 0
    # a neuron that switches but whose output weight is 0 does not make a region
    ws = [np.array([[1.0], [1.0]]), np.array([[1.0, 0.0]])]
    bs = [np.array([0.0, -1.0]), np.zeros(1)]
    r = count_linear_regions(ws, bs, -2.0, 3.0)
    assert (r.count, r.n_activation_regions) == (2, 3)


def test_constant_output_is_one_region():
    ws = [np.array([[1.0], [-1.0]]), np.array([[0.0, 0.0]])]
    bs = [np.array([0.0, 1.0]), np.array([5.0])]
    r = count_linear_regions(ws, bs, -3.0, 3.0)
    assert r.count == 1 and r.n_activation_regions == 3
    np.testing.assert_array_equal(r.intercept, [[5.0]])


@pytest.mark.parametrize("seed", range(12))
def test_compiled_walk_matches_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 4))
    hidden = list(rng.integers(2, 14, size=int(rng.integers(1, 6))))
    widths = [d, *hidden, int(rng.integers(1, 3))]
    ws, bs = random_network(rng, widths)
    x0, x1 = rng.normal(0, 3, d), rng.normal(0, 3, d)
    r = count_linear_regions(ws, bs, x0, x1)
    q = count_linear_regions_reference(ws, bs, x0, x1)
    assert r.count == q.count
    assert r.n_activation_regions == q.n_activation_regions
    np.testing.assert_allclose(r.t, q.t, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.slope, q.slope, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r.intercept, q.intercept, rtol=1e-10, atol=1e-12)


def test_wide_deep_network_matches_reference():
    rng = np.random.default_rng(7)
    ws, bs = random_network(rng, [1] + [48] * 6 + [1], sigma_b=0.3)
    r = count_linear_regions(ws, bs, -4.0, 4.0)
    q = count_linear_regions_reference(ws, bs, -4.0, 4.0)
    assert r.count == q.count > 50
    np.testing.assert_allclose(r.breakpoints, q.breakpoints, rtol=0, atol=1e-11)


@pytest.mark.parametrize("seed", range(5))
def test_regions_are_affine_and_breakpoints_are_kinks(seed):
    """Independent check by evaluating the network: affine inside, slope jumps across."""
    rng = np.random.default_rng(100 + seed)
    ws, bs = random_network(rng, [2, 10, 10, 10, 2])
    x0, x1 = np.array([-2.0, 1.0]), np.array([3.0, -1.5])
    r = count_linear_regions(ws, bs, x0, x1)
    edges = np.concatenate(([0.0], r.t, [1.0]))
    for j in range(r.count):
        t = rng.uniform(edges[j], edges[j + 1], 20)
        f = relu_network_forward(ws, bs, x0 + t[:, None] * (x1 - x0))
        np.testing.assert_allclose(f, r.intercept[j] + np.outer(t, r.slope[j]), atol=1e-11)
    # one-sided difference quotients on both sides of each breakpoint differ
    h = 1e-7
    for tb in r.t:
        pts = x0 + np.array([tb - 2 * h, tb - h, tb + h, tb + 2 * h])[:, None] * (x1 - x0)
        f = relu_network_forward(ws, bs, pts)
        left, right = (f[1] - f[0]) / h, (f[3] - f[2]) / h
        assert np.max(np.abs(right - left)) > 1e-5


def test_segment_equals_one_dimensional_restriction():
    rng = np.random.default_rng(11)
    ws, bs = random_network(rng, [3, 8, 8, 1])
    x0, x1 = rng.normal(size=3), rng.normal(size=3)
    r = count_linear_regions(ws, bs, x0, x1)
    # the same path as a network of one input t in [0, 1]
    ws1 = [(ws[0] @ (x1 - x0))[:, None], *ws[1:]]
    bs1 = [bs[0] + ws[0] @ x0, *bs[1:]]
    r1 = count_linear_regions(ws1, bs1, 0.0, 1.0)
    assert r.count == r1.count
    np.testing.assert_allclose(r.t, r1.t, atol=1e-12)
    assert r.breakpoints.shape == (r.count - 1, 3)
    np.testing.assert_allclose(r.breakpoints, x0 + np.outer(r.t, x1 - x0), atol=1e-14)


def test_single_affine_layer_is_one_region():
    r = count_linear_regions([np.array([[2.0]])], [np.array([1.0])], 0.0, 1.0)
    assert (r.count, r.n_activation_regions) == (1, 1)
    np.testing.assert_allclose(r.intercept, [[1.0]])
    np.testing.assert_allclose(r.slope, [[2.0]])


def test_bad_input_raises():
    ws = [np.ones((2, 1)), np.ones((1, 2))]
    bs = [np.zeros(2), np.zeros(1)]
    with pytest.raises(ValueError, match="start and end must differ"):
        count_linear_regions(ws, bs, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"biases\[1\]"):
        count_linear_regions(ws, [np.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError, match=r"weights\[1\] has fan_in"):
        count_linear_regions([np.ones((2, 1)), np.ones((1, 3))], bs)
    with pytest.raises(ValueError, match="start must have shape"):
        count_linear_regions(ws, bs, [0.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="finite"):
        count_linear_regions([np.full((2, 1), np.nan), np.ones((1, 2))], bs)
    with pytest.raises(TypeError, match="lists of arrays"):
        count_linear_regions(np.ones((2, 1)), bs)
    with pytest.raises(ValueError, match="split_tol"):
        count_linear_regions(ws, bs, split_tol=-1.0)
    with pytest.raises(TypeError, match="start"):
        count_linear_regions(ws, bs, "a", 1.0)
