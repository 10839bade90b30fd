"""sigprop against the plain vectorised NumPy mean-field code people write today.

Run from the repository root (one process, same grid for both):

    python benchmarks/compare_numpy.py                       # 1000 x 1000 tanh grid
    python benchmarks/compare_numpy.py --n-sigma-b 300 --n-sigma-w 300 --numpy-n 200

What is compared (tanh, sigma_b in [0, 2], sigma_w in [0.1, 4]; sigma_b and
sigma_w are standard deviations, weights N(0, sigma_w^2 / fan_in)):

1. q*, chi1, V'(q*), xi_q and xi_c (at c* = 1, i.e. -1/ln chi1) per grid cell.
   NumPy: fixed-degree Gauss-Hermite (numpy.polynomial.hermite_e.hermegauss,
   ``--nodes`` nodes) and a fixed number of q-map iterations from q = 1, vectorised
   over cells (the baseline of LANDSCAPE.md). sigprop: ``_core.fixed_points(...,
   with_correlation=False)`` on the flat grid. Cells per second of each, the
   ratio, and each one's max relative error: NumPy against sigprop, sigprop
   against 30-digit mpmath spot checks (``--mpmath`` cells).
2. Scans with and without c*, chi_c (``with_correlation``) for every built-in
   activation: cells/s of each, their ratio, the first call's time (table
   builds) and how many cells report c_not_converged; for tanh's chaotic cells,
   sigprop's c*, chi_c against the NumPy c-map iteration on a 2-D Gauss-Hermite
   rule (``--corr-nodes``^2 points), rate and error.
3. EOC curve: ``sigprop.eoc`` on ``--eoc-n`` sigma_b values for tanh (ms), and the
   NumPy version of Hayou's Algorithm 1 (Gauss-Hermite, 200 iterations) with its
   error against sigprop.
4. OpenMP: sigprop's time at n_threads = 1, 2, ..., max, and bitwise equality.

The NumPy baseline may be run on a subset grid (``--numpy-n``) when it is slow;
the output says so. Rates are best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

import sigprop
from sigprop import _core

TANH = sigprop.activation("tanh")


# ----------------------------------------------------------------------------- NumPy baseline


def gh_rule(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of E[f(Z)], Z ~ N(0, 1) (probabilists' Gauss-Hermite)."""
    x, w = hermegauss(nodes)
    return x, w / math.sqrt(2.0 * math.pi)


def numpy_fixed_points(sigma_b, sigma_w, *, nodes=100, iterations=100, block=8192):
    """q*, chi1, V'(q*), xi_q, xi_c (c* = 1) for tanh by fixed GH and fixed iterations."""
    x, w = gh_rule(nodes)
    sb2 = np.asarray(sigma_b, dtype=float).ravel() ** 2
    sw2 = np.asarray(sigma_w, dtype=float).ravel() ** 2
    n = sb2.size
    out = {k: np.empty(n) for k in ("q_star", "chi1", "slope", "xi_q", "xi_c")}
    for s in range(0, n, block):
        b2, w2 = sb2[s : s + block], sw2[s : s + block]
        q = np.ones_like(b2)
        for _ in range(iterations):
            q = b2 + w2 * (np.tanh(np.sqrt(q)[:, None] * x) ** 2 @ w)
        t = np.tanh(np.sqrt(q)[:, None] * x)
        d1 = 1.0 - t * t
        d2 = -2.0 * t * d1
        chi1 = w2 * (d1 * d1 @ w)
        slope = chi1 + w2 * (t * d2 @ w)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["q_star"][s : s + block] = q
            out["chi1"][s : s + block] = chi1
            out["slope"][s : s + block] = slope
            out["xi_q"][s : s + block] = -1.0 / np.log(slope)
            out["xi_c"][s : s + block] = -1.0 / np.log(chi1)
    return out


def numpy_eoc(sigma_b, *, nodes=100, iterations=200):
    """Hayou's Algorithm 1 for tanh with Gauss-Hermite instead of Monte Carlo."""
    x, w = gh_rule(nodes)
    sb2 = np.asarray(sigma_b, dtype=float) ** 2
    q = np.zeros_like(sb2)
    for _ in range(iterations):
        h = np.sqrt(q)[:, None] * x
        t = np.tanh(h)
        q = sb2 + (t * t @ w) / ((1 - t * t) ** 2 @ w)
    t = np.tanh(np.sqrt(q)[:, None] * x)
    return 1.0 / np.sqrt((1 - t * t) ** 2 @ w), q


