"""Phase-diagram scans over (activation, sigma_w, sigma_b[, parameters]) grids and EOC
curves, as xarray Datasets, in memory, streamed to NetCDF/Zarr stores, or on Dask.

Needs the ``scan`` extra: ``pip install ".[scan]"``.
"""

from .eoc_curves import eoc_curve
from .grid_scan import scan
from .labels import activation_from_label, activation_label

__all__ = ["activation_from_label", "activation_label", "eoc_curve", "scan"]
