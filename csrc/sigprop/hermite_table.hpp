// The Hermite coefficients a_n(q) = E[phi(sqrt(q) Z) h_n(Z)] of an activation
// (h_n the orthonormal Hermite polynomials, Z ~ N(0, 1)), tabulated in log q: the
// data of the Mehler series of the two-point side (hermite_series.hpp).
//
// The coefficients a_n(q), n <= n_max, are smooth (real-analytic) functions of
// log q. Like the one-point moment tables (moment_table.hpp), each is
// interpolated by a Chebyshev polynomial of degree 16 on segments of an eighth
// of a decade of q in [1e-12, 1e14], built lazily (std::call_once) from a fixed
// Gauss-Legendre rule at the 17 Chebyshev-Lobatto points and checked at two
// further points against the rule: a segment whose interpolant misses any
// coefficient by more than check_rtol sqrt(E[phi^2]) is marked, and there the
// coefficients come from the rule itself (exact, ~1 ms) where an expansion serves
// many evaluations (a kernel layer's inputs, a cell's c*), while single
// evaluations go to the quadrature. Segment contents do not
// depend on when or by which thread they were built, so results are bitwise
// identical for any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "activation.hpp"
#include "chebyshev.hpp"
#include "expectation.hpp"
#include "gauss_legendre.hpp"
#include "moment_table.hpp"
#include "quadrature.hpp"
#include "special.hpp"
#include "table_cache.hpp"

namespace sigprop {

namespace detail {

// 64-byte aligned storage for a std::vector (a table segment's coefficient rows)
template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const AlignedAllocator<U>&) const {
    return false;
  }
};

// The Chebyshev sums of a table's stored columns i0..i1-1 (of `cols`), sum_k T[k]
// c[k * cols + i], k <= deg, into out[step * i + step - 1]. Sixteen, then eight
// columns at a time in registers (the same sums, term by term in k, as a pass over all
// columns for each k, which loads and stores them 17 times), as 4-vectors where the
// compiler has vector extensions (each lane the scalar loop's operations: the same
// numbers, in the AVX2 clone as in the baseline's pairs of 2-vectors). Each column's
// sum is a chain of 17 additions: eight scalar columns were bound by its latency, and
// the compiler's own vectorisation of the scalar loop paired rows k and k + 1 with
// shuffles and spills (3.2-3.5 ns an order; 1.9-2.4 as 2-vectors, 1.7-2.0 as 4-vectors
// in the AVX2 clone).
template <int deg, int step>
SIGPROP_VECTOR_CLONES inline void chebyshev_columns(const double* T, const double* c, int i0,
                                                    int i1, int cols, double* out) {
  int i = i0;
#if defined(__GNUC__)
  typedef double v4 __attribute__((vector_size(32)));
  for (; i + 16 <= i1; i += 16) {
    v4 s0 = {0.0, 0.0, 0.0, 0.0}, s1 = s0, s2 = s0, s3 = s0;
    for (int k = 0; k <= deg; ++k) {
      const double* ck = c + size_t(k) * cols + i;
      const v4 tk = {T[k], T[k], T[k], T[k]};
      v4 x0, x1, x2, x3;
      __builtin_memcpy(&x0, ck, sizeof x0);
      __builtin_memcpy(&x1, ck + 4, sizeof x1);
      __builtin_memcpy(&x2, ck + 8, sizeof x2);
      __builtin_memcpy(&x3, ck + 12, sizeof x3);
      s0 += tk * x0;
      s1 += tk * x1;
      s2 += tk * x2;
      s3 += tk * x3;
    }
    for (int l = 0; l < 4; ++l) {
      out[step * (i + l) + step - 1] = s0[l];
      out[step * (i + 4 + l) + step - 1] = s1[l];
      out[step * (i + 8 + l) + step - 1] = s2[l];
      out[step * (i + 12 + l) + step - 1] = s3[l];
    }
  }
  for (; i + 8 <= i1; i += 8) {
    v4 s0 = {0.0, 0.0, 0.0, 0.0}, s1 = s0;
    for (int k = 0; k <= deg; ++k) {
      const double* ck = c + size_t(k) * cols + i;
      const v4 tk = {T[k], T[k], T[k], T[k]};
      v4 x0, x1;
      __builtin_memcpy(&x0, ck, sizeof x0);
      __builtin_memcpy(&x1, ck + 4, sizeof x1);
      s0 += tk * x0;
      s1 += tk * x1;
    }
    for (int l = 0; l < 4; ++l) {
      out[step * (i + l) + step - 1] = s0[l];
      out[step * (i + 4 + l) + step - 1] = s1[l];
    }
  }
#endif
  for (; i + 8 <= i1; i += 8) {
    double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (int k = 0; k <= deg; ++k) {
      const double* ck = c + size_t(k) * cols + i;
      const double tk = T[k];
      for (int l = 0; l < 8; ++l) s[l] += tk * ck[l];
    }
    for (int l = 0; l < 8; ++l) out[step * (i + l) + step - 1] = s[l];
  }
  for (; i < i1; ++i) {
    double s = 0.0;
    for (int k = 0; k <= deg; ++k) s += T[k] * c[size_t(k) * cols + i];
    out[step * i + step - 1] = s;
  }
}

