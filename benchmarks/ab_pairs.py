"""Compare two builds of the two-point engine on the report's pairs, in the same minutes.

The machine's speed drifts (by up to 40 % between two runs of the report minutes apart),
so two builds are compared by alternating them: `benchmarks/cpp/bivariate_pairs.cpp` is
compiled against each tree's `csrc/` (a git revision, or `.` for the working tree), and
for each activation, order (E[phi phi], E[phi' phi']) and set of pairs the two binaries
run in turn, `--rounds` times, each keeping its best rate (pairs a second, one thread).
The pairs are `two_point_report.py`'s: the whole domain (q1, q2 log-uniform in [1e-6,
1e4], c uniform in [-1, 1]), next to the diagonal (q2 = q1 (1 + delta), c = +-(1 -
e), delta and e log-uniform down to 1e-12) and the c-map grid (`--sets cmap`: q1 = q2 on
16 points log-spaced in [1e-2, 10], c on 16 in [-0.95, 0.95]). With `--values`, each
pair's value from both builds, their largest difference relative to the Cauchy-Schwarz
scale and how many differ at all.

    python benchmarks/ab_pairs.py 9ede707 . --activations softsign,linear_region_tanh
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from two_point_report import pair_sets as report_pairs  # (benchmarks/ is on the script's path)

import sigprop

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "benchmarks" / "cpp" / "bivariate_pairs.cpp"
# (the extension module's flags, CMakeLists.txt)
FLAGS = [
    "-O3",
    "-std=c++17",
    "-fopenmp",
    "-ffp-contract=off",
    "-fno-math-errno",
    "-fno-trapping-math",
]


def pair_sets(folder: Path) -> dict[str, Path]:
    """The report's pairs (two_point_report.pair_sets), one file a set."""
    files = {}
    for name, cols in report_pairs().items():
        path = folder / f"{name}.txt"
        np.savetxt(path, np.column_stack(cols), fmt="%.17g")
        files[name] = path
    return files


def build(rev: str, folder: Path) -> Path:
    """The harness compiled against revision rev's csrc/ (`.`: the working tree)."""
    tree = folder / ("worktree" if rev == "." else rev)
    if rev == ".":
        shutil.copytree(ROOT / "csrc", tree / "csrc")
    else:
        tree.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "csrc"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    exe = folder / f"pairs_{tree.name}"
    cxx = os.environ.get("CXX", "g++")
    subprocess.run([cxx, *FLAGS, f"-I{tree / 'csrc'}", str(HARNESS), "-o", str(exe)], check=True)
    return exe


def run(exe: Path, mode: str, act, d: int, path: Path, passes: int = 1) -> str:
    p0, p1 = act.core_params
    args = [str(exe), mode, str(act.kind), str(d), repr(p0), repr(p1), str(path)]
    if mode == "time":
        args.append(str(passes))
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="git revision of the first build ('.': the working tree)")
    parser.add_argument("new", help="git revision of the second build ('.': the working tree)")
    parser.add_argument("--activations", default="softsign,linear_region_tanh,tanh,selu")
    parser.add_argument("--sets", default="near,full")
    parser.add_argument("--rounds", type=int, default=4, help="alternations, best of each")
    parser.add_argument("--values", action="store_true", help="compare the values as well")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = pair_sets(folder)
        exes = [build(rev, folder / f"b{i}") for i, rev in enumerate((args.base, args.new))]
        print(f"{'activation':<20}{'set':<6}{'d':>2}{args.base:>14}{args.new:>14}{'ratio':>8}")
        for name in args.activations.split(","):
            act = sigprop.activation(name)
            for s in args.sets.split(","):
                for d in (0, 1):
                    best = [0.0, 0.0]
                    for _ in range(args.rounds):
                        for k, exe in enumerate(exes):
                            best[k] = max(best[k], float(run(exe, "time", act, d, files[s])))
                    line = f"{name:<20}{s:<6}{d:>2}{best[0]:>14.4g}{best[1]:>14.4g}"
                    line += f"{best[1] / best[0]:>8.3f}"
                    if args.values:
                        a, b = (
                            np.loadtxt(run(exe, "values", act, d, files[s]).splitlines())
                            for exe in exes
                        )
                        rel = np.abs(a[:, 0] - b[:, 0]) / a[:, 1]
                        line += f"   values: {np.sum(a[:, 0] != b[:, 0])} differ,"
                        line += f" at most {np.nanmax(rel):.2g} of the scale"
                    print(line, flush=True)


if __name__ == "__main__":
    main()
