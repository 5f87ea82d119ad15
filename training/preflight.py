"""Checks run before any data is mined or any step is taken; each failure is one line."""

from __future__ import annotations

from pathlib import Path

import torch

from spire.core.artefacts import ensure_replaceable
from spire.core.errors import SpireError

from . import checkpoint as ckpt
from .config import TrainConfig
from .data import check_train_split


def preflight(config: TrainConfig) -> tuple[Path, dict] | None:
    """Validate everything cheap to validate; returns (checkpoint, state) when resuming."""
    config.check()
    if config.run.device == "cuda" and not torch.cuda.is_available():
        raise SpireError("device 'cuda' was asked for but no GPU is available (use auto or cpu)")
    resume = _resume(config)
    _check_output(config, resume is not None)
    _check_data(config)
    _check_models(config)
    return resume


def _resume(config: TrainConfig) -> tuple[Path, dict] | None:
    if config.run.resume is None:
        return None
    folder = ckpt.find_checkpoint(config.run.resume)
    state = ckpt.read_state(folder)
    ckpt.check_compatible(state, config.to_dict(), folder)
    return folder, state


def _check_output(config: TrainConfig, resuming: bool) -> None:
    output = Path(config.run.output).expanduser()
    if resuming:
        return
    try:
        # overwrite deletes the folder: only ever one that spire wrote.
        ensure_replaceable(output, config.run.overwrite)
    except SpireError as exc:
        raise SpireError(f"output: {exc} (or resume it)") from None


def _check_data(config: TrainConfig) -> None:
    data = config.data
    if data.train_data is None:
        return
    path = Path(data.train_data).expanduser()
    if not path.exists():
        raise SpireError(f"train_data {path}: no such file or folder")
    if path.is_dir():
        check_train_split(data.train_split)
        qrels = path / "qrels" / f"{data.train_split}.tsv"
        if not qrels.is_file():
            have = sorted(p.stem for p in (path / "qrels").glob("*.tsv"))
            raise SpireError(
                f"{path}: no {data.train_split!r} split for labelled training (qrels: "
                f"{', '.join(have) or 'none'}); train on pseudo_queries_from instead"
            )


def _check_models(config: TrainConfig) -> None:
    from encoders.loading import load_tokenizer

    from .teachers import check_teacher

    for spec in config.teachers.active():
        check_teacher(spec)
    data = config.data
    if data.pseudo_queries_from and data.pseudo_query_kind == "generated":
        from .query_generation import check_generator

        check_generator(data.query_generator)
    models = {"init_model": config.student.init_model}
    if data.negatives_from == "index":
        models["negatives_model"] = data.negatives_model
    for role, name in models.items():
        try:
            load_tokenizer(name)
        except SpireError as exc:
            raise SpireError(f"{role}: {exc}") from None