// Highest Hermite order tabulated (HermiteTable::n_max).
inline constexpr int hermite_n_max = 512;

// 1 / sqrt(m) and sqrt((m - 1) / m) for m <= n + 1, the factors of the recurrence of
// the orthonormal Hermite functions, h_m = z h_{m-1} / sqrt(m) - sqrt((m-1)/m) h_{m-2}.
struct HermiteFactors {
  std::vector<double> inv, ratio;
  explicit HermiteFactors(int n) : inv(size_t(n) + 2, 0.0), ratio(size_t(n) + 2, 0.0) {
    for (int m = 1; m < n + 2; ++m) {
      inv[m] = 1.0 / std::sqrt(double(m));
      ratio[m] = std::sqrt(double(m - 1) / double(m));
    }
  }
  // Up to hermite_n_max, shared by every call.
  static const HermiteFactors& shared() {
    static const HermiteFactors f(hermite_n_max);
    return f;
  }
  // Up to order n: the shared ones, or beyond hermite_n_max built into own.
  static const HermiteFactors& up_to(int n, std::unique_ptr<HermiteFactors>& own) {
    if (n <= hermite_n_max) return shared();
    own = std::make_unique<HermiteFactors>(n);
    return *own;
  }
};

// Adds Gauss-Legendre 20 on the piece [lo, hi] of z to a_0..a_{n_max}. The
// recurrence h_{n+1}(z) = z h_n(z) / sqrt(n+1) - sqrt(n / (n+1)) h_{n-1}(z), with
// inv[n] = 1 / sqrt(n + 1) and ratio[n] = sqrt(n / (n + 1)), runs for the 20
// nodes of the piece side by side (independent recurrences: the loop over nodes
// vectorises, the one over n is a dependency chain).
inline void hermite_rule_piece(const Activation& a, double s, double lo, double hi, int n_max,
                               const double* inv, const double* ratio, double* an) {
  using namespace special;
  constexpr int L = 20;
  const double c = 0.5 * (lo + hi), h = 0.5 * (hi - lo);
  double z[L], w[L], hm1[L], h0[L], t[L];
  bool any = false;
  for (int j = 0; j < L; ++j) {
    const int k = j < 10 ? j : 19 - j;  // xgl20[k], mirrored for j >= 10
    z[j] = j < 10 ? c - h * quad::xgl20[k] : c + h * quad::xgl20[k];
    w[j] = quad::wgl20[k] * h * npdf(z[j]) * phi(a, s * z[j]);
    any = any || w[j] != 0.0;
  }
  if (!any) return;
  for (int j = 0; j < L; ++j) {
    hm1[j] = 0.0;
    h0[j] = 1.0;
  }
  auto lane_sum = [&t]() {
    // fixed pairwise order: deterministic and independent of vectorisation
    double u[10], v[5];
    for (int j = 0; j < 10; ++j) u[j] = t[j] + t[j + 10];
    for (int j = 0; j < 5; ++j) v[j] = u[j] + u[j + 5];
    return ((v[0] + v[1]) + (v[2] + v[3])) + v[4];
  };
  for (int j = 0; j < L; ++j) t[j] = w[j];
  an[0] += lane_sum();
  for (int n = 0; n < n_max; ++n) {
    const double iv = inv[n], r = ratio[n];
    for (int j = 0; j < L; ++j) {
      const double hp1 = z[j] * h0[j] * iv - r * hm1[j];
      hm1[j] = h0[j];
      h0[j] = hp1;
      t[j] = w[j] * hp1;
    }
    an[n + 1] += lane_sum();
  }
}

