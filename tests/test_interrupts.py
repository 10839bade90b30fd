"""Ctrl-C and SIGTERM: long calls stop within a second, results do not depend on blocking.

The compiled core runs every long kernel in blocks that end ~30 ms after they
start (a deadline, not a cell count), with the GIL released inside a block;
between blocks it checks for a pending signal (csrc/bindings.cpp, ``run_blocks``;
csrc/sigprop/deadline.hpp). These tests send real signals to a
subprocess in the middle of long calls and measure how long it takes to stop.
The bound (1.5 s) is the issue's 1 s target plus slack for a loaded 2-core CI
machine; the measured latency is typically ~0.1 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import sigprop as sp
from sigprop import _core

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

LATENCY_BOUND_S = 1.5


def _run_and_interrupt(body: str, sig=signal.SIGINT, wait_s: float = 0.7, env=None):
    """Run ``body`` in a subprocess; once it prints 'ready', wait, send ``sig``.

    Returns (returncode, stdout, latency in seconds from the signal to the exit).
    ``body`` must print 'ready' right before the long call and catch nothing.
    """
    # Python's default SIGINT handler even if this process was started with SIGINT
    # ignored (a background job), which the child would inherit.
    code = (
        "import signal, sys, numpy as np, sigprop as sp\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n" + textwrap.dedent(body)
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", (line, proc.stderr.read())
        time.sleep(wait_s)
        assert proc.poll() is None, "the call finished before the signal: make it longer"
        t0 = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        latency = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err, latency


LONG_CALLS = {
    # ~minutes each if not interrupted, on one core
    "fixed_point": "sw = np.linspace(0.1, 4, 2000)[None, :]\n"
    "sb = np.linspace(0, 2, 2000)[:, None]\nprint('ready', flush=True)\n"
    "sp.fixed_point('tanh', sw, sb, n_threads=1)",
    "scan": "print('ready', flush=True)\n"
    "sp.scan('tanh', sigma_w=np.linspace(0.1, 4, 2000), sigma_b=np.linspace(0, 2, 2000), "
    "n_threads=1, "
    "progress=False)",
    "nngp_kernel": "X = np.random.default_rng(0).normal(size=(3000, 3))\n"
    "print('ready', flush=True)\nsp.nngp_kernel('gelu', X, 1.5, 0.1, depth=50, n_threads=1)",
    # every pair takes quadrature (~0.24 ms: variances 28-263, wider than a layer table's
    # e^1.99, c next to 1, the first layer of an ordered phase on inputs of unequal
    # norms; ~43 s): a unit of work of 8 rows by every column had held Ctrl-C for
    # seconds; the tiles of 8 rows by 16 columns hold it ~0.2 s. (Variances 1-6 %
    # apart, this workload before, now take a layer table: 0.3 s.)
    "nngp_kernel_slow_pairs": "rng = np.random.default_rng(0)\nx0 = rng.normal(size=10)\n"
    "X = (x0 + 0.1 * rng.normal(size=(600, 10)))"
    " * np.exp(rng.uniform(np.log(6), np.log(20), size=(600, 1)))\n"
    "print('ready', flush=True)\nsp.nngp_kernel('softsign', X, 1.0, 3.0, depth=2, n_threads=1)",
    # the first tile's pairs (c ~ 0.99 at variances 6, 20, 60 and 150, in turn) build four
    # segments of softplus's near-diagonal table on first use (~3.3 s in all, one thread):
    # built whole inside the tile, they held Ctrl-C for seconds; they stop once their block
    # is 0.25 s old, and the tile is done again by the next block (grid::restartable)
    "nngp_kernel_cold_tables": "rng = np.random.default_rng(0)\nx0 = rng.normal(size=10)\n"
    "X = x0 + 0.05 * rng.normal(size=(300, 10))\n"
    "X *= np.sqrt(np.array([6.0, 20.0, 60.0, 150.0])[np.arange(300) % 4]"
    " / (X**2).mean(axis=1))[:, None]\n"
    "sp.clear_cache()\nprint('ready', flush=True)\n"
    "sp.nngp_kernel('softplus', X, 1.0, 0.0, depth=2, n_threads=1)",
    # (tanh: an expansion at each new variance, ~0.5 us a point, ~5 s; gelu's closed
    # form took 0.7 s, and finished before the signal on a fast machine)
    "bivariate": "q = np.linspace(0.1, 4, 10**7)\nprint('ready', flush=True)\n"
    "sp.bivariate_expectation('tanh', q, q[::-1], 0.3, derivative=1, n_threads=1)",
    # ~0.3 s of cheap cells (the series), then ~9 s of cells 300x slower (q1 != q2, c
    # next to 1: the linear-region tanh's phi', its localised remainder, ~45 us a cell;
    # softsign's there, ~0.12 ms a cell once, now reads its remainder table): a block
    # sized from the cheap cells' speed would hold all the slow ones
    "uneven_cells": "c = np.r_[np.full(2 * 10**6, 0.3), np.full(2 * 10**5, 0.999)]\n"
    "q = np.r_[np.full(2 * 10**6, 1.3), np.linspace(3, 5, 2 * 10**5)]\n"
    "print('ready', flush=True)\n"
    "sp.bivariate_expectation('linear_region_tanh', q, 1.01 * q, c, derivative=1, n_threads=1)",
    # every layer in one core call: softsign's pairs next to c = 1 with q1 != q2, 1e5
    # inputs, 20 layers (~5 s: ~0.1 ms a pair once, now its remainder table's where it
    # serves, building its segments)
    "propagate": "q = np.linspace(3, 5, 10**5)\nprint('ready', flush=True)\n"
    "sp.propagate('softsign', 1.0, 3.0, 20, q, 0.999, q0_b=1.01 * q, n_threads=1)",
    "eoc": "sb = np.linspace(0, 2, 10**6)\nprint('ready', flush=True)\n"
    "sp.eoc('tanh', sb, n_threads=1)",
    # Python-side loops: between their steps Python itself checks for signals
    "simulate": "X = np.random.default_rng(0).normal(size=(8, 64))\nprint('ready', flush=True)\n"
    "sp.simulate('tanh', 1.5, 0.1, X, width=256, depth=50, n_seeds=10**6, theory=False)",
    "correlation_convergence": "print('ready', flush=True)\n"
    "sp.papers.hayou.correlation_convergence('gelu', 10**7, sigma_b=2.0)",
    "gram_infinite": "X = np.random.default_rng(0).normal(size=(3000, 3))\n"
    "print('ready', flush=True)\nsp.gram_infinite('tanh', X, method='quadrature', n_threads=1)",
    "fit_kaiming": "x = np.linspace(-1, 1, 64)\nprint('ready', flush=True)\n"
    "sp.papers.milkert.fit_kaiming(x, np.sin(3 * x), depth=8, width=64, epochs=10**7)",
}


@pytest.mark.parametrize("name", sorted(LONG_CALLS))
def test_sigint_stops_long_call_within_a_second(name):
    rc, _, err, latency = _run_and_interrupt(LONG_CALLS[name])
    assert "KeyboardInterrupt" in err, err[-2000:]
    assert rc != 0
    assert latency <= LATENCY_BOUND_S, f"{name}: stopped {latency:.2f} s after SIGINT"


def test_progress_callback_sees_every_cell_in_blocks():
    # softsign next to its EOC, 50 000 cells of ~5-10 us (hundreds of ms: several blocks of
    # 30 ms; its cells there were ms-scale before the near-diagonal table)
    sw = np.linspace(2.9, 3.6, 50000)
    sb = np.full_like(sw, 1.7)
    kind = sp.activation("softsign").kind
    calls: list[int] = []
    res = _core.fixed_points(kind, 0.0, 0.0, sw, sb, None, True, 1, calls.append)
    assert sum(calls) == sw.size
    assert len(calls) > 1, "one block for 50 000 correlated softsign cells: no signal checks"
    ref = _core.fixed_points(kind, 0.0, 0.0, sw, sb, None, True, 1)
    for k in res:
        np.testing.assert_array_equal(res[k], ref[k])


def test_kernel_progress_counts_rows_across_tiles():
    # A kernel layer whose pairs all take slow forms (selu at variances of ~1e3 next to
    # c = 1, where the series fails: ~8 us a pair, 192 inputs, ~0.15 s on one thread; 0.3
    # s while the nested quadrature served them) runs in several 30 ms blocks of tiles (8
    # rows by 16 columns); progress counts finished rows, m in all, and the blocked layer
    # is bitwise the one computed in other blocks (two threads). (softsign's conditional
    # form, 0.1-0.3 ms a pair, served here before its process-wide table made it 10-40
    # us.)
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=10)
    n = 192
    X = (x0 + 0.1 * rng.normal(size=(n, 10))) * 30.0 * (1 + 0.5 * rng.uniform(size=(n, 1)))
    K = _core.input_kernel(np.ascontiguousarray(X.T), 1.0, 3.0, 1)
    kind = sp.activation("selu").kind
    calls: list[int] = []
    K1, short1 = _core.kernel_layer(kind, 0.0, 0.0, K, 1.0, 3.0, 1, calls.append)
    assert sum(calls) == n and min(calls) >= 0
    assert len(calls) > 2, calls
    K2, short2 = _core.kernel_layer(kind, 0.0, 0.0, K, 1.0, 3.0, 2)
    assert short1 == short2 == 0
    assert K1.tobytes() == K2.tobytes()
    np.testing.assert_array_equal(K1, K1.T)


def test_blocked_results_are_bitwise_identical_to_cell_by_cell():
    # The block loop must not change any result: each cell alone (its own core
    # call) equals the same cell inside one long, blocked, multi-threaded call.
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.2, 4.0, 600)
    sb = rng.uniform(0.0, 2.0, 600)
    many = sp.fixed_point("gelu", sw, sb, n_threads=2)
    for i in range(0, sw.size, 37):
        one = sp.fixed_point("gelu", sw[i], sb[i], n_threads=1)
        for field in ("q_star", "chi1", "c_star", "chi_c", "xi_q", "xi_c", "beta_q"):
            a, b = np.asarray(getattr(many, field))[i], np.asarray(getattr(one, field))
            assert a.tobytes() == b.tobytes(), (field, i, a, b)


@pytest.fixture
def every_build_cut():
    """Cold tables, and every table segment's build cut short after each of its steps: the
    cells or kernel tiles that need one are done again, block after block, while it goes
    on (grid::restartable; a segment of the near-diagonal table is 429 steps)."""
    _core.clear_cache()
    prev = _core.build_limits(0.0, 0.0)
    try:
        yield
    finally:
        _core.build_limits(*prev)


def test_cells_cut_short_by_table_builds_are_bitwise_unchanged(every_build_cut):
    # linear_region_tanh's cells next to its EOC read the near-diagonal table (chi_c at c*
    # next to 1), whose segments (0.3-0.6 s cold) are built inside the cells
    kind = sp.activation("linear_region_tanh").kind
    sb = np.repeat([0.3, 1.5], 20)
    sw = sp.eoc("linear_region_tanh", sb).sigma_w * (1 + np.tile(np.linspace(-0.01, 0.01, 20), 2))
    calls: list[int] = []
    cut = _core.fixed_points(kind, 1.0, 0.0, sw, sb, None, True, 2, calls.append)
    assert _core.n_near_diagonal_tables() == 1
    assert 0 in calls, "no block was cut short before its first cell"
    assert sum(calls) == sw.size
    warm = _core.fixed_points(kind, 1.0, 0.0, sw, sb, None, True, 1)
    for k in warm:
        assert cut[k].tobytes() == warm[k].tobytes(), k


def test_kernel_tiles_cut_short_by_table_builds_are_bitwise_unchanged(every_build_cut):
    # softplus's pairs next to c = 1 at variances 40 and 60 take the difference form, whose
    # inputs (in a layer of at least 256) read a segment of the near-diagonal table past
    # 10^1.5 (~0.8 s cold), built inside the first tile
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=10)
    X = x0 + 0.05 * rng.normal(size=(256, 10))
    X *= np.sqrt(np.array([40.0, 60.0])[np.arange(256) % 2] / (X**2).mean(axis=1))[:, None]
    K = _core.input_kernel(np.ascontiguousarray(X.T), 1.0, 0.0, 1)
    kind = sp.activation("softplus").kind
    calls: list[int] = []
    cut, short_cut = _core.kernel_layer(kind, 0.0, 0.0, K, 1.0, 0.5, 2, calls.append)
    assert _core.n_near_diagonal_tables() == 1
    assert sum(calls) == K.shape[0]
    warm, short_warm = _core.kernel_layer(kind, 0.0, 0.0, K, 1.0, 0.5, 1)
    assert short_cut == short_warm == 0
    assert cut.tobytes() == warm.tobytes()


def test_build_limits_rejects_bad_values():
    with pytest.raises(ValueError, match=r"build_limits: .* got -1\.0 and 0\.0"):
        _core.build_limits(-1.0, 0.0)
    with pytest.raises(ValueError, match=r"build_limits: .* got 0\.0 and nan"):
        _core.build_limits(0.0, float("nan"))


def test_progress_callback_exception_propagates():
    def boom(n):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        _core.moments(9, 0.0, 0.0, np.linspace(0, 1, 10), 1, boom)


def test_scan_progress_moves_within_one_chunk(monkeypatch):
    from sigprop import scans as ss
    from sigprop.scans import grid_scan

    pytest.importorskip("xarray")
    updates: list[int] = []

    class Bar:
        callback = staticmethod(updates.append)

        def update(self, n):
            updates.append(n)

        def close(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(grid_scan, "progress_bar", lambda total, progress, desc: Bar())
    # one chunk of 160 000 cells, ~0.3 s with warm tables (blocks of ~30 ms): it no
    # longer leans on the first use's table builds, which got faster
    sb, sw = np.linspace(0.0, 1.0, 400), np.linspace(0.5, 3.0, 400)
    ss.scan("tanh", sigma_w=sw, sigma_b=sb, chunk_cells=1 << 18, n_threads=1)
    assert sum(updates) == sb.size * sw.size
    assert len(updates) > 1, "the bar would sit at 0 % until the single chunk ends"


def test_deadline_timer_fires_on_time_whether_or_not_it_was_woken():
    """The timer thread (deadline.hpp) is woken only where it would otherwise wake too
    late. After a deadline 0.2 s out is dropped, the timer still sleeps until then: a
    later one, 0.3 s out, must fire at 0.3 s (the timer wakes at 0.2 s and waits again),
    not at 0.2 s; while a deadline 5 s out is held, one 0.05 s out must wake the timer
    and fire at 0.05 s, not at 5 s; back to back, short ones fire on time."""
    late, early, *short = _core.deadline_steps(
        [("drop", 0.2), ("wait", 0.3), ("hold", 5.0), ("wait", 0.05)] + [("wait", 0.01)] * 5
    )
    assert 0.3 <= late < 0.3 + 0.25
    assert 0.05 <= early < 0.05 + 0.25
    for t in short:
        assert 0.01 <= t < 0.01 + 0.25
    assert _core.deadline_steps([("wait", 0.0)])[0] < 0.25


@pytest.mark.parametrize("step", [("later", 1.0), ("wait", -1.0), ("wait", 11.0), ("wait",)])
def test_deadline_steps_rejects_bad_steps(step):
    with pytest.raises(ValueError, match="each step must be"):
        _core.deadline_steps([step])
