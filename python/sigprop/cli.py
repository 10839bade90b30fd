"""The ``sigprop`` command line."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from .networks.initializers import kumar_gain
from .theory.activations import activation
from .theory.edge_of_chaos import EOC_KINDS, eoc
from .theory.fixed_points import fixed_point

_DEMO_ACTIVATIONS = ("tanh", "erf", "elu", "selu", "silu", "gelu", "sigmoid", "softplus", "relu")
_DEMO_SIGMA_B = (0.0, 0.05, 0.2, 0.5, 1.0)


def _common_inits(name: str) -> list[tuple[str, float]]:
    """(label, sigma_w) of the initialisations people use for an activation."""
    act = activation(name)
    inits = [("Glorot/LeCun (1)", 1.0), ("He (sqrt 2)", math.sqrt(2.0))]
    torch_gain = {"tanh": 5.0 / 3.0, "sigmoid": 1.0, "relu": math.sqrt(2.0), "selu": 0.75}
    if name in torch_gain:
        inits.append(("torch calculate_gain", torch_gain[name]))
    try:
        inits.append(("Kumar", kumar_gain(act)))
    except ValueError:
        pass
    return inits


def demo(out=None) -> int:
    """Print EOC points and where common initialisations sit (q*, chi1, phase)."""
    out = sys.stdout if out is None else out
    t0 = time.perf_counter()
    w = out.write
    w("sigprop demo: mean-field theory of deep random networks\n")
    w("Conventions: weights N(0, sigma_w^2/fan_in), biases N(0, sigma_b^2).\n\n")
    w("Edge of Chaos: critical sigma_w at sigma_b (q* in brackets; * = unstable q*)\n")
    w(f"{'activation':<10}" + "".join(f"{'sb=' + format(s, 'g'):>21}" for s in _DEMO_SIGMA_B))
    w("\n")
    for name in _DEMO_ACTIVATIONS:
        r = eoc(name, np.array(_DEMO_SIGMA_B))
        cells = []
        for i in range(len(_DEMO_SIGMA_B)):
            if r.n_branches[i] == 0:
                cells.append("none")
                continue
            sw, q, sl = r.sigma_w[i], r.q_star[i], r.slope[i]
            qs = "q any" if np.isnan(q) else f"{q:.4g}"
            star = "*" if sl > 1 else ""
            cells.append(f"{sw:.6f} ({qs}){star}")
        w(f"{name:<10}" + "".join(f"{c:>21}" for c in cells) + "\n")
    w("\nCommon initialisations at sigma_b = 0 and 0.05: limiting q*, chi1, phase\n")
    w(
        f"{'activation':<10} {'initialisation':<22} {'sigma_w':>8}  "
        f"{'q*':>10} {'chi1':>8} {'phase':<9}  {'q*':>10} {'chi1':>8} {'phase':<9}\n"
    )
    for name in ("tanh", "sigmoid", "relu", "elu", "selu", "silu"):
        for label, sw in _common_inits(name):
            row = f"{name:<10} {label:<22} {sw:>8.4f}"
            for sb in (0.0, 0.05):
                fp = fixed_point(name, sw, sb, correlation=False)
                q = float(fp.q_star)
                qtxt = "inf" if math.isinf(q) else ("nan" if math.isnan(q) else f"{q:.4g}")
                row += f"  {qtxt:>10} {float(fp.chi1):>8.4f} {fp.phase!s:<9}"
            w(row + "\n")
    w(f"\n(computed in {time.perf_counter() - t0:.2f} s)\n")
    return 0


def gains(sigma_b: Sequence[float] = (0.0,), out=None) -> int:
    """Print where torch.nn.init.calculate_gain's gains sit and the EOC sigma_w instead."""
    from .networks.initializers import gain_table

    w = (sys.stdout if out is None else out).write
    w("torch.nn.init.calculate_gain as sigma_w (weights N(0, gain^2/fan_in)), biases N(0, sb^2)\n")
    w(
        f"{'activation':<32} {'gain':>7} {'sb':>5} {'q*':>9} {'chi1':>7} {'phase':<9} "
        f"{'xi_c':>8}  recommendation\n"
    )
    for sb in sigma_b:
        for r in gain_table(sb):
            w(
                f"{r.activation:<32} {r.gain:>7.4f} {r.sigma_b:>5.3g} {r.q_star:>9.4g} "
                f"{r.chi1:>7.4f} {r.phase:<9} {r.xi_c:>8.4g}  {r.recommendation}\n"
            )
    return 0


