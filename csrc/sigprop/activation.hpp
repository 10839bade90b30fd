// Activations: phi, phi', phi'' (almost everywhere), their kinks (points where
// phi, phi' or phi'' is not smooth) and the jump of phi' there, for the
// built-in kinds and for user-defined ones (Kind::custom, see
// custom_activation.hpp). An activation is a kind and up to two parameters; it
// is a plain value type so that grids of cells can be passed as flat arrays.
// The table `builtins` below is the one list of the built-in kinds (names,
// parameters, formulas, flags) that the Python package reads.
#pragma once

#include <algorithm>
#include <cmath>

#include "custom_activation.hpp"
#include "special.hpp"

namespace sigprop {

enum class Kind : int {
  linear = 0,
  relu = 1,
  leaky_relu = 2,          // p0 = negative slope
  elu = 3,                 // p0 = alpha
  selu = 4,
  gelu = 5,                // x Phi(x), exact erf form
  silu = 6,                // x sigmoid(x), a.k.a. swish
  softplus = 7,            // log(1 + e^x)
  shifted_softplus = 8,    // log(1 + e^x) - log 2
  tanh = 9,
  erf = 10,
  sigmoid = 11,
  softsign = 12,           // x / (1 + |x|)
  sin = 13,
  hard_tanh = 14,          // p0 = a: clip(x, -a, a)
  shifted_relu = 15,       // p0 = tau: max(0, x - tau)
  soft_threshold = 16,     // p0 = tau: sign(x) max(|x| - tau, 0)
  linear_region_tanh = 17, // p0 = a: x on [-a, a], sign(x)(a + tanh(|x| - a)) outside
  linear_floor = 18,       // p0 = a: max(x, -a)
  custom = 19,             // p0 = id in the CustomRegistry, p1 = 0
};
inline constexpr int n_builtin_kinds = 19;
inline constexpr int n_kinds = 20;

struct Activation {
  Kind kind = Kind::linear;
  double p0 = 0.0;
  double p1 = 0.0;
};

inline constexpr double selu_alpha = 1.6732632423543772848170429916717;
inline constexpr double selu_lambda = 1.0507009873554804934193349852946;

// ELU's and SELU's phi = lam x (x > 0), lam alpha (e^x - 1) (x <= 0): (lam, alpha) of an
// elu (1, its parameter) or a selu (its constants).
struct EluConstants {
  double lam, alpha;
};
inline EluConstants elu_constants(const Activation& a) {
  return a.kind == Kind::selu ? EluConstants{selu_lambda, selu_alpha} : EluConstants{1.0, a.p0};
}

namespace detail {
inline double sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + special::exp_neg_abs(x));
  const double e = special::exp_neg_abs(x);
  return e / (1.0 + e);
}
inline double softplus(double x) { return std::fmax(x, 0.0) + std::log1p(special::exp_neg_abs(x)); }
inline double sign(double x) { return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : 0.0); }

// Whether E[f(u) f(v)], f = phi^(d), is sigmoid's phi or phi' (sigmoid itself, and the
// phi' of softplus and shifted_softplus, which is sigmoid), for the forms that take
// sigmoid's through tanh's (sigmoid_pair_from_tanh, with d = sigmoid_order(kind, d))
inline bool via_sigmoid(Kind kind, int d) {
  return kind == Kind::sigmoid ||
         ((kind == Kind::softplus || kind == Kind::shifted_softplus) && d == 1);
}
inline int sigmoid_order(Kind kind, int d) { return kind == Kind::sigmoid ? d : 0; }

// sigmoid's two-point expectation (f = phi^(d)) from a form of tanh's: sigmoid(x) = (1 +
// tanh(x / 2)) / 2, so that E[s(u) s(v)] = 1/4 + E_tanh(q1 / 4, q2 / 4, c) / 4 (the odd
// part's means vanish) and E[s'(u) s'(v)] = E'_tanh(q1 / 4, q2 / 4, c) / 16. tanh_form(d,
// q1, q2, c, atol, v) is asked for atol scaled alike (by powers of two: exactly); false
// where it declines.
template <class TanhForm>
inline bool sigmoid_pair_from_tanh(int d, double q1, double q2, double c, double atol, double& out,
                                   TanhForm&& tanh_form) {
  const double f = d == 0 ? 0.25 : 0.0625;
  double v;
  if (!tanh_form(d, 0.25 * q1, 0.25 * q2, c, atol / f, v)) return false;
  out = d == 0 ? 0.25 + 0.25 * v : f * v;
  return true;
}
}  // namespace detail

