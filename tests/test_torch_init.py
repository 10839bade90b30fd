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