# ----------------------------------------------------------------------------- sigprop


def sigprop_fixed_points(sb, sw, n_threads, with_correlation=False, act=TANH):
    p0, p1 = act.core_params
    return _core.fixed_points(act.kind, p0, p1, sw, sb, None, with_correlation, n_threads)


def sigprop_derived(r):
    """xi_c at c* = 1 from sigprop's chi1 (what the NumPy baseline computes)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return {**r, "xi_c1": -1.0 / np.log(r["chi1"])}


# ----------------------------------------------------------------------------- helpers


def best_time(fn, repeat):
    best, res = float("inf"), None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t0)
    return best, res


def grid(nb, nw, sb_range=(0.0, 2.0), sw_range=(0.1, 4.0)):
    sb, sw = np.meshgrid(np.linspace(*sb_range, nb), np.linspace(*sw_range, nw), indexing="ij")
    return np.ascontiguousarray(sb.ravel()), np.ascontiguousarray(sw.ravel())


def rel_err(a, ref, mask, *coords):
    """Relative errors of a against ref where mask (and ref finite, non-zero);
    with coords, also those coordinates at the same cells."""
    a, ref = np.asarray(a)[mask], np.asarray(ref)[mask]
    ok = np.isfinite(ref) & (ref != 0)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.abs(a[ok] - ref[ok]) / np.abs(ref[ok])
    e = np.where(np.isfinite(e), e, np.inf)
    if coords:
        return e, [np.asarray(c)[mask][ok] for c in coords]
    return e


def summarise(e, where=None):
    """max / 99th percentile / median of relative errors (and where the max is)."""
    if e.size == 0:
        return "n/a"
    with np.errstate(invalid="ignore"):
        p99, med = np.quantile(e, 0.99, method="higher"), np.quantile(e, 0.5, method="higher")
    at = ""
    if where is not None:
        i = int(np.argmax(e))
        at = f"  (max at sigma_b={where[0][i]:.4g}, sigma_w={where[1][i]:.4g})"
    return f"max {e.max():.2e}  p99 {p99:.2e}  median {med:.2e}{at}"


def mpmath_check(cells, dps=30):
    """30-digit q* and chi1 for tanh at (sigma_b, sigma_w) cells, from sigprop's q* as start."""
    import mpmath as mp

    mp.mp.dps = dps
    out = []

    def E(f, q):
        s = mp.sqrt(q)
        return mp.quad(lambda z: f(s * z) * mp.exp(-z * z / 2), [-mp.inf, -5, 0, 5, mp.inf]) / (
            mp.sqrt(2 * mp.pi)
        )

    def tanh_sq(h):
        return mp.tanh(h) ** 2

    for sb_f, sw_f, q_start in cells:
        sb2, sw2 = mp.mpf(sb_f) ** 2, mp.mpf(sw_f) ** 2
        q = mp.findroot(lambda q, a=sb2, b=sw2: a + b * E(tanh_sq, q) - q, mp.mpf(q_start))
        chi = sw2 * E(lambda h: mp.sech(h) ** 4, q)
        out.append((float(q), float(chi)))
    return out


# ----------------------------------------------------------------------------- sections


