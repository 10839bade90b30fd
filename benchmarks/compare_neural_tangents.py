"""sigprop's nngp_kernel against neural-tangents' infinite-width NNGP kernels.

Run from the repository root (neural-tangents is optional: without it the script
says so and exits with status 0):

    python benchmarks/compare_neural_tangents.py --json out.json
    python benchmarks/compare_neural_tangents.py --n 500 --cases relu,tanh:25 --scaled-cases ""

What is compared: the NNGP kernel of n inputs X ~ N(0, 1)^(n x d)
(``np.random.default_rng(0)``, default 200 x 10) through a fully connected
network, depth 10, sigma_w = 1.3, sigma_b = 0.2 (standard deviations, weights
N(0, sigma_w^2 / fan_in), biases N(0, sigma_b^2)), in float64 on the CPU.

* sigprop: ``sigprop.nngp_kernel(phi, X, sigma_w, sigma_b, depth=depth)``, whose
  layer 1 is the first affine layer (K^1 = sigma_b^2 + sigma_w^2 X X^T / d), so
  depth L is L affine layers and L - 1 activations, the last affine layer's
  kernel included.
* neural-tangents: ``stax.serial(Dense, *[phi, Dense] * (depth - 1))`` with
  ``Dense(1, W_std=sigma_w, b_std=sigma_b)`` (the same L affine layers and L - 1
  activations; the NNGP of NT's default "ntk" parameterisation is that of the
  standard one, W ~ N(0, W_std^2 / fan_in)), ``kernel_fn(X, None, "nngp")``
  under ``jax.jit`` with ``jax_enable_x64``. NT's closed forms: relu, leaky_relu
  (LeakyRelu(0.1)), abs (Abs; sigprop's leaky_relu with negative_slope = -1),
  erf, sin, gelu (exact). Activations without one (tanh, sigmoid, elu) use
  ``stax.ElementwiseNumerical(phi, deg)``: a deg x deg Gauss-Hermite rule per
  pair and layer (case names ``tanh:25``, ``tanh:100``), which holds deg^2 n^2
  float64 values at once (deg 100, n = 200: 3.2 GB; mind this with ``--n``).

For each case: the first call of each (NT: jit compilation; sigprop: table
builds, cache cleared before), then the best of ``--repeat`` or more calls (as
many as fit in 0.5 s) of NT, of sigprop with one thread and with every core
(``n_threads=None``), their ratios, and max |K_NT - K_sigprop| / max |K_sigprop|
over the n x n kernel (sigprop is exact to ~1e-12, so for the Gauss-Hermite
cases this is NT's error). The same again for inputs scaled by ``--scale``
(default 10, so ||x||^2 / d ~ 100 and the first layer's variance q ~ 170), where
NT's Gauss-Hermite rule loses accuracy. Last, NT's Gauss-Hermite rule at 25,
100 and ``--ref-deg`` nodes on the first ``--ref-n`` inputs against sigprop (tanh,
sigmoid, elu): NT must converge to sigprop's kernel as the degree grows (slowly
for elu, whose second derivative jumps at 0).

NT runs with XLA's defaults on the CPU (no thread settings are made); the output
gives the backend and the number of cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np

import sigprop

DEFAULT_CASES = "relu,leaky_relu,abs,erf,sin,gelu,elu:25,sigmoid:25,tanh:25,tanh:100"
DEFAULT_SCALED = "relu,erf,sin,gelu,tanh:25,tanh:100"


def best_time(fn, repeat, min_time=0.5):
    """(time of the first call, best time of the further calls, last result).

    At least ``repeat`` further calls, and more until ``min_time`` seconds are spent
    (cheap calls get many: the machine may be shared)."""
    t0 = time.perf_counter()
    res = fn()
    first = time.perf_counter() - t0
    best, spent, calls = float("inf"), 0.0, 0
    while calls < max(1, repeat) or spent < min_time:
        t0 = time.perf_counter()
        res = fn()
        dt = time.perf_counter() - t0
        best, spent, calls = min(best, dt), spent + dt, calls + 1
    return first, best, res


def build_cases(spec, jax, stax):
    """(name, sigprop activation, NT layer, NT method) for each comma-separated case."""
    jnp = jax.numpy
    closed = {
        "relu": ("relu", stax.Relu),
        "leaky_relu": (
            sigprop.activation("leaky_relu", negative_slope=0.1),
            lambda: stax.LeakyRelu(0.1),
        ),
        "abs": (sigprop.activation("leaky_relu", negative_slope=-1.0), stax.Abs),
        "erf": ("erf", stax.Erf),
        "sin": ("sin", stax.Sin),
        "gelu": ("gelu", lambda: stax.Gelu(approximate=False)),
    }
    numerical = {
        "tanh": ("tanh", jnp.tanh),
        "sigmoid": ("sigmoid", jax.nn.sigmoid),
        "elu": ("elu", jax.nn.elu),
    }
    cases = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, deg = item.partition(":")
        if name in closed and not deg:
            act, layer = closed[name]
            label = "leaky_relu(0.1)" if name == "leaky_relu" else name
            cases.append((label, act, layer, "closed form"))
        elif name in numerical and deg:
            act, fn = numerical[name]

            def layer(fn=fn, deg=int(deg)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "numerical activation used" notices
                    return stax.ElementwiseNumerical(fn, deg=deg)

            cases.append((item, act, layer, f"Gauss-Hermite {deg}"))
        else:
            raise SystemExit(
                f"unknown case {item!r}: one of {', '.join(closed)} (closed form) or "
                f"{', '.join(numerical)} with ':deg' (Gauss-Hermite)"
            )
    return cases


def nt_kernel_fn(jax, stax, layer, depth, sw, sb):
    """jit-compiled X -> NNGP kernel of Dense + (phi, Dense) * (depth - 1)."""
    layers = [stax.Dense(1, W_std=sw, b_std=sb)]
    for _ in range(depth - 1):
        layers += [layer(), stax.Dense(1, W_std=sw, b_std=sb)]
    _, _, kernel_fn = stax.serial(*layers)
    f = jax.jit(lambda x: kernel_fn(x, None, "nngp"))
    return lambda x: f(x).block_until_ready()


def rel_diff(k_nt, k_sp):
    """max |K_NT - K_sp| / max |K_sp|, over all entries and over the diagonal."""
    d = np.abs(k_nt - k_sp)
    scale = np.abs(k_sp).max()
    return float(d.max() / scale), float(np.diag(d).max() / scale)


def run_cases(args, jax, stax, cases, X, title):
    q1 = args.sigma_b**2 + args.sigma_w**2 * np.einsum("ij,ij->i", X, X) / X.shape[1]
    print(f"== {title}: the first layer's variances q in [{q1.min():.3g}, {q1.max():.3g}]")
    print(
        f"{'case':<17}{'NT method':<20}{'NT first':>10}{'NT':>11}{'sp first':>10}"
        f"{'sp 1 thr':>10}{f'sp {os.cpu_count()} thr':>10}{'NT/sp':>8}{'NT/sp1':>8}"
        f"{'max rel diff':>14}"
    )
    print(f"{'':<37}{'(ms, compile)':>10}{'(ms)':>11}{'(ms)':>10}{'(ms)':>10}{'(ms)':>10}")
    Xj = jax.numpy.asarray(X)
    rows = {}
    for label, act, layer, method in cases:
        f_nt = nt_kernel_fn(jax, stax, layer, args.depth, args.sigma_w, args.sigma_b)
        nt_first, nt_best, k_nt = best_time(lambda f=f_nt: f(Xj), args.repeat)
        k_nt = np.asarray(k_nt)
        if k_nt.dtype != np.float64:
            raise SystemExit(f"NT returned {k_nt.dtype}: jax_enable_x64 is not in effect")
        sigprop.clear_cache()
        sp_first, sp1, _ = best_time(
            lambda act=act: sigprop.nngp_kernel(
                act, X, args.sigma_w, args.sigma_b, depth=args.depth, n_threads=1
            ),
            args.repeat,
        )
        _, spn, k_sp = best_time(
            lambda act=act: sigprop.nngp_kernel(
                act, X, args.sigma_w, args.sigma_b, depth=args.depth
            ),
            args.repeat,
        )
        err, err_diag = rel_diff(k_nt, k_sp)
        print(
            f"{label:<17}{method:<20}{nt_first * 1e3:10.1f}{nt_best * 1e3:11.2f}"
            f"{sp_first * 1e3:10.1f}{sp1 * 1e3:10.2f}{spn * 1e3:10.2f}{nt_best / spn:8.1f}"
            f"{nt_best / sp1:8.1f}{err:14.2e}"
        )
        rows[label] = {
            "nt_method": method,
            "nt_first_call_s": nt_first,
            "nt_s": nt_best,
            "sigprop_first_call_s": sp_first,
            "sigprop_1_thread_s": sp1,
            "sigprop_all_threads_s": spn,
            "ratio_nt_over_sigprop": nt_best / spn,
            "ratio_nt_over_sigprop_1_thread": nt_best / sp1,
            "max_rel_diff": err,
            "max_rel_diff_diagonal": err_diag,
        }
    return rows


def run_reference(args, jax, stax, X, report):
    """NT's Gauss-Hermite rule at a high degree on a few inputs against sigprop."""
    Xr = X[: args.ref_n]
    print(
        f"== NT's Gauss-Hermite rule against sigprop on the first {Xr.shape[0]} inputs as "
        "the degree grows (max rel diff): NT converges to sigprop's kernel"
    )
    fns = {"tanh": jax.numpy.tanh, "sigmoid": jax.nn.sigmoid, "elu": jax.nn.elu}
    report["reference"] = {}
    for name, fn in fns.items():
        errs = []
        for deg in sorted({25, 100, args.ref_deg}):

            def layer(fn=fn, deg=deg):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return stax.ElementwiseNumerical(fn, deg=deg)

            f_nt = nt_kernel_fn(jax, stax, layer, args.depth, args.sigma_w, args.sigma_b)
            k_nt = np.asarray(f_nt(jax.numpy.asarray(Xr)))
            k_sp = sigprop.nngp_kernel(name, Xr, args.sigma_w, args.sigma_b, depth=args.depth)
            errs.append((deg, rel_diff(k_nt, k_sp)[0]))
        print(f"{name:<8}" + "   ".join(f"deg {d}: {e:.2e}" for d, e in errs))
        report["reference"][name] = {str(d): e for d, e in errs}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200, help="number of inputs")
    p.add_argument("--d", type=int, default=10, help="input dimension")
    p.add_argument("--depth", type=int, default=10, help="sigprop's depth (affine layers)")
    p.add_argument("--sigma-w", type=float, default=1.3)
    p.add_argument("--sigma-b", type=float, default=0.2)
    p.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated, name or name:deg")
    p.add_argument("--scaled-cases", default=DEFAULT_SCALED, help="cases on the scaled inputs")
    p.add_argument("--scale", type=float, default=10.0, help="input scale of the large-q cases")
    p.add_argument("--repeat", type=int, default=3, help="timed calls after the first (best kept)")
    p.add_argument("--ref-n", type=int, default=20, help="inputs of the high-degree check")
    p.add_argument("--ref-deg", type=int, default=400, help="degree of the high-degree check")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    try:
        import jax
        from neural_tangents import __version__ as nt_version
        from neural_tangents import stax
    except ImportError as exc:
        print(f"neural_tangents is not importable ({exc}); nothing to compare")
        return 0
    jax.config.update("jax_enable_x64", True)
    X = np.random.default_rng(0).normal(size=(args.n, args.d))
    dev = jax.devices()[0]
    print(
        f"sigprop {sigprop.__version__} (OpenMP {sigprop.has_openmp}), neural-tangents "
        f"{nt_version}, jax {jax.__version__}, jaxlib {jax.lib.__version__}, NumPy "
        f"{np.__version__}; {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"XLA backend {jax.default_backend()} ({dev.device_kind}), "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        f"n = {args.n} inputs, d = {args.d}, depth {args.depth} (NT: Dense + "
        f"[phi, Dense] x {args.depth - 1}), sigma_w = {args.sigma_w}, sigma_b = "
        f"{args.sigma_b}, float64; times are the best of >= {args.repeat} calls after a first call"
    )
    report = {
        "sigprop": sigprop.__version__,
        "neural_tangents": nt_version,
        "jax": jax.__version__,
        "cpus": os.cpu_count(),
        "n": args.n,
        "d": args.d,
        "depth": args.depth,
        "sigma_w": args.sigma_w,
        "sigma_b": args.sigma_b,
        "repeat": args.repeat,
    }
    t_start = time.perf_counter()
    report["cases"] = run_cases(
        args, jax, stax, build_cases(args.cases, jax, stax), X, "inputs N(0, 1), ||x||^2 / d ~ 1"
    )
    if args.scaled_cases:
        Xs = X * args.scale
        report["scale"] = args.scale
        report["scaled_cases"] = run_cases(
            args,
            jax,
            stax,
            build_cases(args.scaled_cases, jax, stax),
            Xs,
            f"inputs x {args.scale:g}, ||x||^2 / d ~ {args.scale**2:g}",
        )
    if args.ref_n and args.ref_deg:
        run_reference(args, jax, stax, X, report)
    print(f"total {time.perf_counter() - t_start:.0f} s, load average {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
