"""Compare two builds of a kernel layer's pairs, in the same minutes, layer by layer.

The machine's speed drifts (by up to 40 % between two runs minutes apart), so two builds
are compared by alternating them, as `benchmarks/ab_pairs.py` does for single pairs:
`benchmarks/cpp/kernel_layers.cpp` is compiled against each tree's `csrc/` (a git
revision, or `.` for the working tree) and times `grid::kernel_layer` on one thread, on
the layers 2..depth of `two_point_report.py`'s 100 generic inputs (d = 10, sigma_w = 1.3,
sigma_b = 0.2; the layers' inputs from the installed sigprop), each layer `--passes`
times in a row, the two binaries in turn `--rounds` times, each keeping its best time a
layer. With `--values`, how many entries of the layers' outputs differ between the two,
and by how much at most, relative to the Cauchy-Schwarz scale sqrt(K_ii K_jj).
`--sigma-w`, `--sigma-b` and `--depth` choose another kernel (a deep ordered phase:
`--sigma-w 1 --sigma-b 0.5 --depth 30`).

    python benchmarks/ab_kernels.py 4779cae . --activations shifted_relu,soft_threshold
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from ab_pairs import FLAGS, ROOT  # (benchmarks/ is on the script's path)

import sigprop
from sigprop import _core

HARNESS = ROOT / "benchmarks" / "cpp" / "kernel_layers.cpp"


def build(rev: str, folder: Path) -> Path:
    """The harness compiled against revision rev's csrc/ (`.`: the working tree)."""
    folder.mkdir(parents=True)
    if rev == ".":
        include = ROOT / "csrc"
    else:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "csrc"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        include = folder / "csrc"
    exe = folder / "kernel_layers"
    cxx = os.environ.get("CXX", "g++")
    subprocess.run([cxx, *FLAGS, f"-I{include}", str(HARNESS), "-o", str(exe)], check=True)
    return exe


def layer_files(act, folder: Path, n: int, depth: int, sw: float, sb: float) -> list[Path]:
    """The inputs of layers 2..depth (the installed build's kernels), one file each."""
    X = np.random.default_rng(0).normal(size=(n, 10))
    p0, p1 = act.core_params
    K = _core.input_kernel(np.ascontiguousarray(X.T), sw, sb, 1)
    files = []
    for layer in range(2, depth + 1):
        path = folder / f"{act.name}_{layer}.bin"
        np.ascontiguousarray(K, dtype=np.float64).tofile(path)
        files.append(path)
        K, _ = _core.kernel_layer(act.kind, p0, p1, K, sw, sb, 1, None, None)
    return files


def scaled_difference(a: np.ndarray, b: np.ndarray, n: int) -> float:
    """The largest |a_ij - b_ij| / sqrt(a_ii a_jj) over the layers' n x n outputs."""
    a, b = a.reshape(-1, n, n), b.reshape(-1, n, n)
    d = np.sqrt(np.einsum("lii->li", a))
    return float(np.max(np.abs(a - b) / (d[:, :, None] * d[:, None, :])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="git revision of the first build ('.': the working tree)")
    parser.add_argument("new", help="git revision of the second build ('.': the working tree)")
    parser.add_argument("--activations", default="shifted_relu,soft_threshold,softsign,tanh")
    parser.add_argument("--inputs", type=int, default=100)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=6, help="alternations, best of each")
    parser.add_argument("--passes", type=int, default=100, help="calls a layer in a row")
    parser.add_argument("--values", action="store_true", help="compare the outputs as well")
    parser.add_argument("--sigma-w", type=float, default=1.3)
    parser.add_argument("--sigma-b", type=float, default=0.2)
    args = parser.parse_args()
    sw, sb = args.sigma_w, args.sigma_b
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        exes = [build(rev, folder / f"b{i}") for i, rev in enumerate((args.base, args.new))]
        print(f"{'activation':<18}{'layer':>6}{args.base:>12}{args.new:>12}{'ratio':>8}  (us)")
        for name in args.activations.split(","):
            act = sigprop.activation(name)
            p0, p1 = act.core_params
            files = layer_files(act, folder, args.inputs, args.depth, sw, sb)
            head = [str(act.kind), repr(p0), repr(p1), str(args.inputs), repr(sw), repr(sb)]
            best = np.full((2, len(files)), np.inf)
            for _ in range(args.rounds):
                for k, exe in enumerate(exes):
                    cmd = [str(exe), "time", *head, str(args.passes), *map(str, files)]
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                    best[k] = np.minimum(best[k], np.array(out.split(), dtype=float))
            for i, _ in enumerate(files):
                a, b = best[0, i] * 1e6, best[1, i] * 1e6
                print(f"{name:<18}{i + 2:>6}{a:>12.1f}{b:>12.1f}{b / a:>8.3f}")
            a, b = best.sum(axis=1) * 1e6
            line = f"{name:<18}{'all':>6}{a:>12.1f}{b:>12.1f}{b / a:>8.3f}"
            if args.values:
                outs = []
                for k, exe in enumerate(exes):
                    path = folder / f"out{k}.bin"
                    cmd = [str(exe), "values", *head, str(path), *map(str, files)]
                    subprocess.run(cmd, check=True)
                    outs.append(np.fromfile(path))
                line += f"   values: {np.sum(outs[0] != outs[1])} of {outs[0].size} differ"
                line += f", by at most {scaled_difference(outs[0], outs[1], args.inputs):.2g}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
