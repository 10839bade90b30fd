"""NNGP kernels of a batch (sigprop.nngp_kernel): every activation, 200 inputs in
d = 10, depth 10, sigma_w = 1.3, sigma_b = 0.2 (the issue's comparison point); 300
inputs of unequal norms deep in the ordered phase (sigma_w = 1, sigma_b = 3, 5 and 12);
and 100 such inputs at depth 30 (sigma_w = 1, 1.3 and 2, sigma_b = 0.5)."""

import numpy as np

import sigprop

from ._common import ALL_ACTIVATIONS

X200 = np.random.default_rng(0).normal(size=(200, 10))


class NNGPKernel:
    """Wall time of nngp_kernel, all threads; the activation's tables are built in setup."""

    params = (ALL_ACTIVATIONS,)
    param_names = ("activation",)
    timeout = 300

    def setup(self, activation):
        sigprop.nngp_kernel(activation, X200, 1.3, 0.2, depth=10)

    def time_nngp_kernel(self, activation):
        sigprop.nngp_kernel(activation, X200, 1.3, 0.2, depth=10)


# Deep in the ordered phase (sigma_w = 1, sigma_b = 3, 5 and 12): inputs of unequal
# norms, so that every pair goes to c = 1 while the variances settle at q* (~10 at
# sigma_b = 3, ~26-50 at 5, ~150-300 at 12, past the near-diagonal table of the
# saturating kinds: the layer table) -- the kernel's slow path (pairs next to c = 1
# with unequal variances).
_rng = np.random.default_rng(1)
X300_UNEQUAL = _rng.normal(size=(300, 10)) * np.exp(0.5 * _rng.normal(size=(300, 1)))


class NNGPKernelOrdered:
    """Wall time of nngp_kernel in the ordered phase, all threads; tables built in setup."""

    params = (ALL_ACTIVATIONS, [3.0, 5.0, 12.0])
    param_names = ("activation", "sigma_b")
    timeout = 300

    def setup(self, activation, sigma_b):
        sigprop.nngp_kernel(activation, X300_UNEQUAL, 1.0, sigma_b, depth=10)

    def time_nngp_kernel_ordered(self, activation, sigma_b):
        sigprop.nngp_kernel(activation, X300_UNEQUAL, 1.0, sigma_b, depth=10)


# Deep kernels (100 inputs of unequal norms, depth 30, sigma_b = 0.5), the regimes of
# benchmarks/kernel_sweep.py's deep sweep: at sigma_w = 1 and 1.3 the ordered phase's
# settled layers (elu and selu at q* ~ 0.75 take the layer table from q = 0.01, hard_tanh
# and linear_region_tanh their forms next to c = 1), at sigma_w = 2 the variances of the
# activations with a linear tail growing to ~1e9 (the linear tails' and elu's asymptotic
# forms at large variances).
X100_UNEQUAL = _rng.normal(size=(100, 10)) * np.exp(0.5 * _rng.normal(size=(100, 1)))


class NNGPKernelDeep:
    """Wall time of a depth-30 nngp_kernel, all threads; tables built in setup."""

    params = (ALL_ACTIVATIONS, [1.0, 1.3, 2.0])
    param_names = ("activation", "sigma_w")
    timeout = 300

    def setup(self, activation, sigma_w):
        sigprop.nngp_kernel(activation, X100_UNEQUAL, sigma_w, 0.5, depth=30)

    def time_nngp_kernel_deep(self, activation, sigma_w):
        sigprop.nngp_kernel(activation, X100_UNEQUAL, sigma_w, 0.5, depth=30)
