"""Activation-sparse and MoE query encoding of all-MiniLM-L6-v2 (docs/sparsity.md,
"Activation sparsity and MoE backbones"): nDCG@10 of dense and hybrid retrieval, single-
query latency against the dense model in the same run, where a query's time goes, plots.

    python scripts/activation_report.py build              # spire sparsify, each config
    python scripts/activation_report.py quality --datasets cranfield cisi
    python scripts/activation_report.py latency --queries 100
    python scripts/activation_report.py kernels            # gather vs dense, one Linear
    python scripts/activation_report.py union --queries 30  # channels a query keeps
    python scripts/activation_report.py profile; python scripts/activation_report.py plots

Folders are calibrated on wiki-paragraphs (never the test collections) and apply to
queries only (documents: the dense model, once per collection). Rows are appended to
docs/sparsity/activation_*.jsonl as measured; rows already there are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "docs" / "sparsity"
MODEL = "all-MiniLM-L6-v2"
LEVELS = (0.25, 0.4, 0.5, 0.65)
# (name, activation (method, target) or None, moe fields or None)
CONFIGS = [
    ("dense", None, None),
    *[(f"{m}@{t:g}", (m, t), None) for t in LEVELS for m in ("teal", "wina")],
    *[
        (f"moe{e}/{k}-{r}", None, {"experts": e, "top": k, "routing": r})
        for e, k, r in [
            (16, 4, "sequence"),
            (16, 4, "token"),
            (16, 8, "sequence"),
            (8, 2, "sequence"),
            (16, 2, "sequence"),
        ]
    ],  # fmt: skip
]


def folder_of(args, name: str) -> str:
    return MODEL if name == "dense" else str(Path(args.work) / name.replace("/", "of"))


def build(args) -> None:
    """spire sparsify for each configuration (skips folders already there), the model
    loaded and calibrated once: one histogram pass per method, one MoEfication (k-means
    and fitted router) per expert count, whatever the targets and top-k."""
    from encoders.loading import load_backbone
    from eval.data.prune_data import calibration_batches
    from sparsity.activation import calibrate
    from sparsity.activation.calibrate import histograms
    from sparsity.moe import moefy
    from spire.cli.sparsify import sparsify_folder

    net, tokenizer, kind, source = load_backbone(MODEL)
    calib = str(DATA / "wiki-paragraphs")
    batches = calibration_batches(tokenizer, calib, args.samples, args.seq_len, 0, False)
    hists: dict = {}
    moes: dict = {}
    for name, activation, moe in _chosen(args):
        out = Path(folder_of(args, name))
        if name == "dense" or out.is_dir():
            continue
        start = time.perf_counter()
        sections = {}
        if activation is not None:
            method, target = activation
            if method not in hists:
                hists[method] = histograms(net, method, batches)
            sections["activation"] = calibrate(net, method, target, batches, hists=hists[method])
        if moe is not None:
            if moe["experts"] not in moes:
                moes[moe["experts"]] = moefy(net, moe["experts"], moe["top"], batches)
            sections["moe"] = {**moes[moe["experts"]], "top": moe["top"],
                               "routing": moe["routing"]}  # fmt: skip
        sparsify_folder(
            MODEL, out, calib, activation, moe, samples=args.samples, seq_len=args.seq_len,
            path=args.path, gather_below=args.gather_below,
            loaded=(net, tokenizer, kind, source, batches), sections=sections,
        )  # fmt: skip
        print(f"{name}: built in {time.perf_counter() - start:.0f} s", flush=True)


def _chosen(args):
    return [c for c in CONFIGS if not args.only or c[0] in args.only]


def _built(args, name: str) -> bool:
    if name == "dense" or Path(folder_of(args, name)).is_dir():
        return True
    print(f"{name}: not built yet, skipped", flush=True)
    return False


def _done(path: Path, key: str) -> set:
    if not path.is_file():
        return set()
    return {json.loads(line)[key] for line in path.read_text().splitlines() if line.strip()}


def _append(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def _collection(args, name: str):
    """The dataset, the dense index of its documents (dense MiniLM; vectors kept in
    --work) and the inference-free splade-tiny run the hybrid fuses with."""
    import numpy as np

    from encoders.dense import load_dense_encoder
    from eval.data.datasets import load_dataset
    from eval.data.run import Run
    from eval.experiments.systems import Systems
    from indexing.dense_index import DenseIndex

    data = load_dataset(DATA / name)
    cache = Path(args.work) / "collections" / name
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "vectors.npy").is_file():
        encoder = load_dense_encoder(MODEL)
        vectors = encoder.encode_documents(data.corpus.texts, show_progress=True)
        np.save(cache / "vectors.npy", vectors)
    index = DenseIndex.build(data.corpus.ids, np.load(cache / "vectors.npy"), encoder=MODEL)
    if not (cache / "sparse.json").is_file():
        run = Systems(data, show_progress=True).run("inference-free").run
        (cache / "sparse.json").write_text(json.dumps({q: dict(d) for q, d in run.items()}))
    sparse = Run(json.loads((cache / "sparse.json").read_text()), dataset=data.name)
    return data, index, sparse


def quality(args) -> None:
    import torch

    from encoders.dense import load_dense_encoder
    from eval.data.run import Run
    from eval.experiments.pipeline import report
    from eval.experiments.systems import SystemResult
    from retrieval import DenseSearcher
    from retrieval.fusion import fuse

    torch.set_num_threads(args.threads)
    path = OUT / "activation_quality.jsonl"
    for dataset in args.datasets:
        todo = [c for c in _chosen(args) if f"{dataset}:{c[0]}" not in _done(path, "key")]
        if not todo:
            continue
        data, index, sparse = _collection(args, dataset)
        for name, _, _ in todo:
            if not _built(args, name):
                continue
            encoder = load_dense_encoder(folder_of(args, name))
            hits = DenseSearcher(index, encoder).batch_search(data.queries, 1000)
            dense = Run.from_hits(hits, dataset=data.name)
            hybrid = Run(fuse([sparse, dense], "rrf", None, depth=1000), dataset=data.name)
            row = {"key": f"{dataset}:{name}", "dataset": dataset, "config": name}
            for system, run in (("dense", dense), ("hybrid", hybrid)):
                metrics = report(SystemResult(system, run), data).metrics
                row[system] = round(metrics["nDCG@10"], 4)
            _append(path, row)


def _queries(n: int) -> list[str]:
    """Real user questions (wiki-paragraphs' MS MARCO dev queries): speed only."""
    path = DATA / "wiki-paragraphs" / "queries.jsonl"
    lines = path.read_text().splitlines()[:n]
    return [json.loads(line)["text"] for line in lines]


def latency(args) -> None:
    """Each configuration against the dense model, query by query alternating, one
    thread, batch 1, warm: median wall and thread-CPU milliseconds and their ratios."""
    import torch

    from encoders.dense import load_dense_encoder

    torch.set_num_threads(1)
    path = OUT / "activation_latency.jsonl"
    queries = _queries(args.queries)
    dense = load_dense_encoder(MODEL)
    for name, _, _ in _chosen(args):
        if name in _done(path, "config") or not _built(args, name):
            continue
        encoder = load_dense_encoder(folder_of(args, name))
        times: dict = {"dense": ([], []), "sparse": ([], [])}
        for q in queries[:5]:  # warm
            dense.encode_queries([q]), encoder.encode_queries([q])
        for q in queries:
            for side, enc in (("dense", dense), ("sparse", encoder)):
                wall, cpu = time.perf_counter(), time.thread_time()
                enc.encode_queries([q])
                times[side][0].append(time.perf_counter() - wall)
                times[side][1].append(time.thread_time() - cpu)
        med = {s: [statistics.median(v) * 1000 for v in times[s]] for s in times}
        _append(path, {
            "config": name, "queries": len(queries), "load": os.getloadavg()[0],
            "dense_ms": round(med["dense"][0], 3), "ms": round(med["sparse"][0], 3),
            "speedup": round(med["dense"][0] / med["sparse"][0], 3),
            "dense_cpu_ms": round(med["dense"][1], 3), "cpu_ms": round(med["sparse"][1], 3),
            "cpu_speedup": round(med["dense"][1] / med["sparse"][1], 3),
        })  # fmt: skip


def kernels(args) -> None:
    """One Linear of MiniLM's shapes, a 12-token query: the gather path (the union of kept
    channels, contiguous rows of the transposed weight) against the dense product, by the
    share of channels kept (thread CPU time, one thread; median of 200)."""
    import torch

    from sparsity.activation.linear import ThresholdLinear

    torch.set_num_threads(1)
    rows = []
    for d_in, d_out in ((384, 1536), (1536, 384), (384, 384)):
        linear = torch.nn.Linear(d_in, d_out)
        x = torch.randn(1, 12, d_in)
        for keep in (0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9):
            cut = float(torch.quantile(x.abs().max(1).values, 1 - keep))  # union keeps `keep`
            layer = ThresholdLinear(linear, "teal", cut, "gather", gather_below=1.0)
            masked = ThresholdLinear(linear, "teal", cut, "masked")
            timing = {}
            for name, fn in (("dense", linear), ("gather", layer), ("masked", masked)):
                with torch.no_grad():
                    for _ in range(20):
                        fn(x)
                    spent = []
                    for _ in range(200):
                        start = time.thread_time()
                        fn(x)
                        spent.append(time.thread_time() - start)
                timing[name] = statistics.median(spent) * 1e6
            row = {"shape": f"{d_in}x{d_out}", "kept": keep, "load": os.getloadavg()[0]}
            row.update({f"{k}_us": round(v, 1) for k, v in timing.items()})
            row["gather_speedup"] = round(timing["dense"] / timing["gather"], 3)
            row["masked_speedup"] = round(timing["dense"] / timing["masked"], 3)
            rows.append(row)
            print(json.dumps(rows[-1]), flush=True)
    (OUT / "activation_kernels.json").write_text(json.dumps(rows, indent=1) + "\n")


PARTS = {"embeddings": "embeddings", "attention": "attention", "feed-forward": "ffn"}


def _time_parts(model, clock) -> tuple[dict, list]:
    """Forward hooks that add each part's `clock` time into a dict."""
    spent = dict.fromkeys(PARTS, 0.0)
    handles = []

    def timed(module, part):
        start = {}
        handles.append(module.register_forward_pre_hook(lambda *a: start.update(t=clock())))
        handles.append(
            module.register_forward_hook(
                lambda *a: spent.__setitem__(part, spent[part] + clock() - start["t"])
            )
        )

    timed(model.embeddings, "embeddings")
    for layer in model.encoder.layer:
        timed(layer.attention, "attention")
        timed(layer.intermediate, "feed-forward")  # the up projection and activation
        timed(layer.output, "feed-forward")  # the down projection, residual, LayerNorm
    return spent, handles


def union(args) -> None:
    """Channels kept per token and in the union of a query's tokens (what the gather
    path can skip at batch 1), over every thresholded Linear input."""
    import torch

    from encoders.dense import load_dense_encoder
    from sparsity.activation.linear import ThresholdLinear

    torch.set_num_threads(1)
    queries = _queries(args.queries)
    for name in args.only or ["teal@0.5", "wina@0.5", "wina@0.65"]:
        encoder = load_dense_encoder(folder_of(args, name))
        per_token, united = [], []

        def hook(module, inputs, per_token=per_token, united=united):
            kept = module.kept(inputs[0]).reshape(-1, module.in_features)
            per_token.append(float(kept.float().mean()))
            united.append(float(kept.any(0).float().mean()))

        for module in encoder.model.modules():
            if isinstance(module, ThresholdLinear):
                module.register_forward_pre_hook(hook)
        for q in queries:
            encoder.encode_queries([q])
        below = sum(u <= args.gather_below for u in united) / len(united)
        print(json.dumps({"config": name, "queries": len(queries),
                          "kept_per_token": round(statistics.mean(per_token), 3),
                          "kept_in_union": round(statistics.mean(united), 3),
                          "calls_under_gather_below": round(below, 4)}))  # fmt: skip


MATMUL_OPS = ("aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::linear")


def _op_shares(encoder, queries: list[str]) -> dict:
    """torch.profiler over `queries`: the shares of wall time spent in matrix products
    (self time of the BLAS calls), in other torch ops, and outside torch (Python,
    tokeniser, glue, the profiler's own cost). Wall, as the profiler measures: on a loaded
    machine each part is stretched alike, so the shares, not the times, are the result."""
    import torch.profiler

    start = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for q in queries:
            encoder.encode_queries([q])
    total_us = (time.perf_counter() - start) * 1e6
    events = prof.key_averages()
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS)
    torch_ops = sum(e.self_cpu_time_total for e in events)
    return {
        "matmul_share": round(matmul / total_us, 3),
        "other_torch_share": round((torch_ops - matmul) / total_us, 3),
        "outside_torch_share": round(max(total_us - torch_ops, 0) / total_us, 3),
    }


