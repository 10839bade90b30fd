"""The ``sigprop`` command line."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from ._validation import keep_probability
from .networks.initializers import kumar_gain
from .outcomes import Status
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
                cells.append(Status.no_eoc.name)
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


# ----------------------------------------------------------------------------- activations


def list_activations(out=None) -> int:
    """Print the built-in activations, their parameters (with defaults) and formulas."""
    from .theory.activations import ACTIVATIONS

    w = (sys.stdout if out is None else out).write
    rows = []
    for name in ACTIVATIONS:
        act = activation(name)
        ps = ", ".join(f"{k}={_num(v)}" for k, v in act.params.items()) or "-"
        rows.append((name, ps, act.formula))
    wn = max(len(r[0]) for r in rows)
    wp = max(len(r[1]) for r in rows)
    w("Built-in activations (parameters with their defaults):\n")
    w(f"{'name':<{wn}}  {'parameters':<{wp}}  phi(x)\n")
    for name, ps, formula in rows:
        w(f"{name:<{wn}}  {ps:<{wp}}  {formula}\n")
    w(
        "\nOther parameter values: 'elu(alpha=0.5)', or scan one: --param alpha=0.5:2:4.\n"
        "Your own phi: an expression in x, e.g. 'x*tanh(softplus(x))' or 'x*sigmoid(beta*x)' "
        'with --param beta=0.5:2:16 (needs sympy: pip install ".[sympy]").\n'
    )
    return 0


# ----------------------------------------------------------------------------- arguments


def _num(v) -> str:
    """A plain number for messages: -1, 0.5, nan (never ``np.float64(-1.0)``)."""
    return format(float(v), ".10g")


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
        Finite values, at least one.
    """
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            if num < 1:
                raise ValueError
            values = np.linspace(start, stop, num)
        else:
            values = np.array([float(x) for x in text.split(",") if x.strip()], dtype=float)
        if values.size == 0:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"{name} must be start:stop:num, a comma-separated list or a number, got {text!r}"
        ) from None
    bad = values[~np.isfinite(values)]
    if bad.size:
        raise ValueError(f"{name} must be finite, got {_num(bad[0])} in {text!r}")
    return values


