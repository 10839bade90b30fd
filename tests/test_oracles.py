"""The test oracles T1-T8, T10 and the computed reference tables of docs/reference_values.rst."""

import math

import numpy as np
import pytest
from reference_tables import HARD_TANH_CHI1_AT_SIGMA_W_1, HARD_TANH_EOC

import sigprop as sp
from sigprop.networks.initializers import kumar_gain


# T1 ------------------------------------------------------------------------
def test_t1_relu_eoc_is_the_point_0_sqrt2():
    r = sp.eoc("relu", [0.0, 0.1])
    assert r.n_branches.tolist() == [1, 0]
    assert r.sigma_w[0] == pytest.approx(math.sqrt(2), rel=1e-15)
    assert np.isnan(r.q_star[0])  # every q is fixed
    assert r.kind[0] == 2


@pytest.mark.parametrize("beta", [0.01, 0.2, 0.5])
def test_t1_leaky_relu_eoc(beta):
    r = sp.eoc(sp.activation("leaky_relu", negative_slope=beta), 0.0)
    assert r.sigma_w == pytest.approx(math.sqrt(2 / (1 + beta**2)), rel=1e-15)


def test_t1_relu_fixed_point_statuses():
    r = sp.fixed_point("relu", [1.0, math.sqrt(2), math.sqrt(2), 1.5], [0.3, 0.0, 0.1, 0.0])
    assert list(r.status_name) == ["converged", "marginal", "divergent", "divergent"]
    assert r.q_star[0] == pytest.approx(0.09 / (1 - 0.5), rel=1e-15)
    assert np.isnan(r.q_star[1]) and np.isinf(r.q_star[2]) and np.isinf(r.q_star[3])
    assert r.chi1[0] == pytest.approx(0.5)
    assert r.chi1[1] == pytest.approx(1.0, rel=1e-15)


# T2 ------------------------------------------------------------------------
def test_t2_relu_cmap_on_eoc():
    f0 = sp.cmap("relu", 1.0, 0.0, math.sqrt(2), 0.0)
    assert f0 == pytest.approx(1 / math.pi, rel=1e-14)
    p = sp.propagate("relu", math.sqrt(2), 0.0, 29, 1.0, 0.3)
    # Oracle T2 indexing: c^1 = 0.3, c^{l+1} = f(c^l): c^5 is 4 maps after c^1.
    assert p.c[4] == pytest.approx(0.7322, abs=5e-5)
    assert p.c[9] == pytest.approx(0.8703, abs=5e-5)
    assert p.c[29] == pytest.approx(0.9719, abs=5e-5)


def test_t2_relu_cmap_closed_form():
    c = np.linspace(-1, 1, 41)
    theta = np.arccos(c)
    expected = (np.sqrt(1 - c**2) + (np.pi - theta) * c) / np.pi
    np.testing.assert_allclose(
        sp.cmap("relu", 1.0, c, math.sqrt(2), 0.0), expected, rtol=1e-14, atol=1e-15
    )


# T3 ------------------------------------------------------------------------
def test_t3_tanh_eoc():
    r = sp.eoc("tanh", [0.2, math.sqrt(0.05)])
    assert r.sigma_w[0] == pytest.approx(1.30414584, rel=1e-8)
    assert r.q_star[0] == pytest.approx(0.5120785042, rel=1e-8)
    assert r.sigma_w[1] ** 2 == pytest.approx(1.76095464, rel=1e-8)
    assert r.q_star[1] == pytest.approx(0.57004788, rel=1e-7)
    assert r.stable.all()


# T4 ------------------------------------------------------------------------
def test_t4_elu_and_erf_eoc():
    r = sp.eoc("elu", 0.2)
    assert r.sigma_w == pytest.approx(1.229251124, rel=1e-9)
    assert r.q_star == pytest.approx(1.10693054, rel=1e-8)
    r = sp.eoc("erf", 0.2)
    assert r.sigma_w**2 == pytest.approx(1.328937265, rel=1e-9)
    assert r.q_star == pytest.approx(0.4657629358, rel=1e-9)
    # closed form on the EOC: sigma_w^2 = pi sqrt(1 + 4 q) / 4
    assert r.sigma_w**2 == pytest.approx(math.pi * math.sqrt(1 + 4 * r.q_star) / 4, rel=1e-14)


# T5 ------------------------------------------------------------------------
def test_t5_tanh_beta_q():
    e = sp.eoc("tanh", 0.2)
    fp = sp.fixed_point("tanh", e.sigma_w, 0.2)
    assert fp.beta_q == pytest.approx(7.08374, rel=1e-5)


