"""Result objects as labelled tables: ``to_dataset()`` (xarray) and ``to_dataframe()`` (pandas).

:class:`Tabular` is mixed into the result classes (dataclasses and NamedTuples). Its
fields become the variables of one Dataset:

- array fields of the largest shape are flattened onto the index dimension (``cell``
  unless the class names another), so any broadcast shape gives one row per cell;
  fields named in ``_table_coords`` become coordinates of that dimension;
- a leading axis named by ``_table_leading`` (e.g. ``layer`` for a Propagation) stays
  a dimension of its own, with coordinate 0, 1, ...;
- integer ``status`` / ``phase`` fields become the names of :class:`sigprop.Status` /
  :class:`sigprop.Phase`; string fields stay strings;
- scalar fields (and arrays of another shape) become attributes (arrays as lists).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from ._optional import need
from .outcomes import Phase, Status, names

__all__ = ["Tabular", "tabular"]

_ENUMS = {"status": Status, "phase": Phase}


class Tabular:
    """Mixin: ``to_dataset()`` and ``to_dataframe()`` for a result object."""

    #: Fields that label the cells (coordinates of the index dimension).
    _table_coords: ClassVar[tuple[str, ...]] = ()
    #: Name of the dimension of a leading axis shared by the array fields, or None.
    _table_leading: ClassVar[str | None] = None
    #: Name of the flattened index dimension.
    _table_index: ClassVar[str] = "cell"

    def _table_items(self) -> dict[str, Any]:
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return dict(self._asdict())  # NamedTuple

    def to_dataset(self):
        """The result as an xarray Dataset (needs xarray: ``pip install ".[scan]"``)."""
        xr = need("xarray", f"{type(self).__name__}.to_dataset()")
        items = self._table_items()
        arrays = {}
        for k, v in items.items():
            if isinstance(v, (str, bytes)) or v is None:
                continue
            try:
                a = np.asarray(v)
            except (TypeError, ValueError):  # ragged or not numeric
                continue
            if a.dtype.kind in "biufcUSO":
                arrays[k] = a
        shapes = [a.shape for a in arrays.values()]
        full = max(shapes, key=lambda s: (len(s), int(np.prod(s))), default=())
        lead = self._table_leading
        data_vars: dict[str, Any] = {}
        coords: dict[str, Any] = {}
        attrs: dict[str, Any] = {}
        for k, v in items.items():
            a = arrays.get(k)
            if a is None or a.shape != full:
                attrs[k] = _attr(v)
                continue
            if lead is not None and a.ndim >= 1:
                flat = a.reshape(a.shape[0], -1)
                dims: tuple[str, ...] = (lead, self._table_index)
            else:
                flat = a.reshape(-1)
                dims = (self._table_index,)
            if k in _ENUMS and flat.dtype.kind in "iu":
                flat = np.asarray(names(_ENUMS[k], flat), dtype=str)
            elif flat.dtype.kind == "O":
                flat = flat.astype(str)
            if k in self._table_coords:
                coords[k] = (dims[-1:], flat if flat.ndim == 1 else flat[0])
            else:
                data_vars[k] = (dims, flat)
        if lead is not None and full:
            coords[lead] = np.arange(full[0])
        # Derived names of what a cell is (a FixedPointResult's phase).
        for k, v in self._table_extra().items():
            data_vars[k] = ((self._table_index,), np.asarray(v, dtype=str).reshape(-1))
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)

    def _table_extra(self) -> dict[str, Any]:
        """Derived per-cell columns (names), for subclasses."""
        return {}

    def to_dataframe(self):
        """The result as a pandas DataFrame, one row per cell (needs pandas and xarray)."""
        return self.to_dataset().to_dataframe()


def _attr(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return "" if v is None else v
    a = np.asarray(v)
    if a.ndim == 0:
        return a.item()
    return a.tolist()


def tabular(coords: tuple[str, ...] = (), leading: str | None = None, index: str = "cell"):
    """Class decorator: give a dataclass or NamedTuple ``to_dataset``/``to_dataframe``."""

    def wrap(cls):
        cls._table_coords = tuple(coords)
        cls._table_leading = leading
        cls._table_index = index
        for name in ("_table_items", "to_dataset", "to_dataframe"):
            setattr(cls, name, getattr(Tabular, name))
        if not hasattr(cls, "_table_extra"):
            cls._table_extra = Tabular._table_extra
        return cls

    return wrap
