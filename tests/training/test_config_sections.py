"""TrainConfig in sections: flat configs and checkpoints written by commit 7e1c374 (before
the sections) still load, dotted `section.field` keys work in JSON and `spire train
--set`, and mistakes name the key as it was written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spire.cli.train import train_app
from spire.core.errors import SpireError
from tests.training.conftest import quick_config
from training import TrainConfig
from training.config import flatten
from training.config_keys import FLAT

FIXTURES = Path(__file__).parent / "fixtures"
OLD_CONFIG = FIXTURES / "flat_config_7e1c374.json"
OLD_STATE = FIXTURES / "trainer_state_7e1c374.json"


def test_a_flat_config_of_7e1c374_loads_into_its_sections():
    old = json.loads(OLD_CONFIG.read_text())
    assert set(old) == set(FLAT)  # every flat name of then has a place now
    config = TrainConfig.from_json(OLD_CONFIG)
    assert flatten(config.to_dict()) == old  # nothing lost or changed on the way
    assert config.student.kind == "inference-free" and config.student.learn_idf
    assert config.losses.weights == {"infonce": 0.5, "kl": 1.0, "margin_mse": 0.5}
    assert config.teachers.norm == "zscore" and config.teachers.weights["bm25"] == 0.5
    assert config.optimiser.idf_lr == 1e-3 and config.run.save_every == 30
    assert config.data.pseudo_queries_from == ["../shared/data/nfcorpus"]
    again = TrainConfig.from_dict(config.to_dict())  # the sectioned form round-trips
    assert again == config


def test_sectioned_dotted_and_flat_keys_mix():
    config = TrainConfig.from_dict(
        {
            "output": "x",
            "data": {"train_data": "y", "negatives": 2},
            "optimiser.steps": 7,
            "losses.weights.kl": 0.5,  # one entry; infonce keeps its default 1
            "teachers": {"bm25": 1.0},  # flat: a spec -> weight object
            "teacher_norm": "zscore",
            "student": "inference-free",
        }
    )
    assert config.optimiser.steps == 7 and config.data.negatives == 2
    assert config.losses.weights == {"infonce": 1.0, "kl": 0.5}
    assert config.teachers.weights == {"bm25": 1.0} and config.teachers.norm == "zscore"
    replaced = TrainConfig.from_dict(
        {"output": "x", "train_data": "y", "teachers": {"weights": {"bm25": 1.0}},
         "losses": {"weights": {"kl": 1.0}}}
    )  # fmt: skip
    assert replaced.losses.weights == {"kl": 1.0}  # a whole object replaces the defaults
    assert replaced.teachers.weights == {"bm25": 1.0}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"optimiser.stepz": 3}, "unknown field 'optimiser.stepz'"),
        ({"optimizer": {"steps": 3}}, "unknown field 'optimizer'"),
        ({"optimiser": {"steps": "3"}}, "field 'optimiser.steps' must be int"),
        ({"losses.weights.kl": "1"}, "field 'losses.weights.kl' must be float"),
        ({"losses.weights.nce": 1.0}, "'nce' is no ranking loss (registered: infonce, kl"),
        ({"data": 3}, "field 'data' must be an object of data fields"),
        ({"losses.weights.kl": 1.0}, "losses kl need teachers"),
        ({"student.kind": "siamese"}, "'idf-flops', which applies to inference-free students only"),
        ({"student": "inference-free", "flops_q_lambda": 1.0}, "siamese students only"),
    ],
)
def test_bad_keys_name_the_key_as_written(changes, message):
    with pytest.raises(SpireError, match=message.replace("(", r"\(")):
        TrainConfig.from_dict({"output": "x", "train_data": "y", **changes})


def test_spire_train_set_takes_flat_and_dotted_names(tmp_path, toy_triples):
    runner = CliRunner()
    base = ["--out", str(tmp_path / "o"), "--data", str(toy_triples)]
    bad = runner.invoke(train_app, [*base, "--set", "optimiser.stepz=3"])
    assert "unknown field 'optimiser.stepz'" in str(bad.exception)
    args = ["--set", "optimiser.steps=3", "--set", "kl_weight=0", "--check", "--json"]
    ok = runner.invoke(train_app, [*base, *args])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["config"] == "ok"


def test_a_checkpoint_of_7e1c374_resumes(toy_run, tmp_path):
    """The 7e1c374 checkpoint's trainer_state.json (flat config, data fingerprint,
    optimiser hyper-parameters) with the step-10 tensors of this code's toy run (same
    shapes; 50 MB are not worth committing): the resumed run ends where the toy run did.
    The fingerprint written then still matches the examples prepared now."""
    config, result = toy_run
    folder = tmp_path / "step-0000010"
    shutil.copytree(result.output / "checkpoints" / "step-0000010", folder)
    shutil.copy(OLD_STATE, folder / "trainer_state.json")
    assert "student" in json.loads(OLD_STATE.read_text())["config"]  # flat, as then
    from training import train

    resumed = train(quick_config(tmp_path / "resumed", config.data.train_data, resume=str(folder)))
    assert [h["step"] for h in resumed.history] == list(range(11, 21))
    for a, b in zip(result.history[10:], resumed.history, strict=True):
        assert a == pytest.approx(b, rel=0, abs=0), (a, b)
    saved = json.loads((resumed.output / "training_config.json").read_text())["config"]
    assert saved["student"]["kind"] == "inference-free"  # written in sections now
