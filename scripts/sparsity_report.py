"""Measure pruned models for docs/sparsity.md: SmolLM2 perplexity, MiniLM nDCG@10 (dense
and hybrid), file sizes and single-thread encoding speed, then plot them.

    python scripts/sparsity_report.py llm --out docs/sparsity/llm.jsonl
    python scripts/sparsity_report.py encoder --out docs/sparsity/encoder.jsonl
    python scripts/sparsity_report.py splade --samples 32 --seq-len 128
    python scripts/sparsity_report.py recovery-dev --samples 64 --seq-len 128
    python scripts/sparsity_report.py plots

Each configuration appends one JSON line as soon as it is measured, so a partial run
still reports what it finished; configurations already in the file are skipped.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
WIKI = DATA / "wiki-paragraphs"

# (method, sparsity, nm, structured, head_sparsity, recover) in the order they are run;
# recover: 0, or (SquareHead steps, learning rate).
LLM_CONFIGS = [
    ("dense", 0.0, None, None, None, 0),
    *[(m, 0.5, None, None, None, 0) for m in ("magnitude", "wanda", "sparsegpt", "random")],
    ("dsnot", 0.5, None, None, None, 0),
    ("gblm", 0.5, None, None, None, 0),
    *[
        (m, 0.5, nm, None, None, 0)
        for nm in ("2:4", "4:8")
        for m in ("magnitude", "wanda", "sparsegpt")
    ],
    *[
        (m, s, None, None, None, 0)
        for s in (0.6, 0.7)
        for m in ("wanda", "dsnot", "sparsegpt", "magnitude")
    ],
]
ENCODER_CONFIGS = [
    ("dense", 0.0, None, None, None, 0),
    *[(m, 0.5, None, None, None, 0) for m in ("wanda", "sparsegpt")],
    ("sparsegpt", 0.3, None, "both", 0.25, 0),
    ("magnitude", 0.5, None, None, None, 0),
    ("wanda", 0.5, "2:4", None, None, 0),
    ("sparsegpt", 0.5, None, "both", 0.25, 0),
    ("random", 0.5, None, None, None, 0),
    ("dsnot", 0.5, None, None, None, 0),
    ("gblm", 0.5, None, None, None, 0),
]


def config_key(cfg) -> str:
    method, sparsity, nm, structured, heads, recover = cfg
    key = f"{method}@{sparsity:g}" + (f"/{nm}" if nm else "")
    if structured:
        key += f"/{structured}" + (f"(heads {heads:g})" if heads is not None else "")
    return key + (f"+recover{recover[0]}@lr{recover[1]:g}" if recover else "")


def pruned_copy(dense, cfg, calib, seed=0):
    """A pruned deep copy of `dense` and the seconds pruning took."""
    from sparsity.pruning import PruneSpec, parse_nm, prune

    method, sparsity, nm, structured, heads, recover = cfg
    net = copy.deepcopy(dense)
    if method == "dense":
        return net, 0.0, None
    spec = PruneSpec(method, sparsity, nm=parse_nm(nm), structured=structured,
                     head_sparsity=heads, seed=seed)  # fmt: skip
    start = time.perf_counter()
    result = prune(net, spec=spec, calib=calib)
    if recover:
        from sparsity.recovery import squarehead

        squarehead(net, dense, calib, result.masks, steps=recover[0], lr=recover[1])
    return net, time.perf_counter() - start, result


def done_keys(path: Path, only: list[str] | None = None) -> set[str] | _AllBut:
    """Configurations to skip: those already in `path`, and with `only`, all others."""
    done = set()
    if path.is_file():
        done = {json.loads(x)["config"] for x in path.read_text().splitlines() if x.strip()}
    return _AllBut(set(only) - done) if only else done


class _AllBut:
    """`key in _AllBut(keep)` for every key not in `keep` (--only, minus those done)."""

    def __init__(self, keep: set[str]) -> None:
        self.keep = keep

    def __contains__(self, key: object) -> bool:
        return key not in self.keep


def append(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def size_of(net, nm, tokenizer) -> dict:
    from sparsity.storage import save_pruned

    with tempfile.TemporaryDirectory() as tmp:
        written = save_pruned(net, Path(tmp) / "m", {}, tokenizer.save_pretrained, nm=nm)
    return {
        k: written[k] for k in ("file_bytes", "dense_bytes", "size_ratio", "sparse_matrices_ratio")
    }


def run_llm(args) -> None:
    import torch

    from encoders.loading import load_backbone
    from eval.data.prune_data import calibration_batches, heldout_windows, perplexity
    from sparsity.pruning import parse_nm

    torch.set_num_threads(args.threads)
    dense, tokenizer, _, _ = load_backbone("smollm2-135m")
    calib = calibration_batches(tokenizer, WIKI, args.samples, args.seq_len, 0, causal=True)
    held = {
        "wiki": heldout_windows(tokenizer, WIKI, args.windows, args.window_len),
        "scifact": heldout_windows(tokenizer, DATA / "scifact", args.windows // 2, args.window_len),
    }
    skip = done_keys(args.out, args.only)
    for cfg in LLM_CONFIGS:
        if config_key(cfg) in skip:
            continue
        net, seconds, _ = pruned_copy(dense, cfg, calib)
        row = {"config": config_key(cfg), "method": cfg[0], "sparsity": cfg[1], "nm": cfg[2],
               "prune_seconds": round(seconds, 1),
               "calibration": f"wiki {args.samples}x{args.seq_len}"}  # fmt: skip
        for name, windows in held.items():
            row[f"ppl_{name}"] = round(perplexity(net, windows)["perplexity"], 3)
            row[f"tokens_{name}"] = windows.numel()
        if cfg[0] != "dense" and cfg[1] == 0.5:
            row.update(size_of(net, parse_nm(cfg[2]), tokenizer))
        append(args.out, row)


# The SquareHead settings tried on held-out text (recovery-dev), and the steps at which
# the held-out loss is read.
RECOVERY_LRS = (1e-5, 1e-4, 1e-3)
RECOVERY_CHECKPOINTS = (10, 25, 50)


def encoder_setup(name: str, load, args):
    """Tokenizer, dense model and wiki calibration batches of an encoder."""
    import torch

    from encoders.loading import load_tokenizer
    from eval.data.prune_data import calibration_batches

    torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(name)
    calib = calibration_batches(tokenizer, WIKI, args.samples, args.seq_len, 0, causal=False)
    return tokenizer, load(name), calib


def run_encoder(args) -> None:
    from encoders.dense import load_dense_encoder
    from encoders.loading import load_base_model
    from eval.data.datasets import load_dataset
    from eval.experiments.pipeline import report
    from eval.experiments.systems import Systems
    from sparsity.pruning import parse_nm

    tokenizer, dense, calib = encoder_setup("all-MiniLM-L6-v2", load_base_model, args)
    datasets = {n: load_dataset(DATA / n) for n in args.datasets}
    bases = {n: Systems(d, show_progress=False) for n, d in datasets.items()}
    queries = list(datasets[args.datasets[0]].queries.values())[:100]
    docs = datasets[args.datasets[0]].corpus.texts[:200]
    reference = None
    skip = done_keys(args.out, args.only)
    recovered = [
        (method, 0.5, None, None, None, (args.recover, args.recover_lr))
        for method in ("wanda", "sparsegpt")
    ]
    for cfg in ENCODER_CONFIGS + (recovered if args.recover else []):
        if config_key(cfg) in skip:
            continue
        net, seconds, _ = pruned_copy(dense, cfg, calib)
        with tempfile.TemporaryDirectory() as tmp:
            from sparsity.storage import save_pruned

            folder = Path(tmp) / "m"
            written = save_pruned(net, folder, {"method": cfg[0]}, tokenizer.save_pretrained,
                                  nm=parse_nm(cfg[2]))  # fmt: skip
            row = {"config": config_key(cfg), "method": cfg[0], "sparsity": cfg[1], "nm": cfg[2],
                   "structured": cfg[3], "prune_seconds": round(seconds, 1),
                   "params": sum(p.numel() for p in net.parameters()),
                   "size_ratio": round(written["size_ratio"], 4),
                   "sparse_matrices_ratio": round(written["sparse_matrices_ratio"], 4),
                   "calibration": f"wiki {args.samples}x{args.seq_len}"}  # fmt: skip
            encoder = load_dense_encoder(str(folder))
            reference = reference or load_dense_encoder("all-MiniLM-L6-v2")
            row.update(measure_speed(reference, encoder, queries, docs))
            for name, base in bases.items():
                systems = Systems(base.data, dense_model=str(folder), show_progress=False)
                systems._results["inference-free"] = base.run("inference-free")
                for system in ("dense", "hybrid"):
                    metrics = report(systems.run(system), systems.data).metrics
                    row[f"{name}_{system}"] = round(metrics["nDCG@10"], 4)
        append(args.out, row)


def run_recovery_dev(args) -> None:
    """Choose SquareHead's steps and learning rate for MiniLM at 50% by the SquareHead
    loss on held-out wiki windows (text calibration never reads; no query is looked at)."""
    from encoders.loading import load_base_model
    from eval.data.prune_data import heldout_batches
    from sparsity.recovery import heldout_loss, squarehead

    tokenizer, dense, calib = encoder_setup("all-MiniLM-L6-v2", load_base_model, args)
    dev = heldout_batches(tokenizer, WIKI, args.windows, args.seq_len, causal=False)
    skip = done_keys(args.out, args.only)
    for method in ("wanda", "sparsegpt"):
        keys = {lr: f"{method}@0.5+recover@lr{lr:g}" for lr in RECOVERY_LRS}
        if all(k in skip for k in keys.values()):
            continue
        pruned, _, result = pruned_copy(dense, (method, 0.5, None, None, None, 0), calib)
        for lr, key in keys.items():
            if key in skip:
                continue
            net = copy.deepcopy(pruned)
            curve = {0: heldout_loss(net, dense, dev)}

            def checkpoint(step: int, net=net, curve=curve) -> None:
                if step in RECOVERY_CHECKPOINTS:
                    curve[step] = round(heldout_loss(net, dense, dev), 5)

            start = time.perf_counter()
            train = squarehead(net, dense, calib, result.masks, steps=max(RECOVERY_CHECKPOINTS),
                               lr=lr, after_step=checkpoint)  # fmt: skip
            append(args.out, {"config": key, "method": method, "lr": lr,
                              "heldout_loss": curve, "last_train_loss": round(train[-1], 5),
                              "seconds": round(time.perf_counter() - start, 1),
                              "calibration": f"wiki {args.samples}x{args.seq_len}",
                              "heldout": f"wiki {args.windows}x{args.seq_len}"})  # fmt: skip


def run_splade(args) -> None:
    """splade-tiny at 50% unstructured on Cranfield (bundled), both modes."""
    from encoders.loading import load_masked_lm
    from eval.data.datasets import load_dataset
    from eval.experiments.pipeline import report
    from eval.experiments.systems import Systems
    from sparsity.storage import save_pruned

    tokenizer, dense, calib = encoder_setup("splade-tiny", load_masked_lm, args)
    data = load_dataset(REPO / "spire" / "data" / "cranfield")
    skip = done_keys(args.out, args.only)
    for method in ("dense", "wanda", "magnitude", "sparsegpt", "dsnot", "random", "gblm"):
        cfg = (method, 0.0 if method == "dense" else 0.5, None, None, None, 0)
        if config_key(cfg) in skip:
            continue
        net, seconds, _ = pruned_copy(dense, cfg, calib)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "m"
            save_pruned(net, folder, {"method": method}, tokenizer.save_pretrained)
            systems = Systems(data, model=str(folder), show_progress=False)
            row = {"config": config_key(cfg), "method": method, "sparsity": cfg[1],
                   "calibration": f"wiki {args.samples}x{args.seq_len}"}  # fmt: skip
            for mode in ("inference-free", "siamese"):
                row[f"cranfield_{mode}"] = round(
                    report(systems.run(mode), data).metrics["nDCG@10"], 4
                )
        append(args.out, row)


def measure_speed(reference, encoder, queries, docs) -> dict:
    """Single-query latency (median ms, one query a call) and documents per second of
    `encoder`, and its speedups over `reference`, one thread. The two alternate query by
    query and batch by batch, so load from other processes hits both alike."""
    import statistics

    import torch

    torch.set_num_threads(1)
    times: dict[str, list[float]] = {"ref": [], "enc": []}
    doc_times = {"ref": 0.0, "enc": 0.0}
    for warm in (reference, encoder):
        warm.encode_queries(queries[:3])
    for i, q in enumerate(queries):
        for which, enc in (("ref", reference), ("enc", encoder)):
            start = time.perf_counter()
            enc.encode_queries([q])
            times[which].append(time.perf_counter() - start)
        if i % 10 == 0:
            batch = docs[i * 2 : i * 2 + 20]
            for which, enc in (("ref", reference), ("enc", encoder)):
                start = time.perf_counter()
                enc.encode_documents(batch)
                doc_times[which] += time.perf_counter() - start
    ms = {k: 1000 * statistics.median(v) for k, v in times.items()}
    return {
        "query_ms": round(ms["enc"], 3),
        "query_speedup": round(ms["ref"] / ms["enc"], 3),
        "docs_speedup": round(doc_times["ref"] / doc_times["enc"], 3),
    }


def run_plots(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    llm = [json.loads(x) for x in (args.dir / "llm.jsonl").read_text().splitlines() if x.strip()]
    enc_path = args.dir / "encoder.jsonl"
    enc = (
        [json.loads(x) for x in enc_path.read_text().splitlines() if x.strip()]
        if enc_path.is_file()
        else []
    )
    dense_ppl = next(r["ppl_wiki"] for r in llm if r["method"] == "dense")
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in sorted({r["method"] for r in llm} - {"dense"}):
        pts = sorted(
            (r["sparsity"], r["ppl_wiki"]) for r in llm if r["method"] == method and not r["nm"]
        )
        if pts:
            ax.plot(
                [0.0] + [p[0] for p in pts],
                [dense_ppl] + [p[1] for p in pts],
                marker="o",
                label=method,
            )
    ax.set_yscale("log")
    ax.set_xlabel("unstructured sparsity")
    ax.set_ylabel("held-out wiki perplexity (log)")
    ax.set_title("SmolLM2-135M, pruned without retraining")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.dir / "smollm2_perplexity.png", dpi=120)
    if enc:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        datasets = [k[: -len("_dense")] for k in enc[0] if k.endswith("_dense")]
        for ax, name in zip(axes, datasets, strict=False):
            base = next(r[f"{name}_dense"] for r in enc if r["method"] == "dense")
            for method in sorted({r["method"] for r in enc} - {"dense"}):
                rows = [r for r in enc if r["method"] == method and "+recover" not in r["config"]]
                pts = sorted((r["sparsity"], r[f"{name}_dense"]) for r in rows
                             if not r["nm"] and not r["structured"])  # fmt: skip
                if pts:
                    ax.plot(
                        [0.0] + [p[0] for p in pts],
                        [base] + [p[1] for p in pts],
                        marker="o",
                        label=method,
                    )
            ax.set_title(f"MiniLM dense, {name}")
            ax.set_xlabel("unstructured sparsity")
            ax.set_ylabel("nDCG@10")
        axes[0].legend()
        fig.tight_layout()
        fig.savefig(args.dir / "minilm_ndcg.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", choices=["llm", "encoder", "splade", "recovery-dev", "plots"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--dir", type=Path, default=REPO / "docs" / "sparsity")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument(
        "--windows", type=int, default=16, help="held-out wiki windows (SciFact: half)"
    )
    parser.add_argument("--window-len", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="+", help="run only these configurations (keys)")
    parser.add_argument("--recover", type=int, default=0, help="encoder: SquareHead steps")
    parser.add_argument("--recover-lr", type=float, default=1e-5)
    parser.add_argument("--datasets", nargs="+", default=["cranfield", "cisi", "scifact"])
    args = parser.parse_args()
    args.out = args.out or args.dir / f"{args.part}.jsonl"
    parts = {"llm": run_llm, "encoder": run_encoder, "splade": run_splade,
             "recovery-dev": run_recovery_dev, "plots": run_plots}  # fmt: skip
    parts[args.part](args)


if __name__ == "__main__":
    main()