// phi(x)
inline double phi(const Activation& a, double x) {
  using namespace special;
  switch (a.kind) {
    case Kind::linear: return x;
    case Kind::relu: return x > 0.0 ? x : 0.0;
    case Kind::leaky_relu: return x > 0.0 ? x : a.p0 * x;
    case Kind::elu: return x > 0.0 ? x : a.p0 * std::expm1(x);
    case Kind::selu: return selu_lambda * (x > 0.0 ? x : selu_alpha * std::expm1(x));
    case Kind::gelu: return x * ncdf(x);
    case Kind::silu: return x * detail::sigmoid(x);
    case Kind::softplus: return detail::softplus(x);
    case Kind::shifted_softplus:
      if (std::fabs(x) < 1.0) return std::log1p(0.5 * std::expm1(x));
      return detail::softplus(x) - ln2;
    case Kind::tanh: return std::tanh(x);
    case Kind::erf: return std::erf(x);
    case Kind::sigmoid: return detail::sigmoid(x);
    case Kind::softsign: return x / (1.0 + std::fabs(x));
    case Kind::sin: return std::sin(x);
    case Kind::hard_tanh: return std::fmin(std::fmax(x, -a.p0), a.p0);
    case Kind::shifted_relu: return x > a.p0 ? x - a.p0 : 0.0;
    case Kind::soft_threshold:
      return std::fabs(x) > a.p0 ? detail::sign(x) * (std::fabs(x) - a.p0) : 0.0;
    case Kind::linear_region_tanh:
      return std::fabs(x) <= a.p0 ? x : detail::sign(x) * (a.p0 + std::tanh(std::fabs(x) - a.p0));
    case Kind::linear_floor: return x > -a.p0 ? x : -a.p0;
    case Kind::custom: {
      const CustomActivation* c = custom_activation(a.p0);
      return c ? c->eval(0, x) : special::nan;
    }
  }
  return special::nan;
}

// phi'(x); at a kink, the right derivative.
inline double dphi(const Activation& a, double x) {
  using namespace special;
  switch (a.kind) {
    case Kind::linear: return 1.0;
    case Kind::relu: return x >= 0.0 ? 1.0 : 0.0;
    case Kind::leaky_relu: return x >= 0.0 ? 1.0 : a.p0;
    case Kind::elu: return x >= 0.0 ? 1.0 : a.p0 * special::exp_neg_abs(x);
    case Kind::selu: return selu_lambda * (x >= 0.0 ? 1.0 : selu_alpha * special::exp_neg_abs(x));
    case Kind::gelu: return ncdf(x) + x * npdf(x);
    case Kind::silu: {
      const double s = detail::sigmoid(x);
      return s * (1.0 + x * detail::sigmoid(-x));
    }
    case Kind::softplus:
    case Kind::shifted_softplus: return detail::sigmoid(x);
    case Kind::tanh: {
      const double t = std::tanh(x);
      return 1.0 - t * t;
    }
    case Kind::erf: return 2.0 * inv_sqrt_pi * std::exp(-x * x);
    case Kind::sigmoid: return detail::sigmoid(x) * detail::sigmoid(-x);
    case Kind::softsign: {
      const double d = 1.0 + std::fabs(x);
      return 1.0 / (d * d);
    }
    case Kind::sin: return std::cos(x);
    case Kind::hard_tanh: return (x >= -a.p0 && x < a.p0) ? 1.0 : 0.0;
    case Kind::shifted_relu: return x >= a.p0 ? 1.0 : 0.0;
    case Kind::soft_threshold: return (x >= a.p0 || x < -a.p0) ? 1.0 : 0.0;
    case Kind::linear_region_tanh: {
      if (std::fabs(x) <= a.p0) return 1.0;
      const double t = std::tanh(std::fabs(x) - a.p0);
      return 1.0 - t * t;
    }
    case Kind::linear_floor: return x >= -a.p0 ? 1.0 : 0.0;
    case Kind::custom: {
      const CustomActivation* c = custom_activation(a.p0);
      return c ? c->eval(1, x) : special::nan;
    }
  }
  return special::nan;
}

