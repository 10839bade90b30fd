"""sigprop.networks.torch_init.init_: PyTorch modules initialised from the theory."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import sigprop
from sigprop.networks import correlated_inputs

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import sigprop.networks.torch_init as sptorch  # noqa: E402


def _mlp(widths, act=nn.Tanh):
    layers = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])


def test_weight_and_bias_std():
    net = _mlp([400, 600, 600, 300])
    gen = torch.Generator().manual_seed(0)
    assert sptorch.init_(net, "tanh", sigma_b=0.2, generator=gen) is net
    sw = sigprop.networks.eoc_sigma_w("tanh", 0.2)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for lin in linears:
        w = lin.weight.detach().numpy().astype(float)
        sd = w.std() * math.sqrt(w.shape[1])
        assert abs(sd - sw) < 5 * sw / math.sqrt(2 * w.size)
    b = np.concatenate([lin.bias.detach().numpy() for lin in linears]).astype(float)
    assert abs(b.std() - 0.2) < 5 * 0.2 / math.sqrt(2 * b.size)


def test_generator_reproducible_and_schemes():
    a, b = _mlp([20, 30, 10], nn.ReLU), _mlp([20, 30, 10], nn.ReLU)
    sptorch.init_(a, "relu", scheme="he", generator=torch.Generator().manual_seed(3))
    sptorch.init_(b, "relu", scheme="he", generator=torch.Generator().manual_seed(3))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert torch.count_nonzero(a[0].bias) == 0  # sigma_b = 0
    sptorch.init_(a, "relu", scheme=0.5)
    assert a[0].weight.std().item() < 0.5


def test_forward_q_matches_theory():
    # q^l of torch's forward pass (tanh, EOC at sigma_b = 0.2) against the maps.
    width, depth, seeds = 800, 8, 6
    sw = sigprop.networks.eoc_sigma_w("tanh", 0.2)
    X = correlated_inputs(8, width, 1.0, 0.5, sw, 0.2, rng=0)
    prop = sigprop.propagate("tanh", sw, 0.2, depth - 1, 1.0, 0.5)
    per_seed = np.empty((seeds, depth))
    for s in range(seeds):
        net = _mlp([width] * (depth + 1))
        sptorch.init_(net, "tanh", sigma_b=0.2, generator=torch.Generator().manual_seed(s))
        h = torch.as_tensor(X, dtype=torch.float64)
        net = net.double()
        layer = 0
        with torch.no_grad():
            for m in net:
                h = m(h)
                if isinstance(m, nn.Linear):
                    per_seed[s, layer] = (h**2).mean().item()
                    layer += 1
    rel = per_seed / prop.q - 1
    mean, se = rel.mean(0), rel.std(0, ddof=1) / math.sqrt(seeds)
    assert np.max(np.abs(mean)) < 0.05
    # Bonferroni over 8 layers at family-wise 0.01: Student t, 5 dof, t_{1 - 0.01/16} = 6.54.
    assert np.max(np.abs(mean) / se) < 6.54


def test_validation():
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        sptorch.init_([nn.Linear(2, 2)], "tanh")
    with pytest.raises(ValueError, match=r"no torch\.nn\.Linear"):
        sptorch.init_(nn.Tanh(), "tanh")
    with pytest.raises(ValueError, match="no Edge-of-Chaos"):
        sptorch.init_(nn.Linear(2, 2), "relu", sigma_b=0.1)
    with pytest.raises(ValueError, match="sigma_b"):
        sptorch.init_(nn.Linear(2, 2), "tanh", sigma_b=-1)


# --------------------------------------------------------------------------
# Convolutions: Gaussian with the receptive fan-in, delta-orthogonal (Xiao et al. 2018)
# --------------------------------------------------------------------------


def test_conv_gaussian_std_uses_receptive_fan_in():
    net = nn.Sequential(
        nn.Conv1d(16, 64, 5), nn.Tanh(), nn.Conv2d(64, 64, (3, 3)), nn.Conv3d(64, 32, 3)
    )
    gen = torch.Generator().manual_seed(1)
    sptorch.init_(net, "tanh", scheme=1.3, sigma_b=0.1, generator=gen)
    for conv in (net[0], net[2], net[3]):
        w = conv.weight.detach().double().numpy()
        fan_in = w.shape[1] * int(np.prod(w.shape[2:]))
        sd = w.std() * math.sqrt(fan_in)
        assert abs(sd - 1.3) < 5 * 1.3 / math.sqrt(2 * w.size)
        b = conv.bias.detach().double().numpy()
        assert abs(b.std() - 0.1) < 0.1 * 6 / math.sqrt(2 * b.size)


def test_conv_delta_orthogonal():
    net = nn.Sequential(
        nn.Conv1d(8, 8, 3),
        nn.Conv2d(8, 16, (3, 5)),
        nn.Conv3d(16, 16, 3, groups=4),
        nn.Flatten(),
        nn.Linear(16, 40),
        nn.Linear(40, 10),
    )
    gen = torch.Generator().manual_seed(2)
    sptorch.init_(net, "tanh", scheme=1.2, weights="delta_orthogonal", generator=gen)
    for conv, centre in ((net[0], (1,)), (net[1], (1, 2)), (net[2], (1, 1, 1))):
        w = conv.weight.detach().double().numpy().copy()
        out_g, in_g = w.shape[0] // conv.groups, w.shape[1]
        for g in range(conv.groups):
            block = w[(slice(g * out_g, (g + 1) * out_g), slice(None), *centre)]
            np.testing.assert_allclose(
                block.T @ block, 1.44 * out_g / in_g * np.eye(in_g), atol=1e-5
            )
        w[(slice(None), slice(None), *centre)] = 0
        assert not np.any(w)
    # the Linear layers are (semi-)orthogonal, as initialize(weights="orthogonal")
    w = net[4].weight.detach().double().numpy()
    np.testing.assert_allclose(w.T @ w, 1.44 * 40 / 16 * np.eye(16), atol=1e-5)
    w = net[5].weight.detach().double().numpy()
    np.testing.assert_allclose(w @ w.T, 1.44 * np.eye(10), atol=1e-5)


def test_conv_delta_orthogonal_linear_network_preserves_norms():
    layers = [nn.Conv1d(12, 12, 3, padding=1, padding_mode="circular") for _ in range(20)]
    net = nn.Sequential(*layers).double()
    sptorch.init_(net, "linear", scheme=1.0, weights="delta_orthogonal",
                  generator=torch.Generator().manual_seed(3))  # fmt: skip
    x = torch.randn(1, 12, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = net(x)
    assert y.norm().item() == pytest.approx(x.norm().item(), rel=1e-12)


def test_conv_forward_covariance_matches_cnn_propagate():
    # Circular Conv1d stacks (tanh, chaotic point) against the CNN mean-field theory:
    # the mean spatial covariance of every layer within a family-wise t bound.
    conv = pytest.importorskip("sigprop.architectures.convolutional")
    stats = pytest.importorskip("scipy.stats")
    sw, sb, C, n, k, depth, seeds = 1.5, 0.05, 96, 8, 3, 4, 12
    x = np.random.default_rng(0).standard_normal((C, n))
    v = np.full(k, 1 / k)
    K1 = sb**2 + sw**2 * sum(v[t] * np.roll(x.T @ x / C, (1 - t, 1 - t), (0, 1)) for t in range(k))
    theory = conv.cnn_propagate("tanh", sw, sb, K1, depth - 1, k)
    kern = np.empty((seeds, depth, n, n))
    for s in range(seeds):
        convs = [nn.Conv1d(C, C, k, padding=1, padding_mode="circular") for _ in range(depth)]
        net = nn.Sequential(*convs).double()
        sptorch.init_(net, "tanh", scheme=sw, sigma_b=sb,
                      generator=torch.Generator().manual_seed(10 + s))  # fmt: skip
        h = torch.as_tensor(x[None])
        with torch.no_grad():
            for layer, m in enumerate(convs):
                h = m(h if layer == 0 else torch.tanh(h))
                kern[s, layer] = (h[0].T @ h[0]).numpy() / C
    iu = np.triu_indices(n)
    mean, se = kern.mean(0), kern.std(0, ddof=1) / math.sqrt(seeds)
    z = ((mean - theory) / se)[:, iu[0], iu[1]]
    assert np.max(np.abs(z)) < stats.t.ppf(1 - 1e-3 / (2 * z.size), seeds - 1)


def test_conv_validation():
    with pytest.raises(ValueError, match="out_channels >= in_channels"):
        sptorch.init_(nn.Conv2d(8, 4, 3), "tanh", scheme=1.0, weights="delta_orthogonal")
    with pytest.raises(ValueError, match="delta_orthogonal"):
        sptorch.init_(nn.Conv1d(4, 4, 3), "tanh", scheme=1.0, weights="orthogonal")
    with pytest.raises(ValueError, match="weights"):
        sptorch.init_(nn.Conv1d(4, 4, 3), "tanh", scheme=1.0, weights="uniform")
    # orthogonal Linear layers are allowed with weights="orthogonal"
    lin = sptorch.init_(nn.Linear(5, 5), "tanh", scheme=1.0, weights="orthogonal")
    w = lin.weight.detach().double().numpy()
    np.testing.assert_allclose(w @ w.T, np.eye(5), atol=1e-5)
