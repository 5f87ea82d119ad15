"""regressions/training.json: train the recipe at CI size, evaluate the model folder as
`spire eval` does, and check each number against its tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

REPO = Path(__file__).resolve().parents[2]
SPEC = json.loads((REPO / "regressions" / "training.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("entry", SPEC["entries"], ids=lambda e: e["name"])
def test_recipe_regression(entry, tmp_path, splade_tiny_path, minilm_path):
    from eval.pipeline import evaluate
    from training import TrainConfig, train

    fields = dict(entry["config"])
    fields["train_data"] = str(SHARED_DATA / fields["train_data"])
    if not Path(fields["train_data"]).is_dir():
        pytest.skip(f"{fields['train_data']} is not here")
    config = TrainConfig.from_dict(
        {
            **fields,
            "output": str(tmp_path / "model"),
            "teacher_cache": str(tmp_path / "teachers"),
            "show_progress": False,
        }
    )
    result = train(config)
    failures = []
    for check in entry["evaluations"]:
        report = evaluate(
            SHARED_DATA / check["dataset"],
            model=str(result.output),
            mode="inference-free",
            split=check["split"],
            show_progress=False,
        )
        for metric, expected in check["metrics"].items():
            got = report.metrics[metric]
            print(f"{entry['name']} {check['dataset']} {metric} {got:.4f}")
            if abs(got - expected) > check["tolerance"]:
                failures.append(
                    f"{check['dataset']} {metric} {got:.4f}, expected {expected} "
                    f"± {check['tolerance']}"
                )
    assert not failures, f"{entry['name']}: " + "; ".join(failures)