// phi^(d) (d = 0 or 1) at x[0..n-1] into y, each value bitwise phi's or dphi's (a
// user's activation: several points' Chebyshev sums side by side, eval_many).
inline void eval_many(const Activation& a, int d, const double* x, int n, double* y) {
  if (a.kind == Kind::custom) {
    if (const CustomActivation* c = custom_activation(a.p0)) {
      c->eval_many(d, x, n, y);
      return;
    }
  }
  for (int i = 0; i < n; ++i) y[i] = d == 0 ? phi(a, x[i]) : dphi(a, x[i]);
}

namespace detail {
// True for the piecewise linear kinds, whose phi'' is a sum of point masses at the
// kinks (their Hermite coefficients have a closed form: hermite_table.hpp).
inline bool piecewise_linear(Kind k) {
  switch (k) {
    case Kind::linear:
    case Kind::relu:
    case Kind::leaky_relu:
    case Kind::hard_tanh:
    case Kind::shifted_relu:
    case Kind::soft_threshold:
    case Kind::linear_floor: return true;
    default: return false;
  }
}
}  // namespace detail

// phi''(x) almost everywhere (Dirac masses at jumps of phi' are not included:
// see dphi_jump).
inline double d2phi(const Activation& a, double x) {
  using namespace special;
  switch (a.kind) {
    case Kind::linear:
    case Kind::relu:
    case Kind::leaky_relu:
    case Kind::hard_tanh:
    case Kind::shifted_relu:
    case Kind::soft_threshold:
    case Kind::linear_floor: return 0.0;  // (the kinds of piecewise_linear)
    case Kind::elu: return x >= 0.0 ? 0.0 : a.p0 * special::exp_neg_abs(x);
    case Kind::selu: return x >= 0.0 ? 0.0 : selu_lambda * selu_alpha * special::exp_neg_abs(x);
    case Kind::gelu: return npdf(x) * (2.0 - x * x);
    case Kind::silu: {
      const double s = detail::sigmoid(x), sm = detail::sigmoid(-x);
      return s * sm * (2.0 - x * std::tanh(0.5 * x));
    }
    case Kind::softplus:
    case Kind::shifted_softplus: return detail::sigmoid(x) * detail::sigmoid(-x);
    case Kind::tanh: {
      const double t = std::tanh(x);
      return -2.0 * t * (1.0 - t * t);
    }
    case Kind::erf: return -4.0 * inv_sqrt_pi * x * std::exp(-x * x);
    case Kind::sigmoid: {
      const double s = detail::sigmoid(x), sm = detail::sigmoid(-x);
      return -s * sm * std::tanh(0.5 * x);
    }
    case Kind::softsign: {
      const double d = 1.0 + std::fabs(x);
      return -2.0 * detail::sign(x) / (d * d * d);
    }
    case Kind::sin: return -std::sin(x);
    case Kind::linear_region_tanh: {
      if (std::fabs(x) <= a.p0) return 0.0;
      const double t = std::tanh(std::fabs(x) - a.p0);
      return -2.0 * detail::sign(x) * t * (1.0 - t * t);
    }
    case Kind::custom: {
      const CustomActivation* c = custom_activation(a.p0);
      return c ? c->eval(2, x) : special::nan;
    }
  }
  return special::nan;
}

// phi, phi' and phi'' at once, sharing the transcendental evaluations (same
// values as phi, dphi, d2phi; struct Derivs is in custom_activation.hpp).

