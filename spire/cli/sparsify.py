"""`spire sparsify`: activation sparsity (TEAL, WINA) and MoEfication of a model, written
as a model folder whose sparsity.json every command applies at load (docs/sparsity.md).

Registered by spire/cli/__init__.py. Every refusal (method, target, --moe fields, experts
that do not divide the neurons, the output folder, the model, too little calibration
text) is one line before any calibration runs; the folder is written at the end, by
rename. `sparsify_folder` is also what `spire eval --activation-sparsity/--moe` runs.
"""

from __future__ import annotations

import copy
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from spire.core.artefacts import ensure_replaceable
from spire.core.errors import SpireError

from .options import JsonOpt
from .output import print_json, print_table

sparsify_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
Opt = typer.Option
# A gather of scattered input channels beat the dense product only when a call kept under
# ~30% of them (docs/sparsity.md, "Activation sparsity"); above, the masked product runs.
GATHER_BELOW = 0.3


def sparsify_folder(
    model: str,
    out: Path,
    calib: str,
    activation: tuple[str, float] | None = None,
    moe: dict | None = None,
    scope: str = "layer",
    samples: int = 64,
    seq_len: int = 128,
    seed: int = 0,
    apply_to: str = "queries",
    path: str = "gather",
    gather_below: float = GATHER_BELOW,
    overwrite: bool = False,
    loaded: tuple | None = None,
    sections: dict | None = None,
) -> dict:
    """Calibrate on `calib`, write the folder `out`; returns its sparsity.json.

    `loaded` (net, tokenizer, kind, source, batches) and `sections` (the calibrated
    "moe" / "activation" sections) let a caller building many folders from one model
    (scripts/activation_report.py) load and calibrate once."""
    from encoders.loading import load_backbone
    from eval.data.prune_data import calibration_batches
    from sparsity import activation as act
    from sparsity import moe as moe_lib
    from sparsity.runtime import wants_install
    from sparsity.storage import is_pruned_folder, read_manifest, save_pruned

    from .prune import _copy_extras

    _check_request(activation, moe, scope, apply_to, path)
    ensure_replaceable(out, overwrite)
    source_manifest = read_manifest(model) if is_pruned_folder(model) else {}
    if wants_install(source_manifest):
        raise SpireError(f"{model}: already sparsified; start from the model it came from")
    net, tokenizer, kind, source, batches = loaded or (*load_backbone(model), None)
    if moe is not None:
        moe_lib.check_request(
            net, moe["experts"], moe["top"], moe.get("router", "fitted"),
            moe.get("routing", "token"),
        )  # fmt: skip
    if batches is None:
        causal = kind == "causal-lm"
        batches = calibration_batches(tokenizer, calib, samples, seq_len, seed, causal)
    act.check_calibration(batches)
    sections = sections or {}
    start = time.perf_counter()
    manifest = {
        "method": "dense", "sparsity": 0.0, **source_manifest, "base_model": model,
        "kind": kind, "apply_to": apply_to,
        "execution": {"path": path, "gather_below": gather_below},
        "calibration": {"data": str(calib), "samples": samples, "seq_len": seq_len,
                        "seed": seed, "tokens": act.count_tokens(batches)},
    }  # fmt: skip
    manifest.update(_calibrate(net, batches, activation, moe, scope, seed, sections))
    manifest["sparsify_seconds"] = round(time.perf_counter() - start, 1)
    return save_pruned(
        net, out, manifest, lambda d: _copy_extras(tokenizer, source, d), None, overwrite
    )


def _calibrate(net, batches, activation, moe, scope: str, seed: int, sections: dict) -> dict:
    """The "moe" and "activation" sections (those given in `sections` are kept); activation
    thresholds are calibrated on the MoE model, as they will be applied."""
    from sparsity import activation as act
    from sparsity import moe as moe_lib

    out = {}
    calibrated = net
    if moe is not None:
        out["moe"] = sections.get("moe") or moe_lib.moefy(
            net, moe["experts"], moe["top"], batches, moe.get("router", "fitted"),
            moe.get("routing", "token"), seed,
        )  # fmt: skip
        calibrated = moe_lib.apply(copy.deepcopy(net), out["moe"])
    if activation is not None:
        out["activation"] = sections.get("activation") or act.calibrate(
            calibrated, *activation, batches, scope
        )
    return out


def _check_request(activation, moe, scope: str, apply_to: str, path: str) -> None:
    from sparsity import activation as act
    from sparsity.runtime import APPLY_TO

    if activation is None and moe is None:
        raise SpireError("give --activation (with --target) or --moe")
    if activation is not None:
        act.check_request(activation[0], activation[1], scope)
    if apply_to not in APPLY_TO:
        raise SpireError(f"--apply-to {apply_to!r}: choose from {', '.join(APPLY_TO)}")
    if path not in act.PATHS:
        raise SpireError(f"--path {path!r}: choose from {', '.join(act.PATHS)}")