// a_n = E[phi(sqrt(q) Z) h_n(Z)] (d = 0) for n = 0..n_max from Gauss-Legendre 20 on
// the kink-aware mesh refined to pieces no wider than `width` (which must resolve
// the wavelength ~ pi / sqrt(2 n_max) of h_{n_max}). Returns false where the
// result misses Parseval's inequality sum a_n^2 <= E[phi^2] beyond rounding.
inline bool hermite_coefficients_rule(const Activation& a, double q, int n_max, double width,
                                      double phi_sq, double* an) {
  for (int n = 0; n <= n_max; ++n) an[n] = 0.0;
  if (!(q > 0.0) || !std::isfinite(q)) return false;
  const double s = std::sqrt(q);
  // An odd built-in (tanh, softsign, linear_region_tanh, ...): phi h_n is even for
  // odd n and odd for even n, so a_n = 2 int_0^inf for odd n and 0 for even n: half
  // the nodes.
  const bool odd = odd_builtin(a);
  quad::Mesh mesh;
  // |h_n(z)| e^{-z^2/4} is bounded by ~1 for every n, so the integrand
  // phi h_n e^{-z^2/2} at |z| = 10 (the one-point range) can still be ~1e-11:
  // integrate to |z| = 16 (e^{-64}).
  mesh.lo = std::fmin(mesh.lo, -16.0);
  mesh.hi = std::fmax(mesh.hi, 16.0);
  quad::add_gauss_mesh(mesh);
  add_activation_mesh(a, 0.0, s, mesh);
  if (odd) mesh.lo = 0.0;  // (after the kinks' meshes, which may extend the range)
  mesh.finish();
  // The factors of the Hermite recurrence (see hermite_rule_piece: inv[n] and ratio[n]
  // are HermiteFactors' entries n + 1).
  std::unique_ptr<HermiteFactors> own;
  const HermiteFactors& f = HermiteFactors::up_to(n_max, own);
  const double *inv = f.inv.data() + 1, *ratio = f.ratio.data() + 1;
  for (int i = 0; i + 1 < mesh.n; ++i) {
    const int parts = std::max(1, int(std::ceil((mesh.x[i + 1] - mesh.x[i]) / width)));
    const double step = (mesh.x[i + 1] - mesh.x[i]) / parts;
    for (int p = 0; p < parts; ++p) {
      const double lo = mesh.x[i] + p * step, hi = p + 1 == parts ? mesh.x[i + 1] : lo + step;
      hermite_rule_piece(a, s, lo, hi, n_max, inv, ratio, an);
    }
  }
  if (odd)
    for (int n = 0; n <= n_max; ++n) an[n] = n % 2 == 1 ? 2.0 * an[n] : 0.0;
  double sum = 0.0;
  for (int n = 0; n <= n_max; ++n) sum += an[n] * an[n];
  return std::isfinite(sum) && sum <= phi_sq * (1.0 + 1e-13) + 1e-300;
}

// Piece width that resolves h_n up to n = n_max: about 0.75 of its shortest
// wavelength 2 pi / sqrt(2 n_max), a phase of 4.8 radians, where Gauss-Legendre 20
// (degree 39) is exact to rounding: 4.8^40 / 40! ~ 3e-21. (Gauss-Kronrod 15, degree
// 22, needed 0.32 of the wavelength: 1.8x the nodes.)
inline double hermite_rule_width(int n_max) { return std::fmin(0.3, 4.8 / std::sqrt(2.0 * n_max)); }

}  // namespace detail

