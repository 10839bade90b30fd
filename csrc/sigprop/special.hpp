// Special functions of the standard normal distribution, evaluated to a few
// ulps in double precision: the scaled complementary error function erfcx, the
// density and the distribution function, the Mills ratio, and the partial
// moments E[(Z - t)_+^k] that the closed forms of piecewise-linear activations
// are built from. Every function is free of catastrophic cancellation over the
// whole real line (where a value underflows it returns 0, never garbage).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

// Forces inlining of the small arithmetic kernels that loops must vectorise over
// (GCC's heuristics otherwise keep exp_arith out of line, a call in the loop).
// And keeps a rarely taken path's function out of line, so that it does not weigh on
// the register allocation of the loop that calls it.
// (SIGPROP_INLINED and SIGPROP_OUT_OF_LINE: the same for a lambda, after its
// parameter list)
#if defined(__GNUC__)
#define SIGPROP_INLINED __attribute__((always_inline))
#define SIGPROP_OUT_OF_LINE __attribute__((noinline))
#else
#define SIGPROP_INLINED
#define SIGPROP_OUT_OF_LINE
#endif
#define SIGPROP_ALWAYS_INLINE inline SIGPROP_INLINED
#define SIGPROP_NOINLINE inline SIGPROP_OUT_OF_LINE

// A function whose loops vectorise gets an AVX2 clone beside the baseline (x86-64:
// SSE2), chosen at load time (GNU ifunc: GCC or Clang on glibc). With exact IEEE
// operations (no FMA contraction, which "avx2" does not enable anyway) both clones
// give the same numbers bitwise; elsewhere the baseline alone, and under ThreadSanitizer,
// which instruments the clones' resolvers: they run while the program is loaded, before
// its runtime starts (the sanitizer driver crashed there, scripts/sanitize.sh thread).
#if defined(__GNUC__) && defined(__x86_64__) && defined(__GLIBC__) && !defined(__APPLE__) && \
    defined(__has_attribute) && !defined(__SANITIZE_THREAD__)
#if __has_attribute(target_clones)
#define SIGPROP_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef SIGPROP_VECTOR_CLONES
#define SIGPROP_VECTOR_CLONES
#endif

