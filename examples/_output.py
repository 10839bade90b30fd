"""Where the example scripts save their figures.

By default into ``./sigprop-figures`` (or ``$SIGPROP_FIGURES_DIR``), so that running
an example never rewrites the figures committed under ``examples/figures``; those
are the README's, regenerated on purpose with ``--update-figures``::

    python examples/gram_spectra.py                      # ./sigprop-figures/gram_spectra.png
    python examples/gram_spectra.py --out-dir /tmp/figs  # /tmp/figs/gram_spectra.png
    python examples/gram_spectra.py --update-figures     # examples/figures/gram_spectra.png
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

#: The figures the README shows (committed).
COMMITTED = Path(__file__).resolve().parent / "figures"
#: Where figures go when neither --out-dir nor $SIGPROP_FIGURES_DIR says otherwise.
DEFAULT_DIR = "sigprop-figures"


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--out-dir DIR and --update-figures (mutually exclusive)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help=f"directory for the figure (default: $SIGPROP_FIGURES_DIR or ./{DEFAULT_DIR})",
    )
    group.add_argument(
        "--update-figures",
        action="store_true",
        help="overwrite the committed figure in examples/figures (the README's)",
    )


def figure_path(args: argparse.Namespace, filename: str) -> Path:
    """The path to save ``filename`` at, its directory created."""
    if args.update_figures:
        directory = COMMITTED
    elif args.out_dir is not None:
        directory = args.out_dir
    else:
        directory = Path(os.environ.get("SIGPROP_FIGURES_DIR") or DEFAULT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    return directory / filename


def parse_output_arguments(description: str) -> argparse.Namespace:
    """Command line of an example that takes no other options."""
    parser = argparse.ArgumentParser(description=description)
    add_output_arguments(parser)
    return parser.parse_args()