inline Derivs derivs(const Activation& a, double x) {
  using namespace special;
  switch (a.kind) {
    case Kind::tanh: {
      const double t = std::tanh(x), s = 1.0 - t * t;
      return {t, s, -2.0 * t * s};
    }
    case Kind::sigmoid:
    case Kind::silu:
    case Kind::softplus: {
      const double e = special::exp_neg_abs(x);
      const double sp = x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);  // sigmoid(x)
      const double sm = x >= 0.0 ? e / (1.0 + e) : 1.0 / (1.0 + e);  // sigmoid(-x)
      // sigmoid(-x) - sigmoid(x) = -tanh(x/2), without cancellation near 0
      const double th = std::tanh(0.5 * x);
      if (a.kind == Kind::sigmoid) return {sp, sp * sm, -sp * sm * th};
      if (a.kind == Kind::silu) return {x * sp, sp * (1.0 + x * sm), sp * sm * (2.0 - x * th)};
      return {std::fmax(x, 0.0) + std::log1p(e), sp, sp * sm};
    }
    case Kind::gelu: {
      const double c = ncdf(x), n = npdf(x);
      return {x * c, c + x * n, n * (2.0 - x * x)};
    }
    case Kind::linear_region_tanh: {
      if (std::fabs(x) <= a.p0) return {x, 1.0, 0.0};
      const double t = std::tanh(std::fabs(x) - a.p0), s = 1.0 - t * t, sg = detail::sign(x);
      return {sg * (a.p0 + t), s, -2.0 * sg * t * s};
    }
    case Kind::custom: {
      const CustomActivation* c = custom_activation(a.p0);
      if (!c) return {special::nan, special::nan, special::nan};
      return c->eval_all(x);
    }
    default: return {phi(a, x), dphi(a, x), d2phi(a, x)};
  }
}

// Kinks: points where phi, phi' or phi'' fails to be smooth. Writes up to
// max_kinks points to xs (ascending) and returns their number.
inline int kinks(const Activation& a, double* xs) {
  switch (a.kind) {
    case Kind::custom: {
      const CustomActivation* c = custom_activation(a.p0);
      if (!c) return 0;
      const auto& k = c->kink_points();
      std::copy(k.begin(), k.end(), xs);
      return int(k.size());
    }
    case Kind::relu:
    case Kind::elu:
    case Kind::selu:
    case Kind::softsign: xs[0] = 0.0; return 1;
    case Kind::leaky_relu:
      if (a.p0 == 1.0) return 0;
      xs[0] = 0.0;
      return 1;
    case Kind::hard_tanh:
    case Kind::linear_region_tanh:
      xs[0] = -a.p0;
      xs[1] = a.p0;
      return 2;
    case Kind::soft_threshold:
      if (a.p0 == 0.0) return 0;
      xs[0] = -a.p0;
      xs[1] = a.p0;
      return 2;
    case Kind::shifted_relu: xs[0] = a.p0; return 1;
    case Kind::linear_floor: xs[0] = -a.p0; return 1;
    default: return 0;
  }
}

// Jump phi'(k+) - phi'(k-) at a kink k (0 where phi' is continuous).
inline double dphi_jump(const Activation& a, double k) {
  switch (a.kind) {
    case Kind::relu: return 1.0;
    case Kind::leaky_relu: return 1.0 - a.p0;
    case Kind::elu: return 1.0 - a.p0;
    case Kind::selu: return selu_lambda * (1.0 - selu_alpha);
    case Kind::hard_tanh: return k < 0.0 ? 1.0 : -1.0;
    case Kind::shifted_relu: return 1.0;
    case Kind::soft_threshold: return a.p0 == 0.0 ? 0.0 : (k < 0.0 ? -1.0 : 1.0);
    case Kind::linear_floor: return 1.0;
    case Kind::custom: {
      const CustomActivation* c = custom_activation(a.p0);
      return c ? c->dphi_jump(k) : 0.0;
    }
    default: return 0.0;
  }
}

// True when phi' jumps somewhere, so that E[phi''^2] is infinite.
inline bool dphi_has_jump(const Activation& a) {
  double xs[max_kinks];
  const int n = kinks(a, xs);
  for (int i = 0; i < n; ++i)
    if (dphi_jump(a, xs[i]) != 0.0) return true;
  return false;
}

