// Times sigprop::bivariate on the pairs of a file ("q1 q2 c" a line), one thread, in
// the loop a caller's pairs take (each pair once a pass, in the file's order; a pair
// repeated while hot would hide its memory traffic), or prints each pair's value and
// Cauchy-Schwarz scale. Built against one tree's csrc/ by benchmarks/ab_pairs.py.
//
//   bivariate_pairs time KIND D P0 P1 FILE PASSES   -> "<pairs a second>" (best pass)
//   bivariate_pairs values KIND D P0 P1 FILE        -> "<value> <scale>" a line
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "sigprop/two_point.hpp"

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s time|values KIND D P0 P1 FILE [PASSES]\n", argv[0]);
    return 2;
  }
  const bool timing = std::strcmp(argv[1], "time") == 0;
  const sigprop::Activation act{static_cast<sigprop::Kind>(std::atoi(argv[2])), std::atof(argv[4]),
                                std::atof(argv[5])};
  const int d = std::atoi(argv[3]);
  std::FILE* f = std::fopen(argv[6], "r");
  if (!f) return 2;
  std::vector<double> q1, q2, c;
  double x, y, z;
  while (std::fscanf(f, "%lf %lf %lf", &x, &y, &z) == 3) {
    q1.push_back(x);
    q2.push_back(y);
    c.push_back(z);
  }
  std::fclose(f);
  const std::size_t n = q1.size();
  double sink = 0.0;
  // a first pass builds the lazily built tables
  for (std::size_t i = 0; i < n; ++i) sink += sigprop::bivariate(act, d, q1[i], q2[i], c[i]);
  if (!timing) {
    const sigprop::Activation a = sigprop::canonical(act);
    for (std::size_t i = 0; i < n; ++i) {
      const double v = sigprop::bivariate(act, d, q1[i], q2[i], c[i]);
      const sigprop::Moments m1 = sigprop::moments(a, q1[i], false);
      const sigprop::Moments m2 = sigprop::moments(a, q2[i], false);
      const double s =
          d == 0 ? std::sqrt(m1.phi_sq * m2.phi_sq) : std::sqrt(m1.dphi_sq * m2.dphi_sq);
      std::printf("%.17g %.17g\n", v, s);
    }
    return 0;
  }
  const int passes = argc > 7 ? std::atoi(argv[7]) : 3;
  double best = 1e300;
  for (int p = 0; p < passes; ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) sink += sigprop::bivariate(act, d, q1[i], q2[i], c[i]);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (t < best) best = t;
  }
  std::printf("%.6g\n", n / best);
  return sink == 12345.678 ? 1 : 0;  // (keeps the sums)
}
