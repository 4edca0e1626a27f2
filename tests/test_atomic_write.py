"""The package's one atomic writer: a file appears whole or not at all, the old file
survives a failed write, no temporary is left behind, and permissions are open()'s."""

import os

import pytest

from keras_lightnets._atomic import write_atomically


def test_writes_text_and_bytes(tmp_path):
    write_atomically(tmp_path / "a.json", '{"é": 1}')
    assert (tmp_path / "a.json").read_bytes() == '{"é": 1}'.encode("utf8")
    write_atomically(str(tmp_path / "b.tflite"), b"\x00\x01")
    assert (tmp_path / "b.tflite").read_bytes() == b"\x00\x01"
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.tflite"]


def test_permissions_are_those_open_gives(tmp_path):
    umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "model.tflite", b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "model.tflite").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    path.write_text("old")

    def interrupted(source, target):  # the rename is the last step: fail there
        assert os.path.exists(source) and os.path.basename(source).startswith("result.json.")
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["result.json"]


def test_content_that_is_neither_text_nor_bytes_is_named(tmp_path):
    with pytest.raises(TypeError, match="str or bytes, got dict"):
        write_atomically(tmp_path / "x.json", {"a": 1})
    assert os.listdir(tmp_path) == []


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "absent" / "x.json", "{}")
    assert os.listdir(tmp_path) == []
