"""release_freed_memory: freed heap pages really go back to the OS, and translate_raster trims
once per written batch (the engine's guard against a resident set that grows with the scene)."""

import platform
from pathlib import Path

import pytest

from s2o_qgis_plugin.engine import memory
from s2o_qgis_plugin.engine import translate as translate_module
from s2o_qgis_plugin.engine.model import S2OModel
from tests.engine.fixtures import make_model, write_sar

GLIBC = platform.libc_ver()[0] == "glibc"


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1e6


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_freed_heap_pages_return_to_the_os():
    # 100 kB blocks stay below glibc's mmap threshold: they come from the heap. Keeping the last
    # one alive stops the allocator from shrinking the heap's top by itself.
    blocks = [bytearray(100_000) for _ in range(2000)]  # 200 MB, written (zero-filled)
    keep = blocks[-1]
    del blocks
    before = rss_mb()
    assert memory.release_freed_memory() is True
    after = rss_mb()
    assert before - after > 150, (before, after)
    assert len(keep) == 100_000


def test_without_glibc_it_does_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert memory.release_freed_memory() is False


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_trims_are_spaced_by_the_interval():
    assert memory.release_freed_memory() is True  # every_s 0: always
    assert memory.release_freed_memory(3600.0) is False  # one just happened
    assert memory.release_freed_memory(0.0) is True


def test_translate_trims_after_written_batches_at_most_every_interval(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(translate_module, "release_freed_memory", calls.append)
    model = S2OModel.load(make_model(tmp_path / "m.onnx"), device="cpu", threads=1)
    src = write_sar(tmp_path / "s1.tif", 70, 90, descriptions=["VV", "VH"])
    res = translate_module.translate_raster(src, tmp_path / "out.tif", model, tile_size=32,
                                            batch_size=2)
    assert res.tiles == 9 and len(calls) == 5  # ceil(9 / 2) batches ask; memory.py spaces them
    assert set(calls) == {memory.TRIM_EVERY_S}