// Whether bivariate expectations of this (canonical) kind go through the
// Hermite table (every kind without an unconditional closed-form bivariate
// expectation; the piecewise kinds of piecewise_closed_forms.hpp keep it for
// where their closed forms defer).
inline bool uses_hermite_table(Kind k) {
  switch (k) {
    case Kind::linear:
    case Kind::relu:
    case Kind::leaky_relu:
    case Kind::erf:
    case Kind::sin: return false;
    default: return true;
  }
}

class HermiteTable {
 public:
  static constexpr double log10_lo = -12.0, log10_hi = 14.0;
  static constexpr int per_decade = 8;
  static constexpr int n_seg = int((log10_hi - log10_lo) * per_decade);
  static constexpr int deg = 16;
  static constexpr int n_max = detail::hermite_n_max;  // highest order tabulated
  // Accuracy a segment must show at its check points, relative to sqrt(E[phi^2]).
  static constexpr double check_rtol = 1e-13;

  explicit HermiteTable(const Activation& a) : act_(a), segments_(n_seg) {}

  static double q_lo() { return 1e-12; }
  static double q_hi() { return 1e14; }

  // Where q falls in the table: its segment and the Chebyshev basis there.
  struct Point {
    int n = 0;  // orders available (0..n-1); 0 outside the table or in a marked segment
    double small0 = 0.0;  // |a_m| <= small0 for n <= m <= n_max (orders not stored)
    double small1 = 0.0;  // sqrt(m) |a_m| <= small1 there
    // The least relative mass beyond n_max at the segment's nodes, of phi (tail[0]:
    // 1 - sum_(m <= n_max) a_m^2 / E[phi^2]) and of phi' (tail[1]): what the suffix
    // bound of a series at q will find, known before its orders are evaluated (0:
    // unknown)
    double tail[2] = {0.0, 0.0};
    const double* c = nullptr;  // the segment's coefficients, c[k * stride + j]
    // an odd activation's: only the odd orders stored, c[k * stride + i] for order
    // 2 i + 1 (the even ones are exactly 0: half the sums, the same numbers)
    bool odd = false;
    int stride = 0;  // (Segment::stride)
    double T[deg + 1];
    // Orders j0..j1-1 (j1 <= n) into out[j0..j1-1].
    void eval(int j0, int j1, double* out) const {
      if (!odd) {
        columns<1>(j0, j1, stride, out);
        return;
      }
      for (int j = j0 + (j0 & 1); j < j1; j += 2) out[j] = 0.0;
      columns<2>(j0 / 2, j1 / 2, stride, out);  // the odd orders 2 i + 1 in [j0, j1)
    }
    // The stored columns i0..i1-1 of `cols` (sum_k T[k] c[k * cols + i]) into
    // out[step * i + step - 1]: order i (step 1), or an odd activation's order 2 i + 1
    // (step 2); see detail::chebyshev_columns.
    template <int step>
    void columns(int i0, int i1, int cols, double* out) const {
      detail::chebyshev_columns<deg, step>(T, c, i0, i1, cols, out);
    }
  };

  // (log10_q: log10(q) where the caller has it, NaN otherwise)
  Point locate(double q, double log10_q = std::numeric_limits<double>::quiet_NaN()) const {
    Point p;
    if (!(q >= q_lo() && q < q_hi())) return p;
    const double u = ((std::isnan(log10_q) ? std::log10(q) : log10_q) - log10_lo) * per_decade;
    int s = int(u);
    if (s < 0) s = 0;
    if (s >= n_seg) s = n_seg - 1;
    const Segment& g = segment(s);
    if (!g.usable) return p;
    p.n = g.n;
    p.small0 = g.small0;
    p.small1 = g.small1;
    p.tail[0] = g.tail[0];
    p.tail[1] = g.tail[1];
    p.c = g.c.data();
    p.odd = g.odd;
    p.stride = g.stride;
    cheb::basis(deg, 2.0 * (u - s) - 1.0, p.T);
    return p;
  }

