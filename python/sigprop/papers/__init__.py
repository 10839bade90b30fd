"""The analyses of the papers sigprop grows from, one module each.

- :mod:`sigprop.papers.hayou`: Hayou, Doucet and Rousseau (2019), "On the impact of the
  activation function on deep neural networks training": EOC, convergence rates of the
  correlations, beta_q.
- :mod:`sigprop.papers.murray`: Murray, Abrol and Tanner (2022), "Activation function
  design for deep networks: linearity and effective initialisation": activations with a
  linear region around 0.
- :mod:`sigprop.papers.panigrahi`: Panigrahi, Shetty and Goyal (2020), "Effect of
  activation functions on the training of overparametrized neural nets": Gram-matrix
  eigenvalues against activation smoothness.
- :mod:`sigprop.papers.milkert`: Milkert, Hyde and Laine, "Compelling ReLU network
  initialization and training to leverage exponential scaling with depth": ReLU
  networks reparameterised to have exponentially many linear regions, and their training.
- :mod:`sigprop.papers.kumar`: Kumar (2017), "On weight initialization in deep neural
  networks": initialisation for activations differentiable at 0.

See docs/bibliography.rst for the full references.
"""

from . import hayou, kumar, milkert, murray, panigrahi

__all__ = ["hayou", "kumar", "milkert", "murray", "panigrahi"]
