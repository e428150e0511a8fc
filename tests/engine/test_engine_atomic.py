"""engine.atomic: a destination holds its earlier content or the whole new one, never a part."""

import pytest

from s2o_qgis_plugin.engine import atomic


def test_a_finished_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    dst = tmp_path / "report.html"
    dst.write_text("old")
    atomic.write_text(dst, "new ü")
    assert dst.read_text(encoding="utf-8") == "new ü"
    atomic.write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "report.html"]


def test_a_failed_write_keeps_the_earlier_file_and_removes_its_temporary(tmp_path):
    dst = tmp_path / "ckpt.pt"
    dst.write_bytes(b"earlier")
    with pytest.raises(RuntimeError, match="disk went away"):
        with atomic.replacing(dst) as tmp:
            assert tmp.parent == tmp_path and atomic.TMP_MARK in tmp.name
            tmp.write_bytes(b"half of it")
            raise RuntimeError("disk went away")
    assert dst.read_bytes() == b"earlier"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
    with pytest.raises(KeyboardInterrupt):
        with atomic.replacing(tmp_path / "new.json") as tmp:
            tmp.write_text("{")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_a_block_that_wrote_nothing_fails_without_touching_the_destination(tmp_path):
    dst = tmp_path / "x.txt"
    dst.write_text("kept")
    with pytest.raises(FileNotFoundError):
        with atomic.replacing(dst):
            pass
    assert dst.read_text() == "kept"