# ----------------------------------------------------------------------------- scan / eoc / plot


def parse_range(text: str, name: str = "range") -> np.ndarray:
    """Parse ``start:stop:num`` (inclusive linspace), ``a,b,c`` or a single number.

    Parameters
    ----------
    text : str
    name : str
        Argument name for error messages.

    Returns
    -------
    numpy.ndarray
    """
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            if num < 1:
                raise ValueError
            return np.linspace(start, stop, num)
        return np.array([float(x) for x in text.split(",") if x.strip()], dtype=float)
    except ValueError:
        raise ValueError(
            f"{name} must be start:stop:num, a comma-separated list or a number, got {text!r}"
        ) from None


def _parse_params(items: Sequence[str] | None) -> dict[str, np.ndarray] | None:
    if not items:
        return None
    out = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param must be NAME=RANGE (e.g. a=0.5,1,2), got {item!r}")
        out[key.strip()] = parse_range(val, f"--param {key.strip()}")
    return out


def _activations(names: Sequence[str]) -> list:
    from .scans.labels import activation_from_label

    return [activation_from_label(n) for n in names]


def _add_grid_arguments(p: argparse.ArgumentParser, *, sigma_w: bool = True) -> None:
    p.add_argument(
        "--sigma-b",
        default="0:2:101",
        help="bias standard deviations sigma_b: start:stop:num, a list a,b,c or a number "
        "(default 0:2:101)",
    )
    if sigma_w:
        p.add_argument(
            "--sigma-w",
            default="0.1:4:196",
            help="weight standard deviations sigma_w (W ~ N(0, sigma_w^2/fan_in)), "
            "same forms (default 0.1:4:196)",
        )
    p.add_argument(
        "--param",
        action="append",
        metavar="NAME=RANGE",
        help="scan an activation parameter too, e.g. --param a=0.5,1,2 (repeatable)",
    )
    p.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: all)")


def _add_scan_parser(sub) -> None:
    p = sub.add_parser(
        "scan",
        help="phase-diagram scan over (activation, sigma_b, sigma_w), written to .nc or .zarr",
        description="Fixed point q*, chi1, V'(q*), c*, chi_c, depth scales and phase on a grid; "
        "sigma_b, sigma_w are standard deviations (weights N(0, sigma_w^2/fan_in)).",
    )
    p.add_argument(
        "activations",
        nargs="+",
        help="activation names or expressions in x, e.g. tanh 'elu(alpha=1)' 'x*sigmoid(x)'",
    )
    _add_grid_arguments(p)
    p.add_argument("-o", "--output", required=True, help="output file: *.nc (netCDF-4) or *.zarr")
    p.add_argument("--no-correlation", action="store_true", help="skip c*, chi_c, xi_c (faster)")
    p.add_argument("--chunk-cells", type=int, default=1 << 18, help="cells per core call")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--resume",
        action="store_true",
        help="finish the partial store of an interrupted scan (OUTPUT's .partial twin)",
    )
    g.add_argument(
        "-f", "--force", action="store_true", help="replace an existing OUTPUT (a sigprop store)"
    )
    p.set_defaults(func=cmd_scan)


