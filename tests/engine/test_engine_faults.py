"""Nothing lost, nothing overwritten, nothing misread: storage faults, signals, damaged and unusual
inputs, through s2o-translate as a real child process (issue 14).

One test per failure class. Each asserts the exit status, the message, and what OUTPUT holds
afterwards: its earlier good file (byte for byte) or nothing, and no temporary file beside it.
The faults are real: a 1 MiB tmpfs fills up, signals go to a real child process, VRTs, symbolic
and hard links, /vsizip paths and complex rasters are real GDAL files, a damaged file is cut or
overwritten on disk, and the memory limit is the kernel's (RLIMIT_AS) under a real onnxruntime.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy.ndimage import uniform_filter

from s2o_qgis_plugin.engine import cli as cli_module
from s2o_qgis_plugin.engine import raster_io
from s2o_qgis_plugin.engine.errors import Interrupted, OutputError
from s2o_qgis_plugin.engine.signals import termination_raises
from tests.engine.fixtures import (
    UTM_TRANSFORM,
    assert_left,
    earlier_output,
    long_run_inputs,
    make_model,
    sar_db,
    small_tmpfs,
    temporaries,
    wait_until_writing,
    write_raster,
    write_sar,
)

EXE = Path(sys.executable).parent / "s2o-translate"
ERR = "s2o-translate: error: "


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("m") / "m.onnx")


def cli(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env, OMP_NUM_THREADS="1")
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env, **kwargs)


def error_line(r) -> str:
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(ERR), r.stderr
    return last[len(ERR):]








# -- 1. storage faults: a real file system that fills up -------------------------------------------
@pytest.mark.parametrize("when", ["at close", "mid-write"])
def test_full_disk_is_named_and_keeps_the_earlier_output(tmp_path, model, when):
    """'at close': GDAL keeps every block in its cache and writes them when the file is closed,
    where a full disk used to pass unnoticed (exit 0, a corrupt file over the good one).
    'mid-write': a 1 MB GDAL cache flushes blocks while tiles are written."""
    src = write_sar(tmp_path / "s1.tif", 800, 800, descriptions=["VV", "VH"])
    env = dict(os.environ, GDAL_CACHEMAX="1") if when == "mid-write" else None
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        dst = disk / "optical.tif"
        earlier = earlier_output(dst, model)
        r = cli(src, dst, "--model", model, "--tile", 128, "--device", "cpu", env=env)
        assert r.returncode == 4, r.stderr
        message = error_line(r)
        assert message.startswith(f"no space left on {disk}: the output needs up to 3.7 MB")
        assert f"the earlier {dst} is unchanged" in message
        assert "warning: only" in r.stderr  # said before the work, too
        assert_left(dst, earlier)
        with rasterio.open(dst) as ds:  # still the good earlier result
            assert ds.count == 3 and ds.read().min() >= 1


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_an_output_that_does_not_read_back_is_not_kept(tmp_path, model):
    """The read-back check itself: a finished file damaged before the rename (as storage that
    lost the last writes leaves it) never replaces the destination."""
    dst = tmp_path / "optical.tif"
    earlier = earlier_output(dst, model)
    shape = raster_io.RasterShape(300, 200, 3, "uint16")
    with pytest.raises(OutputError) as err, raster_io.atomic_output(dst, shape) as tmp:
        with rasterio.open(tmp, "w", driver="GTiff", width=300, height=200, count=3,
                           dtype="uint16", tiled=True, blockxsize=64, blockysize=64,
                           compress="deflate") as out:
            out.write(np.random.default_rng(0).integers(1, 3000, (3, 200, 300), np.uint16))
        os.truncate(tmp, os.path.getsize(tmp) * 2 // 3)
    assert "the finished output failed its read-back check" in str(err.value)
    assert f"the earlier {dst} is unchanged" in str(err.value)
    assert_left(dst, earlier)


# -- 2. never write over an input ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["vrt", "nested vrt", "symlink", "hard link", "dst symlink"])
def test_an_output_that_is_a_file_the_input_reads_is_refused(tmp_path, model, kind):
    sar = write_sar(tmp_path / "s1.tif", 40, 40, descriptions=["VV", "VH"])
    original = sar.read_bytes()
    src, dst = tmp_path / "input.vrt", sar
    if kind in ("vrt", "nested vrt"):
        subprocess.run(["gdalbuildvrt", "-q", str(src), str(sar)], check=True)
        if kind == "nested vrt":
            outer = tmp_path / "outer.vrt"
            subprocess.run(["gdalbuildvrt", "-q", str(outer), str(src)], check=True)
            src = outer
    elif kind == "symlink":
        src = tmp_path / "link.tif"
        src.symlink_to(sar)
    elif kind == "hard link":
        dst = tmp_path / "same_file.tif"
        os.link(sar, dst)
        src = sar
    else:  # the output is a symbolic link to the input
        src, dst = sar, tmp_path / "out.tif"
        dst.symlink_to(sar)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = cli(src, dst, "--model", model, "--tile", 32)
    assert r.returncode == 4, r.stderr
    message = error_line(r)
    if kind in ("vrt", "nested vrt"):
        assert f"the output {dst} is a file that the input {src} reads" in message
        assert "writing it would destroy the input; choose another file" in message
    else:
        assert message.startswith("the output is the input raster itself")
    assert sar.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# -- 3. complex (SLC) data -------------------------------------------------------------------------
@pytest.mark.parametrize("gdal_type", ["CFloat32", "CInt16"])
def test_complex_input_is_refused_for_what_it_is(tmp_path, model, gdal_type):
    db = sar_db(40, 40)
    amplitude = np.sqrt(10 ** (db / 10)) * 100
    phase = np.random.default_rng(0).uniform(-np.pi, np.pi, db.shape)
    slc = write_raster(tmp_path / "slc.tif", (amplitude * np.exp(1j * phase)).astype("complex64"))
    if gdal_type == "CInt16":
        src = tmp_path / "slc_ci16.tif"
        subprocess.run(["gdal_translate", "-q", "-ot", "CInt16", str(slc), str(src)], check=True)
    else:
        src = slc
    dst = tmp_path / "optical.tif"
    earlier = earlier_output(dst, model)
    r = cli(src, dst, "--model", model, "--tile", 32)
    assert r.returncode == 2, r.stderr
    message = error_line(r)
    assert f"band 1 of {src} holds complex values ({gdal_type}), as a Sentinel-1 SLC" in message
    assert "make one from the SLC first" in message
    assert_left(dst, earlier)


# -- 4. a declared input scale the values contradict -----------------------------------------------
@pytest.mark.parametrize("actual,declared", [("amplitude", "linear"), ("linear", "amplitude")])
def test_linear_and_amplitude_mixed_up_are_refused(tmp_path, model, actual, declared):
    src = write_sar(tmp_path / f"{actual}.tif", 120, 120, scale=actual)
    dst = tmp_path / "optical.tif"
    earlier = earlier_output(dst, model)
    r = cli(src, dst, "--model", model, "--tile", 32, "--input-scale", declared)
    assert r.returncode == 2, r.stderr
    message = error_line(r)
    assert message.startswith(f"the input is declared {declared} (input scale option) but its "
                              f"values look like {actual}: speckle contrast")
    assert message.endswith(f"set input scale to {actual}")
    assert_left(dst, earlier)
    ok = cli(src, dst, "--model", model, "--tile", 32, "--input-scale", actual)
    assert ok.returncode == 0, ok.stderr


def test_speckle_filtered_linear_declared_linear_is_kept(tmp_path, model):
    """Low speckle contrast alone (a filtered linear raster) is no contradiction: the level
    (median) says linear."""
    lin = np.stack([uniform_filter(b, 5) for b in sar_db(120, 120)])
    src = write_raster(tmp_path / "filtered.tif", (10 ** (lin / 10)).astype("float32"))
    r = cli(src, tmp_path / "out.tif", "--model", model, "--tile", 32, "--input-scale", "linear")
    assert r.returncode == 0, r.stderr
    assert temporaries(tmp_path) == []


# -- 5. GDAL scale and offset ----------------------------------------------------------------------
def test_gdal_scale_and_offset_are_applied_before_the_scale_check(tmp_path, model):
    db = np.round(sar_db(96, 96) * 100)
    stored = tmp_path / "db_x100.tif"
    with rasterio.open(stored, "w", driver="GTiff", width=96, height=96, count=2, dtype="int16",
                       crs="EPSG:32633", transform=UTM_TRANSFORM) as out:
        out.write(db.astype("int16"))
        out.scales, out.offsets = (0.01, 0.01), (0.0, 0.0)
    plain = write_raster(tmp_path / "db.tif", (db / 100).astype("float32"))
    r = cli(stored, tmp_path / "a.tif", "--model", model, "--tile", 32, "--input-scale", "db")
    assert r.returncode == 0, r.stderr
    assert "band 1: values = stored x 0.01 + 0 (the raster's scale and offset, applied)" in r.stderr
    assert cli(plain, tmp_path / "b.tif", "--model", model, "--tile", 32).returncode == 0
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        diff = np.abs(a.read().astype(int) - b.read())
    assert diff.max() <= 1  # float32 rounding of 0.01 x stored vs stored / 100
    assert temporaries(tmp_path) == []


# -- 6. damaged inputs: exit 2 with the file and GDAL's words, never "please report it" ------------
def _corrupt_block(path: Path, row: int, col: int) -> None:
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1))
        size = int(ds.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1))
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * size)


@pytest.mark.parametrize("damage", ["truncated", "broken vrt", "corrupt block"])
def test_damaged_input_is_reported_as_such(tmp_path, model, damage):
    dst = tmp_path / "optical.tif"
    earlier = earlier_output(dst, model)
    if damage == "truncated":
        full = write_sar(tmp_path / "full.tif", 300, 300, descriptions=["VV", "VH"])
        src = tmp_path / "cut.tif"
        src.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
        expected = "it is cut short: "  # GDAL 3.6: a block beyond the end; 3.10: the directory
    elif damage == "broken vrt":
        source = write_sar(tmp_path / "source.tif", 60, 60, descriptions=["VV", "VH"])
        src = tmp_path / "mosaic.vrt"
        subprocess.run(["gdalbuildvrt", "-q", str(src), str(source)], check=True)
        source.unlink()
        expected = "No such file or directory"
    else:  # a block in none of the windows sampled for the input scale: found mid-run
        src = tmp_path / "blocks.tif"
        with rasterio.open(src, "w", driver="GTiff", width=600, height=600, count=2,
                           dtype="float32", crs="EPSG:32633", transform=UTM_TRANSFORM,
                           tiled=True, blockxsize=16, blockysize=16, compress="deflate") as out:
            out.write(sar_db(600, 600))
            out.descriptions = ("VV", "VH")
        _corrupt_block(src, 8, 8)  # rows and columns 128..143
        expected = "IReadBlock failed"
    r = cli(src, dst, "--model", model, "--tile", 64)
    assert r.returncode == 2, r.stderr
    message = error_line(r)
    assert message.startswith(f"cannot read the input {src}: ")
    assert expected in message
    assert "The file is damaged or incomplete" in message and "please report" not in message
    if damage == "truncated":  # refused on opening, before any work
        assert "input scale:" not in r.stderr
    if damage == "corrupt block":  # found while translating
        assert "tile(s) of 64 px" in r.stderr
    assert_left(dst, earlier)


# -- 7. killed runs --------------------------------------------------------------------------------
def _default_termination_signals() -> None:
    """In the child: SIGTERM and SIGHUP with their default action, as in a terminal, even when
    the tests themselves run with one ignored (under nohup SIGHUP is ignored and inherited, and
    the CLI rightly leaves an ignored signal alone)."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


