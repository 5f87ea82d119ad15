"""Small-file helpers (spire/core/files.py): crash-safe writes and the JSON-object reader."""

from __future__ import annotations

import os

import pytest

from spire.core.errors import SpireError
from spire.core.files import read_json_object, remove_file, staged_files, write_text_atomic


def test_write_text_atomic_writes_and_replaces(tmp_path):
    path = tmp_path / "meta.json"
    write_text_atomic(path, '{"a": "é"}')
    assert path.read_text(encoding="utf-8") == '{"a": "é"}'
    write_text_atomic(path, "second")
    assert path.read_text(encoding="utf-8") == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "meta.json"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "half \ud800 written")  # a lone surrogate: no UTF-8 for it

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        write_text_atomic(path, "new")
    assert path.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_staged_files_moves_each_file_in_and_cleans_up(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "keep.txt").write_text("untouched")
    with staged_files(tmp_path, prefix=".model-tmp-") as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".model-tmp-")
        (staging / "a.txt").write_text("new a")
        (staging / "b.txt").write_text("new b")
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        "a.txt": "new a",
        "b.txt": "new b",
        "keep.txt": "untouched",
    }
    with pytest.raises(RuntimeError), staged_files(tmp_path) as staging:
        (staging / "a.txt").write_text("never")
        raise RuntimeError("crash while staging")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "keep.txt"]
    assert (tmp_path / "a.txt").read_text() == "new a"
    remove_file(tmp_path / "b.txt")
    remove_file(tmp_path / "b.txt")  # already gone: nothing to do
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "keep.txt"]


def test_read_json_object(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}', encoding="utf-8")
    assert read_json_object(path) == {"a": 1}


@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "no such file"),
        (b"{not json", "not valid JSON"),
        (b'{"a": "\xff\xfe"}', "not valid UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (b"[" * 100_000, "not valid JSON"),
    ],
    ids=["missing", "invalid-json", "not-utf8", "not-object", "too-deep"],
)
def test_read_json_object_errors_are_one_line_starting_with_the_path(tmp_path, content, fragment):
    path = tmp_path / "x.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SpireError, match=fragment) as info:
        read_json_object(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message


def test_read_json_object_names_what_was_expected(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('"a string"', encoding="utf-8")
    with pytest.raises(SpireError) as info:
        read_json_object(path, "an object of token -> weight")
    assert str(info.value) == f"{path}: expected an object of token -> weight"
