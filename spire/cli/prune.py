"""`spire prune` and `spire models perplexity` (docs/sparsity.md).

Registered by spire/cli/__init__.py. Every refusal (sparsity, --nm, method, output folder, model,
calibration data, structured limits) is a one-line SpireError raised before pruning
starts, and the output folder is written only at the end, by rename.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from spire.core.artefacts import ensure_replaceable
from spire.core.errors import SpireError

from .options import JsonOpt
from .output import err_console, print_json, print_table

prune_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
Opt = typer.Option
# Calibration defaults per backbone kind: samples x tokens (the issue's).
CALIB_DEFAULTS = {"causal-lm": (128, 512), "masked-lm": (256, 256), "base": (256, 256)}
_MODEL_FILES = ("model.safetensors", "pytorch_model.bin", "model.sparse.safetensors")


@prune_app.command()
def prune(
    model: Annotated[str, typer.Argument(help="Registry name, model folder or hub id.")],
    out: Annotated[Path, Opt("--out", "-o", help="Pruned model folder to write.")],
    calib: Annotated[
        str | None, Opt("--calib", help="Calibration corpus: BEIR folder, jsonl or ir_datasets id.")
    ] = None,
    method: Annotated[
        str, Opt(help="magnitude, random, wanda, sparsegpt, gblm or dsnot.")
    ] = "wanda",
    sparsity: Annotated[float | None, Opt(help="Share of weights (or of neurons) removed.")] = None,
    nm: Annotated[str | None, Opt("--nm", help="N:M pattern, e.g. 2:4 (N kept of M).")] = None,
    structured: Annotated[str | None, Opt(help="ffn, heads or both: remove whole units.")] = None,
    head_sparsity: Annotated[float | None, Opt(help="Share of heads removed.")] = None,
    samples: Annotated[int | None, Opt(min=1, help="Calibration samples.")] = None,
    seq_len: Annotated[int | None, Opt(min=4, help="Tokens per calibration sample.")] = None,
    seed: Annotated[int, Opt(help="Calibration and random-pruning seed.")] = 0,
    recover: Annotated[int, Opt(min=0, help="Distillation steps from the dense model after.")] = 0,
    recover_loss: Annotated[
        str, Opt(help="squarehead (hidden states), or kl / margin_mse (retrieval scores).")
    ] = "squarehead",
    recover_lr: Annotated[float, Opt(min=0.0, help="Recovery learning rate (AdamW).")] = 1e-5,
    overwrite: Annotated[bool, Opt(help="Replace an earlier pruned model folder.")] = False,
    quiet: Annotated[bool, Opt(help="No progress bar.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Prune a model's Linear layers; writes a folder every command loads with --model."""
    from sparsity.pruning import PruneSpec, parse_nm

    pattern = parse_nm(nm)
    if (
        pattern is not None
        and sparsity is not None
        and abs(sparsity - (1 - pattern[0] / pattern[1])) > 1e-9
    ):
        raise SpireError(
            f"--nm {nm} prunes {1 - pattern[0] / pattern[1]:g}, not --sparsity {sparsity}"
        )
    spec = PruneSpec(
        method=method, sparsity=0.5 if sparsity is None else sparsity, nm=pattern,
        structured=structured, head_sparsity=head_sparsity, seed=seed,
    )  # fmt: skip
    ensure_replaceable(out, overwrite)
    from encoders.loading import load_backbone

    net, tokenizer, kind, source = load_backbone(model)
    _check_recovery(recover, recover_loss, kind, calib)
    n_samples, length = samples or CALIB_DEFAULTS[kind][0], seq_len or CALIB_DEFAULTS[kind][1]
    batches = None
    if calib is not None:
        from eval.data.prune_data import calibration_batches

        batches = calibration_batches(
            tokenizer, calib, n_samples, length, seed, kind == "causal-lm"
        )
    from sparsity.pruning import check
    from sparsity.pruning import prune as run_prune

    check(net, spec, batches)
    teacher = _copy(net) if recover else None
    start = time.perf_counter()
    with _layer_bar(quiet) as progress:
        result = run_prune(net, spec=spec, calib=batches, progress=progress)
    if recover:
        _recover(net, teacher, batches, result.masks, recover, recover_loss, recover_lr, quiet)
    manifest = {
        "base_model": model, "kind": kind, "method": spec.method, "sparsity": spec.sparsity,
        "nm": nm, "structured": structured, "head_sparsity": head_sparsity, "seed": seed,
        "calibration": None if calib is None else {
            "data": str(calib), "samples": n_samples, "seq_len": length, "seed": seed,
            "pool": "first 20000 documents not held out (eval.data.prune_data)",
        },
        "recover_steps": recover, "recover_loss": recover_loss if recover else None,
        "recover_lr": recover_lr if recover else None,
        "seconds": round(time.perf_counter() - start, 1),
        **result.summary(net),
    }  # fmt: skip
    from sparsity.storage import save_pruned

    written = save_pruned(
        net, out, manifest, lambda d: _copy_extras(tokenizer, source, d), pattern, overwrite
    )
    _report(out, written, json_out)