def _start_long_run(tmp_path, dst):
    big, src = long_run_inputs(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([str(EXE), str(src), str(dst), "--model", str(big), "--tile", "128",
                             "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=_default_termination_signals)
    wait_until_writing(proc, dst.parent, 120)
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_are_handled_like_ctrl_c(tmp_path, model, sig, code):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / "optical.tif"
    earlier = earlier_output(dst, model)
    proc = _start_long_run(tmp_path, dst)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == f"{ERR}interrupted by {sig.name}: nothing was " \
                                           f"written to {dst}"
    assert_left(dst, earlier)


@pytest.mark.slow
def test_sigkill_leaves_a_temporary_file_that_the_next_run_removes(tmp_path, model):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / "optical.tif"
    earlier = earlier_output(dst, model)
    proc = _start_long_run(tmp_path, dst)
    proc.kill()
    proc.communicate(timeout=60)
    (orphan,) = temporaries(out_dir)  # SIGKILL cannot be caught: this is what it leaves
    src = write_sar(tmp_path / "small.tif", 40, 40, descriptions=["VV", "VH"])
    r = cli(src, out_dir / "other.tif", "--model", model, "--tile", 32)
    assert r.returncode == 0, r.stderr
    assert f"s2o-translate: removed {orphan}: a temporary file left by an earlier run that was " \
           "killed" in r.stderr
    assert_left(dst, earlier)
    assert sorted(p.name for p in out_dir.iterdir()) == ["optical.tif", "other.tif"]


def test_only_temporaries_of_dead_runs_on_this_host_are_removed(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        host = raster_io._host_tag()
        other = "ffffff" if host != "ffffff" else "000000"
        names = {
            f".a.tif.s2o-tmp-{host}-{dead.pid}-0a1b2c.tif": False,  # dead run, this host
            f".a.tif.s2o-tmp-{host}-{dead.pid}-0a1b2c.tif.aux.xml": False,
            f".b.tif.s2o-tmp-{dead.pid}.tif": False,  # named by an earlier version
            f".c.tif.s2o-tmp-{host}-{alive.pid}-0a1b2c.tif": True,  # a live run
            f".d.tif.s2o-tmp-{other}-{dead.pid}-0a1b2c.tif": True,  # another computer's run
            f".e.tif.s2o-tmp-{host}-{os.getpid()}-0a1b2c.tif": True,  # this process
            "notes.s2o-tmp-1.txt": True,  # not ours
        }
        for name in names:
            (tmp_path / name).write_bytes(b"x")
        removed = raster_io.remove_stale_temporaries(tmp_path)
        assert sorted(p.name for p in removed) == sorted(n for n, keep in names.items()
                                                         if not keep)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, keep in names.items()
                                                                    if keep)
    finally:
        alive.kill()
        alive.wait()


def test_termination_signals_raise_only_where_the_default_would_kill():
    with pytest.raises(Interrupted) as info, termination_raises():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises at the next bytecode
    assert info.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored
    seen = []
    previous = signal.signal(signal.SIGHUP, lambda s, f: seen.append(s))
    try:
        with termination_raises():  # a host's own handler is left alone
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.1)
        assert seen == [signal.SIGHUP]
    finally:
        signal.signal(signal.SIGHUP, previous)
    installed = []

    def in_a_worker_thread():
        with termination_raises():
            installed.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=in_a_worker_thread)
    thread.start()
    thread.join()
    assert installed == [signal.SIG_DFL]  # nothing set from a worker thread


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_failure_after_a_swallowed_signal_is_reported_as_the_interruption(
        tmp_path, monkeypatch, capsys, sig, code):
    """A signal striking inside a C extension's callback can be lost there ("Exception ignored
    in ..."), and the run then fails for what looks like another reason: s2o-translate reports
    the interruption (exit 128 + N), not a bug."""
    def struck(*args, **kwargs):
        try:
            os.kill(os.getpid(), sig)
            time.sleep(5)  # the handler raises at the next bytecode
        except KeyboardInterrupt:  # swallowed, as rasterio's in_dtype_range callback does
            pass
        raise ValueError("Given nodata value, 0.0, is beyond the valid range of its data type")

    monkeypatch.setattr("s2o_qgis_plugin.engine.translate.translate_raster", struck)
    dst = tmp_path / "optical.tif"
    assert cli_module.main([str(tmp_path / "s1.tif"), str(dst), "--quiet"]) == code
    how = "" if sig == signal.SIGINT else f" by {sig.name}"
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"{ERR}interrupted{how}: nothing was written to {dst}"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("strike_at", ["first batch", "last progress call"])
def test_a_run_that_goes_on_after_a_swallowed_signal_still_stops(tmp_path, model, strike_at,
                                                                 sig):
    """A SIGTERM (or Ctrl-C) whose exception is lost in a callback, with no failure following it:
    the run would finish and replace the destination after all (and ignore any further SIGTERM).
    It stops at the next batch instead, or, struck after the last batch, before the rename."""
    from s2o_qgis_plugin.engine.translate import translate_raster

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / "optical.tif"
    earlier = earlier_output(dst, model)
    src = write_sar(tmp_path / "s1.tif", 96, 96, descriptions=["VV", "VH"])
    calls = []

    def progress(percent):
        calls.append(percent)
        if (strike_at == "first batch" and len(calls) == 2) or percent == 100.0:
            try:
                os.kill(os.getpid(), sig)
                time.sleep(5)  # the handler raises at the next bytecode
            except KeyboardInterrupt:  # lost, as in a C extension's callback
                pass

    with pytest.raises(KeyboardInterrupt) as info, termination_raises():
        translate_raster(src, dst, model, tile_size=32, batch_size=1, device="cpu", threads=1,
                         progress=progress)
    if sig == signal.SIGTERM:
        assert isinstance(info.value, Interrupted) and info.value.signum == signal.SIGTERM
    else:  # as Python raises Ctrl-C
        assert type(info.value) is KeyboardInterrupt
    if strike_at == "first batch":  # stopped at the next batch of several
        assert len(calls) == 2 and 0.0 < calls[1] < 50.0
    else:  # every tile done, the rename refused
        assert calls[-1] == 100.0
    assert_left(dst, earlier)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- 8. GDAL virtual paths -------------------------------------------------------------------------
def test_vsizip_input_is_translated(tmp_path, model):
    src = write_sar(tmp_path / "s1.tif", 48, 64, descriptions=["VV", "VH"])
    archive = tmp_path / "scene.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(src, "inside/s1.tif")
    dst = tmp_path / "optical.tif"
    r = cli(f"/vsizip/{archive}/inside/s1.tif", dst, "--model", model, "--tile", 32)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == f"output: {dst}"
    with rasterio.open(dst) as out, rasterio.open(src) as ref:
        assert (out.crs, out.transform, out.shape) == (ref.crs, ref.transform, ref.shape)
    assert temporaries(tmp_path) == []
    missing = cli(f"/vsizip/{archive}/nope.tif", dst, "--model", model)
    assert missing.returncode == 2 and "is not a raster GDAL can read" in error_line(missing)


# -- 9. smaller ones -------------------------------------------------------------------------------
def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))


