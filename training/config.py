"""TrainConfig: every knob of a training run, in six sections (JSON in, JSON out).

data (examples, negatives, dev queries), student (model, lengths, lexical term), losses
(which registered losses and their weights), teachers (distillation), optimiser (AdamW
and its schedule) and run (output, seed, device, cadence); training/config_sections.py.

Checked before any model is loaded or any step is taken: unknown fields, wrong types,
values out of range and combinations that make no sense fail with one SpireError line.
Each section checks itself; `_across` checks what spans sections. Configs and
checkpoints written before the sections (one flat object) still load, and `spire train
--set` takes flat names and section.field alike (training/config_keys.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path

from spire.core.errors import SpireError
from spire.core.files import read_json_object

from .config_keys import flatten, sectioned
from .config_sections import (
    DEV_MODES,
    SECTIONS,
    DataConfig,
    LossesConfig,
    OptimiserConfig,
    RunConfig,
    StudentConfig,
    TeachersConfig,
)
from .losses import LOSSES, configured

__all__ = ["DEV_MODES", "TrainConfig", "flatten"]


@dataclass(kw_only=True)
class TrainConfig:
    """A training run. Paths are strings so the config round-trips through JSON."""

    data: DataConfig = field(default_factory=DataConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    losses: LossesConfig = field(default_factory=LossesConfig)
    teachers: TeachersConfig = field(default_factory=TeachersConfig)
    optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)
    run: RunConfig

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> TrainConfig:
        """Sectioned, dotted (section.field) or flat keys, as config_keys.py reads them."""
        if not isinstance(data, dict):
            raise SpireError(f"{source}: expected a JSON object of config fields")
        parts = sectioned(data, source)
        if "output" not in parts["run"]:
            raise SpireError(f"{source}: missing required field 'output' (run.output)")
        config = cls(**{name: SECTIONS[name](**values) for name, values in parts.items()})
        config.check(source)
        return config

    @classmethod
    def from_json(cls, path: str | Path, overrides: dict | None = None) -> TrainConfig:
        path = Path(path)
        data = read_json_object(path, "a JSON object of config fields")
        return cls.from_dict({**data, **(overrides or {})}, str(path))

    def to_dict(self) -> dict:
        """Sectioned, in the order of SECTIONS."""
        return {name: asdict(getattr(self, name)) for name in SECTIONS}

    def check(self, source: str = "config") -> None:
        """Ranges and combinations; types were checked by from_dict."""
        sections = (getattr(self, name).problems() for name in SECTIONS)
        for problem in chain(*sections, _across(self)):
            raise SpireError(f"{source}: {problem}")


def _across(c: TrainConfig) -> Iterator[str]:
    """Checks that span sections (each section has checked its own fields)."""
    distilled = [n for n, w in c.losses.weights.items() if w > 0 and LOSSES[n].needs_teachers]
    if distilled and not c.teachers.weights:
        yield f"losses {', '.join(distilled)} need teachers to distil from (teachers.weights)"
    if (distilled or c.teachers.weights) and c.data.negatives < 1:
        yield "distillation needs at least one negative per query (negatives >= 1)"
    for term in configured(c.losses):
        if c.student.kind not in term.loss.students:
            yield (
                f"{term.setting} turns on loss {term.loss.name!r}, which applies to "
                f"{' and '.join(term.loss.students)} students only"
            )


def parse_set_fields(items: list[str]) -> dict:
    """`--set FIELD=VALUE` items as config fields: VALUE is JSON, else a bare string."""
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SpireError(f"--set {item!r}: expected FIELD=VALUE")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw  # a bare string, e.g. --set student=siamese
    return out
