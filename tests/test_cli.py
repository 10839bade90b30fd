"""The sigprop command line."""

import io

from sigprop import cli


def test_demo_prints_eoc_and_initialisations():
    out = io.StringIO()
    assert cli.demo(out) == 0
    text = out.getvalue()
    assert "1.304146 (0.5121)" in text  # tanh EOC at sigma_b = 0.2
    assert "1.679532 (0.6895)*" in text  # silu: unstable EOC fixed point
    assert "Kumar" in text and "3.5777" in text
    assert "divergent" in text  # relu with He init and sigma_b > 0


def test_main_runs_demo(capsys):
    assert cli.main(["demo"]) == 0
    assert "Edge of Chaos" in capsys.readouterr().out


# ----------------------------------------------------------------------------- scan / eoc / plot


def _scan_args(path, *extra):
    return [
        "scan",
        "relu",
        "erf",
        "--sigma-b",
        "0.1:0.9:3",
        "--sigma-w",
        "0.5,1.0,1.3,2.5",
        "-o",
        str(path),
        "--threads",
        "1",
        *extra,
    ]


def test_parse_range():
    import numpy as np
    import pytest

    np.testing.assert_array_equal(cli.parse_range("0:2:5"), [0.0, 0.5, 1.0, 1.5, 2.0])
    np.testing.assert_array_equal(cli.parse_range("0.5,1,2"), [0.5, 1.0, 2.0])
    np.testing.assert_array_equal(cli.parse_range("1.5"), [1.5])
    for bad in ("0:1", "a:b:c", "0:1:0", "x"):
        with pytest.raises(ValueError, match="start:stop:num"):
            cli.parse_range(bad)


def test_cli_scan_writes_file_that_reopens(tmp_path, capsys):
    import numpy as np
    import pytest

    xr = pytest.importorskip("xarray")
    from sigprop.scans import scan

    for ext in ("nc", "zarr"):
        path = tmp_path / f"s.{ext}"
        assert cli.main(_scan_args(path)) == 0
        text = capsys.readouterr().out
        assert f"wrote {path}" in text and "24 cells" in text and "divergent" in text
        if ext == "nc":
            ds = xr.open_dataset(path, engine="h5netcdf")
        else:
            ds = xr.open_zarr(path, consolidated=False)
        assert list(ds.activation.values) == ["relu", "erf"]
        np.testing.assert_allclose(ds.sigma_b.values, [0.1, 0.5, 0.9])
        relu = ds.sel(activation="relu", sigma_w=1.0)
        # relu closed form: q* = sigma_b^2 / (1 - sigma_w^2 / 2), chi1 = sigma_w^2 / 2
        np.testing.assert_allclose(relu.q_star.values, ds.sigma_b.values**2 / 0.5, rtol=1e-13)
        np.testing.assert_allclose(relu.chi1.values, 0.5, rtol=1e-14)
        ref = scan(
            ["relu", "erf"], sigma_w=[0.5, 1.0, 1.3, 2.5], sigma_b=[0.1, 0.5, 0.9], progress=False
        )
        for v in ref.data_vars:
            np.testing.assert_array_equal(ds[v].values, ref[v].values, err_msg=v)
        ds.close()


def test_cli_scan_quiet_no_correlation_and_params(tmp_path, capsys):
    import pytest

    xr = pytest.importorskip("xarray")
    path = tmp_path / "p.nc"
    args = [
        "scan",
        "hard_tanh",
        "--param",
        "a=0.5,2",
        "--sigma-b",
        "0.2",
        "--sigma-w",
        "1:2:3",
        "-o",
        str(path),
        "--no-correlation",
        "--quiet",
    ]
    assert cli.main(args) == 0
    assert capsys.readouterr().out == ""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds.chi1.dims == ("activation", "a", "sigma_b", "sigma_w")
        assert "c_star" not in ds