  // a_0..a_{n-1} at q into out (n <= n_max + 1); returns the number of
  // coefficients written: up to the segment's last significant order (beyond it
  // every a_m is below 1e-16 sqrt(E[phi^2])), 0 when q is outside the table or
  // the segment is marked.
  int coefficients(double q, int n, double* out) const {
    const Point p = locate(q);
    const int m = std::min(n, p.n);
    if (m > 0) p.eval(0, m, out);
    return m;
  }

  const Activation& activation() const { return act_; }

 private:
  struct Segment {
    bool usable = false;
    int n = 0;              // number of coefficients kept (orders 0..n-1)
    double small0 = 0.0;    // bound on |a_m| for n <= m <= n_max anywhere in the segment
    double small1 = 0.0;    // bound on sqrt(m) |a_m| there
    double tail[2] = {0.0, 0.0};  // Point::tail
    // Chebyshev coefficients, c[k * stride + j] for order j; each row of the n orders
    // (n / 2 where odd) padded with zeros to a multiple of 8 doubles, the rows 64-byte
    // aligned: the evaluation's vector loads each within a cache line (with rows of
    // 513 orders, unpadded, one load in two straddled two lines: 4 expansions' first
    // 128 orders took 1.1 us, 0.8 padded; the same numbers)
    std::vector<double, detail::AlignedAllocator<double>> c;
    int stride = 0;
    bool odd = false;  // only the odd orders: c[k * stride + i] for order 2 i + 1
  };

  static double q_at(int s, double t) {
    return std::pow(10.0, log10_lo + (s + 0.5 * (t + 1.0)) / per_decade);
  }

  const Segment& segment(int s) const {
    return segments_.get(s, [this](int i, Segment& seg) { build(i, seg); });
  }

  bool rule(double q, double* an) const {
    const double phi_sq = moments(act_, q, false).phi_sq;
    return detail::hermite_coefficients_rule(act_, q, n_max, detail::hermite_rule_width(n_max),
                                             phi_sq, an) &&
           std::isfinite(phi_sq);
  }

  // The rule at the 17 nodes q[j] of segment s, y[j * (n_max + 1) + n], and the
  // largest sqrt(E[phi^2]) (norm) and sqrt(E[phi'^2]) (norm1) there; in tail the least
  // relative masses beyond n_max at the nodes (Point::tail); false where the rule
  // failed.
  bool sample(int s, double* y, double* q, double& norm, double& norm1, double* tail) const {
    const int N = n_max + 1;
    norm = 0.0;
    norm1 = 0.0;
    tail[0] = tail[1] = 1.0;
    for (int j = 0; j <= deg; ++j) {
      q[j] = q_at(s, std::cos(special::pi * j / deg));
      const double* a = &y[size_t(j) * N];
      if (!rule(q[j], &y[size_t(j) * N])) return false;
      const Moments m = moments(act_, q[j], false);
      norm = std::fmax(norm, m.phi_sq);
      norm1 = std::fmax(norm1, m.dphi_sq);
      double s0 = 0.0, s1 = 0.0;  // sum a_n^2, sum b_(n-1)^2 = sum n a_n^2 / q
      for (int n = N - 1; n >= 0; --n) {
        s0 += a[n] * a[n];
        s1 += double(n) * a[n] * a[n];
      }
      tail[0] = std::fmin(tail[0], std::fmax(1.0 - s0 / m.phi_sq, 0.0));
      tail[1] = std::fmin(tail[1], std::fmax(1.0 - s1 / (q[j] * m.dphi_sq), 0.0));
    }
    for (int d = 0; d < 2; ++d)
      if (!std::isfinite(tail[d])) tail[d] = 0.0;
    norm = std::sqrt(norm);
    norm1 = std::sqrt(norm1);
    return true;
  }

  // Keep orders up to the last one above the rounding level of the rule anywhere
  // in the segment, for phi and for phi' (whose coefficients are
  // b_{m-1} = sqrt(m) a_m / sqrt(q), relatively larger at small q). The orders
  // dropped are bounded by small0 (phi) and small1 (phi', times sqrt(q) below).
  static int kept_orders(const double* y, const double* q, double norm, double norm1) {
    const int N = n_max + 1;
    auto negligible = [&](int n, double a, double qj) {
      return std::fabs(a) <= 1e-16 * norm &&
             (n == 0 || std::fabs(a) * std::sqrt(double(n) / qj) <= 1e-16 * norm1);
    };
    int keep = 2;
    for (int j = 0; j <= deg; ++j)
      for (int n = 0; n < N; ++n)
        if (!negligible(n, y[size_t(j) * N + n], q[j])) keep = std::max(keep, n + 1);
    return keep;
  }

