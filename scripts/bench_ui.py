"""Server time of the /ui search page: 10 hits, each with its term contributions, marked
snippet and title, plus the query vector, on SciFact (the issue's goal: under 50 ms).

    .venv/bin/python scripts/bench_ui.py --index /tmp/scifact-if \
        --dataset ../shared/data/scifact [--queries 300] [--out docs/ui-bench.json]

The index is an inference-free splade-tiny index of the dataset (built first, with
`spire index DATASET --model splade-tiny --mode inference-free --out INDEX`, if the
folder is missing). A real uvicorn server on a loopback port serves the page without an
API key, so each page is rendered whole on the server; each of the dataset's test
queries is asked `--rounds` times after one warm-up pass. The server time is the page's
own Server-Timing header (search, explanations, snippets, rendering, as measured in the
route); the round trip adds HTTP on loopback. On a loaded machine both mostly measure
waiting for a core, so the CPU time per page (server and client together, since they
share this process) is reported too. The load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def ensure_index(index: Path, dataset: Path) -> None:
    if index.exists():
        return
    print(f"building {index} (spire index, inference-free splade-tiny)", file=sys.stderr)
    cmd = [sys.executable, "-m", "spire", "index", str(dataset), "--model", "splade-tiny",
           "--mode", "inference-free", "--out", str(index)]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=REPO)


def start_server(index: Path, dataset: Path):
    import uvicorn

    from serving.server import create_app
    from serving.ui import UiOptions

    app = create_app(index, read_only=True, ui=UiOptions(qrels=dataset))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def measure(url: str, queries: list[str], rounds: int, k: int) -> tuple[list, list]:
    from tqdm import tqdm

    server_ms, round_trip_ms = [], []
    with httpx.Client(base_url=url, timeout=60) as client:
        for q in queries:  # warm-up: tokenizer caches, kernels, templates
            client.get("/ui", params={"q": q, "k": k}).raise_for_status()
        for _ in tqdm(range(rounds), desc="rounds", unit="round"):
            for q in queries:
                start = time.perf_counter()
                page = client.get("/ui", params={"q": q, "k": k})
                round_trip_ms.append((time.perf_counter() - start) * 1000.0)
                page.raise_for_status()
                assert page.text.count('<li class="hit"') == k, "expected k hits"
                timing = page.headers["server-timing"]
                server_ms.append(float(timing.split("dur=")[1]))
    return server_ms, round_trip_ms


def summary(values: list[float]) -> dict:
    arr = np.asarray(values)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {"mean": round(float(arr.mean()), 2), "p50": round(float(p50), 2),
            "p90": round(float(p90), 2), "p99": round(float(p99), 2),
            "max": round(float(arr.max()), 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, default=REPO.parent / "shared/data/scifact")
    parser.add_argument("--queries", type=int, default=300, help="test queries used")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args()

    from eval.data.datasets import load_dataset

    ensure_index(args.index, args.dataset)
    queries = list(load_dataset(args.dataset).queries.values())[: args.queries]
    load_before = os.getloadavg()[0]
    server, url = start_server(args.index, args.dataset)
    try:
        cpu_start = time.process_time()
        server_ms, round_trip_ms = measure(url, queries, args.rounds, args.k)
        # Server and client share this process: CPU per page is an upper bound of the
        # server's, and what the wall-clock figures tend to on an idle machine.
        cpu_ms = (time.process_time() - cpu_start) * 1000.0 / (len(queries) * (args.rounds + 1))
    finally:
        server.should_exit = True
    result = {
        "dataset": args.dataset.name,
        "index": str(args.index),
        "pages": len(server_ms),
        "k": args.k,
        "server_ms": summary(server_ms),
        "round_trip_ms": summary(round_trip_ms),
        "cpu_ms_per_page_server_and_client": round(cpu_ms, 2),
        "goal_ms": 50,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
