"""`--overwrite` replaces only what spire wrote (spire.core.artefacts), on the CLI and in Python.

Every refused case hashes the target tree before and after: not one byte may change.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from indexing import EncoderInfo, InvertedIndex
from spire.cli import app
from spire.core.artefacts import MANIFEST_FORMATS, artefact_kind, ensure_replaceable, mark_artefact
from spire.core.errors import SpireError
from tests.conftest import REPO, write_beir

SIAMESE = EncoderInfo(name="splade-tiny", mode="siamese")


def tree_digest(path: Path) -> dict[str, str]:
    """Every file (sha256 of its bytes), folder and link under `path`, by relative path."""
    out = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = Path(root) / name
            rel = p.relative_to(path).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def user_folder(path: Path) -> Path:
    """A folder of someone's own files, the kind a typo in --out must never delete."""
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("my notes")
    (path / "sub" / "data.bin").write_bytes(bytes(range(256)))
    return path


def small_index(n: int = 4, prefix: str = "d") -> InvertedIndex:
    matrix = sp.csr_matrix(np.eye(n, 8, dtype=np.float32))
    return InvertedIndex.from_matrix(matrix, [f"{prefix}{i}" for i in range(n)], SIAMESE)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- the guard


def test_the_recognised_formats_are_the_ones_indexing_writes():
    from indexing.dense_index import FORMAT_NAME as DENSE
    from indexing.export import FORMATS
    from indexing.incremental.manifest import FORMAT_NAME as SEGMENTED
    from indexing.manifest import FORMAT_NAME as PLAIN
    from spire.core.artefacts import EXPORT_FORMATS

    assert set(MANIFEST_FORMATS) == {PLAIN, SEGMENTED, DENSE}
    assert tuple(EXPORT_FORMATS) == tuple(FORMATS)


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        ({"manifest.json": {"format": "spire-index"}}, "index"),
        ({"manifest.json": {"format": "spire-segmented-index"}}, "segmented index"),
        ({"manifest.json": {"format": "spire-dense-index"}}, "dense index"),
        ({"export.json": {"format": "opensearch"}}, "export"),
        ({"spire_onnx.json": {"graphs": ["fp32"]}}, "ONNX model"),
        ({"sparsity.json": {"method": "wanda"}}, "pruned model"),
        ({"training_config.json": {"config": {}}}, "trained model"),
        ({"trainer_state.json": {"format": 1, "step": 3}}, "training checkpoint"),
        ({"spire-artefact.json": {"kind": "training output"}}, "training output"),
        ({"manifest.json": {"format": "something-else"}}, None),
        ({"export.json": {"format": "parquet"}}, None),
        ({"manifest.json": "not an object"}, None),
        ({"spire-artefact.json": {"kind": "home directory"}}, None),
        ({"log.jsonl": {"step": 1}}, None),  # once enough for `train --overwrite` to delete
    ],
)
def test_artefact_kinds(tmp_path, files, kind):
    for name, body in files.items():
        (tmp_path / name).write_text(json.dumps(body))
    assert artefact_kind(tmp_path) == kind


def test_a_corrupt_manifest_is_not_recognised(tmp_path):
    (tmp_path / "manifest.json").write_bytes(b"\xff\xfe{")
    assert artefact_kind(tmp_path) is None


def test_mark_artefact_records_a_known_kind_only(tmp_path):
    mark_artefact(tmp_path, "training output")
    assert artefact_kind(tmp_path) == "training output"
    with pytest.raises(ValueError, match="unknown artefact kind"):
        mark_artefact(tmp_path, "anything")


@pytest.mark.parametrize("overwrite", [False, True])
def test_missing_and_empty_targets_may_be_written(tmp_path, overwrite):
    ensure_replaceable(tmp_path / "absent", overwrite)
    (tmp_path / "empty").mkdir()
    ensure_replaceable(tmp_path / "empty", overwrite)


