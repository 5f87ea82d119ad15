"""Document encoding: spire's heads and precisions against sentence-transformers, one run.

Every variant encodes the same documents (max_length 256) in its own fresh process, so
its peak RSS is its own; variants run in interleaved rounds and the fastest round counts,
which damps the noise of a shared machine. For each variant it prints docs/s, the ratio
to sentence-transformers' SparseEncoder on the same splade-tiny weights, peak RSS (and
the part added by encoding, over the loaded model), the max-abs difference against the
plain reference projection, and GFLOP/s twice: FLOPs actually done (counted by torch's
FlopCounterMode on the same documents) and the full projection's FLOPs ("effective",
which can exceed the peak when pruning works). The CPU's peak is measured in the same run
with a large plain matmul, fp32 and bf16.

    .venv/bin/python scripts/bench_encode.py --data ../shared/data/scifact --docs 1000

Needs the `bench` extra for sentence-transformers and the `onnx` extra for the ONNX rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

VARIANTS = {
    "reference": dict(head="reference"),
    "chunked": dict(head="chunked"),
    "pruned": dict(head="pruned"),
    "pruned+bf16": dict(head="pruned", precision="bf16"),
    "onnx": dict(onnx="fp32"),
    "onnx-int8": dict(onnx="int8"),
    "sentence-transformers": dict(st=True),
}
ANCHOR = "sentence-transformers"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_variant(name: str, model: str, onnx_dir: Path | None, max_length: int):
    """(encode function, the torch model or None) of a variant."""
    spec = VARIANTS[name]
    if spec.get("st"):
        from sentence_transformers import SparseEncoder

        from encoders.registry import resolve

        st = SparseEncoder(resolve(model), device="cpu")
        st.max_seq_length = max_length

        def encode(texts):
            out = st.encode_document(texts, batch_size=32, convert_to_sparse_tensor=True)
            return sp.csr_matrix(out.to_dense().numpy())

        return encode, None
    from encoders import load_encoder

    if "onnx" in spec:
        enc = load_encoder(str(onnx_dir), "siamese", precision=spec["onnx"])
        return enc.encode_documents, None
    enc = load_encoder(model, "siamese", doc_max_length=max_length, **spec)
    return enc.encode_documents, enc


def worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    texts = json.loads(Path(args.texts).read_text())
    encode, enc = load_variant(args.worker, args.model, args.onnx_dir, args.max_length)
    encode(texts[:8])  # warm-up
    before = rss_mb()
    start = time.perf_counter()
    out = encode(texts)
    seconds = time.perf_counter() - start
    record = {"seconds": seconds, "rss_peak_mb": rss_mb(), "rss_loaded_mb": before}
    if args.count_flops and enc is not None:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            encode(texts)
        record["flops"] = counter.get_total_flops()
        record["tokens"] = enc.stats.tokens
        record["padded_tokens"] = enc.stats.padded_tokens
    sp.save_npz(args.out, out.tocsr().astype(np.float32))
    print(json.dumps(record))


def run_worker(name: str, args, texts_file: Path, out: Path, count_flops: bool) -> dict:
    cmd = [
        sys.executable, __file__, "--worker", name, "--texts", str(texts_file),
        "--out", str(out), "--model", args.model, "--max-length", str(args.max_length),
        "--onnx-dir", str(args.onnx_dir), "--threads", str(args.threads),
    ] + (["--count-flops"] if count_flops else [])  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def matmul_peak(dtype: torch.dtype) -> float:
    """GFLOP/s of a large square matmul: the CPU's practical peak at this thread count."""
    a = torch.randn(2048, 2048).to(dtype)
    a @ a
    start, n = time.perf_counter(), 4
    for _ in range(n):
        a @ a
    return 2 * 2048**3 * n / (time.perf_counter() - start) / 1e9