# T6 and the tanh depth-scale table (sigma_b^2 = 0.05) ------------------------
def test_t6_tanh_depth_scales():
    fp = sp.fixed_point("tanh", math.sqrt(1.5), math.sqrt(0.05))
    assert fp.q_star == pytest.approx(0.41803720, rel=1e-7)
    assert fp.chi1 == pytest.approx(0.93863627, rel=1e-7)
    assert fp.xi_c == pytest.approx(15.79099, rel=1e-6)
    assert fp.xi_q == pytest.approx(1.68283, rel=1e-5)
    assert fp.phase == "ordered"


TANH_DEPTH_SCALES = [  # sigma_w^2, q*, chi1, c*, xi_q, xi_c
    (0.5, 0.08757987, 0.43198738, 1.0, 1.00885, 1.19139),
    (1.0, 0.19359252, 0.75903165, 1.0, 1.74763, 3.62698),
    (2.0, 0.72176187, 1.04766600, 0.74408242, 1.38798, 25.21341),
    (2.5, 1.06395838, 1.13351570, 0.44680423, 1.17987, 11.79560),
    (3.0, 1.42800846, 1.20893442, 0.29931764, 1.04146, 9.05146),
    (4.0, 2.19549393, 1.34240241, 0.16506496, 0.87329, 6.98027),
]


@pytest.mark.parametrize("row", TANH_DEPTH_SCALES)
def test_tanh_depth_scale_table(row):
    sw2, q, chi, c, xiq, xic = row
    fp = sp.fixed_point("tanh", math.sqrt(sw2), math.sqrt(0.05))
    # the table prints 8 decimals: agree to half a unit in the last place
    assert fp.q_star == pytest.approx(q, abs=5e-9)
    assert fp.chi1 == pytest.approx(chi, abs=5e-9)
    assert fp.c_star == pytest.approx(c, abs=5e-9)
    assert fp.xi_q == pytest.approx(xiq, abs=5e-6)
    assert fp.xi_c == pytest.approx(xic, abs=5e-6)
    assert fp.phase == ("chaotic" if chi > 1 else "ordered")


def test_tanh_depth_scale_table_chaotic_chi_c():
    fp = sp.fixed_point("tanh", np.sqrt([2.0, 2.5, 3.0, 4.0]), math.sqrt(0.05))
    np.testing.assert_allclose(
        fp.chi_c, [0.96111479, 0.91871677, 0.89540472, 0.86652800], rtol=0, atol=5e-9
    )


# T7 ------------------------------------------------------------------------
def test_t7_silu_unstable_eoc_fixed_point():
    e = sp.eoc("silu", 0.2)
    assert e.q_star == pytest.approx(0.6894525029, rel=1e-9)
    assert e.sigma_w == pytest.approx(1.679531601, rel=1e-9)
    assert e.slope == pytest.approx(1.09873, rel=1e-5)
    assert not e.stable
    fp = sp.fixed_point("silu", e.sigma_w, 0.2)
    assert fp.q_star == pytest.approx(0.194038, rel=1e-5)
    assert fp.chi1 == pytest.approx(0.820278, rel=1e-5)
    assert fp.stable
    # iterating from just above the unstable point diverges, from just below reaches 0.194
    above = sp.fixed_point("silu", e.sigma_w, 0.2, q0=1.001 * e.q_star)
    below = sp.fixed_point("silu", e.sigma_w, 0.2, q0=0.999 * e.q_star)
    assert above.status_name == "divergent"
    assert below.q_star == pytest.approx(fp.q_star, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "q_stable", "chi1"),
    [("gelu", 0.15189, 0.7755), ("shifted_softplus", 0.34341, 0.8979)],
)
def test_unstable_eoc_siblings_of_silu(name, q_stable, chi1):
    e = sp.eoc(name, 0.2)
    assert not e.stable
    fp = sp.fixed_point(name, e.sigma_w, 0.2)
    assert fp.q_star == pytest.approx(q_stable, rel=1e-4)
    assert fp.chi1 == pytest.approx(chi1, rel=1e-3)


def test_stable_eoc_slopes():
    assert sp.eoc("tanh", 0.2).slope == pytest.approx(0.5426, rel=1e-3)
    assert sp.eoc("elu", 0.2).slope == pytest.approx(0.85978, rel=1e-5)
    assert sp.eoc("elu", 1.0).slope == pytest.approx(0.92672, rel=1e-5)
    assert sp.eoc("erf", 0.2).slope == pytest.approx(0.51773, rel=1e-5)


# T8 and the hard-tanh tables ---------------------------------------------------


@pytest.mark.parametrize("row", HARD_TANH_EOC)
@pytest.mark.parametrize("a", [0.5, 2.0])
def test_t8_hard_tanh_scale_covariance(row, a):
    ratio, sw, q_over_a2, p_in = row
    act = sp.activation("hard_tanh", a=a)
    e = sp.eoc(act, a / ratio)
    assert e.n_branches == 1
    # printed to 6 decimals (sigma_w, P) and 6 significant digits (q*/a^2)
    assert e.sigma_w == pytest.approx(sw, abs=5e-7)
    assert e.q_star / a**2 == pytest.approx(q_over_a2, rel=6e-6)
    assert sp.gaussian_moments(act, e.q_star).dphi_sq == pytest.approx(p_in, abs=5e-7)


