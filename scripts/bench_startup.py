"""Start-up cost of a one-query `spire search` on an inference-free index.

Each measurement is a fresh process, as a user's command is:
- imports: the `-X importtime` total and whether torch or transformers were imported;
- CPU (user + sys of the child, from getrusage) and wall time of one search:
  - cold: numba's kernel cache empty, so the search compiles its kernels;
  - after setup: the same empty cache after `python -m retrieval.warm` (what `make setup`
    runs), i.e. the first search of a fresh install;
  - warm: the median of --repeats searches with the cache filled.
The cold and after-setup runs use a fresh NUMBA_CACHE_DIR, so the checkout's own cache
(beside the sources) is left as it is. Without --index, the bundled Cranfield is indexed
first with `spire index` (inference-free splade-tiny).

Goals (issue 22): no torch, under 1.5 s CPU, and the first search after setup under 5 s
wall. Times are this machine's; run it when the machine is otherwise idle.

    .venv/bin/python scripts/bench_startup.py [--index DIR] [--repeats 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUERY = "heat transfer in hypersonic boundary layers"
GOAL_CPU_S, GOAL_FIRST_WALL_S = 1.5, 5.0


def timed(command: list[str], env: dict | None = None) -> dict:
    """Run a command; its wall time, the child's CPU time and its stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "stderr": proc.stderr}


def search_command(index: Path, importtime: bool = False) -> list[str]:
    flags = ["-X", "importtime"] if importtime else []
    return [sys.executable, *flags, "-m", "spire", "search", str(index), QUERY, "-k", "10"]


def imports(index: Path) -> dict:
    lines = [
        line.split("|")
        for line in timed(search_command(index, importtime=True))["stderr"].splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    ]
    modules = {parts[2].strip() for parts in lines}
    total_us = sum(int(parts[0].split(":")[1]) for parts in lines)
    return {
        "import_s": round(total_us / 1e6, 3),
        "modules": len(modules),
        "torch_imported": any(m.split(".")[0] == "torch" for m in modules),
        "transformers_imported": any(m.split(".")[0] == "transformers" for m in modules),
    }


def searches(index: Path, repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cold_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cold_dir}
        cold = timed(search_command(index), env)
    with tempfile.TemporaryDirectory(prefix="numba-setup-") as setup_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": setup_dir}
        warm_up = timed([sys.executable, "-m", "retrieval.warm"], env)
        first = timed(search_command(index), env)
        warm = [timed(search_command(index), env) for _ in range(repeats)]
    return {
        "cold_wall_s": cold["wall_s"],
        "cold_cpu_s": cold["cpu_s"],
        "setup_warm_up_wall_s": warm_up["wall_s"],
        "first_after_setup_wall_s": first["wall_s"],
        "first_after_setup_cpu_s": first["cpu_s"],
        "warm_wall_s": statistics.median(r["wall_s"] for r in warm),
        "warm_cpu_s": statistics.median(r["cpu_s"] for r in warm),
    }


def build_index(folder: Path) -> Path:
    index = folder / "cranfield-if"
    timed([sys.executable, "-m", "spire", "index", "spire/data/cranfield", "--model",
           "splade-tiny", "--mode", "inference-free", "--out", str(index), "--json"])  # fmt: skip
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an inference-free index folder")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        index = args.index or build_index(Path(tmp))
        result = {"index": str(args.index or "bundled Cranfield, spire index"),
                  "load_average": os.getloadavg()[0], **imports(index),
                  **searches(index, args.repeats)}  # fmt: skip
    checks = [
        ("no torch imported", not result["torch_imported"]),
        (f"warm search CPU < {GOAL_CPU_S} s", result["warm_cpu_s"] < GOAL_CPU_S),
        (f"first search after setup < {GOAL_FIRST_WALL_S} s wall",
         result["first_after_setup_wall_s"] < GOAL_FIRST_WALL_S),
    ]  # fmt: skip
    for name, value in result.items():
        print(f"{name:28} {value}")
    for name, ok in checks:
        print(f"{'MET ' if ok else 'MISSED'} {name}")
    if args.json:
        args.json.write_text(json.dumps({**result, "goals": dict(checks)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