// Positively homogeneous of degree one (phi(t x) = t phi(x) for t > 0): the
// q-map is linear, V(q) = sigma_b^2 + sigma_w^2 kappa q with kappa = E[phi'^2].
inline bool is_homogeneous(const Activation& a) {
  if (a.kind == Kind::custom) {
    const CustomActivation* c = custom_activation(a.p0);
    return c && c->flags().homogeneous;
  }
  return a.kind == Kind::linear || a.kind == Kind::relu || a.kind == Kind::leaky_relu ||
         (a.kind == Kind::soft_threshold && a.p0 == 0.0) ||
         (a.kind == Kind::shifted_relu && a.p0 == 0.0);
}

// The built-in kinds, in Kind order: what the Python package knows of them
// (names, aliases, parameters with defaults and ranges, formulas, flags). Adding
// a built-in means a Kind, its cases above (and closed forms where they exist),
// and a row here.
struct ParamInfo {
  const char* name;
  double default_value;
  const char* range;  // "any", "positive" (> 0) or "nonnegative" (>= 0)
};

struct BuiltinInfo {
  Kind kind;
  const char* name;
  const char* aliases;  // comma-separated
  const char* formula;
  int n_params;
  ParamInfo params[2];
  bool odd;             // phi(-x) = -phi(x) (at every parameter value)
  bool arccos_family;   // relu / leaky_relu: arc-cosine kernel in closed form
};

inline constexpr BuiltinInfo builtins[n_builtin_kinds] = {
    {Kind::linear, "linear", "identity", "x", 0, {}, true, false},
    {Kind::relu, "relu", "", "max(x, 0)", 0, {}, false, true},
    {Kind::leaky_relu, "leaky_relu", "", "x if x > 0 else negative_slope * x", 1,
     {{"negative_slope", 0.01, "any"}}, false, true},
    {Kind::elu, "elu", "", "x if x > 0 else alpha * (exp(x) - 1)", 1,
     {{"alpha", 1.0, "nonnegative"}}, false, false},
    {Kind::selu, "selu", "", "lambda * elu_alpha(x), alpha = 1.6732632..., lambda = 1.0507009...",
     0, {}, false, false},
    {Kind::gelu, "gelu", "", "x * Phi(x) (exact, erf form)", 0, {}, false, false},
    {Kind::silu, "silu", "swish", "x * sigmoid(x)", 0, {}, false, false},
    {Kind::softplus, "softplus", "", "log(1 + exp(x))", 0, {}, false, false},
    {Kind::shifted_softplus, "shifted_softplus", "", "log(1 + exp(x)) - log(2)", 0, {}, false,
     false},
    {Kind::tanh, "tanh", "", "tanh(x)", 0, {}, true, false},
    {Kind::erf, "erf", "", "erf(x)", 0, {}, true, false},
    {Kind::sigmoid, "sigmoid", "", "1 / (1 + exp(-x))", 0, {}, false, false},
    {Kind::softsign, "softsign", "", "x / (1 + |x|)", 0, {}, true, false},
    {Kind::sin, "sin", "", "sin(x)", 0, {}, true, false},
    {Kind::hard_tanh, "hard_tanh", "hardtanh", "clip(x, -a, a)", 1, {{"a", 1.0, "positive"}}, true,
     false},
    {Kind::shifted_relu, "shifted_relu", "", "max(0, x - tau)", 1,
     {{"tau", 1.0, "nonnegative"}}, false, false},
    {Kind::soft_threshold, "soft_threshold", "", "sign(x) * max(|x| - tau, 0)", 1,
     {{"tau", 1.0, "nonnegative"}}, true, false},
    {Kind::linear_region_tanh, "linear_region_tanh", "",
     "x on [-a, a], sign(x) * (a + tanh(|x| - a)) outside", 1, {{"a", 1.0, "positive"}}, true,
     false},
    {Kind::linear_floor, "linear_floor", "", "max(x, -a)", 1, {{"a", 1.0, "positive"}}, false,
     false},
};

// An odd built-in (phi(-x) = -phi(x) at every parameter value): the Gaussian
// integrals of its Hermite coefficients and difference form run over half the line.
inline bool odd_builtin(const Activation& a) {
  return a.kind != Kind::custom && int(a.kind) >= 0 && int(a.kind) < n_builtin_kinds &&
         builtins[int(a.kind)].odd;
}

}  // namespace sigprop
