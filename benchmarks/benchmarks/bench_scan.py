"""Phase-diagram scans (sigprop.scans): throughput per activation, EOC curves, peak memory.

Needs the ``scan`` extra (xarray, zarr, h5netcdf, dask); skipped without it.
"""

import os
import shutil
import tempfile

import numpy as np

from ._common import ALL_ACTIVATIONS, SIGMA_B_EOC, best_rate

# 64 x 64 (sigma_b, sigma_w) cells over the usual phase-diagram window.
SCAN_SIGMA_B = np.linspace(0.0, 2.0, 64)
SCAN_SIGMA_W = np.linspace(0.1, 4.0, 64)
SCAN_ACTIVATIONS = ALL_ACTIVATIONS

# Streamed scan for the memory benchmark: 1000 x 1000 relu cells (closed forms).
STREAM_SIGMA_B = np.linspace(0.0, 2.0, 1000)
STREAM_SIGMA_W = np.linspace(0.1, 4.0, 1000)


def _scan_module():
    try:
        import xarray  # noqa: F401

        from sigprop import scans as scan
    except ImportError as exc:  # asv reports NotImplementedError as skipped
        raise NotImplementedError(f"needs the scan extra: {exc}") from None
    return scan


class ScanRate:
    """Cells per second of an in-memory scan (one activation, 64 x 64 cells, one thread),
    with and without c*, chi_c, xi_c; the activation's tables are built in setup."""

    params = (SCAN_ACTIVATIONS, [False, True])
    param_names = ("activation", "correlation")
    unit = "cells/s"
    timeout = 300

    def setup(self, activation, correlation):
        self.scan = _scan_module()
        self.scan.scan(
            activation, sigma_w=SCAN_SIGMA_W, sigma_b=SCAN_SIGMA_B, correlation=correlation,
            n_threads=1, progress=False,
        )  # fmt: skip

    def track_scan_rate(self, activation, correlation):
        return best_rate(
            lambda: self.scan.scan(
                activation,
                sigma_w=SCAN_SIGMA_W,
                sigma_b=SCAN_SIGMA_B,
                correlation=correlation,
                n_threads=1,
                progress=False,
            ),
            SCAN_SIGMA_B.size * SCAN_SIGMA_W.size,
            min_time=0.2,
        )


class ScanTime:
    """Wall time of a 64 x 64 scan without correlations, all threads."""

    params = (SCAN_ACTIVATIONS,)
    param_names = ("activation",)
    timeout = 300

    def setup(self, activation):
        self.scan = _scan_module()

    def time_scan(self, activation):
        self.scan.scan(
            activation,
            sigma_w=SCAN_SIGMA_W,
            sigma_b=SCAN_SIGMA_B,
            correlation=False,
            progress=False,
        )


class EOCCurve:
    """EOC curves as a Dataset: 1000 sigma_b values, one activation per call."""

    params = (["tanh", "erf", "elu", "silu"],)
    param_names = ("activation",)

    def setup(self, activation):
        self.scan = _scan_module()

    def time_eoc_curve(self, activation):
        self.scan.eoc_curve(activation, SIGMA_B_EOC, n_threads=1)


class StreamedScanMemory:
    """Peak RSS of 10^6 relu cells streamed to a file chunk by chunk (bounded memory),
    against the same scan held in memory."""

    params = (["nc", "zarr", "memory"],)
    param_names = ("output",)
    timeout = 300

    def setup(self, output):
        self.scan = _scan_module()
        self.dir = tempfile.mkdtemp(prefix="sigprop-bench-")

    def teardown(self, output):
        shutil.rmtree(self.dir, ignore_errors=True)

    def peakmem_streamed_scan(self, output):
        out = None if output == "memory" else os.path.join(self.dir, f"scan.{output}")
        ds = self.scan.scan(
            "relu",
            sigma_w=STREAM_SIGMA_W,
            sigma_b=STREAM_SIGMA_B,
            correlation=False,
            chunk_cells=1 << 16,
            progress=False,
            out=out,
        )
        ds.close()
