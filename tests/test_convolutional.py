"""sigprop.architectures.convolutional: the CNN mean-field theory of Xiao et al. (2018)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop as sp
from sigprop.architectures.convolutional import (
    cnn_modes,
    cnn_propagate,
    delta_orthogonal,
    filter_profile,
    simulate_cnn,
)
from sigprop.networks import initialize

optimize = pytest.importorskip("scipy.optimize")
stats = pytest.importorskip("scipy.stats")

CHAOTIC = (1.5, 0.05)  # tanh: chi1 = 1.137, c* = 0.052, chi_c = 0.940
ORDERED = (1.0, 0.5)  # tanh: chi1 = 0.580, c* = 1


def _jacobian_eigenvalues(sw, sb, k, n, profile=None, h=1e-4, one_sided=False):
    """Eigenvalues of a finite-difference Jacobian of one CNN layer of cnn_propagate at Sigma*.

    The map acts on symmetric matrices, parametrised by their upper triangle. At c* = 1
    (ordered phase) the differences are one-sided (variances up, covariances down) so
    that every perturbed matrix stays a covariance.
    """
    fp = sp.fixed_point("tanh", sw, sb)
    ns = (n,) if isinstance(n, int) else n
    N = math.prod(ns)
    q, c = float(fp.q_star), float(fp.c_star)
    S = q * ((1 - c) * np.eye(N) + c)
    iu = np.triu_indices(N)

    def layer(K):
        return cnn_propagate("tanh", sw, sb, K.reshape(ns + ns), 1, k, profile=profile)[1]

    base = layer(S).reshape(N, N)[iu]
    J = np.empty((len(iu[0]), len(iu[0])))
    for p, (a, b) in enumerate(zip(*iu, strict=True)):
        E = np.zeros((N, N))
        E[a, b] = E[b, a] = h * q
        if one_sided:
            s = 1.0 if a == b else -1.0
            J[:, p] = (layer(S + s * E).reshape(N, N)[iu] - base) / (s * h * q)
        else:
            up, down = layer(S + E).reshape(N, N)[iu], layer(S - E).reshape(N, N)[iu]
            J[:, p] = (up - down) / (2 * h * q)
    return np.linalg.eigvals(J)


def _max_mismatch(a, b):
    """Largest distance between two multisets of complex numbers under the best matching."""
    assert a.shape == b.shape
    cost = np.abs(a[:, None] - b[None, :])
    r, c = optimize.linear_sum_assignment(cost)
    return cost[r, c].max()


@pytest.mark.parametrize(
    ("point", "k", "n", "profile"),
    [
        (CHAOTIC, 3, 6, None),  # symmetric: real eigenvalues
        (CHAOTIC, 3, 6, [0.2, 0.5, 0.3]),  # asymmetric profile: complex eigenvalues
        ((2.5, 0.3), 2, 5, None),  # even filter (off-centre), odd n
        (CHAOTIC, (2, 3), (3, 4), None),  # 2-D filter and grid
    ],
)
def test_modes_match_numerical_linearisation(point, k, n, profile):
    m = cnn_modes("tanh", *point, k, n, profile=profile)
    theory = m.linearisation_eigenvalues()
    N = math.prod((n,) if isinstance(n, int) else n)
    assert theory.size == N * (N + 1) // 2
    numeric = _jacobian_eigenvalues(*point, k, n, profile=profile)
    # central differences, h = 1e-4: O(h^2) + 1e-10 / h
    assert _max_mismatch(numeric, theory) < 1e-7


def test_modes_ordered_phase_one_sided():
    m = cnn_modes("tanh", *ORDERED, 3, 6)
    assert m.c_star == 1.0 and m.phase == "ordered" and m.chi_c == pytest.approx(m.chi1)
    numeric = _jacobian_eigenvalues(*ORDERED, 3, 6, h=1e-6, one_sided=True)
    assert _max_mismatch(numeric, m.linearisation_eigenvalues()) < 1e-5  # O(h) differences


def test_uniform_filter_mode_zero_is_fully_connected():
    for sw, sb in (CHAOTIC, ORDERED, (2.5, 0.3)):
        fp = sp.fixed_point("tanh", sw, sb)
        m = cnn_modes("tanh", sw, sb, 5, 16)
        assert m.lambda_c[0] == pytest.approx(float(fp.chi_c), rel=1e-14)
        assert m.lambda_q[0] == pytest.approx(float(fp.slope), rel=1e-14)
        assert m.xi_c[0] == pytest.approx(float(fp.xi_c), rel=1e-12)
        assert m.q_star == float(fp.q_star) and m.chi1 == float(fp.chi1)
        # every other mode decays faster: |hat v(j)| < 1 for j != 0
        assert np.all(np.abs(m.filter_hat[1:]) < 1 - 1e-12)
        assert np.all(m.xi_c[1:] < m.xi_c[0])
        # closed form of a uniform odd filter: hat v(j) = sin(pi j k / n) / (k sin(pi j / n))
        j = np.arange(1, 16)
        dirichlet = np.sin(np.pi * j * 5 / 16) / (5 * np.sin(np.pi * j / 16))
        np.testing.assert_allclose(m.filter_hat[1:], dirichlet, rtol=0, atol=1e-14)
    # the delta profile (delta-orthogonal kernels): every mode has the fully connected scale
    delta = cnn_modes("tanh", *CHAOTIC, 3, 8, profile=[0, 1, 0])
    np.testing.assert_allclose(delta.filter_hat, 1.0, atol=1e-15)
    np.testing.assert_allclose(delta.xi_c, delta.xi_c[0], rtol=1e-14)


def test_honest_outputs_at_the_edge_and_when_divergent():
    edge = cnn_modes("relu", math.sqrt(2), 0.0, 3, 6)  # chi_c = 1 up to rounding
    assert edge.phase == "edge" and math.isinf(edge.xi_c[0]) and np.all(edge.xi_c[1:] < 3)
    div = cnn_modes("relu", 2.0, 0.1, 3, 6)  # q* = inf
    assert div.phase == "divergent" and np.all(np.isnan(div.xi_c)) and np.all(np.isnan(div.xi_q))


def test_edge_of_chaos_and_table():
    sw = sp.networks.eoc_sigma_w("tanh", 0.05)
    m = cnn_modes("tanh", sw, 0.05, 3, 8)
    assert m.xi_c[0] > 1e6 or math.isinf(m.xi_c[0])  # the zero mode is marginal on the EOC
    assert np.all(np.isfinite(m.xi_c[1:]))  # the others are not
    df = m.to_dataframe()
    assert len(df) == 8 and {"frequency", "xi_c", "xi_q"} <= set(df.columns)


def test_mode_perturbation_decays_at_the_predicted_rate():
    # Sigma* plus a small cosine perturbation of the variances (mode j = 1) and of
    # the covariances at offset 2 (mode j = 2): their amplitudes shrink by lambda_q(1)
    # and lambda_c(2) per layer.
    sw, sb = CHAOTIC
    n, k, delta = 8, 3, 1e-4
    m = cnn_modes("tanh", sw, sb, k, n)
    q, c = m.q_star, m.c_star
    S = q * ((1 - c) * np.eye(n) + c)
    a = np.arange(n)
    cos1, cos2 = np.cos(2 * np.pi * a / n), np.cos(2 * np.pi * 2 * a / n)
    P = np.diag(cos1)
    P[a, (a + 2) % n] += cos2
    P[(a + 2) % n, a] += cos2
    K = cnn_propagate("tanh", sw, sb, S + delta * q * P, 4, k)
    E = K - S
    amp_q = np.einsum("laa,a->l", E, cos1) / (cos1 @ cos1)
    amp_c = E[:, a, (a + 2) % n] @ cos2 / (cos2 @ cos2)
    np.testing.assert_allclose(amp_q[1:] / amp_q[:-1], m.lambda_q[1].real, rtol=1e-3)
    np.testing.assert_allclose(amp_c[1:] / amp_c[:-1], m.lambda_c[2].real, rtol=1e-3)


def test_propagate_converges_to_fixed_point_and_2d_shape():
    sw, sb = CHAOTIC
    m = cnn_modes("tanh", sw, sb, 3, 6)
    K0 = np.eye(6) + 0.3 * (np.roll(np.eye(6), 1, axis=1) + np.roll(np.eye(6), -1, axis=1))
    K = cnn_propagate("tanh", sw, sb, K0, 120, 3)
    target = m.q_star * ((1 - m.c_star) * np.eye(6) + m.c_star)
    gap = np.abs(K - target).max(axis=(1, 2))
    assert gap[-1] < 1e-3 * gap[0]
    # the slowest mode (j = 0, the fully connected chi_c) sets the final rate
    np.testing.assert_allclose(gap[-10:] / gap[-11:-1], m.lambda_c[0].real, rtol=1e-3)
    K2 = cnn_propagate("tanh", sw, sb, np.eye(12).reshape(3, 4, 3, 4), 2, (3, 3))
    assert K2.shape == (3, 3, 4, 3, 4)
    # depth 0 returns the input
    np.testing.assert_array_equal(cnn_propagate("tanh", sw, sb, K0, 0, 3)[0], K0)


def test_delta_orthogonal_kernel():
    W = delta_orthogonal(12, 8, (3, 5), sigma_w=1.3, rng=0)
    assert W.shape == (12, 8, 3, 5)
    centre = W[:, :, 1, 2]
    np.testing.assert_allclose(centre.T @ centre, 1.69 * 12 / 8 * np.eye(8), atol=1e-12)
    W[:, :, 1, 2] = 0
    assert not np.any(W)
    # even widths: the centre is index (k - 1) // 2
    assert np.any(delta_orthogonal(4, 4, 4, rng=1)[:, :, 1])
    with pytest.raises(ValueError, match="out_channels >= in_channels"):
        delta_orthogonal(3, 4, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        delta_orthogonal(4, 4, 0)


def test_linear_delta_orthogonal_cnn_preserves_norms():
    # An independent periodic convolution of the kernels initialize() gives.
    C, n, depth, k = 16, 10, 12, 3
    Ws, bs = initialize([C] * (depth + 1), "linear", 1.0, kernel_size=k,
                        weights="delta_orthogonal", rng=3)  # fmt: skip
    x = np.random.default_rng(4).standard_normal((C, n))
    norm = np.linalg.norm(x)
    for W, b in zip(Ws, bs, strict=True):
        assert not np.any(b)
        x = sum(W[:, :, t] @ np.roll(x, -(t - 1), axis=1) for t in range(k))
        assert np.linalg.norm(x) == pytest.approx(norm, rel=1e-13)


def test_simulation_matches_theory():
    # Gaussian (uniform filter) and delta-orthogonal CNNs, tanh at a chaotic point:
    # every entry of every layer's mean spatial covariance within a family-wise
    # Student-t bound of cnn_propagate (Bonferroni over entries and layers, level 1e-3).
    x = np.random.default_rng(0).standard_normal((8, 8))
    iu = np.triu_indices(8)
    for weights, seed in (("gaussian", 1), ("delta_orthogonal", 2)):
        r = simulate_cnn("tanh", *CHAOTIC, x, channels=96, filter_size=3, depth=5,
                         n_seeds=16, rng=seed, weights=weights)  # fmt: skip
        z = r.z[:, iu[0], iu[1]]
        bound = stats.t.ppf(1 - 1e-3 / (2 * z.size), r.n_seeds - 1)
        assert np.max(np.abs(z)) < bound, (weights, np.max(np.abs(z)))
        # and the O(1 / channels) bias is small
        assert np.max(np.abs(r.kernel - r.theory)) < 0.1 * np.max(r.theory)


def test_simulated_mode_decay_linear_network():
    # Linear activation: the mean covariance follows sigma_w^2 A * exactly at any width,
    # so the amplitude of spatial mode j of the variances shrinks by lambda_q(j) per layer.
    sw, sb, k, n = 0.9, 0.1, 3, 8
    m = cnn_modes("linear", sw, sb, k, n)
    assert m.lambda_q[1].real == pytest.approx(0.81 * (1 + 2 * math.cos(math.pi / 4)) / 3)
    a = np.arange(n)
    profile = 1 + 0.8 * np.cos(2 * np.pi * a / n)  # input variances with a mode-1 component
    x = np.random.default_rng(5).standard_normal((64, n)) * np.sqrt(profile)
    r = simulate_cnn("linear", sw, sb, x, channels=64, filter_size=k, depth=6,
                     n_seeds=40, rng=6)  # fmt: skip
    cos1 = np.cos(2 * np.pi * a / n)
    amp = np.einsum("laa,a->l", r.kernel, cos1) / (cos1 @ cos1)
    per_seed_se = np.sqrt(np.einsum("laa,a->l", r.kernel_se**2, cos1**2)) / (cos1 @ cos1)
    predicted = amp[0] * m.lambda_q[1].real ** np.arange(6)
    theory = np.einsum("laa,a->l", r.theory, cos1) / (cos1 @ cos1)
    np.testing.assert_allclose(theory, theory[0] * m.lambda_q[1].real ** np.arange(6), rtol=1e-12)
    # amp[0] is itself noisy: compare ratios to layer 1 through the theory instead
    z = (amp[1:] - theory[1:]) / per_seed_se[1:]  # (se ignores entry covariances: conservative)
    assert np.all(np.abs(z) < 8), z
    assert np.all(np.abs(amp[1:] - predicted[1:]) < 8 * per_seed_se[1:] + 8 * per_seed_se[0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: cnn_modes("tanh", 1.5, 0.0, 0, 8), "filter_size"),
        (lambda: cnn_modes("tanh", 1.5, 0.0, 5, 4), "n_positions"),
        (lambda: cnn_modes("tanh", 1.5, 0.0, 3, 0), "n_positions"),
        (lambda: cnn_modes("tanh", 1.5, 0.0, (3, 3), 8), "n_positions"),
        (lambda: cnn_modes("tanh", -1.0, 0.0, 3, 8), "sigma_w"),
        (lambda: cnn_modes("tanh", 1.5, 0.0, 3, 8, profile=[0.5, 0.5, 0.5]), "profile"),
        (lambda: cnn_modes("tanh", 1.5, 0.0, 3, 8, profile=[1.5, -0.5, 0.0]), "profile"),
        (lambda: cnn_modes("tanh", 1.5, 0.0, 3, 8, profile=[0.5, 0.5]), "profile"),
        (lambda: filter_profile("3"), "filter_size"),
        (lambda: cnn_propagate("tanh", 1.5, 0.0, np.eye(4), -1, 3), "depth"),
        (lambda: cnn_propagate("tanh", 1.5, 0.0, np.eye(4)[:3], 2, 3), "K0"),
        (lambda: cnn_propagate("tanh", 1.5, 0.0, np.eye(2), 2, 3), "n_positions"),
        (lambda: cnn_propagate("tanh", 1.5, 0.0, np.triu(np.ones((4, 4))), 2, 3), "K0"),
        (lambda: cnn_propagate("tanh", 1.5, 0.0, -np.eye(4), 2, 3), "K0"),
        (lambda: cnn_propagate("tanh", 1.5, 0.0, [[1, np.nan], [np.nan, 1]], 2, 1), "K0"),
        (lambda: _sim(channels=0), "channels"),
        (lambda: _sim(n_seeds=1), "n_seeds"),
        (lambda: _sim(depth=0), "depth"),
        (lambda: _sim(filter_size=9), "filter_size"),
        (lambda: _sim(weights="orthogonal"), "weights"),
        (lambda: _sim(weights="delta_orthogonal", channels=2), "channels"),
        (lambda: _sim(inputs=np.ones(8)), "inputs"),
    ],
)
def test_validation_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _sim(**kw):
    args = dict(inputs=np.ones((4, 8)), channels=8, filter_size=3, depth=2, n_seeds=2, rng=0)
    args.update(kw)
    inputs = args.pop("inputs")
    return simulate_cnn("tanh", 1.5, 0.0, inputs, **args)
