"""Initialisation rules that follow from the theory (SPEC 6).

Conventions: a "gain" g gives weights W ~ N(0, g^2 / fan_in), i.e. it is the
sigma_w of the mean-field theory (a standard deviation times sqrt(fan_in)).
"""

from __future__ import annotations

import math

from .activations import Activation, resolve

__all__ = ["kumar_gain"]


def kumar_gain(activation: str | Activation) -> float:
    """Kumar's gain for an activation differentiable at 0 (arXiv 1704.08863).

    Linearising g(s) ~ g(0) + g'(0) s and keeping unit output variance gives
    v^2 = 1 / (N g'(0)^2 (1 + g(0)^2)) for N(0, v^2) weights and fan-in N, so
    the gain sqrt(N) v is 1 / (|g'(0)| sqrt(1 + g(0)^2)); e.g. 4/sqrt(1.25) =
    3.5777 for sigmoid (Kumar's "approximately 3.6"). Note that the author's
    script passes 3.6 to Keras as a *variance* scale (std 1.897/sqrt(N)); this
    function follows the paper's formula.

    Parameters
    ----------
    activation : str or Activation
        Must be differentiable at 0 with g'(0) != 0.

    Returns
    -------
    float
        The gain sigma_w: weights N(0, sigma_w^2 / fan_in).

    Raises
    ------
    ValueError
        If the activation has a kink at 0 (relu: use He's sqrt(2)) or g'(0) = 0.
    """
    act = resolve(activation)
    for x, jump in act.kinks:
        if x == 0.0 and jump != 0.0:
            raise ValueError(
                f"{act} is not differentiable at 0 (phi' jumps by {jump:g}); Kumar's rule "
                "needs an activation differentiable at 0 (for relu use He's gain sqrt(2))"
            )
    g0 = float(act(0.0))
    d0 = float(act(0.0, 1))
    if d0 == 0.0:
        raise ValueError(f"{act} has phi'(0) = 0; Kumar's rule is undefined")
    return 1.0 / (abs(d0) * math.sqrt(1.0 + g0 * g0))