  // The bounds small0 on |a_m| and small1 on sqrt(m) |a_m| (times 1/sqrt(q)) of the
  // orders m >= keep that are dropped.
  static void tail_bounds(const double* y, int keep, double& small0, double& small1) {
    const int N = n_max + 1;
    small0 = 0.0;
    small1 = 0.0;
    for (int j = 0; j <= deg; ++j)
      for (int n = keep; n < N; ++n) {
        const double v = std::fabs(y[size_t(j) * N + n]);
        small0 = std::fmax(small0, v);
        small1 = std::fmax(small1, v * std::sqrt(double(n)));
      }
    // Margin for the values between the nodes (checked at two points below).
    small0 *= 4.0;
    small1 *= 4.0;
  }

  // Check points between the nodes, against the rule there: the interpolated
  // orders within check_rtol norm, the dropped ones within their bounds.
  bool passes_checks(int s, const Segment& g, double norm) const {
    const int N = n_max + 1;
    static constexpr double tc[2] = {-0.37, 0.61};
    std::vector<double> direct(N), interp(N);
    for (double t : tc) {
      const double q = q_at(s, t);
      if (!rule(q, direct.data())) return false;
      Point p;
      p.n = g.n;
      p.c = g.c.data();
      p.odd = g.odd;
      p.stride = g.stride;
      cheb::basis(deg, t, p.T);
      p.eval(0, g.n, interp.data());
      for (int n = 0; n < N; ++n) {
        if (n < g.n ? !(std::fabs(interp[n] - direct[n]) <= check_rtol * norm)
                    : !(std::fabs(direct[n]) <= g.small0 &&
                        std::fabs(direct[n]) * std::sqrt(double(n)) <= g.small1))
          return false;
      }
    }
    return true;
  }

  void build(int s, Segment& g) const {
    const int N = n_max + 1;
    std::vector<double> y(size_t(deg + 1) * N);
    double qn[deg + 1];
    double norm, norm1;
    if (!sample(s, y.data(), qn, norm, norm1, g.tail)) return;
    const int keep = kept_orders(y.data(), qn, norm, norm1);
    // Chebyshev coefficients of orders 0..keep-1 from the values at the Lobatto points.
    std::vector<double> c(size_t(deg + 1) * keep);
    cheb::lobatto_coefficients(deg, keep, y.data(), size_t(N), c.data(), size_t(keep));
    // An odd built-in's even orders are 0 at every node (hermite_coefficients_rule), and
    // so are their Chebyshev coefficients: only the odd orders are kept (where every
    // even one is indeed 0).
    g.odd = odd_builtin(act_);
    for (int k = 0; g.odd && k <= deg; ++k)
      for (int j = 0; j < keep; j += 2)
        if (c[size_t(k) * keep + j] != 0.0) g.odd = false;
    // (the stored columns, rows padded: Segment::c)
    const int m = g.odd ? keep / 2 : keep;
    g.stride = (m + 7) & ~7;
    g.c.assign(size_t(deg + 1) * g.stride, 0.0);
    for (int k = 0; k <= deg; ++k)
      for (int i = 0; i < m; ++i)
        g.c[size_t(k) * g.stride + i] = c[size_t(k) * keep + (g.odd ? 2 * i + 1 : i)];
    g.n = keep;
    tail_bounds(y.data(), keep, g.small0, g.small1);
    g.usable = passes_checks(s, g, norm);
  }

  Activation act_;
  detail::LazySegments<Segment> segments_;
};