def test_cli_scan_keep_prob(tmp_path, capsys):
    import numpy as np
    import pytest

    import sigprop

    xr = pytest.importorskip("xarray")
    path = tmp_path / "d.nc"
    args = ["scan", "tanh", "--sigma-w", "0.5,1.5", "--sigma-b", "0.3", "--keep-prob", "0.8,1"]
    assert cli.main([*args, "-o", str(path), "--quiet"]) == 0
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds.c_star.dims == ("activation", "keep_prob", "sigma_b", "sigma_w")
        ref = sigprop.fixed_point("tanh", [0.5, 1.5], 0.3, keep_prob=0.8)
        np.testing.assert_array_equal(ds.c_star.sel(keep_prob=0.8).values.ravel(), ref.c_star)
        assert np.all(ds.c_star.sel(keep_prob=0.8).values < 1)
    with pytest.raises(SystemExit) as exc:
        cli.main([*args[:-1], "1.5", "-o", str(tmp_path / "e.nc")])
    assert exc.value.code == 2
    assert "keep_prob must be in (0, 1], got 1.5" in capsys.readouterr().err


def test_cli_scan_bad_arguments(tmp_path):
    import pytest

    with pytest.raises(SystemExit):
        cli.main(["scan", "relu", "--sigma-b", "0:1", "-o", str(tmp_path / "x.nc")])
    with pytest.raises(SystemExit):
        cli.main(["scan", "relu", "-o", str(tmp_path / "x.txt")])
    with pytest.raises(SystemExit):
        cli.main(["scan", "nope", "-o", str(tmp_path / "x.nc")])


def test_cli_eoc_prints_and_saves(tmp_path, capsys):
    import pytest

    xr = pytest.importorskip("xarray")
    assert cli.main(["eoc", "tanh", "relu", "--sigma-b", "0,0.2"]) == 0
    text = capsys.readouterr().out
    assert "1.30414584" in text  # tanh at sigma_b = 0.2 (EOC table, oracle T3)
    assert "1.414213562" in text and "point" in text  # relu: the single point
    path = tmp_path / "e.nc"
    assert cli.main(["eoc", "silu", "--sigma-b", "0.2", "-o", str(path)]) == 0
    with xr.open_dataset(path, engine="h5netcdf") as e:
        assert float(e.slope[0, 0, 0]) == pytest.approx(1.0987, abs=1e-4)
    assert cli.main(["eoc", "erf", "--sigma-b", "0:1:3", "-o", str(tmp_path / "e.csv")]) == 0
    assert "sigma_w" in (tmp_path / "e.csv").read_text().splitlines()[0]


