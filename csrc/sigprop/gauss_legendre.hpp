// Gauss-Legendre rules on [-1, 1]: the positive nodes (descending) xglN and their
// weights wglN of the N-point rules (even N: the rule is sum_i w_i (f(x_i) + f(-x_i))),
// exact for polynomials of degree 2N - 1. N = 20 (hermite_table.hpp,
// softsign_pair.hpp) and 16 (softsign_pair.hpp), Newton-polished on P_N at 40 digits;
// N = 4 (settled_difference.hpp) from its closed form, sqrt(3/7 -+ 2/7 sqrt(6/5)) and
// (18 +- sqrt(30)) / 36, at 30 digits;
// legendre_pieces: such a rule on consecutive pieces (elu_small_variance.hpp).
#pragma once

namespace sigprop {
namespace quad {

inline constexpr double xgl20[10] = {
    0.99312859918509492478612238847132,  0.963971927277913791267666131197277,
    0.912234428251325905867752441203298, 0.839116971822218823394529061701521,
    0.746331906460150792614305070355642, 0.636053680726515025452836696226286,
    0.510867001950827098004364050955251, 0.373706088715419560672548177024927,
    0.227785851141645078080496195368575, 0.0765265211334973337546404093988382};
inline constexpr double wgl20[10] = {
    0.0176140071391521183118619623518528, 0.0406014298003869413310399522749321,
    0.0626720483341090635695065351870416, 0.0832767415767047487247581432220462,
    0.10193011981724043503675013548035,   0.118194531961518417312377377711382,
    0.131688638449176626898494499748163,  0.142096109318382051329298325067165,
    0.149172986472603746787828737001969,  0.152753387130725850698084331955098};

inline constexpr double xgl16[8] = {
    0.989400934991649932596154173450333, 0.944575023073232576077988415534608,
    0.865631202387831743880467897712393, 0.755404408355003033895101194847442,
    0.617876244402643748446671764048791, 0.458016777657227386342419442983578,
    0.281603550779258913230460501460496, 0.0950125098376374401853193354249581};
inline constexpr double wgl16[8] = {
    0.0271524594117540948517805724560181, 0.0622535239386478928628438369943777,
    0.0951585116824927848099251076022462, 0.124628971255533872052476282192016,
    0.149595988816576732081501730547479,  0.16915651939500253818931207903036,
    0.18260341504492358886676366796922,   0.189450610455068496285396723208283};

inline constexpr double xgl4[2] = {0.861136311594052575223946488893,
                                   0.339981043584856264802665759103};
inline constexpr double wgl4[2] = {0.347854845137453857373063949222,
                                   0.652145154862546142626936050778};

// The even N-point rule (xs, ws: its positive nodes and their weights, half = N / 2) on
// each piece [edges[p], edges[p + 1]], p < n_pieces, of f, summed in piece order.
template <class F>
inline double legendre_pieces(const double* edges, int n_pieces, F&& f, const double* xs,
                              const double* ws, int half) {
  double sum = 0.0;
  for (int piece = 0; piece < n_pieces; ++piece) {
    const double mid = 0.5 * (edges[piece] + edges[piece + 1]);
    const double hw = 0.5 * (edges[piece + 1] - edges[piece]);
    double ps = 0.0;
    for (int i = 0; i < half; ++i) ps += ws[i] * (f(mid - hw * xs[i]) + f(mid + hw * xs[i]));
    sum += hw * ps;
  }
  return sum;
}

}  // namespace quad
}  // namespace sigprop
