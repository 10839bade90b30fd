// User-defined activations: phi, phi' and phi'' as piecewise Chebyshev
// interpolants (the representation of chebfun; Trefethen, "Approximation Theory
// and Approximation Practice", 2013), with pieces that end at every kink, and
// the registry through which an Activation{Kind::custom, id} finds them.
//
// The interpolants are built once, from samples of the user's function (see
// python/sigprop/theory/custom.py), on a finite range [breaks.front(), breaks.back()]
// that covers every point the Gaussian expectations sample for q up to ~1e10;
// beyond it phi continues as an affine function (value and slope at the end)
// when the last piece is affine, and is NaN otherwise, so that nothing outside
// the range is invented. Evaluation is a binary search over the breakpoints
// and a Clenshaw sum: no Python, no lock, callable from any OpenMP thread.
//
// Lifetime rule: an id is never reused. A CustomActivation is freed only by
// release() (the Python handle's destructor) or clear, both called with the GIL
// held while no kernel that uses it can be running (a kernel's Python caller
// holds the handle for the whole call).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "chebyshev.hpp"

namespace sigprop {

// Most kinks any activation may have (buffers passed to kinks() hold this many).
inline constexpr int max_kinks = 16;

struct Derivs {
  double f, d, d2;
};

class CustomActivation {
 public:
  // Flags, computed by the builder from the samples.
  struct Flags {
    bool odd = false;             // phi(-x) = -phi(x)
    bool phi_one_signed = false;  // phi never changes sign
    bool dphi_one_signed = false; // phi' never changes sign
    bool homogeneous = false;     // phi(t x) = t phi(x) for t > 0
  };

  // breaks: n + 1 ascending finite points; coefs[f][p]: Chebyshev coefficients of
  // phi^(f) on piece p (in t = (2x - a - b) / (b - a)); kinks: a subset of the
  // interior breaks.
  CustomActivation(std::vector<double> breaks, const std::vector<std::vector<double>> coefs[3],
                   std::vector<double> kinks, Flags flags)
      : breaks_(std::move(breaks)), kinks_(std::move(kinks)), flags_(flags) {
    const std::size_t n = breaks_.size() < 2 ? 0 : breaks_.size() - 1;
    if (n == 0) throw std::invalid_argument("a custom activation needs at least one piece");
    for (std::size_t i = 0; i < breaks_.size(); ++i) {
      if (!std::isfinite(breaks_[i])) throw std::invalid_argument("breaks must be finite");
      if (i > 0 && !(breaks_[i] > breaks_[i - 1]))
        throw std::invalid_argument("breaks must be strictly increasing");
    }
    if (kinks_.size() > std::size_t(max_kinks))
      throw std::invalid_argument("at most " + std::to_string(max_kinks) + " kinks");
    for (std::size_t i = 0; i < kinks_.size(); ++i) {
      if (!std::binary_search(breaks_.begin(), breaks_.end(), kinks_[i]) ||
          kinks_[i] == breaks_.front() || kinks_[i] == breaks_.back())
        throw std::invalid_argument("every kink must be an interior breakpoint");
      if (i > 0 && !(kinks_[i] > kinks_[i - 1]))
        throw std::invalid_argument("kinks must be strictly increasing");
    }
    for (int f = 0; f < 3; ++f) {
      if (coefs[f].size() != n)
        throw std::invalid_argument("one coefficient list per piece and derivative is needed");
      off_[f].resize(n + 1);
      off_[f][0] = 0;
      for (std::size_t p = 0; p < n; ++p) {
        if (coefs[f][p].empty()) throw std::invalid_argument("empty coefficient list");
        for (double c : coefs[f][p])
          if (!std::isfinite(c)) throw std::invalid_argument("coefficients must be finite");
        off_[f][p + 1] = off_[f][p] + std::uint32_t(coefs[f][p].size());
        coef_[f].insert(coef_[f].end(), coefs[f][p].begin(), coefs[f][p].end());
      }
    }
    mid_.resize(n);
    inv_half_.resize(n);
    for (std::size_t p = 0; p < n; ++p) {
      mid_[p] = 0.5 * (breaks_[p] + breaks_[p + 1]);
      inv_half_[p] = 2.0 / (breaks_[p + 1] - breaks_[p]);
    }
    // Tails: affine continuation where the end piece of phi is affine (degree <= 1
    // after the builder's chop) and phi'' vanishes there; else NaN.
    auto affine = [&](std::size_t p) {
      return off_[0][p + 1] - off_[0][p] <= 2 && off_[2][p + 1] - off_[2][p] == 1 &&
             coef_[2][off_[2][p]] == 0.0;
    };
    left_affine_ = affine(0);
    right_affine_ = affine(n - 1);
    left_ = {piece_eval(0, 0, -1.0), piece_eval(1, 0, -1.0), 0.0};
    right_ = {piece_eval(0, n - 1, 1.0), piece_eval(1, n - 1, 1.0), 0.0};
    // Jumps of phi' at the kinks (right minus left limit).
    for (double k : kinks_) {
      const std::size_t p = piece_of(k);  // the piece starting at k
      const double r = piece_eval(1, p, -1.0), l = piece_eval(1, p - 1, 1.0);
      // a jump within the interpolants' accuracy is none (elu at alpha = 1)
      jumps_.push_back(std::fabs(r - l) <= 1e-10 * (std::fabs(r) + std::fabs(l)) ? 0.0 : r - l);
    }
  }

