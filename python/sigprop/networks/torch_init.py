"""PyTorch integration: initialise the linear layers of a module from the theory.

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
) -> Any:
    """Initialise every ``torch.nn.Linear`` of ``module`` in place.

    Weights become N(0, sigma_w^2 / fan_in) with sigma_w from the scheme
    (see :func:`sigprop.init_sigma_w`; ``"eoc"`` uses the Edge-of-Chaos
    sigma_w at ``sigma_b``; ``"glorot"`` uses each layer's fan-in and fan-out),
    and biases N(0, sigma_b^2) (zero when sigma_b = 0). sigma_w and sigma_b are
    standard deviations.

    Parameters
    ----------
    module : torch.nn.Module
        The module; it and all its sub-modules are searched for ``nn.Linear``.
    activation : str, Activation or callable
        A built-in name, an expression in x, a callable phi or an Activation
        (see :func:`sigprop.activation`).
        The activation the network uses between the linear layers.
    sigma_b : float
        Bias standard deviation, >= 0.
    scheme : {"eoc", "kumar", "he", "glorot", "lecun"} or float
    generator : torch.Generator, optional
        Source of randomness (default: torch's global generator).

    Returns
    -------
    torch.nn.Module
        ``module`` itself.

    Raises
    ------
    TypeError
        If ``module`` is not a torch.nn.Module.
    ValueError
        If it holds no nn.Linear, or for a bad scheme / sigma_b / activation.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sigprop.networks.torch_init import init_
    >>> net = nn.Sequential(nn.Linear(10, 100), nn.Tanh(), nn.Linear(100, 1))
    >>> gen = torch.Generator().manual_seed(0)
    >>> init_(net, "tanh", sigma_b=0.05, generator=gen) is net
    True
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    act = resolve(activation)
    from .._validation import scalar_sigma

    sb = scalar_sigma(sigma_b, "sigma_b")
    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(f"module holds no torch.nn.Linear: {type(module).__name__}")
    with torch.no_grad():
        for lin in linears:
            fan_out, fan_in = lin.weight.shape
            sw = init_sigma_w(act, scheme, sigma_b=sb, fan_in=fan_in, fan_out=fan_out)
            lin.weight.normal_(0.0, sw / math.sqrt(fan_in), generator=generator)
            if lin.bias is not None:
                if sb > 0:
                    lin.bias.normal_(0.0, sb, generator=generator)
                else:
                    lin.bias.zero_()
    return module
