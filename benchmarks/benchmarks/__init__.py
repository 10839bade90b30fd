"""asv benchmarks for sigprop (run from the ``benchmarks/`` directory, see asv.conf.json)."""