def section_fixed_points(args, report):
    nmax = args.threads
    sb, sw = grid(args.n_sigma_b, args.n_sigma_w)
    n = sb.size
    print(f"== 1. q*, chi1, V'(q*), xi_q, xi_c on a {args.n_sigma_b} x {args.n_sigma_w} tanh grid")
    t_sp, r = best_time(lambda: sigprop_fixed_points(sb, sw, nmax), args.repeat)
    r = sigprop_derived(r)
    rate_sp = n / t_sp
    st = np.bincount(r["status"], minlength=len(sigprop.Status) - 1)
    counts = {sigprop.Status(i).name: int(k) for i, k in enumerate(st) if k}
    print(
        f"sigprop  ({nmax} threads): {n} cells in {t_sp:.3f} s = {rate_sp:,.0f} cells/s; "
        f"status {counts}"
    )
    # NumPy on a subset grid (or the same grid)
    if args.numpy_n and args.numpy_n * args.numpy_n < n:
        nb = nw = args.numpy_n
        sub = f"subset {nb} x {nw} grid (same ranges; NumPy is slow on the full grid)"
    else:
        nb, nw = args.n_sigma_b, args.n_sigma_w
        sub = "same grid"
    nsb, nsw = grid(nb, nw)
    t_np, rn = best_time(
        lambda: numpy_fixed_points(nsb, nsw, nodes=args.nodes, iterations=args.iterations),
        args.repeat,
    )
    rate_np = nsb.size / t_np
    print(
        f"NumPy    (GH {args.nodes} nodes, {args.iterations} iterations, {sub}): "
        f"{nsb.size} cells in {t_np:.3f} s = {rate_np:,.0f} cells/s"
    )
    print(f"ratio sigprop / NumPy: {rate_sp / rate_np:,.1f}x cells/s")
    # NumPy's error against sigprop on the NumPy grid
    rs = sigprop_derived(sigprop_fixed_points(nsb, nsw, nmax))
    ok = (rs["status"] == 0) & np.isfinite(rs["q_star"])
    ordered = ok & (rs["chi1"] < 1)
    errs = {}
    for key, ref_key, mask in (
        ("q_star", "q_star", ok),
        ("chi1", "chi1", ok),
        ("slope", "slope", ok),
        ("xi_q", "xi_q", ok & (rs["slope"] < 1)),
        ("xi_c", "xi_c1", ordered),
    ):
        e, where = rel_err(rn[key], rs[ref_key], mask, nsb, nsw)
        errs[key] = float(e.max()) if e.size else None
        print(f"  NumPy rel. error vs sigprop, {key:<6}: {summarise(e, where)}")
    away = ok & (nsb >= 0.05)
    e = rel_err(rn["q_star"], rs["q_star"], away)
    print(f"  (q* for sigma_b >= 0.05 only: {summarise(e)})")
    # sigprop's error against mpmath
    rng = np.random.default_rng(0)
    idx = rng.choice(
        np.flatnonzero(ok & (nsb > 0)), size=min(args.mpmath, int(ok.sum())), replace=False
    )
    sp_err_q, sp_err_c, np_err_q = [], [], []
    if args.mpmath:
        t0 = time.perf_counter()
        ref = mpmath_check([(nsb[i], nsw[i], rs["q_star"][i]) for i in idx])
        for i, (q, chi) in zip(idx, ref, strict=True):
            sp_err_q.append(abs(rs["q_star"][i] - q) / q)
            sp_err_c.append(abs(rs["chi1"][i] - chi) / chi)
            np_err_q.append(abs(rn["q_star"][i] - q) / q)
        print(
            f"  sigprop vs mpmath (30 digits, {len(idx)} random cells, "
            f"{time.perf_counter() - t0:.1f} s): max rel. error q* {max(sp_err_q):.1e}, "
            f"chi1 {max(sp_err_c):.1e} (NumPy q* on the same cells: {max(np_err_q):.1e})"
        )
    report["fixed_points"] = {
        "grid": [args.n_sigma_b, args.n_sigma_w],
        "numpy_grid": [nb, nw],
        "threads": nmax,
        "sigprop_cells_per_s": rate_sp,
        "numpy_cells_per_s": rate_np,
        "ratio": rate_sp / rate_np,
        "numpy_max_rel_err_vs_sigprop": errs,
        "sigprop_max_rel_err_vs_mpmath": {
            "q_star": max(sp_err_q, default=None),
            "chi1": max(sp_err_c, default=None),
        },
    }
    return sb, sw, r, t_sp


def numpy_correlation(sigma_b, sigma_w, q_star, *, nodes=40, iterations=200, block=256):
    """c*, chi_c for tanh by the 2-D Gauss-Hermite c-map iteration people write.

    For each cell c <- (sb^2 + sw^2 E[tanh(u) tanh(v)]) / q* from c = 0, with the
    bivariate expectation on a ``nodes`` x ``nodes`` tensor Gauss-Hermite rule, then
    chi_c = sw^2 E[tanh'(u) tanh'(v)] at the last c.
    """
    x, w = gh_rule(nodes)
    X1, X2 = np.meshgrid(x, x, indexing="ij")
    W = np.outer(w, w).ravel()
    X1, X2 = X1.ravel(), X2.ravel()
    sb2 = np.asarray(sigma_b, dtype=float) ** 2
    sw2 = np.asarray(sigma_w, dtype=float) ** 2
    q = np.asarray(q_star, dtype=float)
    c_out, chi_out = np.empty(q.size), np.empty(q.size)
    for s in range(0, q.size, block):
        b2, w2, qq = sb2[s : s + block, None], sw2[s : s + block, None], q[s : s + block, None]
        sq = np.sqrt(qq)
        c = np.zeros_like(qq)
        tu = np.tanh(sq * X1)
        for _ in range(iterations):
            v = sq * (c * X1 + np.sqrt(1.0 - c * c) * X2)
            c = np.clip((b2 + w2 * ((tu * np.tanh(v)) @ W)[:, None]) / qq, -1.0, 1.0)
        v = sq * (c * X1 + np.sqrt(1.0 - c * c) * X2)
        chi = w2[:, 0] * (((1.0 - tu * tu) * (1.0 - np.tanh(v) ** 2)) @ W)
        c_out[s : s + block] = c[:, 0]
        chi_out[s : s + block] = chi
    return c_out, chi_out