def test_cli_plot_from_file_and_on_the_fly(tmp_path, capsys):
    import pytest

    pytest.importorskip("matplotlib")
    pytest.importorskip("xarray")
    scan_path = tmp_path / "s.nc"
    assert cli.main([*_scan_args(scan_path), "--quiet"]) == 0
    png = tmp_path / "phase.png"
    assert cli.main(["plot", str(scan_path), "-o", str(png), "--dpi", "50"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = tmp_path / "xi.pdf"
    args = ["plot", "erf", "--sigma-b", "0:1:5", "--sigma-w", "0.5:2:5", "--variable", "xi_c"]
    assert cli.main([*args, "-o", str(pdf)]) == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"
    eoc_png = tmp_path / "eoc.png"
    assert cli.main(["plot", "tanh", "silu", "--eoc-only", "-o", str(eoc_png), "-q"]) == 0
    assert eoc_png.stat().st_size > 1000
    assert f"wrote {pdf}" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the command itself


def _error_line(capsys) -> str:
    """stderr of a failed command: exactly one line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _fails(capsys, argv, status=2) -> str:
    import pytest

    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == status
    return _error_line(capsys)


def test_version(capsys):
    import pytest

    import sigprop

    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"sigprop {sigprop.__version__}\n"


def test_bare_command_prints_help(capsys, monkeypatch):
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setenv("COLUMNS", "80")  # the same help text in here and in a subprocess
    assert cli.main([]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: sigprop")
    for command in ("demo", "activations", "gains", "scan", "eoc", "plot"):
        assert re.search(rf"^    {command}\b", text, re.MULTILINE), command
    assert "Edge of Chaos: critical" not in text  # not the demo
    runs = [[sys.executable, "-m", "sigprop"]]
    script = Path(sys.executable).with_name("sigprop")
    if os.access(script, os.X_OK):
        runs.append([str(script)])
    for argv in runs:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert (r.returncode, r.stdout, r.stderr) == (0, text, ""), argv


def test_activations_lists_the_builtins(capsys):
    import sigprop

    assert cli.main(["activations"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {ln.split()[0]: " ".join(ln.split()) for ln in lines[2:] if ln.strip()}
    for name in sigprop.ACTIVATIONS:
        act = sigprop.activation(name)
        params = ", ".join(f"{k}={v:g}" for k, v in act.params.items()) or "-"
        assert rows[name] == " ".join(f"{name} {params} {act.formula}".split())
    assert rows["elu"].startswith("elu alpha=1 ") and rows["relu"].startswith("relu - ")
    assert any('pip install ".[sympy]"' in ln for ln in lines)


def _subparsers():
    import argparse

    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return parser, sub.choices


def test_every_option_has_help_and_shows_its_real_default():
    import argparse

    parser, commands = _subparsers()
    assert set(commands) == {"demo", "activations", "gains", "scan", "eoc", "plot"}
    for name, p in [("sigprop", parser), *commands.items()]:
        assert p.description or name == "sigprop", name
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            where = f"{name} {action.option_strings or action.dest}"
            assert action.help and action.help != argparse.SUPPRESS, where
            if action.default not in (None, False, argparse.SUPPRESS):
                assert "%(default)s" in action.help, where
            else:
                assert (
                    "(default:" not in action.help
                    or "default: all" in action.help
                    or ("default: each" in action.help or "default: one" in action.help)
                ), where


def test_help_defaults_are_the_real_ones(capsys):
    import numpy as np
    import pytest

    with pytest.raises(SystemExit):
        cli.main(["eoc", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 0:2:21)" in text and "0:2:101" not in text
    _, commands = _subparsers()
    args = commands["eoc"].parse_args(["tanh"])
    np.testing.assert_array_equal(args.sigma_b, np.linspace(0, 2, 21))
    args = commands["scan"].parse_args(["tanh", "-o", "x.nc"])
    assert (args.sigma_w.size, args.sigma_b.size, args.chunk_cells) == (196, 101, 1 << 18)
    with pytest.raises(SystemExit):
        cli.main(["scan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 0.1:4:196)" in text and "(default: 0:2:101)" in text
    assert f"(default: {1 << 18})" in text


def test_grid_options_sigma_w_before_sigma_b(capsys):
    import pytest

    for command in ("scan", "plot"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = capsys.readouterr().out
        assert text.index("--sigma-w RANGE") < text.index("--sigma-b RANGE"), command
    _, commands = _subparsers()
    order = [a.dest for a in commands["scan"]._actions if a.dest.startswith("sigma")]
    assert order == ["sigma_w", "sigma_b"]


def test_negative_ranges_parse():
    import numpy as np

    np.testing.assert_array_equal(cli.parse_range("-1:1:5"), [-1.0, -0.5, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(cli.parse_range("-0.5,-.25"), [-0.5, -0.25])
    assert cli._attach_negative_values(["eoc", "tanh", "--sigma-b", "-1:1:5"]) == [
        "eoc",
        "tanh",
        "--sigma-b=-1:1:5",
    ]
    assert cli._attach_negative_values(["--sigma-w", "-.5,1", "--", "--sigma-b", "-1"]) == [
        "--sigma-w=-.5,1",
        "--",
        "--sigma-b",
        "-1",
    ]
    # other options and values are left alone
    assert cli._attach_negative_values(["-o", "-1.nc", "--sigma-b", "0:1:3"]) == [
        "-o",
        "-1.nc",
        "--sigma-b",
        "0:1:3",
    ]


def test_bad_sigma_is_a_usage_error_with_plain_numbers(capsys):
    import pytest

    # parsed (not "expected one argument"), then refused as a standard deviation
    for argv in (["eoc", "tanh", "--sigma-b", "-1:1:5"], ["scan", "relu", "-o", "x.nc",
                 "--sigma-w", "-0.5,1"]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        name = argv[2 if argv[0] == "eoc" else -2]
        got = "-1" if argv[0] == "eoc" else "-0.5"
        assert err.splitlines()[-1] == (
            f"sigprop {argv[0]}: error: argument {name}: {name[2:].replace('-', '_')} is a "
            f"standard deviation and must be >= 0, got {got}"
        )
        assert "np." not in err and err.startswith("usage: sigprop")
    for bad, want in (("nan", "must be finite, got nan"), ("0:1", "start:stop:num")):
        with pytest.raises(SystemExit):
            cli.main(["eoc", "tanh", "--sigma-b", bad])
        assert want in capsys.readouterr().err


def test_error_messages_show_plain_numbers():
    assert cli._one_line(ValueError("sigma_b must be >= 0, got np.float64(-1.0)")) == (
        "sigma_b must be >= 0, got -1.0"
    )
    assert cli._one_line(ValueError("n is np.int64(3) and\n  x is np.float32(0.5)")) == (
        "n is 3 and x is 0.5"
    )


def test_runtime_errors_end_in_one_line(tmp_path, capsys):
    missing = str(tmp_path / "no" / "x")
    line = _fails(capsys, ["eoc", "tanh", "-o", missing + ".csv"])
    assert (
        line
        == f"sigprop: error: output '{missing}.csv': directory '{tmp_path / 'no'}' does not exist"
    )
    line = _fails(capsys, ["plot", "tanh", "-o", missing + ".png"])
    assert line.startswith("sigprop: error: output") and "does not exist" in line
    line = _fails(capsys, ["scan", "relu", "-o", missing + ".nc", "-q"])
    assert line.startswith("sigprop: error: ") and "does not exist" in line
    line = _fails(capsys, ["plot", str(tmp_path / "none.nc"), "-o", str(tmp_path / "x.png")])
    assert line == f"sigprop: error: input '{tmp_path / 'none.nc'}' does not exist"
    (tmp_path / "text.nc").write_text("not a store\n")
    line = _fails(capsys, ["plot", str(tmp_path / "text.nc"), "-o", str(tmp_path / "x.png")])
    assert line.startswith(f"sigprop: error: cannot read '{tmp_path / 'text.nc'}'")
    line = _fails(capsys, ["plot", "tanh", "-o", str(tmp_path / "x.txt")])
    assert "the figure format comes from the extension" in line
    # a library error of several lines (SymPy's parse error) ends in one line
    line = _fails(capsys, ["eoc", "x*(", "--sigma-b", "0.1"])
    assert line.startswith("sigprop: error: cannot parse the activation expression 'x*('")
    line = _fails(capsys, ["eoc", "hard_tanh", "--param", "a=-1", "--sigma-b", "0.1"])
    assert line == "sigprop: error: parameter a of hard_tanh must be > 0, got -1.0"
    # nothing was written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.nc"]


def test_keyboard_interrupt_ends_in_one_line(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "demo", interrupted)
    assert _fails(capsys, ["demo"], status=130) == "sigprop: error: interrupted"
    # a scan interrupted before it wrote anything: nothing to resume
    monkeypatch.setattr(cli, "cmd_scan", interrupted)
    out = tmp_path / "x.nc"
    assert _fails(capsys, ["scan", "relu", "-o", str(out)], status=130) == (
        "sigprop: error: interrupted"
    )

    # one that left its partial store: named, with the way to finish it
    def interrupted_mid_way(*args, **kwargs):
        (tmp_path / "x.partial.nc").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_scan", interrupted_mid_way)
    line = _fails(capsys, ["scan", "relu", "-o", str(out)], status=130)
    assert line == (
        f"sigprop: error: interrupted; {tmp_path / 'x.partial.nc'} holds the cells done so far:"
        " the same command with --resume finishes it"
    )


def test_missing_extra_ends_in_one_line(monkeypatch, tmp_path, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    line = _fails(capsys, ["plot", "tanh", "-o", str(tmp_path / "x.png")])
    assert line.startswith("sigprop: error: ") and 'pip install ".[plot]"' in line


def test_broken_pipe_ends_quietly():
    import os
    import subprocess
    import sys

    # `sigprop demo | head`: the reader has gone before sigprop writes; stdout
    # block-buffered (a pipe's default) and unbuffered (PYTHONUNBUFFERED=1)
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    runs = [(["demo"], buffered), (["--help"], buffered), (["eoc", "--help"], buffered),
            (["demo"], {**buffered, "PYTHONUNBUFFERED": "1"})]  # fmt: skip
    for argv, env in runs:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sigprop", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        proc.stdout.close()
        err = proc.stderr.read()
        proc.stderr.close()
        assert (proc.wait(timeout=120), err) == (1, b""), (argv, env.get("PYTHONUNBUFFERED"))


def test_demo_and_gains_use_outcome_names(capsys):
    assert cli.main(["demo"]) == 0
    text = capsys.readouterr().out
    relu = next(ln for ln in text.splitlines() if ln.startswith("relu "))
    assert relu.split()[1:] == ["1.414214", "(q", "any)", "no_eoc", "no_eoc", "no_eoc", "no_eoc"]
    assert cli.main(["gains", "--sigma-b", "0", "0.05"]) == 0
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines()[2:]]
    assert {r[2] for r in rows if r[0] == "tanh"} == {"0", "0.05"}


# ----------------------------------------------------------------------------- eoc rows, -o


def test_eoc_keeps_sigma_b_without_an_eoc(capsys):
    assert cli.main(["eoc", "relu", "tanh", "--sigma-b", "0,0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1].split()
    assert header == ["activation", "sigma_b", "branch", "sigma_w", "q_star", "slope", "stable",
                      "kind", "status"]  # fmt: skip
    rows = {(r[0], r[1]): dict(zip(header, r, strict=True)) for r in map(str.split, lines[2:])}
    assert set(rows) == {("relu", "0"), ("relu", "0.5"), ("tanh", "0"), ("tanh", "0.5")}
    none = {"activation": "relu", "sigma_b": "0.5", "kind": "none", "status": "no_eoc"}
    assert rows["relu", "0.5"] == {**dict.fromkeys(header, "-"), **none}
    assert rows["relu", "0"]["kind"] == "point" and rows["relu", "0"]["status"] == "converged"
    assert rows["tanh", "0.5"]["sigma_w"] == "1.549673913"


def test_eoc_output_says_what_it_wrote(tmp_path, capsys):
    import pytest

    xr = pytest.importorskip("xarray")
    path = tmp_path / "e.nc"
    assert cli.main(["eoc", "relu", "tanh", "--sigma-b", "0,0.5", "-o", str(path)]) == 0
    assert capsys.readouterr().out == (
        f"wrote {path}: EOC curves over 2 activation, 2 sigma_b; an EOC at 3 of 4 "
        "(activation, sigma_b) points, 3 EOC points in all\n"
    )
    with xr.open_dataset(path, engine="h5netcdf") as e:
        assert int((e.n_branches > 0).sum()) == 3
    assert cli.main(["eoc", "tanh", "-o", str(tmp_path / "q.csv"), "-q"]) == 0
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------------------- plot


def _capture_figures(monkeypatch):
    from matplotlib.figure import Figure

    figures = []
    save = Figure.savefig

    def savefig(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return figures


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_xlabel().startswith("σ_b")]


def test_cli_plot_parameter_dimensions(tmp_path, capsys, monkeypatch):
    import pytest

    pytest.importorskip("matplotlib")
    pytest.importorskip("xarray")
    figures = _capture_figures(monkeypatch)
    path = tmp_path / "p.nc"
    args = ["scan", "hard_tanh", "--param", "a=0.5,1,2", "--sigma-w", "0.5:3:6",
            "--sigma-b", "0:1:4", "-o", str(path), "-q"]  # fmt: skip
    assert cli.main(args) == 0
    png = str(tmp_path / "p.png")
    assert cli.main(["plot", str(path), "-o", png, "--dpi", "40"]) == 0
    assert capsys.readouterr().out == f"wrote {png}\n"
    titles = [ax.get_title() for ax in _panels(figures[-1])]
    assert titles == ["hard_tanh, a=0.5", "hard_tanh, a=1", "hard_tanh, a=2"]
    assert cli.main(["plot", str(path), "--sel", "a=1", "-o", png, "-q"]) == 0
    assert [ax.get_title() for ax in _panels(figures[-1])] == ["hard_tanh, a=1"]
    line = _fails(capsys, ["plot", str(path), "--sel", "a=3", "-o", png])
    assert line == "sigprop: error: a=3 is not in the Dataset (a: 0.5, 1, 2)"
    # computed on the fly: the same panels
    args = ["plot", "hard_tanh", "--param", "a=0.5,2", "--sigma-w", "0.5:3:6", "--sigma-b",
            "0:1:4", "-o", png, "-q"]  # fmt: skip
    assert cli.main(args) == 0
    assert [ax.get_title() for ax in _panels(figures[-1])] == ["hard_tanh, a=0.5", "hard_tanh, a=2"]
    # --eoc-only of a parameter scan: one curve per value
    assert cli.main(["plot", str(path), "--eoc-only", "-o", png, "-q"]) == 0
    labels = [t.get_text() for t in figures[-1].axes[0].get_legend().get_texts()]
    assert labels == ["hard_tanh, a=0.5", "hard_tanh, a=1", "hard_tanh, a=2"]


def test_cli_plot_phase_as_named_categories(tmp_path, capsys, monkeypatch):
    import pytest

    pytest.importorskip("matplotlib")
    xr = pytest.importorskip("xarray")
    import sigprop

    figures = _capture_figures(monkeypatch)
    scan_path = tmp_path / "s.nc"
    assert cli.main([*_scan_args(scan_path), "--quiet"]) == 0
    for variable, enum in (("phase", sigprop.Phase), ("status", sigprop.Status)):
        args = ["plot", str(scan_path), "--variable", variable, "-o", str(tmp_path / "c.png")]
        assert cli.main([*args, "-q"]) == 0
        fig = figures[-1]
        assert [ax.get_title() for ax in _panels(fig)] == ["relu", "erf"]
        (legend,) = [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        with xr.open_dataset(scan_path, engine="h5netcdf") as ds:
            present = sorted({int(c) for c in ds[variable].values.ravel()})
        assert [t.get_text() for t in legend.get_texts()] == [
            *(enum(c).name for c in present),
            "EOC",
        ]
    # chi1: one colour bar shared by the panels, grey explained where relu diverges
    assert cli.main(["plot", str(scan_path), "-o", str(tmp_path / "x.png"), "-q"]) == 0
    fig = figures[-1]
    relu, erf = _panels(fig)
    assert len(fig.axes) == 3
    assert relu.collections[0].norm.vmax == erf.collections[0].norm.vmax
    texts = [t.get_text() for t in relu.get_legend().get_texts()]
    assert texts[-1] == "grey: χ₁ not finite (divergent)"
