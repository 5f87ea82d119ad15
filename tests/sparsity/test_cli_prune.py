"""`spire prune` and `spire models perplexity` on bad input (one line, exit 2, nothing
written) and end to end on splade-tiny; recovery keeps the mask."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from spire.cli import main
from tests.conftest import BUNDLED_CRANFIELD


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["spire", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture()
def short_corpus(tmp_path):
    path = tmp_path / "short.jsonl"
    path.write_text(json.dumps({"_id": "1", "text": "only a few words here"}) + "\n")
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sparsity", "1.0"], "sparsity 1.0 is outside [0, 1)"),
        (["--sparsity", "-0.5"], "outside [0, 1)"),
        (["--nm", "4:2"], "--nm 4:2: need 0 < N < M"),
        (["--nm", "2-4"], "expected N:M"),
        (["--nm", "2:4", "--sparsity", "0.7"], "prunes 0.5, not --sparsity 0.7"),
        (["--method", "obs"], "unknown pruning method 'obs'"),
        (["--structured", "rows"], "expected ffn, heads or both"),
        (["--structured", "heads", "--sparsity", "0.8"], "would remove every one of the 2 units"),
        (["--calib", "SHORT"], "fewer than one sample of 254"),
        (["--calib", "EMPTY"], "calibration data has 0 tokens"),
        (["--method", "wanda", "--no-calib"], "needs calibration data"),
        (["--recover", "2", "--recover-loss", "l2"], "--recover-loss 'l2': choose squarehead"),
        (["--method", "magnitude", "--recover", "2", "--no-calib"], "give --calib"),
        (["--recover", "2", "--recover-loss", "kl"], "this model is a masked-lm"),
    ],
)
def test_bad_input_is_one_line_before_any_work(
    monkeypatch, capsys, tmp_path, short_corpus, splade_tiny_path, args, message
):
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"_id": "1", "text": ""}) + "\n")
    calib = {"SHORT": short_corpus, "EMPTY": empty}
    args = [calib.get(a, a) for a in args]
    if "--no-calib" in args:
        args.remove("--no-calib")
    elif "--calib" not in args:
        args += ["--calib", BUNDLED_CRANFIELD, "--samples", "2", "--seq-len", "32"]
    out = tmp_path / "out"
    code, stdout, err = run_cli(monkeypatch, capsys, "prune", "splade-tiny", "--out", out, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and lines == [lines[0]] and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert not out.exists() and stdout == ""


def test_an_output_folder_with_files_is_refused(monkeypatch, capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run_cli(
        monkeypatch, capsys, "prune", "splade-tiny", "--method", "magnitude", "--out", tmp_path
    )
    assert code == 2 and "already exists; pass --overwrite" in err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_prune_then_recover_keeps_the_mask(monkeypatch, capsys, tmp_path, splade_tiny_path):
    from encoders.loading import load_masked_lm

    out = tmp_path / "pruned"
    code, stdout, err = run_cli(
        monkeypatch, capsys, "prune", "splade-tiny", "--method", "wanda", "--sparsity", "0.5",
        "--calib", BUNDLED_CRANFIELD, "--samples", "8", "--seq-len", "64", "--recover", "3",
        "--out", out, "--json", "--quiet",
    )  # fmt: skip
    assert code in (0, None), err
    report = json.loads(stdout)
    assert report["method"] == "wanda" and report["recover_steps"] == 3
    assert report["calibration"]["samples"] == 8
    pruned = load_masked_lm(str(out))
    dense = load_masked_lm(str(splade_tiny_path))
    for name, module in pruned.bert.encoder.named_modules():
        if isinstance(module, torch.nn.Linear):
            share = float((module.weight == 0).float().mean())
            assert share == pytest.approx(0.5, abs=0.01), name
    changed = pruned.bert.encoder.layer[0].intermediate.dense.weight
    original = dense.bert.encoder.layer[0].intermediate.dense.weight
    kept = changed != 0
    assert not torch.equal(changed[kept], original[kept])  # recovery trained the kept weights


def test_recovery_never_moves_a_pruned_weight(tiny_model, tiny_calib):
    import copy

    from sparsity.pruning import prune
    from sparsity.recovery import squarehead

    teacher = copy.deepcopy(tiny_model)
    result = prune(tiny_model, "magnitude", 0.5)
    losses = squarehead(tiny_model, teacher, tiny_calib, result.masks, steps=4, lr=1e-3)
    modules = dict(tiny_model.named_modules())
    for name, mask in result.masks.items():
        assert torch.all(modules[name].weight[~mask] == 0), name
        assert (
            torch.equal(modules[name].weight != 0, mask)
            or (modules[name].weight[mask] == 0).sum() < 3
        )
    assert losses[-1] < losses[0]


def test_perplexity_refuses_an_encoder(monkeypatch, capsys, splade_tiny_path):
    code, _, err = run_cli(
        monkeypatch, capsys, "models", "perplexity", "splade-tiny", "--data", BUNDLED_CRANFIELD
    )
    assert code == 2 and "is not a causal LM" in err
