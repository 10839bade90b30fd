"""Initialisers: EOC, Kumar, He, Glorot sigma_w; initialize(); the gain table.

Oracles: Kumar (2017) gains (docs/reference_values.rst), T1, T3, T4, T7, T10.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest

import sigprop
from sigprop import cli
from sigprop.networks.initializers import (
    UnstableEOCWarning,
    eoc_sigma_w,
    gain_table,
    he_gain,
    init_sigma_w,
    initialize,
    kumar_gain,
)


def test_kumar_sigmoid():
    # Oracle T10: std sqrt(N) = 4 / sqrt(1.25) = 3.57771 (v^2 = 12.8 / N).
    assert kumar_gain("sigmoid") == pytest.approx(4 / math.sqrt(1.25), rel=1e-14)
    assert kumar_gain("sigmoid") ** 2 == pytest.approx(12.8, rel=1e-14)
    assert kumar_gain("tanh") == pytest.approx(1.0, rel=1e-14)
    # softplus: 4 / (1 + ln^2 2) = 2.7018 (Kumar gains table).
    assert kumar_gain("softplus") ** 2 == pytest.approx(4 / (1 + math.log(2) ** 2), rel=1e-12)
    with pytest.raises(ValueError, match="differentiable"):
        kumar_gain("relu")


def test_eoc_sigma_w_values():
    assert eoc_sigma_w("tanh", 0.2) == pytest.approx(1.30414584, abs=1e-8)  # T3
    assert eoc_sigma_w("tanh", math.sqrt(0.05)) ** 2 == pytest.approx(1.76095464, rel=1e-8)
    assert eoc_sigma_w("relu", 0.0) == pytest.approx(math.sqrt(2), rel=1e-14)  # T1
    lr = sigprop.activation("leaky_relu", negative_slope=0.2)
    assert eoc_sigma_w(lr, 0.0) == pytest.approx(math.sqrt(2 / 1.04), rel=1e-12)
    assert eoc_sigma_w("elu", 0.2) == pytest.approx(1.229251124, rel=1e-8)  # T4
    # chi1 = 1 at the returned point.
    fp = sigprop.fixed_point("tanh", eoc_sigma_w("tanh", 0.3), 0.3, correlation=False)
    assert float(fp.chi1) == pytest.approx(1.0, abs=1e-9)


def test_eoc_sigma_w_unstable_and_missing():
    # T7: silu's only EOC point at sigma_b = 0.2 repels (V'(q*) = 1.09873).
    with pytest.warns(UnstableEOCWarning, match="unstable"):
        sw = eoc_sigma_w("silu", 0.2)
    assert sw == pytest.approx(1.6795316, rel=1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eoc_sigma_w("tanh", 0.2)  # stable: no warning
    with pytest.raises(ValueError, match="no Edge-of-Chaos"):
        eoc_sigma_w("relu", 0.2)
    with pytest.raises(ValueError, match="sigma_b"):
        eoc_sigma_w("tanh", -0.1)


def test_he_and_glorot():
    assert he_gain("relu") == math.sqrt(2)
    assert he_gain(sigprop.activation("leaky_relu", negative_slope=0.1)) == pytest.approx(
        math.sqrt(2 / 1.01)
    )
    # Glorot: weight variance 2 / (fan_in + fan_out) = sigma_w^2 / fan_in.
    sw = init_sigma_w("tanh", "glorot", fan_in=300, fan_out=100)
    assert sw**2 / 300 == pytest.approx(2 / 400, rel=1e-14)
    assert init_sigma_w("tanh", "lecun") == 1.0
    assert init_sigma_w("tanh", 1.7) == 1.7
    with pytest.raises(ValueError, match="fan_in"):
        init_sigma_w("tanh", "glorot")
    with pytest.raises(ValueError, match="scheme"):
        init_sigma_w("tanh", "xavier")
    with pytest.raises(ValueError, match="scheme"):
        init_sigma_w("tanh", -1.0)


def test_initialize_shapes_and_statistics():
    widths = [300, 800, 500, 10]
    Ws, bs = initialize(widths, "tanh", "eoc", sigma_b=0.2, rng=0)
    sw = eoc_sigma_w("tanh", 0.2)
    assert [w.shape for w in Ws] == [(800, 300), (500, 800), (10, 500)]
    assert [b.shape for b in bs] == [(800,), (500,), (10,)]
    for w in Ws[:2]:
        n = w.size
        sd = w.std() * math.sqrt(w.shape[1])
        assert abs(sd - sw) < 5 * sw / math.sqrt(2 * n)  # 5 standard errors of the sd
    b = np.concatenate(bs)
    assert abs(b.std() - 0.2) < 5 * 0.2 / math.sqrt(2 * b.size)
    Ws2, _ = initialize(widths, "tanh", "eoc", sigma_b=0.2, rng=0)
    np.testing.assert_array_equal(Ws[0], Ws2[0])
    # sigma_b = 0: zero biases; Glorot varies per layer.
    Ws, bs = initialize([100, 400, 50], "relu", "glorot", rng=1, dtype=np.float32)
    assert Ws[0].dtype == np.float32 and bs[0].dtype == np.float32
    assert all(np.all(b == 0) for b in bs)
    for w in Ws:
        target = math.sqrt(2 / sum(w.shape))
        assert abs(w.std() - target) < 5 * target / math.sqrt(2 * w.size)


def test_initialize_orthogonal():
    Ws, _ = initialize([40, 40, 20, 60], "tanh", 1.3, weights="orthogonal", rng=2)
    np.testing.assert_allclose(Ws[0] @ Ws[0].T, 1.69 * np.eye(40), atol=1e-12)
    np.testing.assert_allclose(Ws[1] @ Ws[1].T, 1.69 * np.eye(20), atol=1e-12)
    np.testing.assert_allclose(Ws[2].T @ Ws[2], 1.69 * 3 * np.eye(20), atol=1e-12)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        (([10],), {}, ValueError, "widths"),
        (([10, 0],), {}, ValueError, "widths"),
        (("10",), {}, ValueError, "widths"),
        (([10, 5],), {"weights": "uniform"}, ValueError, "weights"),
        (([10, 5],), {"sigma_b": -1.0}, ValueError, "sigma_b"),
        (([10, 5],), {"dtype": np.int32}, ValueError, "dtype"),
        (([10, 5],), {"rng": "seed"}, TypeError, "rng"),
    ],
)
def test_initialize_validation(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        initialize(*args, "tanh", **kwargs)


def test_initialize_no_eoc_raises():
    with pytest.raises(ValueError, match="no Edge-of-Chaos"):
        initialize([10, 10], "relu", "eoc", sigma_b=0.1)


def test_gain_table_rows():
    rows = {r.activation.split("(")[0]: r for r in gain_table(0.0)}
    assert set(rows) == {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"}
    assert rows["tanh"].gain == pytest.approx(5 / 3)
    assert rows["tanh"].phase == "chaotic" and rows["tanh"].chi1 > 1
    # q* is a fixed point of the variance map (independent check through qmap).
    q = rows["tanh"].q_star
    assert float(sigprop.qmap("tanh", q, 5 / 3, 0.0)) == pytest.approx(q, rel=1e-10)
    assert float(sigprop.chi1("tanh", q, 5 / 3)) == pytest.approx(rows["tanh"].chi1, rel=1e-10)
    assert rows["sigmoid"].phase == "ordered"
    assert rows["relu"].phase == "edge" and rows["relu"].eoc_sigma_w == pytest.approx(math.sqrt(2))
    assert rows["tanh"].eoc_sigma_w == pytest.approx(1.0)
    rows = {r.activation.split("(")[0]: r for r in gain_table(0.05)}
    assert rows["relu"].phase == "divergent" and math.isinf(rows["relu"].q_star)
    assert math.isnan(rows["relu"].eoc_sigma_w) and not rows["relu"].eoc_stable
    assert rows["tanh"].eoc_sigma_w == pytest.approx(eoc_sigma_w("tanh", 0.05))


def test_cli_gains():
    out = io.StringIO()
    assert cli.gains([0.0, 0.05], out=out) == 0
    text = out.getvalue()
    assert "leaky_relu(negative_slope=0.01)" in text and "chaotic" in text
    assert len(text.strip().splitlines()) == 2 + 12


def test_cli_gains_subcommand(capsys):
    assert cli.main(["gains", "--sigma-b", "0.1"]) == 0
    assert "EOC sigma_w" in capsys.readouterr().out


def test_renamed_arguments_warn_and_still_work():
    with pytest.warns(DeprecationWarning, match="weights="):
        old, _ = initialize([6, 5], "tanh", 1.3, distribution="normal", rng=3)
    new, _ = initialize([6, 5], "tanh", 1.3, weights="gaussian", rng=3)
    np.testing.assert_array_equal(old[0], new[0])


# --------------------------------------------------------------------------
# Convolution kernels (kernel_size) and delta-orthogonal kernels (Xiao et al. 2018)
# --------------------------------------------------------------------------


def test_initialize_gaussian_kernels_use_the_receptive_fan_in():
    Ws, bs = initialize([16, 64, 96], "tanh", 1.4, kernel_size=(3, 5), rng=7)
    assert [w.shape for w in Ws] == [(64, 16, 3, 5), (96, 64, 3, 5)]
    assert [b.shape for b in bs] == [(64,), (96,)]
    for w in Ws:
        fan_in = w.shape[1] * 15
        sd = w.std() * math.sqrt(fan_in)
        assert abs(sd - 1.4) < 5 * 1.4 / math.sqrt(2 * w.size)  # 5 standard errors
    # Glorot on kernels: fan_out = out_channels x receptive field (as torch.nn.init)
    Ws, _ = initialize([20, 40], "tanh", "glorot", kernel_size=3, rng=8)
    target = math.sqrt(2 / (20 * 3 + 40 * 3))
    assert abs(Ws[0].std() - target) < 5 * target / math.sqrt(2 * Ws[0].size)


def test_initialize_delta_orthogonal_kernels():
    Ws, _ = initialize(
        [8, 8, 24], "tanh", 1.3, kernel_size=(3, 3), weights="delta_orthogonal", rng=9
    )
    for w in Ws:
        c_out, c_in = w.shape[:2]
        centre = w[:, :, 1, 1].copy()
        np.testing.assert_allclose(
            centre.T @ centre, 1.69 * (c_out / c_in) * np.eye(c_in), atol=1e-12
        )
        w[:, :, 1, 1] = 0
        assert not np.any(w)
    # without kernel_size it is the orthogonal initialisation itself
    a, _ = initialize([10, 30], "tanh", 1.3, weights="delta_orthogonal", rng=4)
    b, _ = initialize([10, 30], "tanh", 1.3, weights="orthogonal", rng=4)
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel_size": 0}, "kernel_size"),
        ({"kernel_size": ()}, "kernel_size"),
        ({"kernel_size": "3"}, "kernel_size"),
        ({"kernel_size": 3, "weights": "orthogonal"}, "delta_orthogonal"),
        ({"kernel_size": 3, "weights": "delta_orthogonal"}, r"widths\[2\] = 4 < widths\[1\] = 6"),
    ],
)
def test_initialize_kernel_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        initialize([3, 6, 4], "tanh", 1.0, **kwargs)