def refused(target: Path, overwrite: bool, *fragments: str) -> str:
    with pytest.raises(SpireError) as info:
        ensure_replaceable(target, overwrite)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_protected_paths_are_refused_even_when_empty(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    refused(Path("/"), True, "filesystem root")
    refused(home, True, "home directory")
    refused(Path("~").expanduser(), True, "home directory")
    refused(Path("."), True, "current directory")
    refused(Path(".."), True, "current directory or one of its parents")
    refused(tmp_path / "a", False, "one of its parents")


def test_files_links_and_foreign_folders_are_refused(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    refused(tmp_path / "file.txt", True, "is a file")
    refused(tmp_path / "file.txt" / "sub" / "out", False, "file.txt is a file, not a folder")
    index_dir = small_index().save(tmp_path / "idx")
    (tmp_path / "link").symlink_to(index_dir)
    refused(tmp_path / "link", True, "symbolic link")
    user_folder(tmp_path / "mine")
    refused(tmp_path / "mine", False, "already exists", "--overwrite")
    refused(tmp_path / "mine", True, "is not a spire index", "remove it yourself")
    refused(index_dir, False, "already exists")
    ensure_replaceable(index_dir, True)


# --------------------------------------------------------------------------- Python API


def test_save_with_overwrite_leaves_a_user_folder_untouched(tmp_path):
    target = user_folder(tmp_path / "mine")
    before = tree_digest(tmp_path)
    with pytest.raises(SpireError, match="is not a spire index"):
        small_index().save(target, overwrite=True)
    assert tree_digest(tmp_path) == before


def test_save_with_overwrite_over_a_regular_file(tmp_path):
    (tmp_path / "target").write_bytes(b"precious")
    before = tree_digest(tmp_path)
    with pytest.raises(SpireError, match="is a file"):
        small_index().save(tmp_path / "target", overwrite=True)
    assert tree_digest(tmp_path) == before  # no folder in its place, no .old-NNNN left


def test_every_folder_writer_refuses_a_user_folder(tmp_path, inference_free_encoder):
    from indexing.dense_index import DenseIndex
    from indexing.export import export_index

    target = user_folder(tmp_path / "mine")
    before = tree_digest(tmp_path)
    dense = DenseIndex.build(["a"], np.ones((1, 4), dtype=np.float32), encoder="x")
    writers = [
        lambda: dense.save(target, overwrite=True),
        lambda: export_index(
            small_index(), inference_free_encoder.tokenizer, target, "opensearch", overwrite=True
        ),
    ]
    for write in writers:
        with pytest.raises(SpireError, match="is not a spire index"):
            write()
    assert tree_digest(tmp_path) == before


def test_onnx_export_refuses_a_user_folder_before_loading_anything(tmp_path):
    from encoders.onnx_model import export_onnx

    target = user_folder(tmp_path / "mine")
    before = tree_digest(tmp_path)
    with pytest.raises(SpireError, match="is not a spire index"):
        export_onnx("no-such-model-would-fail-later", target, overwrite=True)
    assert tree_digest(tmp_path) == before


def test_any_spire_artefact_is_replaced_atomically(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "training_config.json").write_text(json.dumps({"config": {}}))
    (target / "weights.bin").write_bytes(b"old")
    small_index(prefix="new").save(target, overwrite=True)
    assert InvertedIndex.load(target).docids[0] == "new0"
    assert not (target / "weights.bin").exists()
    assert leftovers(tmp_path) == []


def test_a_failed_replacement_keeps_the_old_artefact(tmp_path, monkeypatch):
    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "trainer_state.json").write_text(json.dumps({"format": 1, "step": 2}))
    before = tree_digest(tmp_path)

    def no_space(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr("indexing.inverted_index.np.save", no_space)
    with pytest.raises(OSError, match="no space"):
        small_index().save(target, overwrite=True)
    assert tree_digest(tmp_path) == before


def test_a_target_that_changes_while_writing_is_checked_again(tmp_path, monkeypatch):
    """The guard runs again just before the rename: a user folder that appeared while
    the index was being written is not replaced."""
    target = tmp_path / "idx"
    real = InvertedIndex._manifest

    def meanwhile(self, folder):
        user_folder(target)
        return real(self, folder)

    monkeypatch.setattr(InvertedIndex, "_manifest", meanwhile)
    with pytest.raises(SpireError, match="is not a spire index"):
        small_index().save(target, overwrite=True)
    assert sorted(tree_digest(target)) == ["notes.txt", "sub", "sub/data.bin"]
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def beir(tmp_path_factory) -> Path:
    corpus = [{"_id": f"d{i}", "title": "", "text": f"document number {i}"} for i in range(3)]
    folder = tmp_path_factory.mktemp("toy") / "toy"
    return write_beir(folder, corpus, [{"_id": "q1", "text": "number"}], [("q1", "d1", 1)])


def invoke(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_refused(result, *fragments: str) -> None:
    assert isinstance(result.exception, SpireError), result.output
    for fragment in fragments:
        assert fragment in str(result.exception), str(result.exception)


CLI_WRITERS = {
    "index": lambda beir, idx, out: ("index", beir, "--out", out, "--mode", "inference-free"),
    "eval": lambda beir, idx, out: ("eval", beir, "--mode", "inference-free", "--save-index", out),
    "export": lambda beir, idx, out: ("export", idx, "--out", out),
    "index-dense": lambda beir, idx, out: ("index-dense", idx, beir, "--out", out),
    "export-onnx": lambda beir, idx, out: ("models", "export-onnx", "splade-tiny", "--out", out),
    "train": lambda beir, idx, out: ("train", "--data", beir, "--out", out, "--quiet"),
}


@pytest.mark.parametrize("command", sorted(CLI_WRITERS))
def test_cli_overwrite_never_deletes_a_user_folder(command, beir, tmp_path):
    idx = small_index().save(tmp_path / "idx")
    target = user_folder(tmp_path / "mine")
    before = tree_digest(tmp_path)
    args = CLI_WRITERS[command](beir, idx, target)
    assert_refused(invoke(*args, "--overwrite"), str(target), "is not a spire index")
    assert_refused(invoke(*args), str(target), "already exists")
    (tmp_path / "file").write_text("x")
    before["file"] = tree_digest(tmp_path)["file"]
    assert_refused(invoke(*CLI_WRITERS[command](beir, idx, tmp_path / "file"), "--overwrite"),
                   "is a file")  # fmt: skip
    assert tree_digest(tmp_path) == before


def test_cli_index_replaces_its_own_index(beir, tmp_path, splade_tiny_path):
    out = tmp_path / "idx"
    small_index(prefix="old").save(out)
    result = invoke("index", beir, "--out", out, "--mode", "inference-free", "--overwrite")
    assert result.exit_code == 0, result.output
    assert InvertedIndex.load(out).docids == ["d0", "d1", "d2"]
    assert leftovers(tmp_path) == []


def spire_process(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SPIRE_DEBUG"}
    env.update(HOME=str(home), PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "spire", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("out", ["..", ".", "~", "/"])
def test_cli_refuses_protected_targets_in_one_line(out, beir, tmp_path):
    """`--out ..` was an internal error (Device or resource busy); `--out ~` a lost home."""
    home = user_folder(tmp_path / "home")
    work = user_folder(tmp_path / "home" / "work")
    before = tree_digest(tmp_path)
    target = str(home) if out == "~" else out  # the shell expands ~; spire sees the path
    proc = spire_process("index", beir, "--out", target, "--overwrite", cwd=work, home=home)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "never replaced" in lines[0]
    assert tree_digest(tmp_path) == before