def section_full(args, report):
    print(
        f"== 2. scans with and without c*, chi_c, xi_c on a {args.full_n} x {args.full_n} grid, "
        f"{args.threads} threads (per activation; tables built before timing)"
    )
    sb, sw = grid(args.full_n, args.full_n)
    report["full_scan"] = {}
    for name in args.full_activations.split(","):
        act = sigprop.activation(name)
        t_cold = time.perf_counter()
        sigprop_fixed_points(sb, sw, args.threads, True, act)  # builds the tables
        t_cold = time.perf_counter() - t_cold
        t_no, _ = best_time(
            lambda act=act: sigprop_fixed_points(sb, sw, args.threads, False, act), args.repeat
        )
        t_c, r = best_time(
            lambda act=act: sigprop_fixed_points(sb, sw, args.threads, True, act), args.repeat
        )
        fail = int(np.sum(r["status"] == sigprop.Status.c_not_converged))
        print(
            f"{name:<18} without c*: {sb.size / t_no:>11,.0f} cells/s   with c*: "
            f"{sb.size / t_c:>11,.0f} cells/s   ratio {t_no / t_c:5.2f}   first call "
            f"(table builds) {t_cold:6.2f} s   c* not found: {fail}"
        )
        report["full_scan"][name] = {
            "cells": int(sb.size),
            "cells_per_s_without_correlation": sb.size / t_no,
            "cells_per_s_with_correlation": sb.size / t_c,
            "first_call_s": t_cold,
            "c_not_converged": fail,
        }
    if "tanh" in args.full_activations.split(","):
        n = min(args.numpy_corr_n, args.full_n)
        nsb, nsw = grid(n, n)
        r = sigprop_fixed_points(nsb, nsw, args.threads, True, TANH)
        chaotic = (r["status"] == 0) & (r["chi1"] > 1.0) & (r["q_star"] > 0)
        cells = np.flatnonzero(chaotic)
        t_np, (c_np, chi_np) = best_time(
            lambda: numpy_correlation(
                nsb[cells], nsw[cells], r["q_star"][cells], nodes=args.corr_nodes
            ),
            args.repeat,
        )
        t_sp, r2 = best_time(
            lambda: sigprop_fixed_points(nsb[cells], nsw[cells], args.threads, True, TANH),
            args.repeat,
        )
        e_c = np.abs(c_np - r2["c_star"])
        e_chi = np.abs(chi_np - r2["chi_c"]) / np.abs(r2["chi_c"])
        print(
            f"tanh chaotic cells of a {n} x {n} grid ({cells.size} cells): sigprop "
            f"{cells.size / t_sp:,.0f} cells/s, NumPy 2-D Gauss-Hermite ({args.corr_nodes}^2 "
            f"nodes, 200 c-map iterations) {cells.size / t_np:,.1f} cells/s, ratio "
            f"{t_np / t_sp:,.0f}x; NumPy error in c*: max {np.nanmax(e_c):.1e}, "
            f"in chi_c: max rel. {np.nanmax(e_chi):.1e}"
        )
        report["correlation_vs_numpy"] = {
            "cells": int(cells.size),
            "sigprop_cells_per_s": cells.size / t_sp,
            "numpy_cells_per_s": cells.size / t_np,
            "numpy_max_abs_err_c_star": float(np.nanmax(e_c)),
            "numpy_max_rel_err_chi_c": float(np.nanmax(e_chi)),
        }