  double lo() const { return breaks_.front(); }
  double hi() const { return breaks_.back(); }
  int n_pieces() const { return int(mid_.size()); }
  const Flags& flags() const { return flags_; }
  const std::vector<double>& kink_points() const { return kinks_; }
  const std::vector<double>& breaks() const { return breaks_; }
  bool left_affine() const { return left_affine_; }
  bool right_affine() const { return right_affine_; }

  // phi^(d)(x), d = 0, 1, 2; at a kink the right limit.
  double eval(int d, double x) const {
    if (!(x >= breaks_.front() && x < breaks_.back())) return tail(d, x);
    const std::size_t p = piece_of(x);
    return piece_eval(d, p, (x - mid_[p]) * inv_half_[p]);
  }

  // phi^(d) at x[0..n-1] into y, each y[i] bitwise eval(d, x[i]): the points inside
  // the range by their Clenshaw sums four (then two) at a time, interleaved, among points
  // of equal degree (the same operations as one at a time, clenshaw_many). A quadrature
  // panel's nodes are mostly in one piece: where a recurrence waited on each term (~8
  // cycles), four side by side take about the time of one.
  void eval_many(int d, const double* x, int n, double* y) const {
    constexpr int B = 16;
    for (int i0 = 0; i0 < n; i0 += B) {
      const int nb = std::min(B, n - i0);
      const double* c[B];
      double t[B];
      int deg[B], lane[B], m = 0;
      std::size_t hint = 0;  // the last piece found: consecutive nodes share it
      bool hinted = false;
      for (int i = 0; i < nb; ++i) {
        const double xi = x[i0 + i];
        if (!(xi >= breaks_.front() && xi < breaks_.back())) {
          y[i0 + i] = tail(d, xi);
          continue;
        }
        const std::size_t p =
            (hinted && xi >= breaks_[hint] && xi < breaks_[hint + 1]) ? hint : piece_of(xi);
        hint = p;
        hinted = true;
        const double* cp = coef_[d].data() + off_[d][p];
        const int k = int(off_[d][p + 1] - off_[d][p]) - 1;
        if (k == 0) {
          y[i0 + i] = cp[0];
          continue;
        }
        // (insertion by degree, so that equal degrees are adjacent)
        int j = m++;
        for (; j > 0 && deg[j - 1] > k; --j) {
          c[j] = c[j - 1];
          t[j] = t[j - 1];
          deg[j] = deg[j - 1];
          lane[j] = lane[j - 1];
        }
        c[j] = cp;
        t[j] = (xi - mid_[p]) * inv_half_[p];
        deg[j] = k;
        lane[j] = i0 + i;
      }
      for (int j = 0; j < m;) {
        int r = 1;
        while (j + r < m && r < 4 && deg[j + r] == deg[j]) ++r;
        if (r == 4) {
          cheb::clenshaw_many_at<4>(c + j, deg[j], t + j, y, lane + j);
        } else if (r >= 2) {
          r = 2;
          cheb::clenshaw_many_at<2>(c + j, deg[j], t + j, y, lane + j);
        } else {
          y[lane[j]] = cheb::clenshaw(c[j], deg[j], t[j]);
        }
        j += r;
      }
    }
  }

  Derivs eval_all(double x) const {
    if (!(x >= breaks_.front() && x < breaks_.back())) return {tail(0, x), tail(1, x), tail(2, x)};
    const std::size_t p = piece_of(x);
    const double t = (x - mid_[p]) * inv_half_[p];
    return {piece_eval(0, p, t), piece_eval(1, p, t), piece_eval(2, p, t)};
  }

  // Jump of phi' at x: nonzero only at a kink.
  double dphi_jump(double x) const {
    for (std::size_t i = 0; i < kinks_.size(); ++i)
      if (kinks_[i] == x) return jumps_[i];
    return 0.0;
  }

