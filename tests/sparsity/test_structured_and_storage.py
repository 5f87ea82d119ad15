"""Structured pruning on a real BERT, and pruned folders saved and loaded back exactly."""

from __future__ import annotations

import pytest
import torch

from sparsity.pruning import prune
from sparsity.storage import MANIFEST, WEIGHTS, read_state_dict, save_pruned
from spire.core.errors import SpireError


def _logits(model, calib):
    with torch.no_grad():
        return model(**calib[0]).logits


@pytest.mark.parametrize("method", ["wanda", "sparsegpt"])
@pytest.mark.parametrize("kind", ["ffn", "heads", "both"])
def test_structured_with_nothing_removed_is_dense(tiny_model, tiny_calib, method, kind):
    dense = _logits(tiny_model, tiny_calib)
    prune(tiny_model, method, 0.0, tiny_calib, structured=kind)
    assert torch.equal(_logits(tiny_model, tiny_calib), dense)


def test_structured_shrinks_matrices(tiny_model, tiny_calib):
    layer = tiny_model.bert.encoder.layer[0]
    width = layer.intermediate.dense.out_features
    result = prune(tiny_model, "sparsegpt", 0.5, tiny_calib, structured="both")
    assert layer.intermediate.dense.out_features == width // 2
    assert layer.output.dense.in_features == width // 2
    assert layer.attention.self.num_attention_heads == 1  # of 2
    assert layer.attention.self.query.out_features == 64
    assert layer.attention.output.dense.in_features == 64
    assert set(result.removed_units.values()) == {1, width // 2}
    assert _logits(tiny_model, tiny_calib).shape[-1] == 30522  # still runs


def test_structured_refuses_removing_every_head(tiny_model, tiny_calib):
    with pytest.raises(SpireError, match="every one of the 2 units"):
        prune(tiny_model, "magnitude", 0.8, tiny_calib, structured="heads")


@pytest.mark.parametrize(
    "options",
    [{"method": "wanda"}, {"method": "magnitude", "nm": (2, 4)}, {"structured": "both"}],
)
def test_saved_folder_loads_back_bitwise_equal(tiny_model, tiny_calib, tmp_path, options):
    from encoders.loading import load_masked_lm

    prune(tiny_model, **{"method": "wanda", "sparsity": 0.5, "calib": tiny_calib, **options})
    tiny_model.bert.encoder.layer[0].output.dense.weight.data[0, 0] = -0.0  # sign kept
    manifest = save_pruned(tiny_model, tmp_path / "out", {"method": "test"}, nm=options.get("nm"))
    assert (tmp_path / "out" / MANIFEST).is_file() and (tmp_path / "out" / WEIGHTS).is_file()
    loaded = load_masked_lm(str(tmp_path / "out"))
    expected = tiny_model.state_dict()
    got = loaded.state_dict()
    assert set(got) == set(expected)
    for key, tensor in expected.items():
        assert got[key].dtype == tensor.dtype and got[key].shape == tensor.shape, key
        assert torch.equal(got[key].view(torch.uint8), tensor.contiguous().view(torch.uint8)), key
    assert torch.equal(_logits(loaded, tiny_calib), _logits(tiny_model, tiny_calib))
    if "structured" not in options:  # structured matrices are smaller but dense
        assert manifest["file_bytes"] < manifest["dense_bytes"]  # embeddings stay dense


def test_half_sparse_file_is_at_most_0_6_of_dense(tiny_model, tiny_calib, tmp_path):
    from sparsity.storage import encode

    prune(tiny_model, "magnitude", 0.5, tiny_calib)
    linear = {k: v for k, v in tiny_model.state_dict().items() if "encoder.layer" in k}
    encoded, shapes = encode(linear)
    assert shapes  # every pruned matrix went sparse
    dense = sum(v.numel() * v.element_size() for k, v in linear.items() if k in shapes)
    stored = sum(
        encoded[f"{k}::{p}"].numel() * encoded[f"{k}::{p}"].element_size()
        for k in shapes
        for p in ("mask", "values")
    )
    assert stored <= 0.6 * dense


def test_output_folder_is_not_overwritten(tiny_model, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(SpireError, match="already exists; pass --overwrite"):
        save_pruned(tiny_model, tmp_path, {})
    with pytest.raises(SpireError, match="is not a spire index, export, model"):
        save_pruned(tiny_model, tmp_path, {}, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_overwrite_replaces_a_pruned_folder(tiny_model, tmp_path):
    out = tmp_path / "m"
    save_pruned(tiny_model, out, {"method": "first"})
    save_pruned(tiny_model, out, {"method": "second"}, overwrite=True)
    assert '"second"' in (out / MANIFEST).read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging left
    assert read_state_dict(out).keys() == {k for k in tiny_model.state_dict()}
