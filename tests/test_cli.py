"""The sigprop command line."""

import io

from sigprop import cli


def test_demo_prints_eoc_and_initialisations():
    out = io.StringIO()
    assert cli.demo(out) == 0
    text = out.getvalue()
    assert "1.304146 (0.5121)" in text  # tanh EOC at sigma_b = 0.2
    assert "1.679532 (0.6895)*" in text  # silu: unstable EOC fixed point
    assert "Kumar" in text and "3.5777" in text
    assert "divergent" in text  # relu with He init and sigma_b > 0


def test_main_runs_demo(capsys):
    assert cli.main(["demo"]) == 0
    assert "Edge of Chaos" in capsys.readouterr().out
