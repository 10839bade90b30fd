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
            f'{what} needs {module.split(".")[0]}: pip install ".[{extra}]" (in a sigprop checkout)'
        ) from exc


def matplotlib_modules():
    """(matplotlib, matplotlib.pyplot), or ImportError naming the ``plot`` extra."""
    try:
        import matplotlib
        import matplotlib.colors
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            'sigprop.plotting needs matplotlib: pip install ".[plot]" (in a sigprop checkout)'
        ) from exc
    return matplotlib, plt
