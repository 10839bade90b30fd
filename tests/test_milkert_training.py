"""NumPy training: backpropagation, Adam, the peak reparameterisation (Milkert et al. 2023)."""

import itertools

import numpy as np
import pytest

from sigprop.papers.milkert.regions import count_linear_regions
from sigprop.papers.milkert.sawtooth import (
    network_from_ratios,
    smooth_scales,
    triangle,
    triangle_network,
)
from sigprop.papers.milkert.training import (
    Adam,
    _tied_loss_and_gradients,
    fit_kaiming,
    fit_reparameterised,
    mse_and_gradients,
    ratio_gradients,
)

H = 1e-6  # central differences: truncation ~ H^2, rounding ~ 1e-16 / H


def central_difference(f, arrays, index):
    plus = [a.copy() for a in arrays]
    minus = [a.copy() for a in arrays]
    plus[index[0]][index[1:]] += H
    minus[index[0]][index[1:]] -= H
    return (f(plus) - f(minus)) / (2 * H)


def test_mse_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 40)
    y = np.sin(3 * x)
    sizes = [1, 5, 4, 3, 1]
    ws = [rng.normal(0, 1, (2, o, i)) for i, o in itertools.pairwise(sizes)]
    bs = [rng.normal(0, 0.5, (2, o)) for o in sizes[1:]]
    loss, gw, gb = mse_and_gradients(ws, bs, x, y)
    assert loss.shape == (2,)
    n = len(ws)

    def f(params):
        return mse_and_gradients(params[:n], params[n:], x, y)[0]

    params = ws + bs
    grads = gw + gb
    for p, (arr, g) in enumerate(zip(params, grads, strict=True)):
        for idx in np.ndindex(arr.shape[1:]):
            fd = central_difference(f, params, (p, slice(None), *idx))
            np.testing.assert_allclose(g[(slice(None), *idx)], fd, rtol=1e-6, atol=1e-9)


def test_ratio_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, 60)
    y = x**3
    a = rng.uniform(0.2, 0.8, (2, 4))
    s = rng.uniform(0.1, 0.3, (2, 4))

    def f(params):
        w, b = network_from_ratios(params[0], params[1])
        return mse_and_gradients(w, b, x, y)[0]

    w, b = network_from_ratios(a, s)
    _, gw, gb = mse_and_gradients(w, b, x, y)
    ga, gs = ratio_gradients(a, s, gw, gb)
    for k in range(4):
        np.testing.assert_allclose(ga[:, k], central_difference(f, [a, s], (0, slice(None), k)),
                                   rtol=1e-6)  # fmt: skip
        np.testing.assert_allclose(gs[:, k], central_difference(f, [a, s], (1, slice(None), k)),
                                   rtol=1e-6)  # fmt: skip


def test_tied_peak_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, 60)
    y = x**11
    peaks = rng.uniform(0.2, 0.8, (2, 5))
    rho = np.array([0.4, -0.3])
    _, g_peaks, g_rho = _tied_loss_and_gradients(peaks, rho, x, y)

    def f(params):
        return _tied_loss_and_gradients(params[0], params[1], x, y)[0]

    for k in range(5):
        fd = central_difference(f, [peaks, rho], (0, slice(None), k))
        np.testing.assert_allclose(g_peaks[:, k], fd, rtol=1e-6)
    np.testing.assert_allclose(g_rho, central_difference(f, [peaks, rho], (1, slice(None))),
                               rtol=1e-6)  # fmt: skip


def test_adam_steps_match_hand_computation():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    opt = Adam(lr, b1, b2, eps)
    p = np.array([1.0, -2.0])
    g1, g2 = np.array([0.5, -3.0]), np.array([1.0, 2.0])
    opt.step([p], [g1])
    # step 1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps)
    np.testing.assert_allclose(p, [1.0 - lr * 0.5 / (0.5 + eps), -2.0 + lr * 3.0 / (3.0 + eps)],
                               rtol=1e-15)  # fmt: skip
    p1 = p.copy()
    opt.step([p], [g2])
    m = b1 * (1 - b1) * g1 + (1 - b1) * g2
    v = b2 * (1 - b2) * g1**2 + (1 - b2) * g2**2
    expected = p1 - lr * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + eps)
    np.testing.assert_allclose(p, expected, rtol=1e-15)
    # by hand for the first coordinate: m = 0.045 + 0.1, v = 0.00024975 + 0.001
    m0, v0 = 0.145, 0.000249750 + 0.001
    step0 = 0.1 * (m0 / 0.19) / (np.sqrt(v0 / 0.001999) + eps)
    assert p[0] == pytest.approx(p1[0] - step0, rel=1e-12)
    with pytest.raises(ValueError, match="lr"):
        Adam(lr=0.0)


def test_reparameterised_init_is_the_sawtooth_exactly():
    x = np.linspace(0, 1, 500)
    fit = fit_reparameterised(
        x, x**3, depth=5, n_runs=3, pretrain_epochs=0, epochs=0, init_scale=False,
        peak_range=(0.2, 0.8), rng=4,
    )  # fmt: skip
    peaks = np.random.default_rng(4).uniform(0.2, 0.8, (3, 6))
    w_ref, b_ref = triangle_network(peaks)
    for got, ref in zip(fit.weights + fit.biases, w_ref + b_ref, strict=True):
        np.testing.assert_array_equal(got, ref)
    for r in range(3):
        w = [m[r] for m in fit.weights]
        b = [m[r] for m in fit.biases]
        assert count_linear_regions(w, b).count == 2**5
        # the network computes x - sum_k s_k g_k
        f, g = x.copy(), x.copy()
        for a, s in zip(peaks[r, :-1], smooth_scales(peaks[r]), strict=True):
            g = triangle(g, a)
            f -= s * g
        assert fit.mse[r] == pytest.approx(np.mean((f - x**3) ** 2), rel=1e-12)