namespace detail {

// The Hermite coefficients of a piecewise linear phi in closed form, order by order
// (fill() continues where it stopped, so that an expansion evaluates only the orders
// it needs). With f(z) = phi(sqrt(q) z), E[f(Z) He_n(Z)] = E[f^(n)(Z)] (Gaussian
// integration by parts) and f'' = sqrt(q) sum_k J_k delta(z - h_k) (J_k the jump of
// phi' at the kink x_k, h_k = x_k / sqrt(q)), so that
//   a_0 = E[phi(sqrt(q) Z)],  a_1 = sqrt(q) E[phi'(sqrt(q) Z)]   (closed forms),
//   a_n = sqrt(q) sum_k J_k npdf(h_k) h_{n-2}(h_k) / sqrt(n (n - 1)),  n >= 2,
// with g_m = npdf(h) h_m(h) by the (forward-stable) three-term recurrence of the
// orthonormal h_m. A kink whose terms are all below 1e-17 sqrt(E[phi^2]) is left
// out (|g_m| <= 0.69 sqrt(npdf(h)) for every m, Cramer's inequality). Exact to
// rounding: ~n eps relative to sqrt(E[phi^2]) at order n.
struct KinkSeries {
  int nk = 0;
  double a0 = 0.0, a1 = 0.0;
  double sJ[max_kinks], h[max_kinks], gp[max_kinks], g[max_kinks];  // g = g_{next-2}
  int next = 0;  // the next order fill() writes
  bool mirrored = false;  // two kinks at -+x, jumps of opposite sign (see fill)

  // False for other kinds, or where a kink that counts starts the recurrence below
  // 1e-290 (subnormal: digits lost).
  bool init(const Activation& a, double q, double phi_sq) {
    nk = 0;
    next = 0;
    if (!piecewise_linear(a.kind) || !(q > 0.0) || !std::isfinite(q)) return false;
    const double s = std::sqrt(q);
    double m1;
    if (!shifted_mean_closed_form(a, 0, 0.0, s, a0) || !shifted_mean_closed_form(a, 1, 0.0, s, m1))
      return false;
    a1 = s * m1;
    if (!std::isfinite(a0) || !std::isfinite(a1)) return false;
    double xs[max_kinks];
    const int n = kinks(a, xs);
    const double norm = std::sqrt(phi_sq);
    for (int k = 0; k < n; ++k) {
      const double J = dphi_jump(a, xs[k]), hk = xs[k] / s, g0 = special::npdf(hk);
      if (s * std::fabs(J) * 0.75 * std::sqrt(g0) <= 1e-17 * norm) continue;
      if (!(g0 >= 1e-290)) return false;
      sJ[nk] = s * J;
      h[nk] = hk;
      gp[nk] = 0.0;
      g[nk] = g0;
      ++nk;
    }
    mirrored = nk == 2 && h[1] == -h[0] && sJ[1] == -sJ[0] && g[1] == g[0];
    return true;
  }

  // Orders next..to-1 into an (to <= the factors' n + 1).
  void fill(int to, double* an, const HermiteFactors& f) {
    KinkSeries* self = this;
    fill_many<1>(&self, &an, to, f);
  }