  std::size_t bytes() const {
    std::size_t b = sizeof(*this) + sizeof(double) * (breaks_.size() + 2 * mid_.size());
    for (int f = 0; f < 3; ++f) b += sizeof(double) * coef_[f].size() + 4 * off_[f].size();
    return b;
  }

 private:
  std::size_t piece_of(double x) const {
    // the last break <= x (x inside [lo, hi))
    const auto it = std::upper_bound(breaks_.begin(), breaks_.end(), x);
    return std::size_t(it - breaks_.begin()) - 1;
  }

  double piece_eval(int d, std::size_t p, double t) const {
    const double* c = coef_[d].data() + off_[d][p];
    const int n = int(off_[d][p + 1] - off_[d][p]) - 1;
    if (n == 0) return c[0];
    return cheb::clenshaw(c, n, t);
  }

  double tail(int d, double x) const {
    if (std::isnan(x)) return x;
    const bool left = x < breaks_.front();
    if (left ? !left_affine_ : !right_affine_) return std::numeric_limits<double>::quiet_NaN();
    const Derivs& e = left ? left_ : right_;
    const double x0 = left ? breaks_.front() : breaks_.back();
    if (d == 0) return e.d == 0.0 ? e.f : e.f + e.d * (x - x0);
    return d == 1 ? e.d : 0.0;
  }

  std::vector<double> breaks_, mid_, inv_half_;
  std::vector<std::uint32_t> off_[3];
  std::vector<double> coef_[3];
  std::vector<double> kinks_, jumps_;
  Flags flags_;
  bool left_affine_ = false, right_affine_ = false;
  Derivs left_{}, right_{};
};

// The registry: id -> CustomActivation. Lookups (every evaluation) are two
// atomic loads and take no lock; registration and release take a mutex. Slots
// live in chunks that are allocated once and never move.
class CustomRegistry {
 public:
  static constexpr std::uint32_t chunk_bits = 12, chunk_size = 1u << chunk_bits;
  static constexpr std::uint32_t max_chunks = 1024;  // 4 million ids per process

  static CustomRegistry& instance() {
    static CustomRegistry r;
    return r;
  }

  // Registers an activation and returns its id (>= 1; ids are never reused).
  std::uint32_t add(std::unique_ptr<const CustomActivation> act) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::uint32_t id = next_;
    const std::uint32_t c = id >> chunk_bits;
    if (c >= max_chunks) throw std::length_error("too many custom activations in this process");
    if (!chunks_[c].load(std::memory_order_relaxed))
      chunks_[c].store(new std::atomic<const CustomActivation*>[chunk_size] {},
                       std::memory_order_release);
    chunks_[c].load(std::memory_order_relaxed)[id & (chunk_size - 1)].store(
        act.release(), std::memory_order_release);
    ++next_;
    ++live_;
    return id;
  }

  // The activation of a live id, or nullptr.
  const CustomActivation* get(std::uint32_t id) const {
    const std::uint32_t c = id >> chunk_bits;
    if (c >= max_chunks) return nullptr;
    const auto* chunk = chunks_[c].load(std::memory_order_acquire);
    return chunk ? chunk[id & (chunk_size - 1)].load(std::memory_order_acquire) : nullptr;
  }

  // Frees an id's activation (see the lifetime rule at the top of this file).
  bool release(std::uint32_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::uint32_t c = id >> chunk_bits;
    if (c >= max_chunks) return false;
    auto* chunk = chunks_[c].load(std::memory_order_relaxed);
    if (!chunk) return false;
    const CustomActivation* p = chunk[id & (chunk_size - 1)].exchange(nullptr);
    if (!p) return false;
    delete p;
    --live_;
    return true;
  }

  std::size_t live() const {
    std::lock_guard<std::mutex> lock(mu_);
    return live_;
  }

 private:
  CustomRegistry() {
    for (auto& c : chunks_) c.store(nullptr, std::memory_order_relaxed);
  }
  // The registry lives until the process ends (activations are leaked at exit
  // on purpose: OpenMP threads may outlive static destruction).
  mutable std::mutex mu_;
  std::atomic<std::atomic<const CustomActivation*>*> chunks_[max_chunks];
  std::uint32_t next_ = 1;
  std::size_t live_ = 0;
};

inline const CustomActivation* custom_activation(double id) {
  if (!(id >= 1.0 && id < 4294967296.0)) return nullptr;
  return CustomRegistry::instance().get(std::uint32_t(id));
}

}  // namespace sigprop