def projection_rate(docs: int = 32, length: int = 256, vocab: int = 30522, hidden: int = 128):
    """GFLOP/s of the bare fp32 projection of 32 x 256 tokens: the matmul alone, the
    reference (matmul, then max over tokens) and the chunked head (256-row slices)."""
    h, w = torch.randn(docs, length, hidden), torch.randn(vocab, hidden)
    flops = 2 * docs * length * vocab * hidden
    rates = {}
    for name, fn in {
        "matmul alone (batch x length x vocab written)": lambda: h @ w.T,
        "reference: matmul, then max over tokens": lambda: (h @ w.T).amax(1),
        "chunked: 256-row slices, each max-reduced": lambda: [
            (h @ w[s : s + 256].T).amax(1) for s in range(0, vocab, 256)
        ],
    }.items():
        fn()
        start = time.perf_counter()
        for _ in range(3):
            fn()
        rates[name] = 3 * flops / (time.perf_counter() - start) / 1e9
    return rates


def load_texts(data: Path, n: int) -> list[str]:
    from eval.data.datasets import load_corpus

    corpus = load_corpus(str(data))
    return [t for t in corpus.texts if t.strip()][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--onnx-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--texts", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--count-flops", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    names = [n for n in args.variants.split(",") if n]  # "" measures the machine only
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="spire-bench-encode-") as tmp:
        tmp = Path(tmp)
        if any("onnx" in n for n in names) and args.onnx_dir is None:
            from encoders.onnx_model import export_onnx

            args.onnx_dir = export_onnx(args.model, tmp / "onnx")
        texts_file = tmp / "texts.json"
        texts_file.write_text(json.dumps(load_texts(args.data, args.docs)))
        results = measure(names, args, texts_file, tmp)
    print_table(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def measure(names: list[str], args, texts_file: Path, tmp: Path) -> dict:
    results: dict[str, dict] = {}
    for r in range(args.rounds):
        for name in names:
            out = tmp / f"{name}.npz"
            record = run_worker(name, args, texts_file, out, count_flops=r == 0)
            best = results.setdefault(name, record)
            if record["seconds"] < best["seconds"]:
                best.update(seconds=record["seconds"])
            best["rss_peak_mb"] = max(best["rss_peak_mb"], record["rss_peak_mb"])
            print(f"round {r + 1}: {name} {record['seconds']:.1f} s", file=sys.stderr)
    reference = sp.load_npz(tmp / "reference.npz") if "reference" in names else None
    for name in names:
        if reference is not None:
            diff = abs(sp.load_npz(tmp / f"{name}.npz") - reference)
            results[name]["max_abs_diff"] = float(diff.max()) if diff.nnz else 0.0
    results["_machine"] = {
        "fp32_peak_gflops": matmul_peak(torch.float32),
        "bf16_peak_gflops": matmul_peak(torch.bfloat16),
        "projection_gflops": projection_rate(),
        "threads": torch.get_num_threads(),
        "docs": len(json.loads(texts_file.read_text())),
    }
    return results


def print_table(results: dict, args) -> None:
    machine = results["_machine"]
    docs = machine["docs"]
    full = results.get("reference", {}).get("flops")
    anchor = results.get(ANCHOR, {}).get("seconds")
    if len(results) == 1:
        print(json.dumps(machine, indent=1))
        return
    print(
        f"\n{docs} docs of {args.data.name}, max_length {args.max_length}, "
        f"{machine['threads']} threads; matmul peak fp32 {machine['fp32_peak_gflops']:.0f} "
        f"GFLOP/s, bf16 {machine['bf16_peak_gflops']:.0f} GFLOP/s"
    )
    for name, rate in machine["projection_gflops"].items():
        share = rate / machine["fp32_peak_gflops"]
        print(f"bare fp32 projection, {name}: {rate:.0f} GFLOP/s ({share:.0%} of peak)")
    head = "| variant | docs/s | x ST | peak RSS MB | RSS added MB | max abs diff |"
    print(head + " GFLOP/s done | GFLOP/s effective |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        if name.startswith("_"):
            continue
        s = r["seconds"]
        done = r.get("flops", full if name in ("onnx", "onnx-int8", ANCHOR) else None)
        cells = [
            name,
            f"{docs / s:.1f}",
            f"{anchor / s:.2f}" if anchor else "-",
            f"{r['rss_peak_mb']:.0f}",
            f"{r['rss_peak_mb'] - r['rss_loaded_mb']:.0f}",
            f"{r.get('max_abs_diff', float('nan')):.1e}",
            f"{done / s / 1e9:.0f}" if done else "-",
            f"{full / s / 1e9:.0f}" if full else "-",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
