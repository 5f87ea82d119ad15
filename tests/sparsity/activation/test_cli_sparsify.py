"""`spire sparsify` on bad input (one line, exit 2, nothing written) and end to end:
the folder loads back through every model loader with its thresholds or experts."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import BUNDLED_CRANFIELD
from tests.sparsity.test_cli_prune import run_cli


@pytest.mark.parametrize(
    "args, message",
    [
        (["--activation", "teal", "--target", "1.0"], "activation target 1.0: must be in [0, 1)"),
        (["--activation", "teal", "--target", "-0.1"], "must be in [0, 1)"),
        (["--activation", "cats"], "activation method 'cats': choose from teal, wina"),
        (["--moe", "experts=8,top=9"], "top=9 is more than experts"),
        (["--moe", "experts=7,top=2"], "experts=7 does not divide the layer's 512 neurons"),
        (["--moe", "experts=8"], "give both experts= and top="),
        (["--moe", "experts=8,top=2,router=mlp"], "router=mlp: choose from centroid, fitted"),
        ([], "give --activation (with --target) or --moe"),
        (["--activation", "wina", "--calib", "SHORT"], "fewer than one sample"),
        (["--activation", "wina", "--samples", "2"], "activation sparsity needs at least 1024"),
    ],
)
def test_bad_input_is_one_line_before_any_work(monkeypatch, capsys, tmp_path, args, message):
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"_id": "1", "text": "only a few words here"}) + "\n")
    args = [short if a == "SHORT" else a for a in args]
    if "--calib" not in args:
        args += ["--calib", BUNDLED_CRANFIELD, "--seq-len", "64"]
    out = tmp_path / "out"
    code, _, err = run_cli(monkeypatch, capsys, "sparsify", "splade-tiny", "--out", out, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not out.exists()


def test_sparsified_folder_loads_back_and_refuses_a_foreign_model(monkeypatch, capsys, tmp_path):
    from encoders.loading import load_masked_lm
    from sparsity.activation.linear import ThresholdLinear
    from sparsity.moe.ffn import MoEFeedForward
    from sparsity.runtime import for_documents
    from sparsity.storage import read_manifest

    out = tmp_path / "tiny-wina-moe"
    code, _, err = run_cli(
        monkeypatch, capsys, "sparsify", "splade-tiny", "--out", out, "--activation", "wina",
        "--target", "0.4", "--moe", "experts=8,top=2", "--calib", BUNDLED_CRANFIELD,
        "--samples", "16", "--seq-len", "64", "--json",
    )  # fmt: skip
    assert code in (0, None), err
    manifest = read_manifest(out)
    assert manifest["activation"]["target"] == 0.4 and manifest["moe"]["top"] == 2
    model = load_masked_lm(str(out))
    kinds = {type(m) for m in model.modules()}
    assert ThresholdLinear in kinds and MoEFeedForward in kinds
    dense = load_masked_lm("splade-tiny")
    ids = torch.tensor([[101, 7592, 2088, 1997, 1996, 3526, 102]])
    with torch.no_grad():
        want = dense(input_ids=ids).logits
        assert not torch.allclose(model(input_ids=ids).logits, want, atol=1e-3)
        with for_documents(model):  # apply_to=queries: documents are encoded dense
            torch.testing.assert_close(model(input_ids=ids).logits, want, atol=1e-5, rtol=1e-5)
    manifest["moe"]["layers"][0]["neurons"] = 256
    (out / "sparsity.json").write_text(json.dumps(manifest))
    from spire.core.errors import SpireError

    with pytest.raises(SpireError, match="does not match the model"):
        load_masked_lm(str(out))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--activation-sparsity", "wina:1.5"], "activation target 1.5: must be in [0, 1)"),
        (["--activation-sparsity", "wina"], "expected METHOD:TARGET"),
        (["--moe", "experts=4,top=8"], "top=8 is more than experts"),
        (["--mode", "inference-free", "--activation-sparsity", "teal:0.5"], "query encoder"),
    ],
)
def test_eval_refuses_bad_sparsity_before_any_work(monkeypatch, capsys, args, message):
    code, _, err = run_cli(monkeypatch, capsys, "eval", BUNDLED_CRANFIELD, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