namespace sigprop {
namespace special {

inline constexpr double pi = 3.14159265358979323846264338327950288;
inline constexpr double sqrt2 = 1.41421356237309504880168872420969808;
inline constexpr double inv_sqrt2 = 0.70710678118654752440084436210484904;
inline constexpr double inv_sqrt_pi = 0.56418958354775628694807945156077259;
inline constexpr double inv_sqrt_2pi = 0.39894228040143267793994605993438187;
inline constexpr double sqrt_half_pi = 1.25331413731550025120788264240552263;
inline constexpr double ln2 = 0.69314718055994530941723212145817657;
inline constexpr double inf = std::numeric_limits<double>::infinity();
inline constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// exp(x), 0 below -745.2 without the call (exp rounds to 0 below -745.14): the same
// numbers without libm's underflow path (14 % of a hard_tanh kernel's time in the
// orthant rules, bivariate_normal.hpp, whose nodes next to c = 1 lie far out in the
// Gaussian; the thresholds' far crossing, two_point.hpp).
inline double exp_or_zero(double x) { return x < -745.2 ? 0.0 : std::exp(x); }

// e^r - 1 for |r| <= 0.35 by its Taylor polynomial of degree 13, r + r^2 q(r), q(r) =
// sum_{j=2}^{13} r^(j-2) / j! by Estrin's scheme (short dependency chains): exp_arith's
// and expm1_arith's.
SIGPROP_ALWAYS_INLINE double expm1_taylor(double r) {
  constexpr double c2 = 1.0 / 2, c3 = 1.0 / 6, c4 = 1.0 / 24, c5 = 1.0 / 120, c6 = 1.0 / 720,
                   c7 = 1.0 / 5040, c8 = 1.0 / 40320, c9 = 1.0 / 362880, c10 = 1.0 / 3628800,
                   c11 = 1.0 / 39916800, c12 = 1.0 / 479001600, c13 = 1.0 / 6227020800;
  const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const double q01 = c2 + r * c3, q23 = c4 + r * c5, q45 = c6 + r * c7, q67 = c8 + r * c9,
               q89 = c10 + r * c11, qab = c12 + r * c13;
  const double q = (q01 + r2 * q23) + r4 * (q45 + r2 * q67) + r8 * (q89 + r2 * qab);
  return r + r2 * q;
}

// exp(-|x|) by the library, 0 from |x| = 745 on: there exp underflows (to 0, or below
// -745.133 to the least subnormal), which glibc reports through its error path, ~100
// ns a call (a deep kernel at variances ~1e9 evaluates softplus, silu and sigmoid
// at |x| up to ~3e5: 13 % of a layer's time in that path).
inline double exp_neg_abs(double x) {
  const double ax = std::fabs(x);
  return ax < 745.0 ? std::exp(-ax) : 0.0;
}

// exp(x) in plain double arithmetic, without a library call or a branch, so that
// loops over it vectorise (the closed-form kernel rows, grid.hpp): reduction
// x = k ln2 + r, |r| <= ln2 / 2 (Cody-Waite, k ln2_hi exact), Taylor polynomial of
// degree 13 (its truncation is below 5e-18 relative), and 2^k as two factors built
// from the exponent bits, so that results below 2^-1022 underflow gradually, once.
// Within 1 ulp of exp over [-745, 709.78] (0.98 at worst against long double expl
// over 4e6 points); 0 below, inf above, NaN for NaN. Every operation is IEEE and the
// same lane by lane, so a vectorised loop gives the scalar results bitwise.
SIGPROP_ALWAYS_INLINE double exp_arith(double x) {
  constexpr double log2e = 1.44269504088896340736;
  constexpr double ln2_hi = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  constexpr double shift = 6755399441055744.0;  // 1.5 * 2^52: t + shift rounds t to an integer
  double xc = x < -746.0 ? -746.0 : x;        // (NaN passes both)
  xc = xc > 710.0 ? 710.0 : xc;
  const double t = xc * log2e + shift;
  const double k = t - shift;                       // nearest integer to x log2(e), |k| <= 1077
  const double r = (xc - k * ln2_hi) - k * ln2_lo;  // |r| <= 0.3466
  const double p = 1.0 + expm1_taylor(r);
  // 2^k = 2^k1 2^k2 with k1 = round(k / 2), k2 = k - k1 (both normal powers): their
  // biased exponents from the low bits of k1 + shift and k2 + shift.
  const double t1 = k * 0.5 + shift, k1 = t1 - shift, t2 = (k - k1) + shift;
  std::uint64_t b1, b2, bs;
  std::memcpy(&b1, &t1, 8);
  std::memcpy(&b2, &t2, 8);
  std::memcpy(&bs, &shift, 8);
  b1 = (b1 - bs + 1023u) << 52;
  b2 = (b2 - bs + 1023u) << 52;
  double s1, s2;
  std::memcpy(&s1, &b1, 8);
  std::memcpy(&s2, &b2, 8);
  return (p * s1) * s2;
}

// expm1(x) = e^x - 1 in plain double arithmetic, as exp_arith (no call, no branch: loops
// vectorise over it): for |x| < 0.35 the Taylor polynomial of degree 13 (expm1_taylor,
// exp_arith's; the first term left out below 1.3e-17 of the result), else
// exp_arith(x) - 1. Against long double expm1l over 4e6 points (x from -800 to 700, |x|
// from 1e-300 to 2): within 1.7 ulps for x <= 0, 3.6 above (next to x = 0.35, where
// e^x's ulp is 4 of the result's); -1 below -746, inf above 709.78, NaN for NaN. With
// e = exp_arith(x) given, the same without computing it again.
SIGPROP_ALWAYS_INLINE double expm1_arith(double x, double e) {
  const double small = expm1_taylor(std::fabs(x) < 0.35 ? x : 0.0);
  return std::fabs(x) < 0.35 ? small : e - 1.0;
}
SIGPROP_ALWAYS_INLINE double expm1_arith(double x) { return expm1_arith(x, exp_arith(x)); }

// exp(-f y^2) (f = 1 or 1/2) in plain arithmetic (exp_arith), y^2 split exactly into hi +
// lo by Veltkamp's splitting (no fma, which a vector loop would call): exp(-f hi) (1 - f
// lo), as exp_neg_sq. Within 2.1 ulps of exp(-f y^2) (against long double over 4e6
// points, |y| below 38 and 26), 0 once it underflows.
SIGPROP_ALWAYS_INLINE double exp_neg_sq_arith(double y, double f) {
  constexpr double split = 134217729.0;  // 2^27 + 1
  const double hi = y * y, p = y * split, yh = p - (p - y), yl = y - yh;
  const double lo = ((yh * yh - hi) + 2.0 * yh * yl) + yl * yl;
  return exp_arith(-f * hi) * (1.0 - f * lo);
}

// log1p(y) for 0 <= y <= 1 in plain arithmetic: 2 atanh(s), s = y / (2 + y) <= 1/3, by its
// series 2 s sum_{n <= 17} s^2n / (2n + 1) (the first term left out below 2e-18 of the
// sum). Within 2 ulps of log1p (1.9 at worst against long double log1pl over 4e6 points
// of [0, 1], y from 1e-300 up).
SIGPROP_ALWAYS_INLINE double log1p_arith(double y) {
  const double s = y / (2.0 + y), s2 = s * s;
  double p = 1.0 / 35.0;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
  for (int n = 16; n >= 1; --n) p = p * s2 + 1.0 / (2.0 * n + 1.0);
  return 2.0 * s + 2.0 * s * (s2 * p);
}

// erfc(z) for 0 <= z <= 6.75 (clamped there) in plain arithmetic, for vector loops
// (the Fourier forms' cross terms, linear_tail_pair.hpp, sign_tail_pair.hpp: z = t /
// sqrt(2), t < 9.5): exp(-z^2) erfcx(z), erfcx a polynomial of degree 22 in u, s =
// (z - 3) / (z + 3) mapped onto [-1, 1] (scripts/make_erfcx_coefficients.py: its
// Chebyshev series truncated below 1e-20, in monomials whose magnitudes sum to 1.0004),
// by Estrin's scheme (within 8.8 ulps of erfcx in double), and exp(-z^2) from z^2 split
// exactly (exp_neg_sq_arith). Against long double erfcl over 4e6 points of [0, 6.75]:
// within 13 ulps (next to 6.5, erfc ~ 1e-20) and 6.8e-16 absolutely (next to 0),
// which is what 1 - 2 Phi(-t) reads; libm's erfc is within 1 ulp, at 2-3 times the cost
// of a lane of a vector loop.
// (scripts/make_erfcx_coefficients.py: the Chebyshev terms dropped sum to 7e-21)
inline constexpr double erfcx_s_hi = 0.38461538461538464;
inline constexpr double erfcx_poly[23] = {
    0.3077191338066445,      -0.36659068914625836,    0.207295899703553,
    -0.08746189908116114,    0.026223710780803513,    -0.00475351288902565,
    0.0001300694105337174,   0.0001592347893189059,   -2.254090817763377e-05,
    -5.902046901728088e-06,  1.3191222823140853e-06,  3.1780684299493617e-07,
    -6.590105194273993e-08,  -2.264852385849205e-08,  2.343690942346524e-09,
    1.7114642578222127e-09,  4.79762123135779e-11,    -1.1328904050731075e-10,
    -2.0987925097540567e-11, 5.1253617803585985e-12,  2.3998787108531122e-12,
    -6.519532767614483e-14,  -1.4003546751713716e-13,
};
// erfcx(z) = exp(z^2) erfc(z) alone, for 0 <= z <= 6.75 (not clamped here): the
// polynomial above, within 8.8 ulps (the boundary-layer sums of the thresholds' kernel
// pairs, two_point.hpp).
SIGPROP_ALWAYS_INLINE double erfcx_arith(double zc) {
  const double s = (zc - 3.0) / (zc + 3.0);
  const double u = (s + 1.0) * (2.0 / (erfcx_s_hi + 1.0)) - 1.0;
  const double* a = erfcx_poly;
  const double u2 = u * u, u4 = u2 * u2, u8 = u4 * u4, u16 = u8 * u8;
  const double b0 = a[0] + a[1] * u, b1 = a[2] + a[3] * u, b2 = a[4] + a[5] * u,
               b3 = a[6] + a[7] * u, b4 = a[8] + a[9] * u, b5 = a[10] + a[11] * u,
               b6 = a[12] + a[13] * u, b7 = a[14] + a[15] * u, b8 = a[16] + a[17] * u,
               b9 = a[18] + a[19] * u, b10 = a[20] + a[21] * u, b11 = a[22];
  const double c0 = b0 + b1 * u2, c1 = b2 + b3 * u2, c2 = b4 + b5 * u2, c3 = b6 + b7 * u2,
               c4 = b8 + b9 * u2, c5 = b10 + b11 * u2;
  const double d0 = c0 + c1 * u4, d1 = c2 + c3 * u4, d2 = c4 + c5 * u4;
  return (d0 + d1 * u8) + d2 * u16;
}
// erfc(z), z clamped to [0, 6.75] (see above)
SIGPROP_ALWAYS_INLINE double erfc_arith(double z) {
  const double zc = z < 0.0 ? 0.0 : (z > 6.75 ? 6.75 : z);
  return exp_neg_sq_arith(zc, 1.0) * erfcx_arith(zc);
}

// atan2(y, x) for x >= 0, in plain double arithmetic (no library call, no branch:
// loops vectorise over it), after Cephes' atan (Moshier): with t = |y| / x reduced
// to [0, 0.66] by atan t = pi/4 + atan((|y| - x)/(|y| + x)) on (0.66, tan(3 pi/8)]
// and pi/2 - atan(x / |y|) beyond (one division in all), then s + s^3 P(s^2)/Q(s^2)
// (degrees 4/5; the reductions' constants carry the bits of pi/4 and pi/2 that the
// doubles lose). Within 2 ulps (1.6 at worst against long double atan2l over 4e6
// points, |y| / x from 1e-20 to 1e20); +-pi/2 for |y| = inf or x = 0 < |y|, 0 for
// y = x = 0, NaN for NaN.
SIGPROP_ALWAYS_INLINE double atan2_arith(double y, double x) {
  constexpr double t3p8 = 2.41421356237309504880;  // tan(3 pi / 8)
  constexpr double pio2 = 1.57079632679489661923, pio4 = 0.78539816339744830962;
  constexpr double morebits = 6.123233995736765886130e-17;  // pi/2 - pio2
  constexpr double P0 = -8.750608600031904122785e-1, P1 = -1.615753718733365076637e1,
                   P2 = -7.500855792314704667340e1, P3 = -1.228866684490136173410e2,
                   P4 = -6.485021904942025371773e1;
  constexpr double Q0 = 2.485846490142306297962e1, Q1 = 1.650270098316988542046e2,
                   Q2 = 4.328810604912902668951e2, Q3 = 4.853903996359136964868e2,
                   Q4 = 1.945506571482613964425e2;
  const double a = std::fabs(y);
  const bool big = a > t3p8 * x, mid = a > 0.66 * x;
  const double num = big ? -x : (mid ? a - x : a), den = big ? a : (mid ? a + x : x);
  const double s = num / (den > 0.0 ? den : 1.0);  // (den = 0 only for y = x = 0: num = 0)
  const double y0 = big ? pio2 : (mid ? pio4 : 0.0);
  const double extra = big ? morebits : (mid ? 0.5 * morebits : 0.0);
  const double z = s * s;
  const double p = (((P0 * z + P1) * z + P2) * z + P3) * z + P4;
  const double q = ((((z + Q0) * z + Q1) * z + Q2) * z + Q3) * z + Q4;
  const double r = y0 + ((s * (z * p / q) + extra) + s);
  return std::copysign(r, y);
}

// exp(-x*x*s) with x*x split into an exact head and tail (Dekker), so that the
// rounding of x*x does not cost log2(x*x) bits for large x. s is 1 or 1/2.
inline double exp_neg_sq(double x, double s) {
  const double hi = x * x;
  if (!(hi * s < 800.0)) return std::isnan(hi) ? hi : 0.0;  // underflows (or x^2 = inf)
  const double lo = std::fma(x, x, -hi);
  return std::exp(-s * hi) * (1.0 - s * lo);
}

// erfcx(x) = exp(x^2) erfc(x).
inline double erfcx(double x) {
  if (std::isnan(x)) return x;
  if (x < 0.0) {
    if (x < -26.6) return inf;
    const double hi = x * x;
    const double lo = std::fma(x, x, -hi);
    return 2.0 * std::exp(hi) * (1.0 + lo) - erfcx(-x);
  }
  if (x < 0.5) return std::exp(x * x) * std::erfc(x);
  if (x < 26.0) {
    const double hi = x * x;
    const double lo = std::fma(x, x, -hi);
    return std::exp(hi) * (1.0 + lo) * std::erfc(x);
  }
  // Asymptotic series, 8 terms: the first omitted term is below 1e-17 for x >= 26.
  const double y = 1.0 / (2.0 * x * x);
  double term = 1.0, sum = 1.0;
  for (int n = 1; n <= 8; ++n) {
    term *= -(2.0 * n - 1.0) * y;
    sum += term;
  }
  return sum * inv_sqrt_pi / x;
}

// Standard normal density.
inline double npdf(double t) { return inv_sqrt_2pi * exp_neg_sq(t, 0.5); }

// Standard normal distribution function Phi(t) and its complement Phi(-t).
inline double ncdf(double t) { return 0.5 * std::erfc(-t * inv_sqrt2); }
inline double nsf(double t) { return 0.5 * std::erfc(t * inv_sqrt2); }

// Mills ratio R(t) = Phi(-t) / npdf(t), accurate for every t (inf far left).
inline double mills(double t) { return sqrt_half_pi * erfcx(t * inv_sqrt2); }

// Upper partial moments of Z ~ N(0, 1): I_k(t) = E[(Z - t)_+^k] for k = 0, 1, 2.
struct Tail {
  double p0, p1, p2;
};

// The Laplace continued fraction of the Mills ratio for t >= 3, R = 1/(t + K1),
// K_n = n/(t + K_{n+1}): R, K1 R and K1 K2 R are I_0, I_1 and I_2 over npdf(t), without
// cancellation (1 - tR = K1 R, (1 + t^2) R - t = K1 K2 R). From t = 8 on, the fraction
// itself, its depth falling with t (24 terms at t = 8, 10 beyond t = 26): each depth is
// the one that holds K2 within 2e-16 of a 3000-term long double evaluation from 0.77 t
// up (checked on a 1e-4 grid of t in [3, 60]: the three results' largest errors, 1.7e-16,
// 4.0e-16, 5.6e-16, are those of 60 terms everywhere). Below t = 8 the fraction took
// 28-60 divisions in a chain (0.15-0.35 us, the cost of the threshold kinds' moments):
// there t K2(t) (1.6 to 2) is a polynomial of degree 13 in u = 2 (t - a) - 1 on each
// [a, a + 1), a = 3..7, its Chebyshev interpolant from mpmath at 50 digits
// (scripts/make_mills_coefficients.py: truncation below 1e-19, and on 50,001 points of
// [3, 8) the three results' largest errors 1.7e-16, 3.8e-16, 4.8e-16 against mpmath,
// where the 60-term fraction's were 1.7e-16, 3.4e-16, 4.9e-16), ~7 ns a call.
struct MillsFraction {
  double r, k1, k2;
};

inline MillsFraction mills_fraction(double t) {
  if (t >= 3.0 && t < 8.0) {
    // (scripts/make_mills_coefficients.py; u exact: t - a by Sterbenz)
    static constexpr double c[5][14] = {
        {1.6725203468433096, 0.06545984375410269, -0.008952132778629772, 0.0009937042283386156,
         -9.393088538703703e-05, 7.631554543437078e-06, -5.222095912402548e-07,
         2.7820816901152442e-08, -7.961965002715389e-10, -4.8266234363520685e-11,
         1.040112848953678e-11, -1.0367000484440628e-12, 7.106198365239892e-14,
         -2.89305684287579e-15},
        {1.774292372549871, 0.03909181555260105, -0.004741913236510904, 0.0004779823107728529,
         -4.214049342566574e-05, 3.3074577653034873e-06, -2.311381102643388e-07,
         1.4128198569520665e-08, -7.155346227960637e-10, 2.4773998816647346e-11,
         1.5401005229564894e-13, -1.2592574584732204e-13, 1.4334070760087923e-14,
         -1.1041622968443043e-15},
        {1.8367506449765263, 0.02473732612164801, -0.0026679426377904727, 0.00024293567697057568,
         -1.9681616238623752e-05, 1.4486028145666056e-06, -9.754121062254291e-08,
         5.991997398041768e-09, -3.3098333472364226e-10, 1.583406718680915e-11,
         -5.882128210370357e-13, 8.942920543080947e-15, 1.1398811132844726e-15,
         -1.539723925453126e-16},
        {1.8772229086476315, 0.01645051136627239, -0.0015867090374583341, 0.00013065921699446028,
         -9.684592639605041e-06, 6.606704477696309e-07, -4.1887451358527697e-08,
         2.4745038106066025e-09, -1.3572263392060693e-10, 6.832498973347112e-12,
         -3.074410161627174e-13, 1.1567695578768615e-14, -2.791894046974692e-16,
         -5.256260068059984e-18},
        {1.9046861613389312, 0.011407473989989534, -0.0009909354110657028, 7.408227405847572e-05,
         -5.026414887977846e-06, 3.1668347131399955e-07, -1.8732948999652654e-08,
         1.0454562328170748e-09, -5.5077461928832534e-11, 2.7294323325264e-12,
         -1.2608004232214806e-13, 5.325704429079445e-15, -1.972074751079518e-16,
         5.599956462047779e-18},
    };
    const int a = int(t);
    const double* ca = c[a - 3];
    const double u = 2.0 * (t - double(a)) - 1.0, v = u * u;
    // (even and odd orders in two chains of v)
    double e = ca[12], o = ca[13];
    for (int k = 10; k >= 0; k -= 2) {
      e = e * v + ca[k];
      o = o * v + ca[k + 1];
    }
    const double k = (e + u * o) / t;
    const double k1 = 1.0 / (t + k);
    return {1.0 / (t + k1), k1, k};
  }
  const int depth = t >= 26.0   ? 10
                    : t >= 19.0 ? 12
                    : t >= 15.0 ? 14
                    : t >= 12.5 ? 16
                    : t >= 10.0 ? 20
                    : t >= 8.0  ? 24
                                : 60;  // (t < 3: the 60 terms, for a caller below the polynomials)
  double k = 0.0;
  for (int n = depth; n >= 2; --n) k = n / (t + k);
  const double k1 = 1.0 / (t + k);
  return {1.0 / (t + k1), k1, k};
}

inline Tail upper_tail(double t) {
  if (t == inf) return {0.0, 0.0, 0.0};
  if (t == -inf) return {1.0, inf, inf};
  if (t <= 0.0) {
    // All terms non-negative: no cancellation.
    const double s = nsf(t), d = npdf(t);
    return {s, d - t * s, (1.0 + t * t) * s - t * d};
  }
  const double d = npdf(t);
  if (t < 3.0) {
    // Forward recurrence on the Mills ratio; the cancellation factor is below
    // 70 on (0, 3), i.e. the result keeps at least 14 digits.
    const double r = mills(t);
    return {d * r, d * (1.0 - t * r), d * ((1.0 + t * t) * r - t)};
  }
  const MillsFraction f = mills_fraction(t);
  return {d * f.r, d * f.k1 * f.r, d * f.k1 * f.k2 * f.r};
}

// I_k(t) / npdf(t), k = 0, 1, 2, for t > 0: upper_tail's moments without the density
// that underflows past t ~ 38 (for a caller that carries it as an exponent).
inline Tail upper_tail_over_pdf(double t) {
  if (t < 3.0) {
    const double r = mills(t);
    return {r, 1.0 - t * r, (1.0 + t * t) * r - t};
  }
  const MillsFraction f = mills_fraction(t);
  return {f.r, f.k1 * f.r, f.k1 * f.k2 * f.r};
}

// E[Z^2 ; |Z| < t] for t >= 0, accurate for small t (series) and large t.
inline double central_m2(double t) {
  if (t <= 0.0) return 0.0;
  if (t < 1.0) {
    // 2 * npdf(0) * sum_n (-1)^n t^(2n+3) / (2^n n! (2n+3))
    const double t2 = t * t;
    double term = t2 * t, sum = 0.0;
    for (int n = 0; n < 40; ++n) {
      const double add = term / (2.0 * n + 3.0);
      sum += add;
      if (std::fabs(add) < 1e-18 * std::fabs(sum)) break;
      term *= -t2 / (2.0 * (n + 1));
    }
    return 2.0 * inv_sqrt_2pi * sum;
  }
  if (t == inf) return 1.0;
  return std::erf(t * inv_sqrt2) - 2.0 * t * npdf(t);
}

}  // namespace special
}  // namespace sigprop