@sparsify_app.command()
def sparsify(
    model: Annotated[str, typer.Argument(help="Registry name, model folder or hub id.")],
    out: Annotated[Path, Opt("--out", "-o", help="Model folder to write.")],
    calib: Annotated[
        str, Opt("--calib", help="Calibration corpus: BEIR folder, jsonl or ir_datasets id.")
    ],
    activation: Annotated[str | None, Opt(help="teal or wina: activation sparsity.")] = None,
    target: Annotated[float, Opt(help="Share of Linear inputs dropped, in [0, 1).")] = 0.5,
    scope: Annotated[
        str, Opt(help="layer: each layer at the target; model: one threshold model-wide.")
    ] = "layer",
    moe: Annotated[
        str | None,
        Opt(help="MoEfication: experts=E,top=K[,router=fitted|centroid][,routing=token|sequence]."),
    ] = None,
    samples: Annotated[int, Opt(min=1, help="Calibration windows.")] = 64,
    seq_len: Annotated[int, Opt(min=4, help="Tokens per calibration window.")] = 128,
    seed: Annotated[int, Opt(help="Calibration and k-means seed.")] = 0,
    apply_to: Annotated[
        str, Opt(help="queries: documents are encoded dense; all: both sides.")
    ] = "queries",
    path: Annotated[
        str, Opt(help="gather (skips dropped channels) or masked (the reference).")
    ] = "gather",
    gather_below: Annotated[
        float, Opt(help="Gather only when a call keeps at most this share of channels.")
    ] = GATHER_BELOW,
    overwrite: Annotated[bool, Opt(help="Replace an earlier folder spire wrote.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Calibrate activation thresholds or split feed-forward layers into experts; writes a
    folder every command loads with --model / --dense-model."""
    from sparsity.runtime import parse_activation, parse_moe

    moe_fields = parse_moe(moe) if moe is not None else None
    requested = parse_activation(f"{activation}:{target}") if activation is not None else None
    written = sparsify_folder(
        model, out, calib, requested, moe_fields, scope, samples, seq_len, seed,
        apply_to, path, gather_below, overwrite,
    )  # fmt: skip
    if json_out:
        print_json({"out": str(out), **_summary(written)})
        return
    rows = [[k, v] for k, v in _summary(written).items()]
    print_table(f"sparsified model: {out}", ["field", "value"], rows)


def _summary(manifest: dict) -> dict:
    out = {"apply_to": manifest["apply_to"], "seconds": manifest["sparsify_seconds"]}
    if "activation" in manifest:
        a = manifest["activation"]
        out.update(activation=a["method"], target=a["target"], scope=a["scope"])
        out["layers"] = len(a["layers"])
    if "moe" in manifest:
        m = manifest["moe"]
        out.update(experts=m["experts"], top=m["top"], router=m["router"], routing=m["routing"])
    out["calibration_tokens"] = manifest["calibration"]["tokens"]
    return out


ActivationSparsityOpt = Annotated[
    str | None,
    Opt(
        "--activation-sparsity",
        help="Query encoder with activation sparsity, METHOD:TARGET (teal:0.5, wina:0.5), "
        "calibrated on the dataset's corpus.",
    ),
]
MoeOpt = Annotated[
    str | None,
    Opt(help="Query encoder MoEfied: experts=E,top=K[,router=...][,routing=...]."),
]


def check_eval_request(activation: str | None, moe: str | None, systems: tuple[str, ...]):
    """The parsed options and which model they apply to ("dense_model" or "model"), or
    one line, before any work."""
    from sparsity.runtime import parse_activation, parse_moe

    if activation is None and moe is None:
        return None
    parsed = (
        parse_activation(activation) if activation else None,
        parse_moe(moe) if moe else None,
    )
    if "dense" in systems:
        return (*parsed, "dense_model")
    if "siamese" in systems:
        return (*parsed, "model")
    raise SpireError(
        "--activation-sparsity/--moe sparsify a query encoder: evaluate dense, siamese or "
        "a hybrid with one of them"
    )


@contextmanager
def sparse_query_encoder(request, dataset: str, models: dict[str, str]):
    """`models` with the requested one replaced by a sparsified folder (calibrated on
    `dataset`'s corpus, deleted afterwards). Siamese SPLADE encodes its documents with the
    same model, so there the sparsity applies to both sides."""
    if request is None:
        yield models
        return
    activation, moe, which = request
    with tempfile.TemporaryDirectory(prefix="spire-sparsify-") as work:
        out = Path(work) / "model"
        apply_to = "queries" if which == "dense_model" else "all"
        sparsify_folder(models[which], out, dataset, activation, moe, apply_to=apply_to)
        yield {**models, which: str(out)}