def cmd_scan(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``sigprop scan``: stream a scan to a file and print a summary."""
    from .outcomes import Phase
    from .scans.grid_scan import scan

    out = sys.stdout if out is None else out
    t0 = time.perf_counter()
    sb = parse_range(args.sigma_b, "--sigma-b")
    sw = parse_range(args.sigma_w, "--sigma-w")
    params = _parse_params(args.param)
    acts = args.activations if params else _activations(args.activations)
    ds = scan(
        acts,
        sigma_w=sw,
        sigma_b=sb,
        params=params,
        correlation=not args.no_correlation,
        n_threads=args.threads,
        chunk_cells=args.chunk_cells,
        progress=False if args.quiet else None,
        out=args.output,
        overwrite=args.force,
        resume=args.resume,
    )
    if not args.quiet:
        n = int(np.prod([ds.sizes[d] for d in ds["phase"].dims]))
        dt = time.perf_counter() - t0
        out.write(f"wrote {args.output}: {dict(ds.sizes)} = {n} cells in {dt:.2f} s\n")
        phases = [p for p in Phase if p >= 0]
        counts = np.zeros(len(phases), dtype=np.int64)
        rows = max(1, (1 << 22) // ds.sizes["sigma_w"])  # count in bounded memory
        for i in range(0, ds.sizes["sigma_b"], rows):
            block = np.asarray(ds["phase"].isel(sigma_b=slice(i, i + rows)).values)
            counts += np.bincount(block.ravel()[block.ravel() >= 0], minlength=len(phases))
        out.write(
            "phases: "
            + ", ".join(f"{p.name} {c}" for p, c in zip(phases, counts, strict=True) if c)
        )
        out.write("\n")
    ds.close()
    return 0


def _add_eoc_parser(sub) -> None:
    p = sub.add_parser(
        "eoc",
        help="Edge-of-Chaos curves sigma_w(sigma_b) (print, or save .nc/.zarr/.csv)",
        description="Critical sigma_w (chi1 = 1) at each sigma_b, every branch, "
        "with q* and V'(q*).",
    )
    p.add_argument("activations", nargs="+", help="activation names or expressions in x")
    _add_grid_arguments(p, sigma_w=False)
    p.add_argument("-o", "--output", help="save to *.nc, *.zarr or *.csv instead of printing")
    p.add_argument(
        "-f", "--force", action="store_true", help="replace an existing OUTPUT (a sigprop store)"
    )
    p.set_defaults(func=cmd_eoc, sigma_b="0:2:21")


def cmd_eoc(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``sigprop eoc``: print or save EOC curves."""
    from .scans.eoc_curves import eoc_curve

    out = sys.stdout if out is None else out
    sb = parse_range(args.sigma_b, "--sigma-b")
    params = _parse_params(args.param)
    acts = args.activations if params else _activations(args.activations)
    e = eoc_curve(acts, sb, params=params, n_threads=args.threads)
    if args.output:
        _save_dataset(e, args.output, force=args.force)
        return 0
    df = e.to_dataframe().reset_index()
    df = df[df["kind"] >= 0]
    kinds = {-1: "none", **dict(enumerate(EOC_KINDS))}
    df = df.assign(kind=df["kind"].map(kinds)).drop(columns=["n_branches"])
    out.write("EOC: sigma_w with chi1 = 1 (standard deviations; weights N(0, sigma_w^2/fan_in))\n")
    out.write(df.to_string(index=False, float_format=lambda v: f"{v:.10g}") + "\n")
    return 0


def _save_dataset(ds, path: str, force: bool = False) -> None:
    """Write ``ds`` to .zarr/.nc/.csv: under a temporary name, renamed on success.

    An existing ``path`` is replaced only with ``force``, and only if it is a
    store sigprop wrote (a .csv file: any file).
    """
    from .scans._stores import (
        check_store_kind,
        partial_path,
        remove_store,
        require_sigprop_store,
        store_format,
    )

    low = path.lower().rstrip("/\\")
    fmt = "csv" if low.endswith(".csv") else store_format(path, "output")
    check_store_kind(path, fmt, "output")
    if os.path.exists(path):
        if not force:
            raise FileExistsError(f"output {path!r} exists; pass --force to replace it")
        if fmt != "csv":
            require_sigprop_store(path, fmt)
    tmp = partial_path(path)
    if os.path.exists(tmp):
        if fmt == "csv":
            os.remove(tmp)
        else:
            remove_store(tmp, fmt)
    if fmt == "zarr":
        ds.to_zarr(tmp, mode="w-", consolidated=False)
    elif fmt == "csv":
        ds.to_dataframe().to_csv(tmp)
    else:
        ds.to_netcdf(tmp, engine="h5netcdf")
    if os.path.isdir(path):
        remove_store(path, fmt)
    os.replace(tmp, path)


def _open_scan(path: str):
    from ._optional import need

    xr = need("xarray", "sigprop plot")
    if path.lower().rstrip("/").endswith(".zarr"):
        return xr.open_zarr(path, consolidated=False)
    return xr.open_dataset(path, engine="h5netcdf")


def _add_plot_parser(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="phase diagram (chi1 or xi_c) with the EOC curve, or EOC curves; PNG/PDF",
        description="Plot a scan file (sigprop scan ... -o FILE), or activations computed on "
        "the fly with --sigma-b/--sigma-w.",
    )
    p.add_argument("source", nargs="+", help="a scan file (*.nc, *.zarr) or activation names")
    _add_grid_arguments(p)
    p.add_argument("--variable", default="chi1", help="chi1 (default), xi_c, xi_q, q_star, ...")
    p.add_argument(
        "--eoc-only", action="store_true", help="draw only the EOC curves of the activations"
    )
    p.add_argument("-o", "--output", required=True, help="figure file (*.png, *.pdf, *.svg)")
    p.add_argument("--dpi", type=int, default=200)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_plot)


