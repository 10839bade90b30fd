// Times sigprop::grid::kernel_layer on the layers of a kernel written to files (each
// an m x m matrix of doubles, one file a layer, by benchmarks/ab_kernels.py), one
// thread, each layer called PASSES times in a row (its expansions kept for the next
// call, as the bindings keep them), or writes each layer's output to compare two
// builds' values. Built against one tree's csrc/ by benchmarks/ab_kernels.py.
//
//   kernel_layers time KIND P0 P1 M SW SB PASSES FILE...   -> "<seconds>" a layer (best)
//   kernel_layers values KIND P0 P1 M SW SB OUT FILE...    -> OUT: the outputs, in turn
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "sigprop/grid.hpp"

int main(int argc, char** argv) {
  if (argc < 10) {
    std::fprintf(stderr, "usage: %s time|values KIND P0 P1 M SW SB PASSES|OUT FILE...\n", argv[0]);
    return 2;
  }
  const bool timing = std::strcmp(argv[1], "time") == 0;
  const sigprop::Activation act{static_cast<sigprop::Kind>(std::atoi(argv[2])), std::atof(argv[3]),
                                std::atof(argv[4])};
  const long m = std::atol(argv[5]);
  const double sw = std::atof(argv[6]), sb = std::atof(argv[7]);
  const size_t size = size_t(m) * size_t(m);
  std::vector<double> K(size), out(size);
  std::FILE* sink = timing ? nullptr : std::fopen(argv[8], "wb");
  if (!timing && !sink) return 2;
  for (int f = 9; f < argc; ++f) {
    std::FILE* in = std::fopen(argv[f], "rb");
    if (!in || std::fread(K.data(), sizeof(double), size, in) != size) return 2;
    std::fclose(in);
    if (!timing) {
      sigprop::grid::kernel_layer(act, K.data(), m, sw * sw, sb * sb, out.data(), 1);
      std::fwrite(out.data(), sizeof(double), size, sink);
      continue;
    }
    double best = 1e300;
    for (int p = 0; p < std::atoi(argv[8]); ++p) {
      const auto t0 = std::chrono::steady_clock::now();
      sigprop::grid::kernel_layer(act, K.data(), m, sw * sw, sb * sb, out.data(), 1);
      best = std::min(best,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("%.9g\n", best);
  }
  if (sink) std::fclose(sink);
  return 0;
}
