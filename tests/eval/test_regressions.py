"""Every number in regressions/*.json, re-measured (Pyserini's "2CR" habit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.pipeline import report

REPO = Path(__file__).resolve().parents[2]


def _entries():
    for path in sorted((REPO / "regressions").glob("*.json")):
        spec = json.loads(path.read_text())
        for entry in spec["entries"]:
            if "system" not in entry:
                continue  # regressions/training.json: tests/training/test_recipe_regression.py
            marks = [pytest.mark.slow] if entry.get("slow") else []
            marks += [pytest.mark.full] if entry.get("full") else []
            options = entry.get("options", {})
            label = "+".join(options.get("hybrid_of", [])) or entry["system"]
            if "encoder_options" in options:
                label += "+" + ",".join(f"{k}={v}" for k, v in options["encoder_options"].items())
            name = f"{path.stem}:{entry['dataset']}:{label}"
            yield pytest.param(entry, id=name, marks=marks)


@pytest.mark.parametrize("entry", list(_entries()))
def test_regression(entry, shared_systems):
    systems = shared_systems(entry["dataset"], entry["split"])
    options = entry.get("options", {})
    if "encoder_options" in options:
        lexical = dict(options["encoder_options"])
        systems = systems.lexical_variant(
            lexical.pop("lexical_weight"), lexical.pop("lexical_params", None)
        )
        assert not lexical, f"encoder options other than the lexical term: {lexical}"
    if entry["system"] == "hybrid":
        # The shared Systems caches its parts' runs; only the fusion is recomputed.
        systems.hybrid_of = tuple(options["hybrid_of"])
        systems.fusion = options.get("fusion", "rrf")
        systems._results.pop("hybrid", None)
    result = report(systems.run(entry["system"]), systems.data)
    for metric, expected in entry["metrics"].items():
        got = result.metrics[metric]
        assert got == pytest.approx(expected, abs=entry["tolerance"]), (
            f"{entry['command']}: {metric} {got:.4f}, expected {expected} ± {entry['tolerance']}"
        )
