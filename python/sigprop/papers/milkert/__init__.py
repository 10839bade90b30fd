"""Milkert, Hyde and Laine: ReLU networks reparameterised to have exponentially many linear
regions (sawtooth / triangle-wave compositions), counting the linear regions of a ReLU
network exactly, and training such networks against Kaiming-initialised ones."""

from .regions import LinearRegions, count_linear_regions
from .sawtooth import smooth_scales, triangle_network
from .training import FitResult, fit_kaiming, fit_reparameterised

__all__ = [
    "FitResult",
    "LinearRegions",
    "count_linear_regions",
    "fit_kaiming",
    "fit_reparameterised",
    "smooth_scales",
    "triangle_network",
]