@pytest.mark.slow
def test_a_tile_too_large_for_the_memory_asks_for_a_smaller_one(tmp_path, model):
    db = np.full((2, 4096, 4096), -10.0, np.float32)
    db[1] -= 6
    src = tmp_path / "s1.tif"
    with rasterio.open(src, "w", driver="GTiff", width=4096, height=4096, count=2,
                       dtype="float32", crs="EPSG:32633", transform=UTM_TRANSFORM, tiled=True,
                       compress="deflate") as out:
        out.write(db)
        out.descriptions = ("VV_dB", "VH_dB")
    small = write_sar(tmp_path / "small.tif", 64, 64, descriptions=["VV", "VH"])
    control = cli(small, tmp_path / "control.tif", "--model", model, "--tile", 64,
                  "--threads", 1, preexec_fn=_limit_memory)
    if control.returncode != 0:
        pytest.skip(f"1 GiB of address space is too little for this build to start: "
                    f"{control.stderr.strip()[-200:]}")
    dst = tmp_path / "optical.tif"
    earlier = earlier_output(dst, model)
    r = cli(src, dst, "--model", model, "--tile", 4096, "--threads", 1, preexec_fn=_limit_memory)
    assert r.returncode == 2, r.stderr
    assert error_line(r) == ("tile 4096 too large for the memory available: try 2048 "
                             "(tile size option)")
    assert_left(dst, earlier)


