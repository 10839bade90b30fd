"""Kumar (2017), "On weight initialization in deep neural networks" (arXiv:1704.08863):
the weight variance that keeps the pre-activation variance for activations
differentiable at 0, sigma_w^2 = 1 / (phi'(0)^2 (1 + phi(0)^2)), and its table against
the gains PyTorch uses. The functions live in :mod:`sigprop.networks.initializers`."""

from ..networks.initializers import GainRow, gain_table, kumar_gain

__all__ = ["GainRow", "gain_table", "kumar_gain"]