RECOVERY_LOSSES = ("squarehead", "kl", "margin_mse")


def _check_recovery(steps: int, loss: str, kind: str, calib: str | None) -> None:
    if loss not in RECOVERY_LOSSES:
        raise SpireError(f"--recover-loss {loss!r}: choose {', '.join(RECOVERY_LOSSES)}")
    if steps and calib is None:
        raise SpireError("--recover distils on calibration text: give --calib")
    if steps and loss != "squarehead" and kind != "base":
        raise SpireError(
            f"--recover-loss {loss} distils a mean-pooled encoder's scores; this model is a "
            f"{kind} (use squarehead)"
        )


def _recover(net, teacher, batches, masks, steps: int, loss: str, lr: float, quiet: bool):
    """SquareHead (sparsity.recovery), or KL / MarginMSE on retrieval scores through
    training's loss registry (training.prune_recovery)."""
    if loss == "squarehead":
        from sparsity.recovery import squarehead

        squarehead(net, teacher, batches, masks, steps=steps, lr=lr, quiet=quiet)
        return
    from training.prune_recovery import score_distillation

    score_distillation(net, teacher, batches, masks, steps=steps, loss=loss, lr=lr, quiet=quiet)


def _copy(net):
    import copy

    return copy.deepcopy(net).eval()


def _copy_extras(tokenizer, source: str, folder: Path) -> None:
    """Tokenizer files, and the source folder's small side files (idf.json, lexical.json,
    the pooling config) that encoders read, but not its dense weights."""
    tokenizer.save_pretrained(folder)
    src = Path(source)
    if not src.is_dir():
        return
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if path.is_file() and path.suffix in (".json", ".txt") and not (folder / rel).exists():
            if path.name not in _MODEL_FILES and path.stat().st_size < 1 << 20:
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, folder / rel)


class _layer_bar:
    """A progress bar with one step per block (nothing when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None

    def __enter__(self):
        if self.quiet:
            return None
        from tqdm import tqdm

        def progress(done: int, total: int, name: str) -> None:
            if self.bar is None:
                self.bar = tqdm(total=total, desc="pruning blocks", unit="block")
            self.bar.set_postfix_str(name)
            self.bar.update(1)

        return progress

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def _report(out: Path, manifest: dict, json_out: bool) -> None:
    if json_out:
        print_json({"out": str(out), **manifest})
        return
    keys = ["method", "sparsity", "nm", "structured", "zero_share", "file_bytes"]
    keys += ["dense_bytes", "size_ratio", "sparse_matrices_ratio", "seconds"]
    print_table(f"pruned model: {out}", ["field", "value"], [[k, manifest.get(k)] for k in keys])


def models_perplexity(
    model: Annotated[
        str, typer.Argument(help="Registry name, model folder (pruned too) or hub id.")
    ],
    data: Annotated[
        list[str], Opt("--data", help="Corpus whose held-out documents are read; repeatable.")
    ],
    samples: Annotated[int, Opt(min=1, help="Windows per corpus.")] = 64,
    seq_len: Annotated[int, Opt(min=4, help="Tokens per window.")] = 256,
    json_out: JsonOpt = False,
) -> None:
    """Perplexity of a causal LM on the held-out documents of each corpus (docs/sparsity.md)."""
    from encoders.loading import load_backbone
    from eval.data.prune_data import heldout_windows, perplexity

    if not data:
        raise SpireError("--data: give at least one corpus")
    net, tokenizer, kind, _ = load_backbone(model)
    if kind != "causal-lm":
        raise SpireError(f"model {model!r} is not a causal LM; perplexity needs one")
    rows = []
    for corpus in data:
        windows = heldout_windows(tokenizer, corpus, samples, seq_len)
        rows.append({"data": corpus, **perplexity(net, windows)})
    if json_out:
        # "metrics" as spire eval prints them (regressions/sparsity.json reads it)
        metrics = {"perplexity": rows[0]["perplexity"]} if len(rows) == 1 else {
            f"perplexity:{Path(r['data']).name}": r["perplexity"] for r in rows
        }  # fmt: skip
        print_json({"model": model, "results": rows, "metrics": metrics})
    else:
        print_table(f"perplexity: {model}", list(rows[0]), [list(r.values()) for r in rows])
    err_console.print(
        "held-out: documents whose article id hashes to bucket 0 of 100", highlight=False
    )