@pytest.mark.parametrize("length,code", [(251, 0), (300, 4)])
def test_long_output_names(tmp_path, model, length, code):
    src = write_sar(tmp_path / "s1.tif", 40, 40, descriptions=["VV", "VH"])
    dst = tmp_path / ("é" * ((length - 4) // 2) + "x" * ((length - 4) % 2) + ".tif")
    assert len(os.fsencode(dst.name)) == length
    r = cli(src, dst, "--model", model, "--tile", 32)
    assert r.returncode == code, r.stderr
    if code == 0:
        with rasterio.open(dst) as out:
            assert out.count == 3
    else:
        assert error_line(r).startswith(
            f"the output file name is {length} bytes long and this file system allows 255")
    assert temporaries(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["s1.tif"] + ([dst.name] if code == 0 else []))


def test_temporary_names_stay_within_the_name_limit(tmp_path):
    for name in ("a.tif", "x" * 251 + ".tif", "é" * 125 + "x.tif"):
        tmp = raster_io.temporary_path(tmp_path / name)
        assert len(os.fsencode(tmp.name + ".aux.xml")) <= 255
        assert tmp.name.startswith("." + name[:3]) and raster_io.TMP_MARK in tmp.name
        tmp.write_bytes(b"")  # a legal name, valid UTF-8
        Path(f"{tmp}.aux.xml").write_bytes(b"")
    assert len(temporaries(tmp_path)) == 6


@pytest.mark.parametrize("value,warning", [
    (0.0, "warning: every value sampled across the input is 0: an empty raster, or 0 marks "
          "missing data without being declared as nodata"),
    (-12.0, "warning: every value sampled across the input is -12: a constant raster gives one "
            "flat colour"),
])
def test_constant_and_all_zero_inputs_are_warned_about(tmp_path, model, value, warning):
    src = write_raster(tmp_path / "flat.tif", np.full((2, 48, 48), value, np.float32))
    r = cli(src, tmp_path / "out.tif", "--model", model, "--tile", 32)
    assert r.returncode == 0, r.stderr
    assert f"s2o-translate: {warning}" in r.stderr
    assert temporaries(tmp_path) == []


def test_unexpected_failures_say_so_with_exit_1(tmp_path, monkeypatch, capsys):
    """A bug (not a fault of the input, the model or the output) keeps its own status and
    words, distinct from the damaged inputs above."""
    from s2o_qgis_plugin.engine import cli as cli_module

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("s2o_qgis_plugin.engine.translate.translate_raster", broken)
    assert cli_module.main([str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), "--quiet"]) == 1
    assert capsys.readouterr().err == (f"{ERR}unexpected failure (ZeroDivisionError: division "
                                       "by zero); please report it with this message\n")
