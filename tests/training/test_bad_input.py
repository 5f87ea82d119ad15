"""Bad input fails at once, with one SpireError line, before any training time is spent:
unknown config fields, missing teachers, no train split, incompatible checkpoints."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from typer.testing import CliRunner

from spire.cli.train import train_app
from spire.core.errors import SpireError
from tests.training.conftest import quick_config
from training import TrainConfig, train


def _fails_fast(config, *fragments: str) -> str:
    """train() raises SpireError quickly, writes nothing, and says what is wrong."""
    start = time.perf_counter()
    with pytest.raises(SpireError) as err:
        train(config)
    message = str(err.value)
    assert time.perf_counter() - start < 30  # checks, not training (busy cores: generous)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_unknown_field_and_wrong_types(tmp_path):
    with pytest.raises(SpireError, match=r"unknown field 'lamda'"):
        TrainConfig.from_dict({"output": "x", "train_data": "y", "lamda": 1})
    with pytest.raises(SpireError, match=r"field 'steps' must be int"):
        TrainConfig.from_dict({"output": "x", "train_data": "y", "steps": "ten"})
    with pytest.raises(SpireError, match=r"missing required field 'output'"):
        TrainConfig.from_dict({"train_data": "y"})
    with pytest.raises(SpireError, match=r"field 'teachers' must be"):
        TrainConfig.from_dict({"output": "x", "train_data": "y", "teachers": ["bm25"]})
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"output": "x", "train_data": "y", "flops_lambda": 0.1}))
    with pytest.raises(SpireError, match=rf"{path}: unknown field 'flops_lambda'"):
        TrainConfig.from_json(path)
    path.write_text("{not json")
    with pytest.raises(SpireError, match="not valid JSON"):
        TrainConfig.from_json(path)
    # An int where a float is expected is fine (JSON writes 1.0 as 1).
    assert TrainConfig.from_dict({"output": "x", "train_data": "y", "lr": 1}).optimiser.lr == 1


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"student": "dense"}, "student.kind must be one of"),
        ({"train_split": "test"}, "evaluation split"),
        ({"kl_weight": 1.0}, "need teachers"),
        ({"student": "siamese", "doc_regularizer": "idf-flops"}, "inference-free students only"),
        ({"infonce_weight": 0.0}, "no ranking loss"),
        ({"steps": 0}, "steps must be at least 1"),
        ({"dev_mode": "pools"}, "dev_mode must be one of corpus, pool, not 'pools'"),
        ({"dev_doc_max_length": 0}, "dev_doc_max_length must be at least 1"),
        ({"dev_seed": -1}, "dev_seed must not be negative"),
        ({"student": "siamese", "doc_regularizer": "flops", "lexical_weight": 1.0}, "lexical"),
        ({"lexical_weight": -1.0}, "lexical_weight must not be negative"),
        ({"lexical_k1": 0.0}, "lexical_k1 must be positive"),
        ({"lexical_stem_class_max": -1}, "lexical_stem_class_max must not be negative"),
    ],
)
def test_inconsistent_configs(changes, fragment):
    with pytest.raises(SpireError, match=fragment):
        TrainConfig.from_dict({"output": "x", "train_data": "y", **changes})


def test_missing_teacher_model(tmp_path, toy_triples):
    config = quick_config(
        tmp_path / "out", toy_triples, teachers={"dense:/no/such/teacher": 1.0}, kl_weight=1.0
    )
    _fails_fast(config, "teacher 'dense:/no/such/teacher'", "unknown model")
    assert not (tmp_path / "out").exists()


def test_missing_student_model(tmp_path, toy_triples):
    config = quick_config(tmp_path / "out", toy_triples, init_model="/no/such/student")
    _fails_fast(config, "init_model", "unknown model")


def test_dataset_without_a_train_split(tmp_path, test_only_beir):
    config = quick_config(tmp_path / "out", test_only_beir, negatives_from="bm25")
    _fails_fast(config, "no 'train' split", "qrels: test", "pseudo_queries_from")
    assert not (tmp_path / "out").exists()


def test_missing_query_generator(tmp_path, test_only_beir):
    config = quick_config(
        tmp_path / "out",
        test_only_beir,
        pseudo_queries_from=[str(test_only_beir)],
        pseudo_query_kind="generated",
        query_generator="/no/such/generator",
        negatives_from="bm25",
    )
    config.data.train_data = None  # pseudo-queries alone
    _fails_fast(config, "query generator '/no/such/generator' could not be loaded")
    assert not (tmp_path / "out").exists()


def test_missing_data_and_occupied_output(tmp_path, toy_triples):
    _fails_fast(quick_config(tmp_path / "out", tmp_path / "nothing.jsonl"), "no such file")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    _fails_fast(quick_config(occupied, toy_triples), "already exists")
    _fails_fast(quick_config(occupied, toy_triples, overwrite=True), "is not a spire")
    assert (occupied / "notes.txt").read_text() == "mine"


def test_incompatible_checkpoints(toy_run, tmp_path):
    config, result = toy_run
    checkpoint = result.output / "checkpoints" / "step-0000010"
    data = config.data.train_data

    def resume(**changes):
        return quick_config(tmp_path / "r", data, resume=str(checkpoint), **changes)

    _fails_fast(resume(student="siamese", doc_regularizer="flops"), "student='inference-free'")
    _fails_fast(resume(batch_size=3), "batch_size=2", "batch_size=3")
    _fails_fast(resume(lexical_weight=0.0), "lexical_weight=None", "lexical_weight=0.0")
    _fails_fast(resume(lexical_stem_class_max=3), "lexical_stem_class_max=4", "=3")
    _fails_fast(resume(steps=10), "leaves nothing to train")
    _fails_fast(resume(max_queries=50), "different examples")
    _fails_fast(quick_config(tmp_path / "r", data, resume=str(tmp_path)), "holds no checkpoint")
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    state = json.loads((broken / "trainer_state.json").read_text())
    (broken / "trainer_state.json").write_text(json.dumps({**state, "format": 99}))
    _fails_fast(quick_config(tmp_path / "r", data, resume=str(broken)), "format 99")
    shutil.rmtree(broken)
    shutil.copytree(checkpoint, broken)
    (broken / "student.safetensors").unlink()
    _fails_fast(quick_config(tmp_path / "r", data, resume=str(broken)), "is missing")


def test_cli_bad_input_raises_one_line_errors(tmp_path, toy_triples, test_only_beir):
    runner = CliRunner()
    out = str(tmp_path / "cli-out")
    cases = [
        (["--out", out, "--data", str(toy_triples), "--set", "lamda=1"], "unknown field 'lamda'"),
        (["--out", out, "--data", str(test_only_beir), "--check"], "no 'train' split"),
        (
            ["--out", out, "--data", str(toy_triples), "--teacher", "dense:/no/such=1", "--check"],
            "teacher 'dense:/no/such'",
        ),
        (["--out", out, "--data", str(toy_triples), "--teacher", "bm25=x"], "SPEC=WEIGHT"),
    ]
    for args, fragment in cases:
        result = runner.invoke(train_app, args)
        assert isinstance(result.exception, SpireError), (args, result.output)
        assert fragment in str(result.exception) and "\n" not in str(result.exception)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"output": out, "train_data": str(toy_triples), "stepz": 3}))
    result = runner.invoke(train_app, ["--config", str(config)])
    assert "unknown field 'stepz'" in str(result.exception)
    ok = runner.invoke(train_app, ["--out", out, "--data", str(toy_triples), "--check", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["config"] == "ok"


def test_registered_on_the_main_app_bad_input_exits_2_with_one_line(tmp_path):
    """What `spire train` does once spire/cli/__init__.py runs `app.add_typer(train_app)`."""
    import subprocess
    import sys

    from tests.conftest import REPO

    script = (
        "import sys\n"
        "from spire.cli import app, main\n"
        "from spire.cli.train import train_app\n"
        "app.add_typer(train_app)\n"
        "sys.argv = ['spire', *sys.argv[1:]]\n"
        "main()\n"
    )
    args = ["train", "--out", str(tmp_path / "o"), "--data", str(tmp_path / "missing.jsonl")]
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: train_data"), proc.stderr


def test_a_checkpoint_from_before_stem_classes_was_trained_without_them(tmp_path):
    from training.checkpoint import check_compatible
    from training.config import flatten

    config = TrainConfig.from_dict({"output": "x", "train_data": "y"}).to_dict()
    flat = flatten(config)  # as checkpoints of before the sections hold it
    old = {"step": 1, "config": {k: v for k, v in flat.items() if k != "lexical_stem_class_max"}}
    with pytest.raises(SpireError, match="lexical_stem_class_max=0, this config has .*=4"):
        check_compatible(old, config, tmp_path)
    config["student"]["lexical_stem_class_max"] = 0
    check_compatible(old, config, tmp_path)