def cmd_plot(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``sigprop plot``: write a phase-diagram or EOC figure."""
    import os

    from ._optional import matplotlib_modules
    from .plotting import eoc_curves, phase_diagram
    from .scans.eoc_curves import eoc_curve
    from .scans.grid_scan import scan

    out = sys.stdout if out is None else out
    _, plt = matplotlib_modules()

    src = args.source
    is_file = len(src) == 1 and (
        os.path.exists(src[0]) or src[0].lower().rstrip("/").endswith((".nc", ".zarr"))
    )
    params = _parse_params(args.param)
    if is_file:
        ds = _open_scan(src[0])
        sb = np.asarray(ds["sigma_b"].values)
        names = [str(a) for a in ds["activation"].values]
    else:
        ds = None
        sb = parse_range(args.sigma_b, "--sigma-b")
        names = list(src)
    if args.eoc_only:
        acts = names if params else _activations(names)
        fig = eoc_curves(eoc_curve(acts, sb, params=params, n_threads=args.threads))
    else:
        if ds is None:
            acts = names if params else _activations(names)
            ds = scan(
                acts,
                sigma_w=parse_range(args.sigma_w, "--sigma-w"),
                sigma_b=sb,
                params=params,
                correlation=args.variable in ("xi_c", "c_star", "chi_c"),
                n_threads=args.threads,
                progress=False if args.quiet else None,
            )
        extra = [d for d in ds["phase"].dims if d not in ("activation", "sigma_b", "sigma_w")]
        if extra:
            raise ValueError(f"sigprop plot draws scans without parameter dimensions, got {extra}")
        labels = [str(a) for a in ds["activation"].values]
        fig, axes = plt.subplots(
            1, len(labels), figsize=(5.2 * len(labels), 4.0), constrained_layout=True, squeeze=False
        )
        for ax, name in zip(axes[0], labels, strict=True):
            phase_diagram(ds, args.variable, activation=name, ax=ax)
    fig.savefig(args.output, dpi=args.dpi)
    plt.close(fig)
    if not args.quiet:
        out.write(f"wrote {args.output}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sigprop`` command."""
    parser = argparse.ArgumentParser(
        prog="sigprop", description="Mean-field signal propagation in deep random networks."
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="print EOC points and where common initialisations sit")
    p_gains = sub.add_parser("gains", help="where the common init gains sit (q*, chi1, phase)")
    p_gains.add_argument("--sigma-b", type=float, nargs="+", default=[0.0], help="bias std(s)")
    _add_scan_parser(sub)
    _add_eoc_parser(sub)
    _add_plot_parser(sub)
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        return demo()
    if args.command == "gains":
        return gains(args.sigma_b)
    if hasattr(args, "func"):
        try:
            return args.func(args)
        except (ValueError, TypeError, OSError) as exc:
            # One clear line for bad arguments and for file-system problems
            # (missing directory, permission, existing output), no traceback.
            msg = str(exc)
            if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in msg:
                msg = f"{msg}: {exc.filename}"
            parser.error(msg)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