def section_eoc(args, report):
    print(f"== 3. EOC curve: {args.eoc_n} sigma_b values in [0, 2], tanh")
    sbs = np.linspace(0.0, 2.0, args.eoc_n)
    t_sp, e = best_time(lambda: sigprop.eoc("tanh", sbs, n_threads=args.threads), args.repeat)
    t_np, (sw_np, _q_np) = best_time(lambda: numpy_eoc(sbs, nodes=args.nodes), args.repeat)
    sw_sp = e.sigma_w
    err = rel_err(sw_np, sw_sp, np.isfinite(sw_sp))
    print(f"sigprop.eoc: {t_sp * 1e3:.1f} ms ({args.threads} threads)")
    print(
        f"NumPy Hayou Algorithm 1 (GH {args.nodes}, 200 iterations): {t_np * 1e3:.1f} ms; "
        f"sigma_w rel. error vs sigprop {summarise(err)}"
    )
    report["eoc"] = {
        "n": args.eoc_n,
        "sigprop_ms": t_sp * 1e3,
        "numpy_ms": t_np * 1e3,
        "numpy_max_rel_err": float(err.max()) if err.size else None,
    }


def section_threads(args, report, sb=None, sw=None, ref=None, t_max=None):
    if sb is None:
        sb, sw = grid(args.n_sigma_b, args.n_sigma_w)
        t_max, ref = best_time(lambda: sigprop_fixed_points(sb, sw, args.threads), args.repeat)
        ref = sigprop_derived(ref)
    print(f"== 4. OpenMP scaling on the {args.n_sigma_b} x {args.n_sigma_w} grid ({sb.size} cells)")
    report["threads"] = {}
    for nt in range(1, args.threads + 1):
        if nt == args.threads:
            t, r = t_max, ref
        else:
            t, r = best_time(lambda nt=nt: sigprop_fixed_points(sb, sw, nt), args.repeat)
            r = sigprop_derived(r)
        same = all(
            np.array_equal(np.asarray(r[k]).view(np.uint8), np.asarray(ref[k]).view(np.uint8))
            for k in ref
        )
        print(f"n_threads={nt}: {t:.3f} s ({sb.size / t:,.0f} cells/s), bitwise identical: {same}")
        report["threads"][nt] = {"seconds": t, "bitwise_identical": same}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-sigma-b", type=int, default=1000, help="sigma_b points (sigprop grid)")
    p.add_argument("--n-sigma-w", type=int, default=1000, help="sigma_w points (sigprop grid)")
    p.add_argument(
        "--numpy-n", type=int, default=300, help="NumPy on an n x n subset grid (0: same grid)"
    )
    p.add_argument("--nodes", type=int, default=100, help="Gauss-Hermite nodes of the NumPy code")
    p.add_argument("--iterations", type=int, default=100, help="q-map iterations (NumPy)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="max OpenMP threads")
    p.add_argument("--full-n", type=int, default=40, help="grid of the scans with c*")
    p.add_argument(
        "--full-activations", default=",".join(sigprop.ACTIVATIONS), help="comma-separated"
    )
    p.add_argument("--numpy-corr-n", type=int, default=40, help="grid of the NumPy c* baseline")
    p.add_argument("--corr-nodes", type=int, default=40, help="GH nodes per axis, NumPy c*")
    p.add_argument("--eoc-n", type=int, default=10_000, help="sigma_b values of the EOC curve")
    p.add_argument("--mpmath", type=int, default=6, help="mpmath spot-check cells (0: none)")
    p.add_argument("--repeat", type=int, default=1, help="timing repeats (best is kept)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument(
        "--sections",
        default="fixed,full,eoc,threads",
        help="comma-separated subset of fixed,full,eoc,threads (default: all)",
    )
    args = p.parse_args(argv)
    print(
        f"sigprop {sigprop.__version__}, OpenMP {sigprop.has_openmp}, "
        f"{os.cpu_count()} CPUs, NumPy {np.__version__}"
    )
    report: dict = {"sigprop": sigprop.__version__, "cpus": os.cpu_count()}
    sections = set(args.sections.split(","))
    unknown = sections - {"fixed", "full", "eoc", "threads"}
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}")
    first = ()
    if "fixed" in sections:
        first = section_fixed_points(args, report)
    if "full" in sections:
        section_full(args, report)
    if "eoc" in sections:
        section_eoc(args, report)
    if "threads" in sections:
        section_threads(args, report, *first)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
