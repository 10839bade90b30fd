"""PyTorch integration: initialise the linear and convolutional layers of a module from the theory.

PyTorch is optional: ``pip install ".[torch]"``. It is imported only
when :func:`init_` is called.
"""

from __future__ import annotations

import math
from typing import Any

from ..theory.activations import Activation, resolve
from .initializers import init_sigma_w

__all__ = ["init_"]


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            'sigprop.networks.torch_init.init_ needs PyTorch: pip install ".[torch]"'
        ) from None
    return torch


def init_(
    module: Any,
    activation: str | Activation,
    *,
    sigma_b: float = 0.0,
    scheme: str | float = "eoc",
    generator: Any = None,
    weights: str = "gaussian",
) -> Any:
    """Initialise every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` of ``module`` in place.

    Weights become N(0, sigma_w^2 / fan_in) with sigma_w from the scheme
    (see :func:`sigprop.init_sigma_w`; ``"eoc"`` uses the Edge-of-Chaos
    sigma_w at ``sigma_b``; ``"glorot"`` uses each layer's fan-in and fan-out),
    and biases N(0, sigma_b^2) (zero when sigma_b = 0). sigma_w and sigma_b are
    standard deviations. For a convolution fan_in = (in_channels / groups) x
    prod(kernel_size) and fan_out = (out_channels / groups) x prod(kernel_size), as
    in ``torch.nn.init``; the mean-field theory of such a network is
    :mod:`sigprop.architectures.convolutional` (Xiao et al. 2018).

    Parameters
    ----------
    module : torch.nn.Module
        The module; it and all its sub-modules are searched for ``nn.Linear`` and
        ``nn.Conv1d``, ``nn.Conv2d``, ``nn.Conv3d`` (transposed convolutions are
        left as they are).
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
        The activation the network uses between the layers.
    sigma_b : float
        Bias standard deviation, >= 0.
    scheme : {"eoc", "kumar", "he", "glorot", "lecun"} or float
    generator : torch.Generator, optional
        Source of randomness (default: torch's global generator).
    weights : {"gaussian", "orthogonal", "delta_orthogonal"}
        ``"gaussian"``: every layer as above. ``"orthogonal"``: each nn.Linear is
        sigma_w sqrt(max(1, fan_out / fan_in)) times a Haar (semi-)orthogonal
        matrix, as in :func:`sigprop.initialize` (convolutions are then refused:
        an orthogonal kernel is ``"delta_orthogonal"``). ``"delta_orthogonal"``:
        the nn.Linear layers orthogonal, and every convolution a delta-orthogonal
        kernel (Xiao et al. 2018, Algorithm 2; :func:`sigprop.networks.initializers.
        delta_orthogonal`): zero but at the spatial centre (index (k - 1) // 2), where
        each group's (out, in) block is sigma_w sqrt(out / in) times a matrix with
        orthonormal columns; it needs out_channels >= in_channels.

    Returns
    -------
    torch.nn.Module
        ``module`` itself.

    Raises
    ------
    TypeError
        If ``module`` is not a torch.nn.Module.
    ValueError
        If it holds no nn.Linear or convolution, for a bad scheme / sigma_b /
        activation / weights, or for a delta-orthogonal convolution with fewer output
        than input channels.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sigprop.networks.torch_init import init_
    >>> net = nn.Sequential(nn.Linear(10, 100), nn.Tanh(), nn.Linear(100, 1))
    >>> gen = torch.Generator().manual_seed(0)
    >>> init_(net, "tanh", sigma_b=0.05, generator=gen) is net
    True
    >>> cnn = nn.Sequential(nn.Conv1d(8, 8, 3, padding=1, padding_mode="circular"), nn.Tanh())
    >>> _ = init_(cnn, "tanh", sigma_b=0.05, weights="delta_orthogonal", generator=gen)
    >>> int(torch.count_nonzero(cnn[0].weight[:, :, [0, 2]]))
    0
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    act = resolve(activation)
    from .._validation import scalar_sigma

    sb = scalar_sigma(sigma_b, "sigma_b")
    if weights not in _WEIGHTS:
        raise ValueError(f"weights must be one of {_WEIGHTS}, got {weights!r}")
    nn = torch.nn
    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, *convs))]
    if not layers:
        raise ValueError(
            f"module holds no torch.nn.Linear or Conv1d/Conv2d/Conv3d: {type(module).__name__}"
        )
    conv_layers = [m for m in layers if isinstance(m, convs)]
    if conv_layers and weights == "orthogonal":
        raise ValueError(
            "weights='orthogonal' is not defined for convolutions "
            f"({type(conv_layers[0]).__name__}): use weights='delta_orthogonal' (Xiao et al. 2018)"
        )
    if weights == "delta_orthogonal":
        for conv in conv_layers:
            out_g, in_g = conv.weight.shape[0] // conv.groups, conv.weight.shape[1]
            if out_g < in_g:
                raise ValueError(
                    "weights='delta_orthogonal' needs out_channels >= in_channels, got "
                    f"{type(conv).__name__} with {out_g * conv.groups} output < "
                    f"{in_g * conv.groups} input channels"
                )
    with torch.no_grad():
        for layer in layers:
            w = layer.weight
            out_g, in_g = w.shape[0], w.shape[1]
            groups = getattr(layer, "groups", 1)
            out_g //= groups
            receptive = math.prod(w.shape[2:])
            fan_in, fan_out = in_g * receptive, out_g * receptive
            sw = init_sigma_w(act, scheme, sigma_b=sb, fan_in=fan_in, fan_out=fan_out)
            if weights == "gaussian":
                w.normal_(0.0, sw / math.sqrt(fan_in), generator=generator)
            elif w.ndim == 2:  # nn.Linear, orthogonal
                q = _orthogonal(torch, out_g, in_g, generator)
                w.copy_((q * (sw * math.sqrt(max(1.0, out_g / in_g)))).to(w))
            else:  # delta-orthogonal convolution
                w.zero_()
                centre = tuple((k - 1) // 2 for k in w.shape[2:])
                for g in range(groups):
                    q = _orthogonal(torch, out_g, in_g, generator) * (sw * math.sqrt(out_g / in_g))
                    w[(slice(g * out_g, (g + 1) * out_g), slice(None), *centre)] = q.to(w)
            if layer.bias is not None:
                if sb > 0:
                    layer.bias.normal_(0.0, sb, generator=generator)
                else:
                    layer.bias.zero_()
    return module


_WEIGHTS = ("gaussian", "orthogonal", "delta_orthogonal")


def _orthogonal(torch, fan_out: int, fan_in: int, generator):
    """A Haar (semi-)orthogonal (fan_out, fan_in) tensor (QR with sign fix).

    Drawn on the generator's device (float64 on the CPU).
    """
    tall = fan_out >= fan_in
    shape = (fan_out, fan_in) if tall else (fan_in, fan_out)
    device = torch.device("cpu") if generator is None else generator.device
    dtype = torch.float64 if device.type == "cpu" else torch.float32
    a = torch.randn(shape, generator=generator, dtype=dtype, device=device)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    return q if tall else q.T