def profile(args) -> None:
    """Where a single query's encoding time goes (thread CPU time, one thread)."""
    import torch

    from encoders.dense import load_dense_encoder

    torch.set_num_threads(1)
    queries = _queries(args.queries)
    result = {"load": os.getloadavg()[0], "queries": len(queries), "models": {}}
    for name in args.only or ["dense", "moe16/4-sequence", "wina@0.5"]:
        encoder = load_dense_encoder(folder_of(args, name))
        clock = time.thread_time
        spent, handles = _time_parts(encoder.model, clock)
        tokenise = total = 0.0
        for q in queries[:5]:
            encoder.encode_queries([q])
        spent.update(dict.fromkeys(spent, 0.0))
        for q in queries:
            start = clock()
            encoder.tokenizer([q], truncation=True, max_length=encoder.query_max_length)
            middle = clock()
            encoder.encode_queries([q])
            tokenise += middle - start
            total += clock() - middle  # encode_queries tokenises again: counted once
        for handle in handles:
            handle.remove()
        n = len(queries)
        parts = {"tokenise": tokenise / n, **{k: v / n for k, v in spent.items()}}
        # The head is mean pooling and normalising; overhead is everything unaccounted:
        # Python and transformers' glue (masks, hooks), torch dispatch, numpy conversion.
        parts["head+overhead"] = total / n - sum(parts.values())
        result["models"][name] = {k: round(v * 1000, 3) for k, v in parts.items()}
        result["models"][name]["total"] = round(total / n * 1000, 3)
        result["models"][name]["ops"] = _op_shares(encoder, queries[:20])
        print(name, result["models"][name], flush=True)
    (OUT / "activation_profile.json").write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step",
        choices=["build", "quality", "latency", "kernels", "union", "profile", "plots", "table"],
    )
    parser.add_argument("--work", default="/tmp/spire-activation", help="sparsified folders")
    parser.add_argument("--only", nargs="*", help="configuration names (default: all)")
    parser.add_argument("--datasets", nargs="*", default=["cranfield", "cisi"])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--path", default="gather")
    parser.add_argument("--gather-below", type=float, default=0.3)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.step in ("plots", "table"):
        from scripts.activation_plots import plots, table

        {"plots": plots, "table": table}[args.step](args)
        return
    {"build": build, "quality": quality, "latency": latency, "kernels": kernels,
     "union": union, "profile": profile}[args.step](args)  # fmt: skip


if __name__ == "__main__":
    main()
