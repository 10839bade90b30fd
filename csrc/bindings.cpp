// sigprop._core: the one pybind11 module over the header-only core.
// Arguments are checked and converted with the GIL held; the kernels run with
// the GIL released. The Python package (python/sigprop) validates user input
// and broadcasts; this layer re-checks what would otherwise be undefined
// behaviour (sizes, activation kinds, thread counts).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sigprop/activation.hpp"
#include "sigprop/bivariate_normal.hpp"
#include "sigprop/canonical.hpp"
#include "sigprop/covariance_taylor.hpp"
#include "sigprop/custom_activation.hpp"
#include "sigprop/deadline.hpp"
#include "sigprop/eoc.hpp"
#include "sigprop/grid.hpp"
#include "sigprop/hermite_series.hpp"
#include "sigprop/hermite_table.hpp"
#include "sigprop/moment_table.hpp"
#include "sigprop/near_diagonal_table.hpp"
#include "sigprop/piecewise_closed_forms.hpp"
#include "sigprop/saturating_pair.hpp"
#include "sigprop/softsign_pair.hpp"
#include "sigprop/tables.hpp"

namespace py = pybind11;
using sigprop::Deadline;
using sigprop::grid::idx_t;

using darray = py::array_t<double, py::array::c_style | py::array::forcecast>;