  // fill(to, an[b], f) of B series of one shape (the same next, nk and mirrored),
  // their recurrences interleaved: each is a chain of multiplies and a subtraction an
  // order, bound by its latency, so that B of them side by side take about the time
  // of one (a kernel layer's inputs: the orders were 40 % of a layer of 100 inputs of
  // hard_tanh). Each series' operations do not depend on B (fill is B = 1): the same
  // numbers. Series of different shapes are filled one by one.
  template <int B>
  static bool same_shape(KinkSeries* const* ks) {
    for (int b = 1; b < B; ++b)
      if (ks[b]->next != ks[0]->next || ks[b]->nk != ks[0]->nk ||
          ks[b]->mirrored != ks[0]->mirrored)
        return false;
    return true;
  }
  template <int B>
  static void fill_many(KinkSeries* const* ks, double* const* an, int to, const HermiteFactors& f) {
    if (!same_shape<B>(ks)) {
      for (int b = 0; b < B; ++b) ks[b]->fill(to, an[b], f);
      return;
    }
    const int nk = ks[0]->nk;
    const bool mirrored = ks[0]->mirrored;
    int j = ks[0]->next;
    for (; j < to && j < 2; ++j)
      for (int b = 0; b < B; ++b) an[b][j] = j == 0 ? ks[b]->a0 : ks[b]->a1;
    // One kink, or two mirrored (shifted_relu; soft_threshold, hard_tanh): the
    // recurrences' state in locals for the loop, written back after it. Through the
    // series' members every order stored g and gp and loaded them again (the outputs
    // an[b] may alias them, as far as the compiler knows), a store-to-load forwarding
    // in each chain: ~3x the latency of its multiplies. The same operations in the
    // same order: the same numbers.
    if (j < to && (nk == 1 || mirrored)) {
      double sJ[B], hh[B], g[B], gp[B];
      double* out[B];
      for (int b = 0; b < B; ++b) {
        sJ[b] = ks[b]->sJ[0];
        hh[b] = ks[b]->h[0];
        g[b] = ks[b]->g[0];
        gp[b] = ks[b]->gp[0];
        out[b] = an[b];
      }
      for (; j < to; ++j) {
        const double fi = f.inv[j], fi1 = f.inv[j - 1], fr = f.ratio[j - 1];
        double v[B];
        for (int b = 0; b < B; ++b) {
          const double t = sJ[b] * g[b] * fi * fi1;
          // (mirrored: the second kink's term is (-1)^(j+1) times the first, exactly,
          // as in the loop below)
          v[b] = !mirrored ? 0.0 + t : (j & 1) ? (0.0 + t) + t : (0.0 + t) - t;
          const double nx = hh[b] * g[b] * fi1 - fr * gp[b];
          gp[b] = g[b];
          g[b] = nx;
        }
        for (int b = 0; b < B; ++b) out[b][j] = v[b];
      }
      for (int b = 0; b < B; ++b) {
        ks[b]->g[0] = g[b];
        ks[b]->gp[0] = gp[b];
        ks[b]->next = j;
      }
      return;
    }
    for (; j < to; ++j) {
      const double fi = f.inv[j], fi1 = f.inv[j - 1], fr = f.ratio[j - 1];
      if (mirrored) {
        // kinks at -+x with opposite jumps (odd phi): the second term is (-1)^(j+1)
        // times the first, exactly (negation is exact), so that the sum is twice it
        // (odd j) or 0 (even j), bitwise as the loop below
        for (int b = 0; b < B; ++b) {
          KinkSeries& k = *ks[b];
          const double t = k.sJ[0] * k.g[0] * fi * fi1;
          an[b][j] = (j & 1) ? (0.0 + t) + t : (0.0 + t) - t;
          const double nx = k.h[0] * k.g[0] * fi1 - fr * k.gp[0];
          k.gp[0] = k.g[0];
          k.g[0] = nx;
        }
        continue;
      }
      for (int b = 0; b < B; ++b) {
        KinkSeries& k = *ks[b];
        double v = 0.0;
        for (int i = 0; i < nk; ++i) {
          v += k.sJ[i] * k.g[i] * fi * fi1;
          const double nx = k.h[i] * k.g[i] * fi1 - fr * k.gp[i];
          k.gp[i] = k.g[i];
          k.g[i] = nx;
        }
        an[b][j] = v;
      }
    }
    for (int b = 0; b < B; ++b) ks[b]->next = j;  // (j starts at their next)
  }
};

// a_0..a_{n_max} of a piecewise linear phi in closed form (KinkSeries); false where
// KinkSeries::init is.
inline bool hermite_coefficients_piecewise_linear(const Activation& a, double q, int n_max,
                                                  double phi_sq, double* an) {
  KinkSeries ks;
  if (n_max < 0 || !ks.init(a, q, phi_sq)) return false;
  std::unique_ptr<HermiteFactors> own;
  ks.fill(n_max + 1, an, HermiteFactors::up_to(n_max, own));
  return true;
}

// The Hermite table of an activation: at most 128 are kept (a segment holds
// ~70 kB), least recently used dropped first, see TableCache in table_cache.hpp.
using HermiteTableCache = TableCache<HermiteTable, 128>;

inline const HermiteTable* hermite_table(const Activation& a) {
  return HermiteTableCache::fetch(a);
}

}  // namespace detail

}  // namespace sigprop
