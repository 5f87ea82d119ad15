"""Checkpoints: weights in safetensors, optimiser tensors and RNG state in safetensors, the
rest (step, config, data fingerprint, optimiser hyper-parameters) in JSON. Nothing is
pickled, so a checkpoint from anywhere is safe to open.

Together with batches and schedules that are pure functions of the step, this makes a
resumed run repeat the uninterrupted one exactly (tests/training check it bitwise).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from spire.core.artefacts import atomic_folder
from spire.core.errors import SpireError

from .config_keys import flatten

FORMAT = 1
STATE_JSON = "trainer_state.json"
WEIGHTS = "student.safetensors"
TENSORS = "trainer_state.safetensors"
# Config fields a resumed run must share with its checkpoint: they fix the model's
# structure or the sequence of batches. Others (steps, lr, eval cadence) may change.
# Flat names, as checkpoints written before the config's sections hold them.
STRUCTURE = (
    "student",
    "init_model",
    "learn_idf",
    "seed",
    "batch_size",
    "negatives",
    "lexical_weight",
    "lexical_k1",
    "lexical_b",
    "lexical_stem_class_max",
)
# What a checkpoint written before a STRUCTURE field existed was trained with.
BEFORE_FIELD = {"lexical_stem_class_max": 0}


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def save_checkpoint(
    folder: Path, student: torch.nn.Module, optimizer, step: int, config: dict, data_key: str
) -> Path:
    tensors, hyper = _optimizer_parts(optimizer)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    state = {
        "format": FORMAT,
        "step": step,
        "config": config,
        "data_fingerprint": data_key,
        "optimizer": hyper,
        "weights": {k: list(v.shape) for k, v in student.state_dict().items()},
    }
    with atomic_folder(folder, overwrite=True) as tmp:
        save_model(student, str(tmp / WEIGHTS))
        save_file(tensors, str(tmp / TENSORS))
        (tmp / STATE_JSON).write_text(json.dumps(state, indent=1), encoding="utf-8")
    return folder


def _optimizer_parts(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimiser state dict into named tensors and JSON-able hyper-parameters."""
    full = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for index, entry in full["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"opt.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": full["param_groups"], "scalars": scalars}


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or the latest one under an output folder's checkpoints/."""
    path = Path(path).expanduser()
    if (path / STATE_JSON).is_file():
        return path
    found = sorted((path / "checkpoints").glob("step-*/" + STATE_JSON))
    if not found:
        raise SpireError(f"resume: {path} holds no checkpoint ({STATE_JSON} not found)")
    return found[-1].parent


def read_state(folder: Path) -> dict:
    try:
        state = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpireError(f"resume: {folder / STATE_JSON} is unreadable ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SpireError(
            f"resume: {folder} has checkpoint format {state.get('format')!r}; "
            f"this version reads format {FORMAT}"
        )
    for name in (WEIGHTS, TENSORS):
        if not (folder / name).is_file():
            raise SpireError(f"resume: {folder / name} is missing")
    return state


def check_compatible(state: dict, config: dict, folder: Path) -> None:
    """Refuse a checkpoint whose structure or batch stream differs from `config`. Both
    configs may be sectioned (TrainConfig.to_dict) or flat (checkpoints of before)."""
    saved, config = flatten(state.get("config", {})), flatten(config)
    for key in STRUCTURE:
        trained = saved.get(key, BEFORE_FIELD.get(key))
        if trained != config.get(key):
            raise SpireError(
                f"resume: {folder} was trained with {key}={trained!r}, "
                f"this config has {key}={config.get(key)!r}"
            )
    if state["step"] >= config["steps"]:
        raise SpireError(
            f"resume: {folder} is at step {state['step']}; steps={config['steps']} "
            "leaves nothing to train"
        )


def check_data(state: dict, data_key: str, folder: Path) -> None:
    if state.get("data_fingerprint") != data_key:
        raise SpireError(
            f"resume: {folder} was trained on different examples (data fingerprint differs)"
        )


def check_weights(state: dict, student: torch.nn.Module, folder: Path) -> None:
    mine = {k: list(v.shape) for k, v in student.state_dict().items()}
    theirs = state.get("weights", {})
    for key in sorted(set(mine) | set(theirs)):
        if mine.get(key) != theirs.get(key):
            raise SpireError(
                f"resume: {folder} has weight {key!r} shaped {theirs.get(key)}, "
                f"this student {mine.get(key)}"
            )


def load_checkpoint(folder: Path, student: torch.nn.Module, optimizer) -> int:
    """Restore weights, optimiser and RNG state in place; returns the checkpoint's step."""
    state = read_state(folder)
    check_weights(state, student, folder)
    device = next(student.parameters()).device
    load_model(student, str(folder / WEIGHTS), device=str(device))
    tensors = load_file(str(folder / TENSORS))
    optimizer.load_state_dict(_optimizer_state(tensors, state["optimizer"], device))
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return int(state["step"])


def _optimizer_state(tensors: dict, hyper: dict, device: torch.device) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            # Adam's scalar "step" stays on the CPU, as torch keeps it.
            state.setdefault(int(index), {})[name] = value if name == "step" else value.to(device)
    for index, scalars in hyper.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(scalars)
    return {"state": state, "param_groups": hyper["param_groups"]}
