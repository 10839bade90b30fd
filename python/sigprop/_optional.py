"""Optional dependencies: import one or raise ImportError naming the extra that provides it."""

from __future__ import annotations

from typing import Any


def need(module: str, what: str = "scan()", extra: str = "scan") -> Any:
    """Import an optional dependency or raise ImportError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{what} needs {module.split('.')[0]}: pip install 'sigprop[{extra}]'"
        ) from exc
