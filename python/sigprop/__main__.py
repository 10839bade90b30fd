"""``python -m sigprop``: the command line."""

from .cli import main

raise SystemExit(main())
