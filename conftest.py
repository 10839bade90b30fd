"""pytest configuration at the repository root: the doctests run on the installed sigprop.

``python -m pytest`` collects tests/ and, with ``--doctest-modules``, the docstring
examples of python/sigprop (pyproject.toml). The source tree has no compiled core, so
the doctests must use the installed package: every sigprop module is imported here,
from the installed package, before collection, and pytest's importlib import mode then
takes each module it collects from ``sys.modules`` instead of running the source file.
Modules whose examples need an optional dependency outside the ``test`` extra are not
collected when that dependency is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

import sigprop

# python/sigprop file -> the optional module its examples need
_NEEDS = {
    "python/sigprop/networks/torch_init.py": "torch",
}

collect_ignore = [p for p, module in _NEEDS.items() if importlib.util.find_spec(module) is None]

for _info in pkgutil.walk_packages(sigprop.__path__, "sigprop."):
    if _info.name != "sigprop.__main__":  # running it is the command line
        importlib.import_module(_info.name)