def test_kaiming_training_decreases_loss():
    x = np.linspace(0, 1, 100)
    fit = fit_kaiming(x, x**3, depth=3, n_runs=4, epochs=300, rng=1)
    assert fit.history.shape == (4, 300)
    assert np.all(fit.mse < fit.history[:, 0])
    # zero initial biases: a run whose ReLUs all start dead on [0, 1] only learns the
    # output bias (the best constant, MSE ~ var(x^3) = 0.08), so not every run halves
    assert np.sum(fit.mse < 0.5 * fit.history[:, 0]) >= 3


def test_kaiming_initial_distribution():
    """He et al.: weights N(0, 2 / fan_in), biases zero (or N(0, sigma_b^2))."""
    x = np.linspace(0, 1, 10)
    fit = fit_kaiming(x, x, depth=2, width=64, n_runs=20, epochs=0, rng=5)
    w = fit.weights[1]  # (20, 64, 64): 81920 draws, std error of the std ~0.25%
    assert w.shape == (20, 64, 64)
    assert np.std(w) == pytest.approx(np.sqrt(2.0 / 64), rel=0.02)
    assert abs(np.mean(w)) < 4 * np.sqrt(2.0 / 64 / w.size)
    assert np.std(fit.weights[0]) == pytest.approx(np.sqrt(2.0), rel=0.05)  # fan_in 1, 1280 draws
    for b in fit.biases:
        assert np.all(b == 0.0)
    b = fit_kaiming(x, x, depth=2, width=64, n_runs=20, epochs=0, sigma_b=0.3, rng=5).biases[1]
    assert np.var(b) == pytest.approx(0.09, rel=0.12)  # 1280 draws: std error of var ~4%
    assert abs(np.mean(b)) < 4 * 0.3 / np.sqrt(b.size)
    with pytest.raises(ValueError, match="sigma_b"):
        fit_kaiming(x, x, sigma_b=-1.0)


def test_default_peaks_uniform_on_unit_interval():
    """Training step 1 (Milkert et al., as summarised): peaks at random in (0, 1), projected
    onto [min_peak, 1 - min_peak]."""
    x = np.linspace(0, 1, 50)
    fit = fit_reparameterised(x, x**3, depth=5, n_runs=40, pretrain_epochs=0, epochs=0, rng=7)
    expected = np.clip(np.random.default_rng(7).uniform(0.0, 1.0, (40, 6)), 0.01, 0.99)
    np.testing.assert_array_equal(fit.peaks, expected)
    assert np.any(expected < 0.2) and np.any(expected > 0.8)


def test_pretraining_decreases_loss_and_keeps_regions():
    x = np.linspace(0, 1, 200)
    fit = fit_reparameterised(x, x**3, depth=4, n_runs=3, pretrain_epochs=150, epochs=0, rng=2)
    assert fit.pretrain_steps == 150
    assert np.all(fit.history[:, -1] < 0.8 * fit.history[:, 0])
    assert np.all((fit.peaks >= 0.01) & (fit.peaks <= 0.99))
    for r in range(3):
        w = [m[r] for m in fit.weights]
        b = [m[r] for m in fit.biases]
        assert count_linear_regions(w, b).count == 2**4


def test_free_scales_pretraining_and_release():
    x = np.linspace(0, 1, 200)
    fit = fit_reparameterised(
        x, x**11, depth=3, n_runs=2, pretrain_epochs=100, epochs=100, tie_scales=False, rng=3
    )
    assert fit.history.shape == (2, 200)
    assert np.all(fit.mse < fit.history[:, 0])


def test_bad_input_raises():
    x = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match="x and y"):
        fit_kaiming(x, x[:5])
    with pytest.raises(ValueError, match="depth"):
        fit_kaiming(x, x, depth=0)
    with pytest.raises(ValueError, match="peak_range"):
        fit_reparameterised(x, x, peak_range=(0.5, 0.2))
    with pytest.raises(ValueError, match="peak_range"):
        fit_reparameterised(x, x, peak_range=(-0.1, 0.5))
    with pytest.raises(ValueError, match="n_runs"):
        fit_reparameterised(x, x, n_runs=True)


def test_least_squares_scale_init():
    """init_scale: the overall scale of the s_k is the least-squares one for the peaks."""
    x = np.linspace(0, 1, 300)
    y = x**3
    fit = fit_reparameterised(
        x, y, depth=4, n_runs=2, pretrain_epochs=0, epochs=0, peak_range=(0.2, 0.8), rng=6
    )
    peaks = np.random.default_rng(6).uniform(0.2, 0.8, (2, 5))
    for r in range(2):
        phi = np.zeros_like(x)
        g = x.copy()
        for a, s in zip(peaks[r, :-1], smooth_scales(peaks[r]), strict=True):
            g = triangle(g, a)
            phi += s * g
        lam = np.dot(phi, x - y) / np.dot(phi, phi)  # y ~ x - lam * phi
        assert fit.mse[r] == pytest.approx(np.mean((x - lam * phi - y) ** 2), rel=1e-9)
        w = [m[r] for m in fit.weights]
        b = [m[r] for m in fit.biases]
        assert count_linear_regions(w, b).count == 2**4
