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
