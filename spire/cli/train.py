"""`spire train`: train an inference-free or siamese sparse encoder (see docs/training.md).

Registered on the main app by spire/cli/__init__.py with `app.add_typer(train_app)`, which adds
`train` as a top-level command. Bad input raises SpireError (exit 2, one line) before
any training time is spent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spire.core.errors import SpireError

from .options import JsonOpt
from .output import print_json, print_table

train_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

Opt = typer.Option


# The options, named once here so that `train`'s signature reads as a list of them.
ConfigOpt = Annotated[Path | None, Opt("--config", "-c", help="JSON file of TrainConfig fields.")]
OutOpt = Annotated[str | None, Opt("--out", "-o", help="Model folder to write.")]
DataOpt = Annotated[
    str | None, Opt("--data", help="BEIR folder (its train split) or triples jsonl.")
]
StudentOpt = Annotated[str | None, Opt(help="inference-free or siamese.")]
InitModelOpt = Annotated[str | None, Opt(help="Model to start from.")]
StepsOpt = Annotated[int | None, Opt(help="Optimiser steps.")]
BatchSizeOpt = Annotated[int | None, Opt(help="Queries per batch.")]
LrOpt = Annotated[float | None, Opt(help="Learning rate.")]
SeedOpt = Annotated[int | None, Opt(help="Random seed.")]
TrainThreadsOpt = Annotated[
    int | None,
    Opt(
        min=0,
        help="torch CPU threads (default 0: torch's, one per core; 1 is often "
        "faster on a busy machine).",
    ),
]
TeacherOpt = Annotated[
    list[str] | None,
    Opt(help="SPEC=WEIGHT, repeatable: dense:MODEL, splade:MODEL, bm25 or student."),
]
PseudoQueriesOpt = Annotated[
    list[str] | None, Opt(help="Corpus to make pseudo-queries from, repeatable.")
]
SetOpt = Annotated[
    list[str] | None,
    Opt("--set", help="FIELD=VALUE: a config field, flat or SECTION.FIELD (VALUE as JSON)."),
]
ResumeOpt = Annotated[str | None, Opt(help="Checkpoint folder, or an output folder (its latest).")]
OverwriteOpt = Annotated[bool, Opt(help="Replace an earlier training output.")]
CheckOpt = Annotated[bool, Opt("--check", help="Validate config, data and models, then stop.")]
QuietOpt = Annotated[bool, Opt(help="No progress bar.")]


@train_app.command()
def train(
    config: ConfigOpt = None,
    out: OutOpt = None,
    data: DataOpt = None,
    student: StudentOpt = None,
    init_model: InitModelOpt = None,
    steps: StepsOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    threads: TrainThreadsOpt = None,
    teacher: TeacherOpt = None,
    pseudo_queries_from: PseudoQueriesOpt = None,
    set_fields: SetOpt = None,
    resume: ResumeOpt = None,
    overwrite: OverwriteOpt = False,
    check: CheckOpt = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Train a sparse encoder; writes a model folder `spire index/eval --model` loads."""
    from training.config import TrainConfig, parse_set_fields

    flags = {
        "output": out,
        "train_data": data,
        "student": student,
        "init_model": init_model,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "threads": threads,
        "resume": resume,
        "teachers": _teachers(teacher) if teacher else None,
        "pseudo_queries_from": pseudo_queries_from or None,
    }
    overrides = {k: v for k, v in flags.items() if v is not None}
    if overwrite:
        overrides["overwrite"] = True
    if quiet or json_out:
        overrides["show_progress"] = False
    overrides.update(parse_set_fields(set_fields or []))
    if config is not None:
        cfg = TrainConfig.from_json(config, overrides)
    else:
        cfg = TrainConfig.from_dict(overrides, "flags")
    if check:
        _check(cfg, json_out)
        return
    from training import train as run_training

    _report(run_training(cfg), json_out)


def _teachers(specs: list[str]) -> dict[str, float]:
    out = {}
    for item in specs:
        spec, _, weight = item.rpartition("=")
        try:
            out[spec or weight] = float(weight) if spec else 1.0
        except ValueError:
            raise SpireError(f"--teacher {item!r}: expected SPEC=WEIGHT, e.g. bm25=0.5") from None
    return out


def _check(cfg, json_out: bool) -> None:
    from training.preflight import preflight

    preflight(cfg)
    summary = {"config": "ok", "output": cfg.run.output, "student": cfg.student.kind}
    if json_out:
        print_json(summary)
    else:
        print_table("spire train --check", ["field", "value"], list(summary.items()))


def _report(result, json_out: bool) -> None:
    last = result.history[-1] if result.history else {}
    summary = {
        "model": str(result.output),
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        **{k: v for k, v in last.items() if k != "step"},
        **({f"dev_{k}": v for k, v in result.dev[-1].items() if k != "step"} if result.dev else {}),
    }
    if json_out:
        print_json(summary)
    else:
        print_table(f"trained {result.output}", ["field", "value"], list(summary.items()))