def _sigma_arg(name: str):
    """argparse ``type`` of a standard-deviation range (finite, >= 0)."""

    def sigma_range(text: str) -> np.ndarray:
        try:
            values = parse_range(text, name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if np.any(values < 0):
            raise argparse.ArgumentTypeError(
                f"{name} is a standard deviation and must be >= 0, got {_num(values.min())}"
            )
        return values

    return sigma_range


def _keep_prob_arg(text: str) -> np.ndarray:
    """argparse ``type`` of ``--keep-prob RANGE`` (dropout keep probabilities in (0, 1])."""
    try:
        values = parse_range(text, "keep_prob")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    try:
        for v in values:
            keep_probability(float(v))  # the library's one bound, (0, 1]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return values


def _param_arg(text: str) -> tuple[str, np.ndarray]:
    """argparse ``type`` of ``--param NAME=RANGE``."""
    key, sep, val = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"must be NAME=RANGE (e.g. a=0.5,1,2), got {text!r}")
    try:
        return key.strip(), parse_range(val, key.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _sel_arg(text: str) -> tuple[str, str]:
    """argparse ``type`` of ``--sel NAME=VALUE``."""
    key, sep, val = text.partition("=")
    if not sep or not key.strip() or not val.strip():
        raise argparse.ArgumentTypeError(f"must be NAME=VALUE (e.g. a=1), got {text!r}")
    return key.strip(), val.strip()


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {n}")
    return n


def _params(items) -> dict[str, np.ndarray] | None:
    if not items:
        return None
    out: dict[str, np.ndarray] = {}
    for key, values in items:
        if key in out:
            raise ValueError(f"--param {key} given twice")
        out[key] = values
    return out


def _joined(values) -> list[float]:
    """The values of an ``nargs="+"`` range option (one array, or a list of arrays)."""
    parts = values if isinstance(values, list) else [values]
    return np.concatenate([np.atleast_1d(v) for v in parts]).tolist()


def _activations(names: Sequence[str]) -> list:
    from .scans.labels import activation_from_label

    return [activation_from_label(n) for n in names]


#: Options whose value may be a negative number or range (``--sigma-b -1:1:5``).
_NUMERIC_OPTIONS = ("--sigma-w", "--sigma-b")
_NEGATIVE = re.compile(r"-\.?\d")


def _attach_negative_values(argv: Sequence[str]) -> list[str]:
    """Write ``--sigma-b -1:1:5`` as ``--sigma-b=-1:1:5``.

    argparse takes a word starting with '-' for an option unless it is a plain
    negative number; a negative range or list would be "expected one argument".
    """
    out: list[str] = []
    for i, tok in enumerate(argv):
        if tok == "--":
            out.extend(argv[i:])
            break
        if out and out[-1] in _NUMERIC_OPTIONS and _NEGATIVE.match(tok):
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


def _check_output_dir(path: str) -> None:
    """Fail before computing when ``path``'s directory does not exist."""
    parent = os.path.dirname(os.path.abspath(path.rstrip("/\\") or path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"output {path!r}: directory {parent!r} does not exist")


_RANGE_FORMS = "start:stop:num (inclusive), a list a,b,c or a number"


def _add_grid_arguments(
    p: argparse.ArgumentParser,
    *,
    sigma_w: str | None = "0.1:4:196",
    sigma_b: str = "0:2:101",
    note: str = "",
) -> None:
    """--sigma-w (if ``sigma_w``), --sigma-b, --param, --threads; ``note`` ends the grid helps."""
    if sigma_w is not None:
        p.add_argument(
            "--sigma-w",
            type=_sigma_arg("sigma_w"),
            default=sigma_w,
            metavar="RANGE",
            help=f"weight standard deviations sigma_w (W ~ N(0, sigma_w^2/fan_in)): "
            f"{_RANGE_FORMS}{note} (default: %(default)s)",
        )
    p.add_argument(
        "--sigma-b",
        type=_sigma_arg("sigma_b"),
        default=sigma_b,
        metavar="RANGE",
        help=f"bias standard deviations sigma_b (b ~ N(0, sigma_b^2)): {_RANGE_FORMS}{note} "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--param",
        type=_param_arg,
        action="append",
        metavar="NAME=RANGE",
        help="scan an activation parameter too, e.g. --param alpha=0.5,1,2 (repeatable; "
        "default: each activation's own value)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="OpenMP threads (default: all cores)",
    )


# ----------------------------------------------------------------------------- scan


def _add_scan_parser(sub) -> None:
    p = sub.add_parser(
        "scan",
        help="phase-diagram scan over activations, sigma_w and sigma_b, written to .nc or .zarr",
        description="Fixed point q*, chi1, V'(q*), c*, chi_c, depth scales, status and phase "
        "on a grid; sigma_w, sigma_b are standard deviations (weights N(0, sigma_w^2/fan_in)).",
    )
    p.add_argument(
        "activations",
        nargs="+",
        help="activation names (sigprop activations lists them) or expressions in x, "
        "e.g. tanh 'elu(alpha=1)' 'x*sigmoid(x)'",
    )
    _add_grid_arguments(p)
    p.add_argument("-o", "--output", required=True, help="output store: *.nc (netCDF-4) or *.zarr")
    p.add_argument("--no-correlation", action="store_true", help="skip c*, chi_c, xi_c (faster)")
    p.add_argument(
        "--keep-prob",
        type=_keep_prob_arg,
        default=None,
        metavar="RANGE",
        help="dropout keep probabilities rho to scan as a keep_prob dimension (variance map "
        f"with sigma_w^2/rho, correlation map with sigma_w^2): {_RANGE_FORMS} in (0, 1]; "
        "without it, no dropout",
    )
    p.add_argument(
        "--chunk-cells",
        type=_positive_int,
        default=1 << 18,
        metavar="N",
        help="cells per core call (default: %(default)s)",
    )
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
    params = _params(args.param)
    acts = args.activations if params else _activations(args.activations)
    ds = scan(
        acts,
        sigma_w=args.sigma_w,
        sigma_b=args.sigma_b,
        params=params,
        keep_prob=args.keep_prob,
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


# ----------------------------------------------------------------------------- eoc


def _add_eoc_parser(sub) -> None:
    p = sub.add_parser(
        "eoc",
        help="Edge-of-Chaos curves sigma_w(sigma_b) (print, or save .nc/.zarr/.csv)",
        description="Critical sigma_w (chi1 = 1) at each sigma_b, every branch, with q* and "
        "V'(q*); a sigma_b without an EOC is a row with status no_eoc.",
    )
    p.add_argument(
        "activations",
        nargs="+",
        help="activation names (sigprop activations lists them) or expressions in x",
    )
    _add_grid_arguments(p, sigma_w=None, sigma_b="0:2:21")
    p.add_argument("-o", "--output", help="save to *.nc, *.zarr or *.csv instead of printing")
    p.add_argument(
        "-f", "--force", action="store_true", help="replace an existing OUTPUT (a sigprop store)"
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="with -o: no line saying what was written"
    )
    p.set_defaults(func=cmd_eoc)


def _eoc_table(e) -> str:
    """The EOC Dataset as text: one row per EOC point, one per sigma_b without one."""

    df = e.to_dataframe().reset_index()
    found = df["kind"] >= 0
    df = df[found | ((df["n_branches"] == 0) & (df["branch"] == 0))].copy()
    found = (df["kind"] >= 0).to_numpy()
    kinds = {-1: "none", **dict(enumerate(EOC_KINDS))}
    df["kind"] = df["kind"].map(kinds)
    df["status"] = np.where(found, Status.converged.name, Status.no_eoc.name)
    for col in ("sigma_b", *(c for c in df.columns if c in e.coords and c != "activation")):
        if col in df and df[col].dtype.kind == "f":
            df[col] = [format(v, ".10g") for v in df[col]]
    for col in ("sigma_w", "q_star", "slope"):
        df[col] = [format(v, ".10g") if ok else "-" for v, ok in zip(df[col], found, strict=True)]
    for col in ("branch", "stable"):
        df[col] = [str(v) if ok else "-" for v, ok in zip(df[col], found, strict=True)]
    return df.drop(columns=["n_branches"]).to_string(index=False)


def cmd_eoc(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``sigprop eoc``: print or save EOC curves."""
    from .scans.eoc_curves import eoc_curve

    out = sys.stdout if out is None else out
    if args.output:
        _check_output_dir(args.output)
    params = _params(args.param)
    acts = args.activations if params else _activations(args.activations)
    e = eoc_curve(acts, args.sigma_b, params=params, n_threads=args.threads)
    if args.output:
        _save_dataset(e, args.output, force=args.force)
        if not args.quiet:
            nb = e["n_branches"].values
            lead = ", ".join(f"{e.sizes[d]} {d}" for d in e["n_branches"].dims)
            out.write(
                f"wrote {args.output}: EOC curves over {lead}; an EOC at {int((nb > 0).sum())} "
                f"of {nb.size} (activation, sigma_b) points, {int(nb.sum())} EOC points in all\n"
            )
        return 0
    out.write("EOC: sigma_w with chi1 = 1 (standard deviations; weights N(0, sigma_w^2/fan_in))\n")
    out.write(_eoc_table(e) + "\n")
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


# ----------------------------------------------------------------------------- plot


def _is_store_name(path: str) -> bool:
    return path.lower().rstrip("/\\").endswith((".nc", ".zarr"))


def _open_input(path: str):
    """Open a scan or EOC store sigprop wrote; one clear error if it is missing or foreign."""
    from ._optional import need

    xr = need("xarray", "sigprop plot")
    if not os.path.exists(path):
        raise FileNotFoundError(f"input {path!r} does not exist")
    try:
        if path.lower().rstrip("/\\").endswith(".zarr"):
            ds = xr.open_zarr(path, consolidated=False)
        else:
            ds = xr.open_dataset(path, engine="h5netcdf")
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read {path!r} as a netCDF-4 or Zarr store: {exc}") from None
    if "sigma_b" not in ds.dims or not ({"phase", "kind"} & set(ds.data_vars)):
        ds.close()
        raise ValueError(f"{path!r} is not a sigprop scan or EOC store")
    return ds


def _check_figure_output(path: str) -> None:
    from matplotlib.figure import Figure

    _check_output_dir(path)
    ext = os.path.splitext(path)[1][1:].lower()
    kinds = Figure().canvas.get_supported_filetypes()
    if ext not in kinds:
        raise ValueError(
            f"output {path!r}: the figure format comes from the extension, one of "
            f"{', '.join(sorted(kinds))}"
        )


def _add_plot_parser(sub) -> None:
    from .plotting import CATEGORICAL

    p = sub.add_parser(
        "plot",
        help="phase diagrams (chi1, phase, xi_c, ...) with the EOC curve, or EOC curves",
        description="Plot a scan or EOC store (sigprop scan/eoc ... -o FILE), or activations "
        "computed on the fly with --sigma-w/--sigma-b. A scan with parameter dimensions "
        "gets one panel per value (or choose with --sel); all panels share one colour scale.",
    )
    p.add_argument(
        "source", nargs="+", help="a store (*.nc, *.zarr) or activation names / expressions"
    )
    _add_grid_arguments(p, note=", for activations computed on the fly")
    p.add_argument(
        "--variable",
        default="chi1",
        help="what to colour: chi1 (log scale symmetric about 1), "
        f"{', '.join(CATEGORICAL)} (named categories), xi_c, xi_q, q_star, c_star, chi_c, "
        "slope, beta_q (default: %(default)s)",
    )
    p.add_argument(
        "--sel",
        type=_sel_arg,
        action="append",
        metavar="NAME=VALUE",
        help="draw only this value of a scanned dimension, e.g. --sel alpha=1 or "
        "--sel activation=erf (repeatable; default: one panel per value)",
    )
    p.add_argument(
        "--eoc-only", action="store_true", help="draw only the EOC curves of the activations"
    )
    p.add_argument("-o", "--output", required=True, help="figure file (*.png, *.pdf, *.svg, ...)")
    p.add_argument(
        "--dpi",
        type=_positive_int,
        default=200,
        help="resolution of raster formats (default: %(default)s)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or 'wrote' line")
    p.set_defaults(func=cmd_plot)


def cmd_plot(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``sigprop plot``: write a phase-diagram or EOC figure."""
    from ._optional import matplotlib_modules
    from .plotting import eoc_curves, phase_diagrams
    from .scans.eoc_curves import eoc_curve
    from .scans.grid_scan import scan

    out = sys.stdout if out is None else out
    _, plt = matplotlib_modules()
    _check_figure_output(args.output)
    sel = dict(args.sel or [])
    src = args.source
    params = _params(args.param)
    ds = None
    if len(src) == 1 and (os.path.exists(src[0]) or _is_store_name(src[0])):
        if params:
            raise ValueError("--param is for activations computed on the fly, not for a store")
        ds = _open_input(src[0])
    try:
        if ds is not None and "sigma_w" not in ds.dims:  # an EOC store
            fig = eoc_curves(ds, sel=sel)
        elif args.eoc_only:
            if ds is not None:
                names = [str(a) for a in ds["activation"].values]
                extra = [
                    d for d in ds["phase"].dims if d not in ("activation", "sigma_b", "sigma_w")
                ]
                params = {d: ds[d].values for d in extra} or None
                sb = ds["sigma_b"].values
            else:
                names, sb = list(src), args.sigma_b
            acts = names if params else _activations(names)
            fig = eoc_curves(eoc_curve(acts, sb, params=params, n_threads=args.threads), sel=sel)
        else:
            if ds is None:
                acts = list(src) if params else _activations(src)
                ds = scan(
                    acts,
                    sigma_w=args.sigma_w,
                    sigma_b=args.sigma_b,
                    params=params,
                    correlation=args.variable in ("xi_c", "c_star", "chi_c"),
                    n_threads=args.threads,
                    progress=False if args.quiet else None,
                )
            fig = phase_diagrams(ds, args.variable, sel=sel)
        fig.savefig(args.output, dpi=args.dpi)
        plt.close(fig)
    finally:
        if ds is not None:
            ds.close()
    if not args.quiet:
        out.write(f"wrote {args.output}\n")
    return 0


# ----------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """The ``sigprop`` argument parser (every subcommand)."""
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="sigprop",
        description="Mean-field signal propagation in deep random networks: Edge of Chaos, "
        "fixed points, phase diagrams. sigma_w and sigma_b are standard deviations "
        "(weights N(0, sigma_w^2/fan_in), biases N(0, sigma_b^2)).",
    )
    parser.add_argument(
        "--version", action="version", version=f"sigprop {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser(
        "demo",
        help="print EOC points and where common initialisations sit",
        description="EOC points of common activations and where common initialisations sit "
        "(q*, chi1, phase).",
    )
    p.set_defaults(func=lambda args: demo())
    p = sub.add_parser(
        "activations",
        help="list the built-in activations and their parameters",
        description="The built-in activations, their parameters (with defaults) and formulas.",
    )
    p.set_defaults(func=lambda args: list_activations())
    p = sub.add_parser(
        "gains",
        help="where the common init gains sit (q*, chi1, phase)",
        description="torch.nn.init.calculate_gain's gains as sigma_w: q*, chi1, phase, xi_c "
        "and the EOC sigma_w instead.",
    )
    p.add_argument(
        "--sigma-b",
        type=_sigma_arg("sigma_b"),
        nargs="+",
        default="0",
        metavar="RANGE",
        help=f"bias standard deviations sigma_b: {_RANGE_FORMS} (default: %(default)s)",
    )
    p.set_defaults(func=lambda args: gains(_joined(args.sigma_b)))
    _add_scan_parser(sub)
    _add_eoc_parser(sub)
    _add_plot_parser(sub)
    return parser


_NUMPY_SCALAR = re.compile(r"np\.(?:float|int|uint|complex)\d*\(([^()]*)\)")


def _one_line(exc: BaseException) -> str:
    """The error as one line with plain numbers."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        msg = f"{exc.strerror}: {str(exc.filename)!r}"
        if exc.filename2 is not None:
            msg += f" -> {str(exc.filename2)!r}"
    else:
        msg = str(exc) or type(exc).__name__
    msg = _NUMPY_SCALAR.sub(r"\1", msg)
    return " ".join(line.strip() for line in msg.splitlines() if line.strip())


def _stdout_to_devnull() -> None:
    """After a broken pipe: send what is left in stdout's buffer nowhere (Python docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (captured, closed)
        pass


def _interrupt_hint(command: str | None, output: str | None) -> str:
    """What an interrupted ``sigprop scan`` left: its partial store, named, if it has one."""
    if command != "scan" or not output:
        return ""
    from .scans._stores import partial_path

    partial = partial_path(output)
    if not os.path.exists(partial):
        return ""
    return f"; {partial} holds the cells done so far: the same command with --resume finishes it"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sigprop`` command.

    Usage errors go through argparse (usage line, ``sigprop ...: error: ...``,
    exit 2). Errors while running end in one line ``sigprop: error: ...`` and
    exit status 2 (130 after Ctrl-C), never a traceback; a closed pipe
    (``sigprop demo | head``) ends quietly with status 1.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    command = output = None
    try:
        try:
            args = parser.parse_args(_attach_negative_values(argv))
        except SystemExit:
            sys.stdout.flush()  # --help, --version: a closed pipe shows here
            raise
        command = args.command
        output = getattr(args, "output", None)
        if command is None:
            parser.print_help()
            code = 0
        else:
            code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try
        return code
    except BrokenPipeError:
        _stdout_to_devnull()
        return 1
    except KeyboardInterrupt:
        parser.exit(130, f"sigprop: error: interrupted{_interrupt_hint(command, output)}\n")
    except (OSError, ValueError, ImportError) as exc:
        parser.exit(2, f"sigprop: error: {_one_line(exc)}\n")
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