@pytest.mark.parametrize(("ratio", "chi"), sorted(HARD_TANH_CHI1_AT_SIGMA_W_1.items()))
def test_hard_tanh_chi1_at_sigma_w_1(ratio, chi):
    fp = sp.fixed_point(sp.activation("hard_tanh", a=1.0), 1.0, 1.0 / ratio)
    assert fp.chi1 == pytest.approx(chi, abs=6e-6)


# The EOC tables (computed; sigma_b, q*, sigma_w) -------------------------------
EOC_TABLES = {
    "tanh": [
        (0.01, 0.04570907870, 1.042125853),
        (0.05, 0.1536919358, 1.122539005),
        (0.1, 0.2733009135, 1.193400725),
        (0.3, 0.7634747669, 1.395583975),
        (0.5, 1.317938999, 1.549673913),
        (1.0, 3.036396395, 1.855589101),
        (2.0, 7.947506731, 2.325024939),
        (5.0, 34.62398733, 3.333688471),
    ],
    "elu": [
        (0.05, 0.189173633, 1.131869786),
        (0.1, 0.4378292301, 1.176148474),
        (0.3, 2.034538465, 1.263107845),
        (0.5, 4.886626521, 1.306111673),
        (1.0, 21.77754992, 1.357977177),
    ],
    "silu": [
        (0.05, 0.1136346392, 1.905013592),
        (0.1, 0.2597125039, 1.820051722),
        (0.3, 1.399594785, 1.575621439),
        (0.5, 4.428076954, 1.456947424),
        (1.0, 39.39459122, 1.402512418),
    ],
    "gelu": [
        (0.05, 0.07517323726, 1.851902785),
        (0.1, 0.1834831931, 1.727078275),
        (0.2, 0.5756371166, 1.54700947),
        (0.5, 6.434102487, 1.399868216),
        (1.0, 82.31277917, 1.405944527),
    ],
    "shifted_softplus": [
        (0.05, 0.2209456198, 1.951861612),
        (0.1, 0.4879314788, 1.90737461),
        (0.2, 1.189035554, 1.828776503),
        (0.5, 5.342411982, 1.662555405),
    ],
    "erf": [
        (0.05, 0.1451458617, 0.9936862904),
        (0.1, 0.2532096563, 1.055594649),
        (0.5, 1.183272439, 1.37133047),
        (1.0, 2.74489093, 1.648751453),
    ],
}


@pytest.mark.parametrize("name", sorted(EOC_TABLES))
def test_eoc_tables(name):
    rows = EOC_TABLES[name]
    e = sp.eoc(name, [r[0] for r in rows])
    assert (e.n_branches == 1).all()
    np.testing.assert_allclose(e.q_star, [r[1] for r in rows], rtol=3e-9)
    np.testing.assert_allclose(e.sigma_w, [r[2] for r in rows], rtol=3e-9)


def test_eoc_table_tanh_beta_q_column():
    sb = [0.01, 0.05, 0.1, 0.3, 0.5, 1.0, 2.0, 5.0]
    beta = [302.801, 39.282, 16.6393, 4.2827, 2.24209, 0.889737, 0.324374, 0.0727245]
    e = sp.eoc("tanh", sb)
    fp = sp.fixed_point("tanh", e.sigma_w, sb, correlation=False)
    np.testing.assert_allclose(fp.beta_q, beta, rtol=2e-5)


def test_softplus_has_no_eoc_and_sigmoid_has_one():
    assert (sp.eoc("softplus", [0.0, 0.2, 1.0]).n_branches == 0).all()
    s = sp.eoc("sigmoid", 0.0)
    assert s.sigma_w == pytest.approx(10.149, rel=1e-4)
    assert s.q_star == pytest.approx(45.62, rel=1e-3)


def test_eoc_limit_at_sigma_b_zero():
    for name, sw in [("tanh", 1.0), ("elu", 1.0), ("silu", 2.0), ("erf", math.sqrt(math.pi) / 2)]:
        e = sp.eoc(name, 0.0)
        assert e.kind == 1
        assert e.sigma_w == pytest.approx(sw, rel=1e-14)
        assert e.q_star == 0.0


# T10 -------------------------------------------------------------------------
def test_t10_kumar_sigmoid():
    assert kumar_gain("sigmoid") == pytest.approx(4 / math.sqrt(1.25), rel=1e-15)
    assert kumar_gain("sigmoid") == pytest.approx(3.57771, abs=1e-5)
    assert kumar_gain("tanh") == pytest.approx(1.0)
    assert kumar_gain("softplus") == pytest.approx(2 / math.sqrt(1 + math.log(2) ** 2))
    with pytest.raises(ValueError, match="not differentiable at 0"):
        kumar_gain("relu")
