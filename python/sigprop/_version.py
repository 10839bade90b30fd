"""The one place the version of sigprop lives.

pyproject.toml reads it at build time (scikit-build-core's regex metadata
provider) and ``sigprop.__version__`` re-exports it. PEP 440; the build passes
its release part (``0.2.0`` for ``0.2.0.dev0``) to CMake's ``project(VERSION)``.
"""

__version__ = "0.2.0.dev0"
