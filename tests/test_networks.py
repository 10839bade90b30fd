"""Finite random networks against the mean-field theory (oracle T12; docs/reference_values.rst).

Statistical tests use fixed seeds and tolerances derived from standard errors
over independent networks: a per-layer z-test with the two-sided Student-t
critical value at family-wise level 0.01 (Bonferroni over layers), beside
oracle T12's absolute tolerances (q^l within 3 %, c^l within 0.03).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop
from sigprop.networks import RandomNetwork, correlated_inputs, random_network, simulate

xr = pytest.importorskip("xarray")
stats = pytest.importorskip("scipy.stats")

WIDTH, DEPTH, BATCH = 1000, 30, 4


def _tcrit(n_seeds: int, n_tests: int, alpha: float = 0.01) -> float:
    return float(stats.t.ppf(1 - alpha / (2 * n_tests), n_seeds - 1))


def _seed_mean_and_se(per_seed):
    """Mean over seeds and its standard error (first axis = seed)."""
    a = np.asarray(per_seed, dtype=float)
    return a.mean(0), a.std(0, ddof=1) / math.sqrt(a.shape[0])


@pytest.fixture(scope="module")
def tanh_eoc():
    r = sigprop.eoc("tanh", 0.2)
    sw, q_star = float(r.sigma_w), float(r.q_star)
    X = correlated_inputs(BATCH, WIDTH, q_star, 0.3, sw, 0.2, rng=11)
    ds = simulate(
        "tanh", sw, 0.2, X, width=WIDTH, depth=DEPTH, n_seeds=32, rng=12, dtype=np.float32
    )
    return ds, q_star


@pytest.fixture(scope="module")
def relu_eoc():
    sw = math.sqrt(2.0)
    X = correlated_inputs(BATCH, WIDTH, 1.0, 0.3, sw, 0.0, rng=21)
    return simulate(
        "relu", sw, 0.0, X, width=WIDTH, depth=DEPTH, n_seeds=16, rng=22, dtype=np.float32
    )


@pytest.mark.slow
def test_tanh_eoc_q_matches_map(tanh_eoc):
    ds, q_star = tanh_eoc
    # Inputs start at q^1 = q*, so the map keeps q^l = q* (finite-width table: 0.51208).
    np.testing.assert_allclose(ds["q_theory"].values, q_star, rtol=1e-9)
    per_seed = ds["q"].mean("input").values / q_star  # (seed, layer), relative
    mean, se = _seed_mean_and_se(per_seed)
    assert np.max(np.abs(mean - 1)) < 0.03  # oracle T12
    z = np.abs(mean - 1) / se
    assert np.max(z) < _tcrit(ds.sizes["seed"], DEPTH)


@pytest.mark.slow
def test_tanh_eoc_c_matches_map(tanh_eoc):
    ds, _ = tanh_eoc
    # Finite-width table, theory: c^1, c^5, c^10, c^20, c^30 = 0.300, 0.455, 0.581, 0.719, 0.792.
    th = ds["c_theory"].values[:, 0]
    np.testing.assert_allclose(th[[0, 4, 9, 19, 29]], [0.3, 0.455, 0.581, 0.719, 0.792], atol=1e-3)
    per_seed = ds["c"].mean("pair").values
    mean, se = _seed_mean_and_se(per_seed)
    assert np.max(np.abs(mean - th)) < 0.03  # oracle T12
    assert np.max(np.abs(mean - th) / se) < _tcrit(ds.sizes["seed"], DEPTH)


@pytest.mark.slow
def test_tanh_gradient_ratios_match_chi1(tanh_eoc):
    ds, _ = tanh_eoc
    # |dL/dh^l|^2 / |dL/dh^{l+1}|^2 -> chi1(q^l) = 1 on the EOC (Schoenholz 2017).
    per_seed = ds["chi1"].mean("input").values[:, :-1]
    th = ds["chi1_theory"].mean("input").values[:-1]
    np.testing.assert_allclose(th, 1.0, atol=1e-9)
    mean, se = _seed_mean_and_se(per_seed)
    assert np.max(np.abs(mean - th) / se) < _tcrit(ds.sizes["seed"], DEPTH - 1)
    # The empirical ratio is the per-layer gradient norm ratio.
    g = ds["grad_sq"].values
    np.testing.assert_allclose(ds["chi1"].values[:, :-1], g[:, :-1] / g[:, 1:], rtol=1e-12)


@pytest.mark.slow
def test_relu_eoc_c_matches_map(relu_eoc):
    ds = relu_eoc
    th = ds["c_theory"].values[:, 0]
    # Oracle T2: c^5 = 0.7322, c^10 = 0.8703, c^30 = 0.9719.
    np.testing.assert_allclose(th[[4, 9, 29]], [0.7322, 0.8703, 0.9719], atol=1e-4)
    mean, se = _seed_mean_and_se(ds["c"].mean("pair").values)
    assert np.max(np.abs(mean - th)) < 0.03
    assert np.max(np.abs(mean - th) / se) < _tcrit(ds.sizes["seed"], DEPTH)


@pytest.mark.slow
def test_relu_eoc_gradient_ratios(relu_eoc):
    ds = relu_eoc
    mean, se = _seed_mean_and_se(ds["chi1"].mean("input").values[:, :-1])
    np.testing.assert_allclose(ds["chi1_theory"].values, 1.0, rtol=1e-12)
    assert np.max(np.abs(mean - 1.0) / se) < _tcrit(ds.sizes["seed"], DEPTH - 1)


def test_ordered_phase_gradients_shrink_at_chi1():
    # Off the EOC the test must see chi1 != 1: tanh at sigma_w = 1, sigma_b = 0.3.
    X = correlated_inputs(2, 300, 0.3, 0.5, 1.0, 0.3, rng=1)
    ds = simulate("tanh", 1.0, 0.3, X, width=300, depth=8, n_seeds=12, rng=2)
    th = ds["chi1_theory"].mean("input").values[:-1]
    assert np.all(th < 0.9)
    mean, se = _seed_mean_and_se(ds["chi1"].mean("input").values[:, :-1])
    assert np.max(np.abs(mean - th) / se) < _tcrit(12, 7)
    assert np.all(np.abs(mean - 1.0) / se > 4)  # distinguishable from 1


def test_jacobian_mean_squared_singular_value():
    # Mean squared singular value of d phi(h^L)/dx = prod_l chi1(q^l) (docs/theory/phases.rst;
    # Pennington, Schoenholz & Ganguli 2017).
    n, depth, seeds = 150, 6, 16
    for sw in (1.0, 1.5):  # ordered (< 1 per layer) and chaotic (> 1)
        X = correlated_inputs(1, n, 0.5, 1.0, sw, 0.1, rng=3)
        ds = simulate(
            "tanh",
            sw,
            0.1,
            X,
            width=n,
            depth=depth,
            n_seeds=seeds,
            rng=4,
            jacobian=1,
            gradients=False,
        )
        msv = ds["jacobian_msv"].values[:, 0]
        th = float(ds["jacobian_msv_theory"][0])
        mean, se = _seed_mean_and_se(msv)
        assert abs(mean - th) / se < _tcrit(seeds, 2)
        assert abs(th - 1.0) / se > 4  # the two cases are told apart from 1
        sv = ds["jacobian_sv"].values
        np.testing.assert_allclose(np.mean(sv**2, axis=-1), ds["jacobian_msv"].values)


def _reference_loss(net: RandomNetwork, x: np.ndarray, g: np.ndarray, biases):
    """sum(g * phi(h^L)) for one input, with explicit biases (plain NumPy)."""
    act = net.activation
    for index in range(1, net.depth + 1):
        w, _ = net.layer(index)
        x = act(w @ x + biases[index - 1])
    return float(np.sum(g * x))


def test_backward_matches_finite_differences():
    net = random_network([5, 7, 6, 4], "tanh", 1.4, 0.3, rng=0)
    x = np.random.default_rng(1).standard_normal(5)
    g = np.random.default_rng(2).standard_normal(4)
    run = net.run(x[None, :], loss_grad=lambda out: np.broadcast_to(g, out.shape).copy())
    biases = [net.layer(i)[1].copy() for i in range(1, net.depth + 1)]
    eps = 1e-6
    for layer in range(net.depth):
        fd = np.empty(biases[layer].size)
        for i in range(fd.size):
            up = [b.copy() for b in biases]
            dn = [b.copy() for b in biases]
            up[layer][i] += eps
            dn[layer][i] -= eps
            fd[i] = (_reference_loss(net, x, g, up) - _reference_loss(net, x, g, dn)) / (2 * eps)
        # dL/db^l = dL/dh^l for a single input.
        np.testing.assert_allclose(run.grad_sq[layer, 0], np.sum(fd**2), rtol=1e-7)


def test_weight_gradient_norm_formula():
    net = random_network([4, 6, 5], "relu", 1.3, 0.1, rng=5)
    X = np.random.default_rng(6).standard_normal((3, 4))
    G = np.random.default_rng(7).standard_normal((3, 5))
    run = net.run(X, loss_grad=lambda out: G)
    # Explicit backprop with stored weights.
    w1, b1 = net.layer(1)
    w2, b2 = net.layer(2)
    h1 = X @ w1.T + b1
    x1 = np.maximum(h1, 0)
    h2 = x1 @ w2.T + b2
    d2 = G * (h2 > 0)
    d1 = (d2 @ w2) * (h1 > 0)
    np.testing.assert_allclose(run.weight_grad_sq[1], np.sum((d2.T @ x1) ** 2), rtol=1e-12)
    np.testing.assert_allclose(run.weight_grad_sq[0], np.sum((d1.T @ X) ** 2), rtol=1e-12)
    np.testing.assert_allclose(run.grad_sq[0], np.sum(d1**2, axis=1), rtol=1e-12)
    np.testing.assert_allclose(run.kernel[1], h2 @ h2.T / 5, rtol=1e-12)


def test_jacobian_matches_finite_differences():
    net = random_network([6, 8, 5], "tanh", 1.2, 0.2, rng=8)
    x = np.random.default_rng(9).standard_normal(6)
    run = net.run(x[None, :], gradients=False, jacobian=1)

    def out(v):
        for index in (1, 2):
            w, b = net.layer(index)
            v = np.tanh(w @ v + b)
        return v

    eps = 1e-6
    J = np.stack([(out(x + eps * e) - out(x - eps * e)) / (2 * eps) for e in np.eye(6)], axis=1)
    np.testing.assert_allclose(run.jacobian_sv[0], np.linalg.svd(J, compute_uv=False), rtol=1e-7)


@pytest.mark.parametrize("shape", [(30, 30), (20, 50), (50, 20)])
def test_orthogonal_weights(shape):
    fan_out, fan_in = shape
    net = random_network([fan_in, fan_out], "tanh", 1.3, 0.0, weights="orthogonal", rng=3)
    w, b = net.layer(1)
    assert w.shape == shape
    np.testing.assert_array_equal(b, 0.0)
    if fan_out <= fan_in:  # orthonormal rows times sigma_w
        np.testing.assert_allclose(w @ w.T, 1.3**2 * np.eye(fan_out), atol=1e-12)
    else:  # orthonormal columns times sigma_w sqrt(fan_out / fan_in)
        np.testing.assert_allclose(w.T @ w, 1.3**2 * fan_out / fan_in * np.eye(fan_in), atol=1e-12)


def test_gaussian_weight_and_bias_std():
    net = random_network([400, 300, 300], "tanh", 1.7, 0.4, rng=4)
    for index in (1, 2):
        w, b = net.layer(index)
        n = w.size
        sd = w.std() * math.sqrt(w.shape[1])
        assert abs(sd - 1.7) < 5 * 1.7 / math.sqrt(2 * n)
        assert abs(w.mean()) < 5 * 1.7 / math.sqrt(w.shape[1] * n)
    b = np.concatenate([net.layer(i)[1] for i in (1, 2)])
    assert abs(b.std() - 0.4) < 5 * 0.4 / math.sqrt(2 * b.size)


def test_layers_are_regenerated_identically():
    net = RandomNetwork([20, 30, 30], "tanh", 1.0, 0.1, rng=1, cache_bytes=0)
    w1, b1 = net.layer(2)
    w2, b2 = net.layer(2)
    assert w1 is not w2
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(b1, b2)
    other = random_network([20, 30, 30], "tanh", 1.0, 0.1, rng=1)
    np.testing.assert_array_equal(other.layer(2)[0], w1)


def test_float32_and_float64():
    X = correlated_inputs(3, 50, 0.6, 0.4, 1.2, 0.2, rng=0)
    r64 = random_network([50, 200, 200], "tanh", 1.2, 0.2, rng=1).run(X)
    r32 = random_network([50, 200, 200], "tanh", 1.2, 0.2, rng=1, dtype=np.float32).run(X)
    assert r32.kernel.dtype == np.float64  # statistics in float64
    assert random_network([2, 3], "tanh", 1, 0, dtype="float32").layer(1)[0].dtype == np.float32
    # Different draws, same law: both within sampling error of the theory (rel sd ~ 0.1).
    for r in (r32, r64):
        assert np.all(np.abs(r.q[0] / 0.6 - 1) < 0.5)


def test_correlated_inputs_exact_moments():
    X = correlated_inputs(5, 40, 0.7, 0.35, 1.3, 0.2, rng=0)
    K = 0.2**2 + 1.3**2 * X @ X.T / 40
    np.testing.assert_allclose(np.diag(K), 0.7, rtol=1e-12)
    c = K / 0.7
    np.testing.assert_allclose(c[np.triu_indices(5, 1)], 0.35, rtol=1e-12)


def test_simulate_dataset_and_theory():
    X = np.random.default_rng(0).standard_normal((3, 8))
    ds = simulate("relu", 1.2, 0.1, X, widths=[20, 30, 10], n_seeds=2, rng=0)
    assert ds.sizes == {
        "seed": 2,
        "layer": 3,
        "input": 3,
        "input_b": 3,
        "pair": 3,
    }
    np.testing.assert_array_equal(ds["width"].values, [20, 30, 10])
    assert "N(0, sigma_w^2/fan_in)" in ds.attrs["conventions"]
    # Theory: the NNGP kernel of the same batch, computed independently.
    K = sigprop.nngp_kernel("relu", X, 1.2, 0.1, 3, return_all=True)
    np.testing.assert_allclose(ds["kernel_theory"].values, K, rtol=1e-10)
    np.testing.assert_allclose(ds["q_theory"].values, np.einsum("lii->li", K), rtol=1e-10)
    np.testing.assert_allclose(ds["chi1_theory"].values, sigprop.chi1("relu", ds["q_theory"], 1.2))
    # Per-seed values agree with the summaries.
    np.testing.assert_allclose(ds["q_mean"], ds["q"].mean("seed"))
    np.testing.assert_allclose(np.einsum("lii->li", ds["kernel_mean"].values), ds["q_mean"])


def test_simulate_reproducible():
    X = np.ones((2, 5))
    a = simulate("tanh", 1.0, 0.1, X, width=10, depth=3, n_seeds=2, rng=3)
    b = simulate("tanh", 1.0, 0.1, X, width=10, depth=3, n_seeds=2, rng=3)
    xr.testing.assert_identical(a, b)


def test_plot_simulation():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    X = correlated_inputs(3, 20, 0.5, 0.3, 1.3, 0.2, rng=0)
    ds = simulate("tanh", 1.3, 0.2, X, width=50, depth=5, n_seeds=3, rng=1)
    fig = sigprop.networks.plot_simulation(ds)
    assert len(fig.axes) == 3
    ds2 = simulate("tanh", 1.3, 0.2, X, width=50, depth=5, n_seeds=2, rng=1, gradients=False)
    assert len(sigprop.networks.plot_simulation(ds2).axes) == 2
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"width": 10}, ValueError, "width and depth"),
        ({"width": 10, "depth": 0}, ValueError, "depth"),
        ({"widths": [10], "width": 10}, ValueError, "not both"),
        ({"width": 10, "depth": 2, "n_seeds": 0}, ValueError, "n_seeds"),
        ({"width": 10, "depth": 2, "weights": "uniform"}, ValueError, "weights"),
        ({"width": 10, "depth": 2, "dtype": np.float16}, ValueError, "dtype"),
        ({"width": 10, "depth": 2, "rng": "x"}, TypeError, "rng"),
        ({"width": 10, "depth": 2, "jacobian": 5}, ValueError, "jacobian"),
    ],
)
def test_simulate_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        simulate("tanh", 1.0, 0.1, np.ones((2, 3)), **kwargs)


def test_input_validation():
    with pytest.raises(ValueError, match="sigma_w"):
        random_network([3, 4], "tanh", -1.0, 0.0)
    with pytest.raises(ValueError, match="inputs"):
        random_network([3, 4], "tanh", 1.0, 0.0).run(np.ones((2, 4)))
    with pytest.raises(ValueError, match="inputs"):
        random_network([3, 4], "tanh", 1.0, 0.0).run(np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(ValueError, match="widths"):
        random_network([3], "tanh", 1.0, 0.0)
    with pytest.raises(ValueError, match="widths"):
        random_network([3, 0], "tanh", 1.0, 0.0)
    with pytest.raises(ValueError, match="loss_grad"):
        random_network([3, 4], "tanh", 1.0, 0.0).run(np.ones((1, 3)), loss_grad=lambda o: o[:, :2])
    with pytest.raises(ValueError, match="c1"):
        correlated_inputs(3, 10, 0.5, 0.01, 1.0, 0.2)
    with pytest.raises(ValueError, match="dim"):
        correlated_inputs(3, 3, 0.5, 0.5, 1.0, 0.2)


def test_zero_input_without_bias():
    # q^1 = 0: the theory keeps q = 0 (c taken as 1), the simulation gives exact zeros.
    X = np.zeros((2, 4))
    ds = simulate("tanh", 1.0, 0.0, X, widths=np.array([5, 5]), n_seeds=2, rng=0)
    np.testing.assert_array_equal(ds["q_theory"].values, 0.0)
    np.testing.assert_array_equal(ds["q"].values, 0.0)
    assert np.all(np.isnan(ds["c"].values))  # 0/0: no correlation to report


def test_orthogonal_network_follows_the_maps():
    # Orthogonal weights share the Gaussian mean-field maps (same forward variance).
    n, depth, seeds = 400, 6, 10
    sw = 1.3
    X = correlated_inputs(3, n, 0.5, 0.4, sw, 0.2, rng=5)
    ds = simulate(
        "tanh", sw, 0.2, X, width=n, depth=depth, n_seeds=seeds, rng=6, weights="orthogonal"
    )
    tc = _tcrit(seeds, 2 * depth)
    mean, se = _seed_mean_and_se(ds["q"].mean("input").values / ds["q_theory"].values[:, 0])
    assert np.max(np.abs(mean - 1) / se) < tc
    mean, se = _seed_mean_and_se(ds["c"].mean("pair").values)
    assert np.max(np.abs(mean - ds["c_theory"].values[:, 0]) / se) < tc


def test_simulate_draws_the_finite_width_band():
    # One network's q^l spreads across seeds as the finite-width band predicts (the
    # sample std of 300 seeds is within ~4% (1 sigma) of the true std: 20% is 5 sigma).
    X = np.random.default_rng(0).normal(size=(3, 16))
    ds = sigprop.simulate(
        "tanh", 1.5, 0.1, X, width=96, depth=6, n_seeds=300, rng=3, gradients=False
    )
    ratio = ds.q.std("seed", ddof=1).values / ds.q_theory_std.values
    assert np.all(np.abs(ratio - 1) < 0.2), ratio
    z = (ds.q_mean - ds.q_theory_finite).values / ds.q_se.values
    assert np.max(np.abs(z)) < 4.5
    no_band = sigprop.simulate(
        "tanh", 1.5, 0.1, X, widths=[64, 96], n_seeds=2, rng=0, gradients=False
    )
    assert "q_theory_std" not in no_band and "q_theory" in no_band