namespace {

sigprop::Activation make_activation(int kind, double p0, double p1) {
  if (kind < 0 || kind >= sigprop::n_kinds)
    throw py::value_error("activation kind " + std::to_string(kind) + " is not a known kind");
  if (kind == int(sigprop::Kind::custom) && (p1 != 0.0 || !sigprop::custom_activation(p0)))
    throw py::value_error("custom activation id " + std::to_string(p0) +
                          " is not registered (released, or from another process)");
  return sigprop::Activation{static_cast<sigprop::Kind>(kind), p0, p1};
}

// The Python layer caps n_threads at 4 x os.cpu_count() (and at most this);
// the core re-checks the absolute bound, beyond which thread creation can fail
// inside the OpenMP runtime (which then aborts the process).
constexpr int max_threads_allowed = 1024;
// A registered custom activation; releasing the last Python reference frees it
// (and its moment tables) with the GIL held, which is when no kernel can use it.
struct CustomHandle {
  std::uint32_t id = 0;
  explicit CustomHandle(std::uint32_t i) : id(i) {}
  CustomHandle(const CustomHandle&) = delete;
  CustomHandle& operator=(const CustomHandle&) = delete;
  ~CustomHandle() {
    if (id) sigprop::release_custom_activation(double(id));
  }
};

std::vector<std::vector<double>> coefficient_lists(const py::list& lists, const char* what) {
  std::vector<std::vector<double>> out;
  out.reserve(lists.size());
  for (const py::handle& h : lists) {
    const darray a = py::cast<darray>(h);
    if (a.ndim() != 1) throw py::value_error(std::string(what) + ": coefficient arrays must be 1-d");
    out.emplace_back(a.data(), a.data() + a.shape(0));
  }
  return out;
}

// The derivative order d of a call that takes 0 to max_d (1 or 2).
void check_derivative(int d, int max_d) {
  if (d < 0 || d > max_d)
    throw py::value_error(max_d == 1 ? "derivative order must be 0 or 1"
                                     : "derivative order must be 0, 1 or 2");
}

// A pair's variances and correlation for the forms that take q1, q2 > 0 and |c| < 1.
void check_open_pair(double q1, double q2, double c) {
  if (!(q1 > 0.0) || !(q2 > 0.0) || !(std::fabs(c) < 1.0))
    throw py::value_error(std::string(
        py::str("need q1, q2 > 0 and |c| < 1, got q1={!r}, q2={!r}, c={!r}").format(q1, q2, c)));
}

void check_threads(int n_threads) {
  if (n_threads < 1 || n_threads > max_threads_allowed)
    throw py::value_error("n_threads must be in [1, " + std::to_string(max_threads_allowed) +
                          "] here, got " + std::to_string(n_threads));
}

// The activation and thread count of a grid kernel, checked in this order.
struct KernelArgs {
  sigprop::Activation act;
  int n_threads;
};

KernelArgs kernel_args(int kind, double p0, double p1, int n_threads) {
  const sigprop::Activation a = make_activation(kind, p0, p1);
  check_threads(n_threads);
  return {a, n_threads};
}

// f() with the GIL released.
template <class F>
auto without_gil(F&& f) {
  py::gil_scoped_release release;
  return f();
}

// Runs body(begin, count, stop) over the cells [0, n) in consecutive blocks, with
// the GIL released inside each block; body computes cells from begin on (count =
// n - begin of them are left) until the ~30 ms deadline *stop has passed
// (sigprop::grid::parallel_for) and returns how many it finished (at least one, or
// none where its first cell was cut short inside a long table build, which the next
// block goes on with: grid::restartable).
// Between blocks it reacquires the GIL, calls progress(units(begin, end)) if
// progress is not None (units: what the block's cells [begin, end) count for, by
// default end - begin), and checks for a pending signal (PyErr_CheckSignals runs
// the Python signal handlers, so Ctrl-C raises KeyboardInterrupt here, and a
// handler's exception propagates).
//
// A block ends by time, not by a cell count, so interrupts and progress updates
// come several times a second however uneven the cells' costs (a fast ordered
// phase, then ms-scale cells next to the EOC), and the per-block overhead (one
// OpenMP region, one signal check) stays negligible. Cells are independent, so
// results are bitwise identical for any block boundaries and thread count.
struct CellCount {
  idx_t operator()(idx_t begin, idx_t end) const { return end - begin; }
};

template <class Body, class Units = CellCount>
void run_blocks(idx_t n, const py::object& progress, Body&& body, Units units = Units{}) {
  constexpr double block_s = 0.03;
  const bool report = !progress.is_none();
  for (idx_t begin = 0; begin < n;) {
    const idx_t done = without_gil([&] {
      const Deadline stop(block_s);
      return body(begin, n - begin, &stop);
    });
    // (done is 0 where a block's first cell was cut short inside a long table build,
    // whose progress is kept: grid::restartable)
    if (done < 0 || done > n - begin) throw std::logic_error("run_blocks: cells out of range");
    if (report) progress(units(begin, begin + done));
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    begin += done;
  }
}

// A dropout keep probability in (0, 1] (fixed_points, fixed_point_point)
void check_keep_prob(double keep_prob) {
  if (!(keep_prob > 0.0 && keep_prob <= 1.0))
    throw py::value_error("keep_prob must be in (0, 1], got " + std::to_string(keep_prob));
}

// A pair form's value for the tests' direct calls (fourier_pair, trapezoid_pair):
// form(canonical activation, v) with the GIL released, NaN where the form declines.
template <class Form>
double pair_form_value(int kind, double p0, double p1, int d, Form&& form) {
  const sigprop::Activation a = sigprop::canonical(make_activation(kind, p0, p1));
  check_derivative(d, 1);
  double v = std::numeric_limits<double>::quiet_NaN();
  const bool ok = without_gil([&] { return form(a, v); });
  return ok ? v : std::numeric_limits<double>::quiet_NaN();
}

idx_t common_size(std::initializer_list<const darray*> arrays) {
  idx_t n = -1;
  for (const darray* a : arrays) {
    if (a == nullptr) continue;
    if (a->ndim() != 1) throw py::value_error("core arrays must be one-dimensional");
    if (n < 0)
      n = a->shape(0);
    else if (a->shape(0) != n)
      throw py::value_error("core arrays must have equal lengths");
  }
  return n < 0 ? 0 : n;
}

// phi^(d)(x) for the user-facing evaluate (Activation.__call__, the NumPy networks),
// with IEEE special values handled once for every activation:
// - NaN in gives NaN out (max/clip formulas such as relu or hard_tanh return a number).
// - At x = +-inf the formulas can form inf * 0 or inf / inf (gelu, silu, softsign and
//   their derivatives): the value is the limit. Every built-in except sin is monotone
//   or saturating in its tails, so the value at +-DBL_MAX is that limit.
// - phi'' in a far tail (gelu'' = N(x)(2 - x^2) with x^2 overflowing against an
//   underflowed density) is 0, the limit of every non-periodic built-in's phi''.
// sin has no limit at +-inf and stays NaN there.
double evaluate_point(const sigprop::Activation& a, int d, double x) {
  auto raw = [&](double y) {
    return d == 0 ? sigprop::phi(a, y) : (d == 1 ? sigprop::dphi(a, y) : sigprop::d2phi(a, y));
  };
  if (std::isnan(x)) return x;
  double v = raw(x);
  if (!std::isnan(v) || a.kind == sigprop::Kind::sin) return v;
  if (std::isinf(x)) v = raw(std::copysign(std::numeric_limits<double>::max(), x));
  if (std::isnan(v) && d == 2) v = 0.0;
  return v;
}

// A new C-contiguous output array (shape {n} or the given shape) and its data.
template <class T>
struct Output {
  py::array_t<T, py::array::c_style> array;
  T* data;
  explicit Output(std::vector<py::ssize_t> shape)
      : array(std::move(shape)), data(array.mutable_data()) {}
  explicit Output(idx_t n) : Output(std::vector<py::ssize_t>{n}) {}
  // The data from element `offset` on (a block's first cell).
  T* at(idx_t offset) const { return data + offset; }
};

// The arrays of outputs, as a tuple (typed, so that the signatures show the dtypes).
template <class... T>
auto arrays(const Output<T>&... outputs) {
  return py::make_tuple(outputs.array...);
}

// The fixed-point outputs from cell b on.
sigprop::grid::FixedPointArrays from_cell(const sigprop::grid::FixedPointArrays& o, idx_t b) {
  return {o.q + b,     o.status + b, o.iterations + b, o.chi1 + b, o.slope + b,
          o.c_star + b, o.chi_c + b, o.xi_q + b,       o.xi_c + b, o.beta_q + b};
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "sigprop compiled core (use the sigprop package, not this module)";
#ifdef SIGPROP_HAS_OPENMP
  m.attr("has_openmp") = true;
  m.def("max_threads", []() { return omp_get_max_threads(); });
#else
  m.attr("has_openmp") = false;
  m.def("max_threads", []() { return 1; });
#endif
  m.attr("n_kinds") = sigprop::n_kinds;
  m.attr("custom_kind") = int(sigprop::Kind::custom);
  m.attr("max_kinks") = sigprop::max_kinks;

  m.def(
      "builtins",
      []() {
        py::list out;
        for (const auto& b : sigprop::builtins) {
          py::dict d;
          d["kind"] = int(b.kind);
          d["name"] = b.name;
          d["aliases"] = b.aliases;
          d["formula"] = b.formula;
          py::list params;
          for (int i = 0; i < b.n_params; ++i)
            params.append(py::make_tuple(b.params[i].name, b.params[i].default_value,
                                         b.params[i].range));
          d["params"] = params;
          d["odd"] = b.odd;
          d["arccos_family"] = b.arccos_family;
          out.append(d);
        }
        return out;
      },
      "The table of built-in activations (kind, name, aliases, formula, params, flags).");

  py::class_<CustomHandle>(m, "CustomHandle")
      .def_property_readonly("id", [](const CustomHandle& h) { return h.id; });

  m.def(
      "register_custom",
      [](const darray& breaks, const py::list& c0, const py::list& c1, const py::list& c2,
         const darray& kinks, bool odd, bool phi_one_signed, bool dphi_one_signed,
         bool homogeneous) {
        if (breaks.ndim() != 1 || kinks.ndim() != 1)
          throw py::value_error("breaks and kinks must be 1-d");
        std::vector<double> b(breaks.data(), breaks.data() + breaks.shape(0));
        std::vector<double> k(kinks.data(), kinks.data() + kinks.shape(0));
        const std::vector<std::vector<double>> coefs[3] = {coefficient_lists(c0, "phi"),
                                                           coefficient_lists(c1, "phi'"),
                                                           coefficient_lists(c2, "phi''")};
        sigprop::CustomActivation::Flags f;
        f.odd = odd;
        f.phi_one_signed = phi_one_signed;
        f.dphi_one_signed = dphi_one_signed;
        f.homogeneous = homogeneous;
        std::unique_ptr<const sigprop::CustomActivation> act;
        try {
          act.reset(new sigprop::CustomActivation(std::move(b), coefs, std::move(k), f));
        } catch (const std::invalid_argument& e) {
          throw py::value_error(e.what());
        }
        const std::uint32_t id = sigprop::CustomRegistry::instance().add(std::move(act));
        return std::unique_ptr<CustomHandle>(new CustomHandle(id));
      },
      py::arg("breaks"), py::arg("c0"), py::arg("c1"), py::arg("c2"), py::arg("kinks"),
      py::arg("odd"), py::arg("phi_one_signed"), py::arg("dphi_one_signed"),
      py::arg("homogeneous"));

  m.def(
      "custom_info",
      [](double id) {
        const sigprop::CustomActivation* c = sigprop::custom_activation(id);
        if (!c) throw py::value_error("custom activation id is not registered");
        py::dict d;
        d["n_pieces"] = c->n_pieces();
        d["lo"] = c->lo();
        d["hi"] = c->hi();
        d["left_affine"] = c->left_affine();
        d["right_affine"] = c->right_affine();
        d["bytes"] = c->bytes();
        return d;
      },
      py::arg("id"));

  m.def("n_custom_live", []() { return sigprop::CustomRegistry::instance().live(); });
  m.def("n_moment_tables", []() { return sigprop::n_moment_tables(); });
  m.def(
      "clear_cache", []() { sigprop::clear_tables(); },
      "Free every cached table (moment, Hermite, near-diagonal, smoothing and EOC tables).");
  m.def(
      "build_limits",
      [](double hold_s, double min_s) {
        if (!(hold_s >= 0.0 && hold_s <= 60.0 && min_s >= 0.0 && min_s <= 60.0))
          throw py::value_error("build_limits: hold_s and min_s must be in [0, 60] seconds, got " +
                                py::repr(py::float_(hold_s)).cast<std::string>() + " and " +
                                py::repr(py::float_(min_s)).cast<std::string>());
        auto& l = sigprop::detail::build_limits();
        return py::make_tuple(l.hold_s.exchange(hold_s), l.min_s.exchange(min_s));
      },
      py::arg("hold_s"), py::arg("min_s"),
      "How long a table segment's build may hold a block (tests); returns the "
      "previous limits.");
  m.def("n_hermite_tables", []() { return sigprop::detail::HermiteTableCache::instance().size(); });
  m.def("n_eoc_tables", []() { return sigprop::detail::EocTableCache::instance().size(); });
  m.def("n_near_diagonal_tables",
        []() { return sigprop::detail::NearDiagonalTableCache::instance().size(); });
  m.def(
      "near_diagonal",
      [](int kind, double p0, double p1, int d, double q, double c) {
        const auto a = sigprop::canonical(make_activation(kind, p0, p1));
        check_derivative(d, 1);
        return without_gil([&] {
          const auto sl = sigprop::detail::near_diagonal_slice(a, q, /*extended=*/true);
          const bool in = sl.ok && c >= sigprop::NearDiagonalTable::c_min() && c <= 1.0;
          return in ? sl.eval(d, c) : std::numeric_limits<double>::quiet_NaN();
        });
      },
      "E[f(u) f(v)] (f = phi^(d)) at q1 = q2 = q from the near-diagonal table, its whole range "
      "(building its segment if needed); NaN where the table does not serve (q, c).",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q"), py::arg("c"));
  m.def(
      "threshold_pair_near_one",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c, double tol) {
        const auto a = sigprop::canonical(make_activation(kind, p0, p1));
        check_derivative(d, 1);
        const double nan = std::numeric_limits<double>::quiet_NaN();
        return without_gil([&] {
          const sigprop::Moments m1 = sigprop::moments(a, q1, false);
          const sigprop::Moments m2 = sigprop::moments(a, q2, false);
          double v = nan, err = nan;
          if (!sigprop::detail::threshold_pair_near_one(a, d, q1, q2, c, m1.phi_sq, m1.dphi_sq,
                                                        m2.phi_sq, m2.dphi_sq, tol, v, err))
            v = err = nan;
          return std::make_pair(v, err);
        });
      },
      "Price's theorem from c = 1 for shifted_relu, soft_threshold and hard_tanh "
      "(threshold_pair_near_one, two_point.hpp): (value, error bound), NaN where it declines.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"), py::arg("tol"));
  m.def(
      "fourier_pair",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c, double atol,
         bool asymptotic) {
        return pair_form_value(kind, p0, p1, d, [&](const sigprop::Activation& a, double& v) {
          return sigprop::detail::linear_tail_pair(a.kind, d, q1, q2, c, atol, v, asymptotic) ||
                 sigprop::detail::sign_tail_pair(a.kind, d, q1, q2, c, atol, v);
        });
      },
      "E[f(u) f(v)] (f = phi^(d)) of softplus, shifted_softplus, silu, tanh or sigmoid from "
      "their Fourier forms (linear_tail_pair.hpp, sign_tail_pair.hpp: the skeleton's kernel "
      "in closed form and the remainder's in Fourier space; for phi of the linear tails at "
      "large variances, first their asymptotic form, unless asymptotic is false) to absolute "
      "tolerance atol; NaN where the form declines.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"), py::arg("atol"), py::arg("asymptotic") = true);
  m.def(
      "large_variance_asymptotic",
      [](int kind, double p0, double p1, double q1, double q2, double c, double atol) {
        return pair_form_value(kind, p0, p1, 0, [&](const sigprop::Activation& a, double& v) {
          return sigprop::detail::large_variance_asymptotic(a, q1, q2, c, atol, v);
        });
      },
      "E[phi(u) phi(v)] at large variances by the kind's asymptotic form (two_point.hpp, "
      "large_variance_asymptotic): softplus, shifted_softplus and silu by relu's kernel in "
      "closed form and the remainder's terms from its moments (linear_tail_pair.hpp), elu and "
      "selu by relu's and the step's kernels and the terms of the exponential's narrow part "
      "(elu_large_variance.hpp), each with bounded Taylor remainders, to absolute tolerance "
      "atol; NaN where its bound exceeds atol, or for another kind.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("q1"), py::arg("q2"), py::arg("c"),
      py::arg("atol"));
  m.def(
      "covariance_taylor",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c, double atol) {
        return pair_form_value(kind, p0, p1, d, [&](const sigprop::Activation& a, double& v) {
          return sigprop::detail::covariance_taylor_pair(a.kind, d, q1, q2, c, atol, v);
        });
      },
      "E[f(u) f(v)] (f = phi^(d)) of tanh, sigmoid, softplus, shifted_softplus or silu next "
      "to c = 1 by the Taylor series in the covariance from c = 1 (covariance_taylor.hpp), "
      "its order chosen by its remainder's bound, to absolute tolerance atol; NaN where it "
      "does not serve (another kind, variances below its range or more than 1.21x apart, c "
      "< 1/2, or no order within atol).",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"), py::arg("atol"));
  m.def(
      "remainder_table",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c, double rtol) {
        return pair_form_value(kind, p0, p1, d, [&](const sigprop::Activation& a, double& v) {
          return sigprop::detail::remainder_table_pair(a, d, q1, q2, c, rtol, v,
                                                       &sigprop::detail::remainder_node);
        });
      },
      "E[f(u) f(v)] (f = phi^(d)) of tanh, sigmoid, softplus, shifted_softplus or silu next "
      "to c = 1 at large variances, or of elu, selu, softsign or linear_region_tanh next to "
      "|c| = 1, from the remainder tables (remainder_table.hpp), where they serve the pair "
      "within rtol of its scale; NaN elsewhere.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"), py::arg("rtol"));
  m.def(
      "untabled_pair",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c) {
        return pair_form_value(kind, p0, p1, d, [&](const sigprop::Activation& a, double& v) {
          const sigprop::detail::RemainderTablesOff off;
          bool ok = true;
          v = sigprop::detail::remainder_node(a, d, q1, q2, c, &ok);
          return ok;
        });
      },
      "E[f(u) f(v)] (f = phi^(d)) by the engine with the remainder tables off "
      "(remainder_table.hpp), as their nodes are evaluated; NaN where it fell short.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"));
  m.def(
      "remainder_table_bound",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c) {
        const sigprop::Activation a = sigprop::canonical(make_activation(kind, p0, p1));
        check_derivative(d, 1);
        const bool engine = sigprop::detail::engine_remainder_kind(a.kind);
        if (!engine && a.kind != sigprop::Kind::tanh && a.kind != sigprop::Kind::softplus &&
            a.kind != sigprop::Kind::shifted_softplus && a.kind != sigprop::Kind::silu)
          throw py::value_error(
              "remainder_table_bound: tanh, softplus, shifted_softplus, silu, elu, selu, "
              "softsign or linear_region_tanh");
        if (d == 1 && !engine && a.kind != sigprop::Kind::silu && a.kind != sigprop::Kind::tanh)
          throw py::value_error(
              "remainder_table_bound: d = 1 is tabled for tanh, silu and the engine kinds");
        return without_gil([&] {
          const auto tabs = sigprop::detail::RemainderTableCache::fetch(a);
          return tabs->bound_at(d, std::fmin(q1, q2), std::fmax(q1, q2), c,
                                &sigprop::detail::remainder_node);
        });
      },
      "The error bound of the remainder table's segment that would serve the pair, relative "
      "to its scale (built if need be): NaN outside the table's domain, inf where the segment "
      "failed its checks.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"));
  m.def(
      "plain_arithmetic",
      [](const std::string& name, const darray& x) {
        if (x.ndim() != 1)
          throw py::value_error("x must be one-dimensional, got " + std::to_string(x.ndim()) +
                                " dimensions");
        namespace sp = sigprop::special;
        double (*f)(double) = nullptr;
        if (name == "exp")
          f = [](double v) { return sp::exp_arith(v); };
        else if (name == "expm1")
          f = [](double v) { return sp::expm1_arith(v); };
        else if (name == "log1p")
          f = [](double v) { return sp::log1p_arith(v); };
        else if (name == "erfc")
          f = [](double v) { return sp::erfc_arith(v); };
        else if (name == "erfcx")  // (NaN outside its range, where it is not clamped)
          f = [](double v) {
            return v >= 0.0 && v < 6.75 ? sp::erfcx_arith(v)
                                        : std::numeric_limits<double>::quiet_NaN();
          };
        else if (name == "exp_neg_sq")
          f = [](double v) { return sp::exp_neg_sq_arith(v, 1.0); };
        else if (name == "exp_neg_half_sq")
          f = [](double v) { return sp::exp_neg_sq_arith(v, 0.5); };
        else
          throw py::value_error(
              "name must be 'exp', 'expm1', 'log1p', 'erfc', 'erfcx', 'exp_neg_sq' or "
              "'exp_neg_half_sq', got '" +
              name + "'");
        const idx_t n = x.shape(0);
        const Output<double> out(n);
        const double* xp = x.data();
        for (idx_t i = 0; i < n; ++i) out.data[i] = f(xp[i]);
        return out.array;
      },
      "The core's functions in plain double arithmetic (special.hpp: exp_arith, expm1_arith, "
      "log1p_arith, erfc_arith, erfcx_arith (0 <= x < 6.75, NaN elsewhere), exp_neg_sq_arith "
      "as exp(-x^2) and exp(-x^2 / 2)) at each x, for the tests.",
      py::arg("name"), py::arg("x"));
  m.def(
      "deadline_steps",
      [](const py::list& step_list) {
        std::vector<std::pair<std::string, double>> steps;
        for (const py::handle item : step_list) {
          const auto step = py::cast<py::tuple>(item);
          const auto what = step.size() == 2 ? py::cast<std::string>(step[0]) : std::string();
          const double seconds = step.size() == 2 ? py::cast<double>(step[1]) : -1.0;
          if ((what != "drop" && what != "hold" && what != "wait") || !(seconds >= 0.0) ||
              !(seconds <= 10.0))
            throw py::value_error(
                "each step must be ('drop' | 'hold' | 'wait', seconds in [0, 10]), got " +
                py::cast<std::string>(py::repr(item)));
          steps.emplace_back(what, seconds);
        }
        std::vector<double> elapsed;
        without_gil([&] {
          using clock = std::chrono::steady_clock;
          std::vector<std::unique_ptr<Deadline>> held;
          for (const auto& [what, seconds] : steps) {
            const auto t0 = clock::now();
            auto d = std::make_unique<Deadline>(seconds);
            if (what == "hold") {
              held.push_back(std::move(d));
            } else if (what == "wait") {
              // (a spin, as a driver's cells read the flag; 10 s past it at most)
              while (!d->passed() && clock::now() - t0 < std::chrono::seconds(20)) {
              }
              elapsed.push_back(std::chrono::duration<double>(clock::now() - t0).count());
            }
          }
        });
        py::list result;
        for (const double t : elapsed) result.append(t);
        return result;
      },
      "Deadlines in sequence, for the tests of the timer thread (deadline.hpp): each step "
      "('drop', s) makes a deadline s seconds out and drops it at once, ('hold', s) keeps it "
      "to the end, ('wait', s) spins until it has passed; returns the seconds each 'wait' "
      "took.",
      py::arg("steps"));
  m.def(
      "threshold_near_one_pairs",
      [](int kind, double p0, const darray& q1, const darray& q2, const darray& c, bool together) {
        const sigprop::Activation a = sigprop::canonical(make_activation(kind, p0, 0.0));
        if ((a.kind != sigprop::Kind::shifted_relu && a.kind != sigprop::Kind::soft_threshold) ||
            !(a.p0 > 0.0))
          throw py::value_error(
              "kind must be shifted_relu's or soft_threshold's with a threshold p0 = tau > 0, "
              "got kind " +
              std::to_string(kind) + " with p0 " + std::to_string(p0));
        const idx_t n = common_size({&q1, &q2, &c});
        const Output<double> out(n);
        const double *a1 = q1.data(), *a2 = q2.data(), *ac = c.data();
        without_gil([&] {
          using sigprop::detail::ThresholdInput;
          const size_t count = size_t(n);
          std::vector<ThresholdInput> lo(count), hi(count);
          for (idx_t i = 0; i < n; ++i) {
            // (not fmin and fmax, which would drop a NaN: the form declines it)
            const bool first = a1[i] <= a2[i];
            const double ql = first ? a1[i] : a2[i], qh = first ? a2[i] : a1[i];
            lo[size_t(i)] = ThresholdInput::at(a, ql, sigprop::moments(a, ql));
            hi[size_t(i)] = ThresholdInput::at(a, qh, sigprop::moments(a, qh));
          }
          const double nan = std::numeric_limits<double>::quiet_NaN();
          for (idx_t i0 = 0; i0 < n; i0 += together ? 8 : 1) {
            const int k = int(std::min<idx_t>(together ? 8 : 1, n - i0));
            const ThresholdInput *pl[8], *ph[8];
            bool ok[8];
            double v[8];
            for (int l = 0; l < k; ++l) {
              pl[l] = &lo[size_t(i0 + l)];
              ph[l] = &hi[size_t(i0 + l)];
            }
            if (together) {
              sigprop::detail::threshold_near_one_kernels(a, pl, ph, ac + i0, k, v, ok);
            } else {
              ok[0] = sigprop::detail::threshold_near_one_kernel(a, *pl[0], *ph[0], ac[i0], v[0]);
            }
            for (int l = 0; l < k; ++l) out.data[i0 + l] = ok[l] ? v[l] : nan;
          }
        });
        return out.array;
      },
      "E[phi(u) phi(v)] of shifted_relu or soft_threshold next to c = 1 by the kernel layers' "
      "form (two_point.hpp, threshold_near_one_kernel) from the one-point moments at q1 and q2: "
      "consecutive pairs eight at a time (together) or one at a time; NaN where it declines.",
      py::arg("kind"), py::arg("p0"), py::arg("q1"), py::arg("q2"), py::arg("c"),
      py::arg("together"));
  m.def(
      "trapezoid_pair",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c, double atol) {
        return pair_form_value(kind, p0, p1, d, [&](const sigprop::Activation& a, double& v) {
          return sigprop::detail::trapezoid_pair(a, d, q1, q2, c, atol, v);
        });
      },
      "E[f(u) f(v)] (f = phi^(d)) of a user's activation without kinks next to |c| = 1 by the "
      "trapezoid rule on uniform grids (trapezoid_pair.hpp) to absolute tolerance atol; NaN "
      "where the form declines.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"), py::arg("atol"));
  m.def(
      "softsign_smoothing",
      [](int d, double m, double w, double eps) {
        check_derivative(d, 1);
        if (!(m >= 0.0) || !(w > 0.0) || !std::isfinite(m) || !std::isfinite(w) || !(eps > 0.0))
          throw py::value_error("need m >= 0, w > 0 finite and eps > 0");
        double series = std::numeric_limits<double>::quiet_NaN(), panels[2];
        if (!sigprop::detail::softsign_series_smoothing(d, m, w, eps, series))
          series = std::numeric_limits<double>::quiet_NaN();
        sigprop::detail::softsign_smoothing(d, m, w, panels);
        return py::make_tuple(series, panels[0]);
      },
      "E[f(m + w T)] (f = softsign^(d), T ~ N(0, 1)) from its power series to absolute "
      "tolerance eps (NaN where the series declines) and from the panels of softsign_pair.hpp "
      "(a diagnostic, for the tests).",
      py::arg("d"), py::arg("m"), py::arg("w"), py::arg("eps"));
  m.def(
      "lrt_smoothing",
      [](int d, double A, double m, double w, double eps) {
        check_derivative(d, 1);
        if (!(A > 0.0) || !(w > 0.0) || !std::isfinite(m) || !std::isfinite(w) || !(eps > 0.0))
          throw py::value_error("need A > 0, w > 0, finite m and eps > 0");
        const double nan = std::numeric_limits<double>::quiet_NaN();
        double share = nan, heat = nan;
        if (!sigprop::detail::lrt_series_share(d, m - A, w, A, eps, share)) share = nan;
        if (!(m - A >= 12.0 * w) ||
            !sigprop::detail::lrt_heat_smoothing(d, A, m - A, w, eps, heat))
          heat = nan;
        return py::make_tuple(share, heat);
      },
      "linear_region_tanh's branch b (A + tanh(y - A), or sech^2(y - A) for d = 1) smoothed "
      "at centre m and spread w: E[b(X) 1(X > A)] from tanh's Taylor series and E[b(X)] from "
      "the heat series (m >= A + 12 w), to absolute tolerance eps; NaN where a series "
      "declines (a diagnostic, for the tests).",
      py::arg("d"), py::arg("A"), py::arg("m"), py::arg("w"), py::arg("eps"));
  m.attr("eoc_max_branches") = sigprop::eoc_max_branches;

  m.def(
      "evaluate",
      [](int kind, double p0, double p1, int d, const darray& x) {
        const auto a = make_activation(kind, p0, p1);
        check_derivative(d, 2);
        const idx_t n = common_size({&x});
        const Output<double> out(n);
        const double* xp = x.data();
        run_blocks(n, py::none(), [&](idx_t b, idx_t len, const Deadline* stop) {
          if (d == 2)
            return sigprop::grid::parallel_for(
                len, 1, [&](idx_t i) { out.data[b + i] = evaluate_point(a, d, xp[b + i]); }, stop);
          // phi and phi' 64 points at a time (a user's activation: their Chebyshev sums
          // side by side, eval_many; the same numbers as one by one), evaluate_point
          // where the point or its value is NaN (its limits at +-inf; NaN for NaN, where
          // phi itself gives relu's 0 or hard_tanh's -1)
          constexpr idx_t B = 64;
          const idx_t done = sigprop::grid::parallel_for(
              (len + B - 1) / B, 1,
              [&](idx_t k) {
                const idx_t i = b + k * B, nb = std::min(B, b + len - i);
                sigprop::eval_many(a, d, xp + i, int(nb), out.data + i);
                for (idx_t j = i; j < i + nb; ++j)
                  if (std::isnan(out.data[j]) || std::isnan(xp[j]))
                    out.data[j] = evaluate_point(a, d, xp[j]);
              },
              stop);
          return std::min(len, done * B);
        });
        return out.array;
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("x"));

  m.def(
      "kinks",
      [](int kind, double p0, double p1) {
        const auto a = make_activation(kind, p0, p1);
        double xs[sigprop::max_kinks];
        const int n = sigprop::kinks(a, xs);
        py::list out;
        for (int i = 0; i < n; ++i) out.append(py::make_tuple(xs[i], sigprop::dphi_jump(a, xs[i])));
        return out;
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"));

  m.def(
      "moments",
      [](int kind, double p0, double p1, const darray& q, int n_threads,
         const py::object& progress) {
        const KernelArgs k = kernel_args(kind, p0, p1, n_threads);
        const idx_t n = common_size({&q});
        const Output<double> mean(n), phi_sq(n), dphi_sq(n), d2(n), dv(n);
        const double* qp = q.data();
        run_blocks(n, progress, [&](idx_t b, idx_t len, const Deadline* stop) {
          return sigprop::grid::moments(k.act, qp + b, len, mean.at(b), phi_sq.at(b),
                                        dphi_sq.at(b), d2.at(b), dv.at(b), k.n_threads, stop);
        });
        return arrays(mean, phi_sq, dphi_sq, d2, dv);
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("q"), py::arg("n_threads"),
      py::arg("progress") = py::none());

  m.def(
      "bivariate",
      [](int kind, double p0, double p1, int d, const darray& q1, const darray& q2,
         const darray& c, int n_threads, const py::object& progress, bool direct) {
        const KernelArgs k = kernel_args(kind, p0, p1, n_threads);
        check_derivative(d, 1);
        const idx_t n = common_size({&q1, &q2, &c});
        const Output<double> out(n);
        const Output<std::int8_t> flags(n);
        const double *a1 = q1.data(), *a2 = q2.data(), *a3 = c.data();
        run_blocks(n, progress, [&](idx_t b, idx_t len, const Deadline* stop) {
          return sigprop::grid::bivariate(k.act, d, a1 + b, a2 + b, a3 + b, len, out.at(b),
                                          k.n_threads, direct, flags.at(b), stop);
        });
        return arrays(out, flags);
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"), py::arg("n_threads"), py::arg("progress") = py::none(),
      py::arg("direct") = false);

  m.def(
      "normal_orthant",
      [](double h, double k, double r, double one_minus_r, double one_plus_r, double tilt) {
        if (!(std::fabs(r) < 1.0) || !(one_minus_r > 0.0) || !(one_plus_r > 0.0))
          throw py::value_error("need |r| < 1 with 1 - r, 1 + r > 0");
        const sigprop::bvn::OrthantMoments m =
            sigprop::bvn::orthant_moments(h, k, r, one_minus_r, one_plus_r, tilt);
        return py::make_tuple(py::make_tuple(m.p, m.x, m.y, m.xy),
                              py::make_tuple(m.ep, m.ex, m.ey, m.exy));
      },
      "e^tilt (P, E[X], E[Y], E[XY]) over {X > h, Y > k} of the standard bivariate normal\n"
      "with correlation r (1 - r and 1 + r passed exactly), and error estimates of each.",
      py::arg("h"), py::arg("k"), py::arg("r"), py::arg("one_minus_r"), py::arg("one_plus_r"),
      py::arg("tilt") = 0.0);

  m.def(
      "bivariate_nested_quadrature",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c) {
        const auto a = sigprop::canonical(make_activation(kind, p0, p1));
        check_derivative(d, 1);
        check_open_pair(q1, q2, c);
        bool ok = true;
        const double v = without_gil([&] {
          return sigprop::detail::bivariate_quadrature(a, d, q1, q2, c, std::sqrt(q1),
                                                      std::sqrt(q2),
                                                      std::sqrt((1.0 - c) * (1.0 + c)), &ok);
        });
        return py::make_tuple(v, ok);
      },
      "E[phi^(d)(u) phi^(d)(v)] by the nested quadrature alone (no closed form), and\n"
      "whether it reached its tolerance: the independent check of the closed forms.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"));

  m.def(
      "laguerre_orthant",
      [](double h, double k, double c, bool ramp) {
        if (!(h > 0.0) || !(k > 0.0) || !std::isfinite(h) || !std::isfinite(k))
          throw py::value_error(
              std::string(py::str("need finite h, k > 0, got h={!r}, k={!r}").format(h, k)));
        if (!(std::fabs(c) < 1.0))
          throw py::value_error(std::string(py::str("need |c| < 1, got c={!r}").format(c)));
        double v = std::numeric_limits<double>::quiet_NaN();
        if (!sigprop::piecewise::laguerre_orthant(h, k, c, ramp, 1e-13, v))
          v = std::numeric_limits<double>::quiet_NaN();
        return v;
      },
      "P(X > h, Y > k) (ramp false) or E[(X - h)_+ (Y - k)_+] (ramp true), X, Y standard\n"
      "normal with correlation c, by the Gauss-Laguerre form of Price's theorem\n"
      "(piecewise_closed_forms.hpp, laguerre_orthant); NaN where it declines.",
      py::arg("h"), py::arg("k"), py::arg("c"), py::arg("ramp"));

  m.def(
      "elu_small_variance",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c) {
        const auto a = sigprop::canonical(make_activation(kind, p0, p1));
        if (a.kind != sigprop::Kind::elu && a.kind != sigprop::Kind::selu)
          throw py::value_error("kind must be elu or selu, got kind " + std::to_string(kind));
        check_derivative(d, 1);
        check_open_pair(q1, q2, c);
        const sigprop::EluConstants e = sigprop::elu_constants(a);
        const sigprop::Moments m1 = sigprop::moments(a, q1), m2 = sigprop::moments(a, q2);
        const double n1 = std::sqrt(d == 0 ? m1.phi_sq : m1.dphi_sq);
        const double n2 = std::sqrt(d == 0 ? m2.phi_sq : m2.dphi_sq);
        double v = std::numeric_limits<double>::quiet_NaN();
        if (!sigprop::detail::elu_small_variance(d, e.lam, e.alpha, q1, q2, c,
                                                 sigprop::detail::series_rtol * n1 * n2, n1, n2, v))
          v = std::numeric_limits<double>::quiet_NaN();
        return v;
      },
      "E[f(u) f(v)] (f = phi, d = 0; phi', d = 1) of elu / selu by the exponential's Taylor\n"
      "series on both sides (elu_small_variance.hpp); NaN where it defers.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"));

  m.def(
      "softsign_small_variances",
      [](int d, double q1, double q2, double c) {
        check_open_pair(q1, q2, c);
        return pair_form_value(
            int(sigprop::Kind::softsign), 0.0, 0.0, d,
            [&](const sigprop::Activation& a, double& v) {
              const sigprop::Moments m1 = sigprop::moments(a, q1), m2 = sigprop::moments(a, q2);
              const double n1 = std::sqrt(d == 0 ? m1.phi_sq : m1.dphi_sq);
              const double n2 = std::sqrt(d == 0 ? m2.phi_sq : m2.dphi_sq);
              return sigprop::detail::softsign_small_variances(
                  d, q1, q2, c, sigprop::detail::series_rtol * n1 * n2, n1, n2, v);
            });
      },
      "E[f(u) f(v)] (f = phi, d = 0; phi', d = 1) of softsign by its power series on both\n"
      "sides against the orthant moments (small_variance.hpp, softsign_small_variances);\n"
      "NaN where it defers.",
      py::arg("d"), py::arg("q1"), py::arg("q2"), py::arg("c"));

  m.def(
      "elu_one_small_variance",
      [](int kind, double p0, double p1, double q1, double q2, double c) {
        const auto a = sigprop::canonical(make_activation(kind, p0, p1));
        if (a.kind != sigprop::Kind::elu && a.kind != sigprop::Kind::selu)
          throw py::value_error("kind must be elu or selu, got kind " + std::to_string(kind));
        check_open_pair(q1, q2, c);
        const sigprop::EluConstants e = sigprop::elu_constants(a);
        const double n1 = std::sqrt(sigprop::moments(a, q1).phi_sq);
        const double n2 = std::sqrt(sigprop::moments(a, q2).phi_sq);
        double v = std::numeric_limits<double>::quiet_NaN();
        if (!sigprop::detail::elu_one_small_variance(e.lam, e.alpha, q1, q2, c,
                                                     sigprop::detail::series_rtol * n1 * n2, n2, v))
          v = std::numeric_limits<double>::quiet_NaN();
        return v;
      },
      "E[phi(u) phi(v)] of elu / selu by the Taylor series on the smaller variance's side\n"
      "alone (elu_small_variance.hpp), q1 the small variance; NaN where it defers.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("q1"), py::arg("q2"), py::arg("c"));

  m.def(
      "saturating_table_serves",
      [](int kind, double p0, double p1, int d, double w) {
        using sigprop::Kind;
        const auto a = sigprop::canonical(make_activation(kind, p0, p1));
        check_derivative(d, 1);
        if (!(w > 0.0) || !std::isfinite(w))
          throw py::value_error(
              std::string(py::str("w must be finite and > 0, got {!r}").format(w)));
        using sigprop::detail::Saturating;
        Saturating s = Saturating::tanh;  // (sigmoid: tanh's tables, at a quarter the variance)
        double A = 0.0;
        switch (a.kind) {
          case Kind::tanh:
          case Kind::sigmoid: break;
          case Kind::linear_region_tanh: A = a.p0; break;
          case Kind::softplus:
          case Kind::shifted_softplus: s = Saturating::softplus; break;
          case Kind::silu: s = Saturating::silu; break;
          default:
            throw py::value_error("kind " + std::to_string(kind) +
                                  " has no saturating smoothing table");
        }
        const auto* tabs = sigprop::detail::SaturatingTableCache::fetch(
            sigprop::detail::saturating_table_key(s, A));
        sigprop::detail::SmoothingTable::At g;
        return tabs->table[d]->at(w, g);
      },
      "Whether the process-wide smoothing table of a saturating kind's remainder\n"
      "(smoothing_table.hpp) serves the conditional spread w (its segment, or that\n"
      "segment's halves, built and checked).",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("w"));

  m.def(
      "piecewise_closed_form",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c, double tol,
         bool relative, const std::string& passes) {
        const auto a = sigprop::canonical(make_activation(kind, p0, p1));
        check_derivative(d, 1);
        if (passes != "tail" && passes != "fast" && passes != "fast_then_tail")
          throw py::value_error("passes must be 'tail', 'fast' or 'fast_then_tail', got '" +
                                passes + "'");
        double v = std::numeric_limits<double>::quiet_NaN();
        if (passes == "fast_then_tail") {
          sigprop::piecewise::OrthantMemo memo;
          if (!sigprop::piecewise::bivariate(a, d, q1, q2, c, tol, relative, v, false, &memo))
            sigprop::piecewise::bivariate(a, d, q1, q2, c, tol, relative, v, true, &memo);
        } else {
          sigprop::piecewise::bivariate(a, d, q1, q2, c, tol, relative, v, passes == "tail");
        }
        return v;
      },
      "The closed form of piecewise_closed_forms.hpp for E[phi^(d)(u) phi^(d)(v)]; NaN\n"
      "where it defers (its error estimate above tol of the Cauchy-Schwarz scale, or of\n"
      "the result with relative) or the kind has none. passes: 'tail' (with the tail\n"
      "quadrature of far orthants), 'fast' (without) or 'fast_then_tail' (the fast path,\n"
      "then where it defers the tail pass reading its orthants, OrthantMemo: the\n"
      "dispatch's two passes for elu's and selu's phi and phi').",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"), py::arg("tol") = sigprop::detail::piecewise_tol, py::arg("relative") = false,
      py::arg("passes") = "tail");

  m.def(
      "hermite_coefficients",
      [](int kind, double p0, double p1, double q, int n_max) {
        const auto a = sigprop::canonical(make_activation(kind, p0, p1));
        if (n_max < 0) throw py::value_error("n_max must be >= 0");
        if (!(q > 0.0) || !std::isfinite(q)) throw py::value_error("q must be finite and > 0");
        const Output<double> out(n_max + 1);
        const bool ok = without_gil([&] {
          const double phi_sq = sigprop::moments(a, q, false).phi_sq;
          if (sigprop::detail::hermite_coefficients_piecewise_linear(a, q, n_max, phi_sq,
                                                                     out.data))
            return true;  // closed form: exact to rounding
          return sigprop::detail::hermite_coefficients_rule(
              a, q, n_max, sigprop::detail::hermite_rule_width(std::max(n_max, 1)), phi_sq,
              out.data);
        });
        return py::make_tuple(out.array, ok);
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("q"), py::arg("n_max"));

  m.def(
      "hermite_tail",
      [](int kind, double p0, double p1, double q, int d) {
        const auto a = sigprop::canonical(make_activation(kind, p0, p1));
        check_derivative(d, 1);
        if (!(q > 0.0) || !std::isfinite(q))
          throw py::value_error(
              std::string(py::str("q must be finite and > 0, got {!r}").format(q)));
        double predicted = 0.0, remainder = sigprop::special::nan;
        without_gil([&] {
          sigprop::HermiteAt h;
          if (!h.set(a, q, false)) return;
          predicted = h.point.n > 0 ? h.point.tail[d] : 0.0;
          h.complete();
          remainder = d == 0 ? h.R0 / h.phi_sq : h.R1 / h.dphi_sq;
        });
        return py::make_tuple(predicted, remainder);
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("q"), py::arg("d"));

  m.def(
      "qmap",
      [](int kind, double p0, double p1, const darray& q, const darray& sw, const darray& sb,
         int n_threads, const py::object& progress) {
        const KernelArgs k = kernel_args(kind, p0, p1, n_threads);
        const idx_t n = common_size({&q, &sw, &sb});
        const Output<double> v(n), slope(n), chi(n);
        const double *qp = q.data(), *swp = sw.data(), *sbp = sb.data();
        run_blocks(n, progress, [&](idx_t b, idx_t len, const Deadline* stop) {
          return sigprop::grid::qmap(k.act, qp + b, swp + b, sbp + b, len, v.at(b), slope.at(b),
                                     chi.at(b), k.n_threads, stop);
        });
        return arrays(v, slope, chi);
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("q"), py::arg("sigma_w"),
      py::arg("sigma_b"), py::arg("n_threads"), py::arg("progress") = py::none());

  m.def(
      "covmap",
      [](int kind, double p0, double p1, const darray& q1, const darray& q2, const darray& c,
         const darray& sw, const darray& sb, bool with_slope, int n_threads,
         const py::object& progress) {
        const KernelArgs k = kernel_args(kind, p0, p1, n_threads);
        const idx_t n = common_size({&q1, &q2, &c, &sw, &sb});
        const Output<double> qab(n), dqab(with_slope ? n : 0);
        const double *a1 = q1.data(), *a2 = q2.data(), *a3 = c.data(), *a4 = sw.data(),
                     *a5 = sb.data();
        run_blocks(n, progress, [&](idx_t b, idx_t len, const Deadline* stop) {
          return sigprop::grid::covmap(k.act, a1 + b, a2 + b, a3 + b, a4 + b, a5 + b, len,
                                       qab.at(b), with_slope ? dqab.at(b) : nullptr,
                                       k.n_threads, stop);
        });
        return arrays(qab, dqab);
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("q1"), py::arg("q2"), py::arg("c"),
      py::arg("sigma_w"), py::arg("sigma_b"), py::arg("with_slope"), py::arg("n_threads"),
      py::arg("progress") = py::none());

  m.def(
      "propagate",
      [](int kind, double p0, double p1, double sw_q, double sw_c, double sb, idx_t depth,
         const darray& qa, const darray& qb, const darray& c, int n_threads) {
        const KernelArgs k = kernel_args(kind, p0, p1, n_threads);
        const idx_t n = common_size({&qa, &qb, &c});
        if (depth < 0) throw py::value_error("depth must be >= 0");
        const Output<double> Q({depth + 1, n}), QB({depth + 1, n}), C({depth + 1, n});
        std::copy(qa.data(), qa.data() + n, Q.data);
        std::copy(qb.data(), qb.data() + n, QB.data);
        std::copy(c.data(), c.data() + n, C.data);
        std::atomic<long long> short_count{0};
        run_blocks(depth * n, py::none(), [&](idx_t b, idx_t len, const Deadline* stop) {
          return sigprop::grid::propagate_cells(k.act, sw_q, sw_c, sb, n, Q.data, QB.data, C.data,
                                                b, b + len, k.n_threads, stop, &short_count);
        });
        return py::make_tuple(Q.array, QB.array, C.array, short_count.load());
      },
      "Two inputs' (q_a, q_b, c) through depth layers: (Q, QB, C), each (depth + 1, n), "
      "and the number of pairs whose quadrature ended short of its tolerance.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("sigma_w_q"), py::arg("sigma_w_c"),
      py::arg("sigma_b"), py::arg("depth"), py::arg("q_a"), py::arg("q_b"), py::arg("c"),
      py::arg("n_threads"));

  // One point of moments, qmap, covmap and bivariate: the grid kernels above on a cell
  // of one (the same code, so the same numbers), with Python floats in and out instead
  // of arrays. A call with arrays of one element spent ~3 us in the binding (argument
  // arrays, output arrays, the block loop) around ~0.1-0.5 us of work; a scalar call
  // from Python comes here. The GIL is released as for the arrays (a point of nested
  // quadrature takes milliseconds); one cell is not split, as no cell is.
  m.def(
      "moments_point",
      [](int kind, double p0, double p1, double q) {
        const auto a = make_activation(kind, p0, p1);
        double v[5];
        without_gil(
            [&] { return sigprop::grid::moments(a, &q, 1, v, v + 1, v + 2, v + 3, v + 4, 1); });
        return py::make_tuple(v[0], v[1], v[2], v[3], v[4]);
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("q"));

  m.def(
      "qmap_point",
      [](int kind, double p0, double p1, double q, double sw, double sb) {
        const auto a = make_activation(kind, p0, p1);
        double v, slope, chi;
        without_gil([&] { return sigprop::grid::qmap(a, &q, &sw, &sb, 1, &v, &slope, &chi, 1); });
        return py::make_tuple(v, slope, chi);
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("q"), py::arg("sigma_w"),
      py::arg("sigma_b"));

  m.def(
      "covmap_point",
      [](int kind, double p0, double p1, double q1, double q2, double c, double sw, double sb) {
        const auto a = make_activation(kind, p0, p1);
        double qab;
        without_gil(
            [&] { return sigprop::grid::covmap(a, &q1, &q2, &c, &sw, &sb, 1, &qab, nullptr, 1); });
        return qab;
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("q1"), py::arg("q2"), py::arg("c"),
      py::arg("sigma_w"), py::arg("sigma_b"));

  m.def(
      "bivariate_point",
      [](int kind, double p0, double p1, int d, double q1, double q2, double c) {
        const auto a = make_activation(kind, p0, p1);
        check_derivative(d, 1);
        double out;
        std::int8_t flag = 0;
        without_gil(
            [&] { return sigprop::grid::bivariate(a, d, &q1, &q2, &c, 1, &out, 1, false, &flag); });
        return py::make_tuple(out, flag != 0);
      },
      "E[f(u) f(v)] at one point and whether its quadrature ended short of its tolerance.",
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("d"), py::arg("q1"), py::arg("q2"),
      py::arg("c"));

  m.def(
      "fixed_points",
      [](int kind, double p0, double p1, const darray& sw, const darray& sb, py::object q0_obj,
         bool with_correlation, int n_threads, const py::object& progress, double keep_prob) {
        const KernelArgs k = kernel_args(kind, p0, p1, n_threads);
        check_keep_prob(keep_prob);
        darray q0;
        const bool has_q0 = !q0_obj.is_none();
        if (has_q0) q0 = q0_obj.cast<darray>();
        const idx_t n = common_size({&sw, &sb, has_q0 ? &q0 : nullptr});
        const Output<double> q(n), chi1(n), slope(n), cs(n), chic(n), xiq(n), xic(n), beta(n);
        const Output<std::int32_t> status(n), iters(n);
        const sigprop::grid::FixedPointArrays o{q.data,    status.data, iters.data, chi1.data,
                                                slope.data, cs.data,     chic.data,  xiq.data,
                                                xic.data,   beta.data};
        const double *swp = sw.data(), *sbp = sb.data();
        const double* q0p = has_q0 ? q0.data() : nullptr;
        run_blocks(n, progress, [&](idx_t b, idx_t len, const Deadline* stop) {
          return sigprop::grid::fixed_points(k.act, swp + b, sbp + b, q0p ? q0p + b : nullptr,
                                             len, with_correlation, from_cell(o, b), k.n_threads,
                                             stop, keep_prob);
        });
        py::dict r;
        r["q_star"] = q.array;
        r["status"] = status.array;
        r["iterations"] = iters.array;
        r["chi1"] = chi1.array;
        r["slope"] = slope.array;
        r["c_star"] = cs.array;
        r["chi_c"] = chic.array;
        r["xi_q"] = xiq.array;
        r["xi_c"] = xic.array;
        r["beta_q"] = beta.array;
        return r;
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("sigma_w"), py::arg("sigma_b"),
      py::arg("q0"), py::arg("with_correlation"), py::arg("n_threads"),
      py::arg("progress") = py::none(), py::arg("keep_prob") = 1.0);

  // One cell of fixed_points (the public fixed_point's scalar path): the same cell code
  // on one thread, in one block (Ctrl-C checked after it, as after an array's block);
  // (q*, status, iterations, chi1, slope, c*, chi_c, xi_q, xi_c, beta_q).
  m.def(
      "fixed_point_point",
      [](int kind, double p0, double p1, double sw, double sb, const py::object& q0_obj,
         bool with_correlation, double keep_prob) {
        const auto a = make_activation(kind, p0, p1);
        check_keep_prob(keep_prob);
        const bool has_q0 = !q0_obj.is_none();
        const double q0 = has_q0 ? q0_obj.cast<double>() : 0.0;
        double q, chi1, slope, cs, chic, xiq, xic, beta;
        std::int32_t status, iters;
        const sigprop::grid::FixedPointArrays o{&q,  &status, &iters, &chi1, &slope,
                                                &cs, &chic,   &xiq,   &xic,  &beta};
        run_blocks(1, py::none(), [&](idx_t, idx_t, const Deadline* stop) {
          return sigprop::grid::fixed_points(a, &sw, &sb, has_q0 ? &q0 : nullptr, 1,
                                             with_correlation, o, 1, stop, keep_prob);
        });
        return py::make_tuple(q, status, iters, chi1, slope, cs, chic, xiq, xic, beta);
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("sigma_w"), py::arg("sigma_b"),
      py::arg("q0"), py::arg("with_correlation"), py::arg("keep_prob") = 1.0);

  m.def(
      "eoc",
      [](int kind, double p0, double p1, const darray& sb, int n_threads,
         const py::object& progress) {
        const KernelArgs k = kernel_args(kind, p0, p1, n_threads);
        const idx_t n = common_size({&sb});
        const idx_t nb = sigprop::eoc_max_branches;
        const Output<double> sw({n, nb}), q({n, nb}), slope({n, nb});
        const Output<std::int32_t> kinds({n, nb}), nbr(n);
        const double* sbp = sb.data();
        // The activation's table of g(q): cached, or built here (stoppable) and cached
        const auto table = sigprop::detail::EocTableCache::instance().get_or_build(
            k.act, [&](sigprop::EocTable& t) {
              run_blocks(sigprop::EocTable::n, py::none(),
                         [&](idx_t b, idx_t, const Deadline* stop) {
                           return sigprop::grid::eoc_table(k.act, t, b, sigprop::EocTable::n,
                                                           k.n_threads, stop);
                         });
            });
        run_blocks(n, progress, [&](idx_t b, idx_t len, const Deadline* stop) {
          return sigprop::grid::eoc_cells(k.act, *table, sbp + b, len, sw.at(b * nb),
                                          q.at(b * nb), slope.at(b * nb), kinds.at(b * nb),
                                          nbr.at(b), k.n_threads, stop);
        });
        return arrays(sw, q, slope, kinds, nbr);
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("sigma_b"), py::arg("n_threads"),
      py::arg("progress") = py::none());

  m.def(
      "input_kernel",
      [](const darray& XT, double sw, double sb, int n_threads) {
        check_threads(n_threads);
        if (XT.ndim() != 2) throw py::value_error("XT must be a (d, m) matrix");
        const idx_t d = XT.shape(0), m = XT.shape(1);
        const Output<double> out({m, m});
        const double* xp = XT.data();
        run_blocks(m, py::none(), [&](idx_t b, idx_t, const Deadline* stop) {
          return sigprop::grid::input_kernel_rows(xp, m, d, sw * sw, sb * sb, out.data, b, m,
                                                  n_threads, stop);
        });
        return out.array;
      },
      py::arg("XT"), py::arg("sigma_w"), py::arg("sigma_b"), py::arg("n_threads"));

  m.def(
      "kernel_layer",
      [](int kind, double p0, double p1, const darray& K, double sw, double sb, int n_threads,
         const py::object& progress, const py::object& out_buffer) {
        const KernelArgs k = kernel_args(kind, p0, p1, n_threads);
        if (K.ndim() != 2 || K.shape(0) != K.shape(1))
          throw py::value_error("kernel must be a square matrix");
        const idx_t m = K.shape(0);
        const double* kp = K.data();
        // The output: a new array, or `out_buffer` (a caller's two buffers in turn: a
        // new (m, m) array a layer costs its page faults again, 0.1 ms a layer at
        // m = 200, more than the layer's pairs for a closed form).
        Output<double> out(idx_t(0));
        if (out_buffer.is_none()) {
          out = Output<double>({m, m});
        } else {
          // (checked before the cast, which would otherwise copy a mismatched array)
          if (!py::isinstance<py::array_t<double, py::array::c_style>>(out_buffer))
            throw py::value_error("out must be a writeable C-contiguous float64 (m, m) array");
          auto buf = py::cast<py::array_t<double, py::array::c_style>>(out_buffer);
          if (buf.ndim() != 2 || buf.shape(0) != m || buf.shape(1) != m || !buf.writeable())
            throw py::value_error("out must be a writeable C-contiguous float64 (m, m) array");
          double* op = buf.mutable_data();
          if (op < kp + m * m && kp < op + m * m)
            throw py::value_error("out must not overlap the kernel K");
          out.array = buf;
          out.data = op;
        }
        // Blocks of rows: first every input's Hermite expansion and record, then the
        // pairs. The expansions (20 kB each) and records (1.2 kB) are kept for the
        // calling thread's next layer (grid::thread_kernel_inputs).
        sigprop::grid::KernelInputs local;
        sigprop::grid::KernelInputs& in = sigprop::grid::thread_kernel_inputs(m, local);
        run_blocks(m, py::none(), [&](idx_t b, idx_t, const Deadline* stop) {
          return sigprop::grid::kernel_expansions(k.act, kp, m, in, b, m, k.n_threads, stop);
        });
        // The layer table, where the layer's pairs past the near-diagonal table repay it.
        const idx_t units = without_gil(
            [&] { return sigprop::grid::kernel_table_plan(k.act, kp, m, in, k.n_threads); });
        if (units > 0) {
          run_blocks(units, py::none(), [&](idx_t b, idx_t, const Deadline* stop) {
            return sigprop::grid::kernel_table_build(in, b, units, k.n_threads, stop);
          });
          without_gil([&] { return in.table.finish(); });
        }
        // Then the pairs, tile by tile (grid::KernelTiles: 8 rows by 16 columns, or by
        // every column for the closed forms), the progress counted in rows.
        std::atomic<long long> short_count{0};
        const sigprop::grid::KernelTiles tiles(m, sigprop::grid::kernel_tile_width(k.act, kp, m));
        run_blocks(
            tiles.size(), progress,
            [&](idx_t b, idx_t, const Deadline* stop) {
              return sigprop::grid::kernel_layer_tiles(k.act, kp, m, sw * sw, sb * sb, in,
                                                       out.data, tiles, b, tiles.size(),
                                                       k.n_threads, stop, &short_count);
            },
            [&](idx_t b, idx_t e) { return tiles.rows_done(e) - tiles.rows_done(b); });
        return py::make_tuple(out.array, short_count.load());
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("K"), py::arg("sigma_w"),
      py::arg("sigma_b"), py::arg("n_threads"), py::arg("progress") = py::none(),
      py::arg("out") = py::none());

  m.def(
      "kernel_layer_table",
      [](int kind, double p0, double p1, const darray& K, int n_threads) {
        const KernelArgs k = kernel_args(kind, p0, p1, n_threads);
        if (K.ndim() != 2 || K.shape(0) != K.shape(1))
          throw py::value_error("kernel must be a square matrix");
        const idx_t m = K.shape(0);
        const double* kp = K.data();
        sigprop::grid::KernelInputs in;
        const auto built = without_gil([&] {
          sigprop::grid::kernel_expansions(k.act, kp, m, in, 0, m, k.n_threads);
          return sigprop::grid::kernel_table(k.act, kp, m, in, k.n_threads);
        });
        return py::make_tuple(built.first, built.second, in.table.box_inputs());
      },
      py::arg("kind"), py::arg("p0"), py::arg("p1"), py::arg("K"), py::arg("n_threads"));
}
