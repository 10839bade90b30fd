"""Reference tables shared by several test modules.

Computed for sigprop independently of its core (adaptive quadrature split at
the kinks, Brent polish); not numbers printed in a paper. They are the tables
"Hard tanh: the linear-region class" of docs/reference_values.rst, for the
activations with a linear region of Murray, Abrol & Tanner (2022).
"""

# hard tanh on the EOC: a/sigma_b, sigma_w, q*/a^2, P(|h| < a)
HARD_TANH_EOC = [
    (1, 1.439690, 2.38781, 0.482460),
    (2, 1.213148, 1.01338, 0.679474),
    (5, 1.068609, 0.423287, 0.875714),
    (10, 1.025700, 0.259146, 0.950515),
    (20, 1.008853, 0.177052, 0.982525),
    (40, 1.002868, 0.130909, 0.994288),
    (100, 1.000605, 0.095460, 0.998790),
]

# hard tanh at sigma_w = 1: a/sigma_b -> chi1 at the fixed point
HARD_TANH_CHI1_AT_SIGMA_W_1 = {
    1: 0.57014,
    2: 0.77147,
    5: 0.92563,
    10: 0.97258,
    20: 0.99069,
    100: 0.99938,
}
