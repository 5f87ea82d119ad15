"""regressions/sparsity.json, re-measured: prune, save, load the folder back, evaluate."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BUNDLED_CRANFIELD, REPO, SHARED_DATA

SPEC = json.loads((REPO / "regressions" / "sparsity.json").read_text())


def _entries():
    for entry in SPEC["entries"]:
        marks = [pytest.mark.full] if entry["full"] else []
        name = f"{entry['model']}:{entry['method']}@{entry['sparsity']}:" + "/".join(
            str(v) for v in entry["eval"].values()
        )
        yield pytest.param(entry, id=name, marks=marks)


@pytest.fixture(scope="module")
def pruned_folders(tmp_path_factory):
    """(model, method, sparsity, nm, calib) -> saved pruned folder, made once."""
    made: dict = {}

    def get(entry):
        from encoders.loading import load_backbone
        from eval.data.prune_data import calibration_batches
        from sparsity.pruning import parse_nm, prune
        from sparsity.storage import save_pruned

        key = (entry["model"], entry["method"], entry["sparsity"], entry["nm"])
        if key not in made:
            wiki = SHARED_DATA / "wiki-paragraphs"
            if not wiki.is_dir():
                pytest.skip(f"{wiki} is not here")
            net, tokenizer, kind, _ = load_backbone(entry["model"])
            c = entry["calib"]
            calib = calibration_batches(
                tokenizer, wiki, c["samples"], c["seq_len"], 0, kind == "causal-lm"
            )
            if entry["method"] != "dense":
                prune(net, entry["method"], entry["sparsity"], calib, nm=parse_nm(entry["nm"]))
            folder = tmp_path_factory.mktemp("pruned") / "model"
            save_pruned(net, folder, {"method": entry["method"]}, tokenizer.save_pretrained)
            made[key] = (folder, tokenizer)
        return made[key]

    return get


@pytest.mark.parametrize("entry", list(_entries()))
def test_sparsity_regression(entry, pruned_folders):
    folder, tokenizer = pruned_folders(entry)
    spec = entry["eval"]
    if spec["kind"] == "ndcg":
        from eval.data.datasets import load_dataset
        from eval.experiments.pipeline import report
        from eval.experiments.systems import Systems

        assert spec["dataset"] == "cranfield"
        data = load_dataset(BUNDLED_CRANFIELD)
        systems = Systems(data, model=str(folder), show_progress=False)
        got = report(systems.run(spec["mode"]), data).metrics["nDCG@10"]
    else:
        from encoders.loading import load_backbone
        from eval.data.prune_data import heldout_windows, perplexity

        net, _, _, _ = load_backbone(str(folder))
        windows = heldout_windows(
            tokenizer, SHARED_DATA / spec["data"], spec["windows"], spec["window_len"]
        )
        got = perplexity(net, windows)["perplexity"]
    assert got == pytest.approx(entry["value"], abs=entry["tolerance"]), entry["command"]
