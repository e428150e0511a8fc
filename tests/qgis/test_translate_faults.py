"""Nothing lost, nothing overwritten, nothing misread, through the Processing algorithm
s2o:translate (issue 14): the failure classes of tests/engine/test_engine_faults.py, each asserting
the QgsProcessingException (never a raw traceback) and its message, and that the destination
holds its earlier good file or nothing, with no temporary file beside it.

In QGIS's own process (processing.run) where that is safe; in a real qgis_process child (the
plugin zip installed in a fresh profile) for what must happen to a whole process: signals and a
kernel memory limit (RLIMIT_AS).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import zipfile

import numpy as np
import pytest
import rasterio
from plugin_fixtures import installed_profile
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer

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

LINEAR = 1  # INPUT_SCALE: Auto, Linear, dB, Amplitude


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(make_model(tmp_path_factory.mktemp("model") / "tiny.onnx"))


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    """qgis_process's environment with the plugin zip installed in a fresh profile."""
    return installed_profile(tmp_path_factory.mktemp("profile"))


def translate(params):
    import processing

    feedback = QgsProcessingFeedback(True)
    out = processing.run("s2o:translate", params, feedback=feedback)
    return out, feedback.textLog()


def refused(params) -> str:
    with pytest.raises(QgsProcessingException) as err:
        translate(params)
    return str(err.value)








def qgis_process(params: dict, env: dict, **kwargs) -> subprocess.Popen:
    from scripts.qgis_env import qgis_process_cmd

    args = [f"--{k}={v}" for k, v in params.items()]
    return subprocess.Popen(qgis_process_cmd("run", "s2o:translate", *args), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


# -- 1. a full disk -------------------------------------------------------------------------------
def test_full_disk_is_named_and_keeps_the_earlier_output(s2o, model, tmp_path):
    src = write_sar(tmp_path / "s1.tif", 800, 800, descriptions=["VV", "VH"])
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        dst = disk / "optical.tif"
        earlier = earlier_output(dst, model)
        message = refused({"INPUT": str(src), "MODEL": model, "TILE_SIZE": 128,
                           "OUTPUT": str(dst)})
        assert message.startswith(f"no space left on {disk}: the output needs up to 3.7 MB")
        assert f"the earlier {dst} is unchanged" in message
        assert_left(dst, earlier)


# -- 2. never write over an input ------------------------------------------------------------------
def test_output_that_a_vrt_layer_reads_is_refused(s2o, model, tmp_path):
    sar = write_sar(tmp_path / "s1.tif", 40, 40, descriptions=["VV", "VH"])
    original = sar.read_bytes()
    vrt = tmp_path / "mosaic.vrt"
    subprocess.run(["gdalbuildvrt", "-q", str(vrt), str(sar)], check=True)
    message = refused({"INPUT": str(vrt), "MODEL": model, "OUTPUT": str(sar)})
    assert message.startswith(f"the output {sar} is a file that the input {vrt} reads")
    assert "writing it would destroy the input" in message
    assert sar.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mosaic.vrt", "s1.tif"]


# -- 3. complex data ------------------------------------------------------------------------------
def test_complex_layer_is_refused(s2o, model, tmp_path):
    amplitude = np.sqrt(10 ** (sar_db(40, 40) / 10)) * 100
    src = write_raster(tmp_path / "slc.tif", (amplitude * np.exp(0.5j)).astype("complex64"))
    dst = tmp_path / "optical.tif"
    earlier = earlier_output(dst, model)
    message = refused({"INPUT": str(src), "MODEL": model, "OUTPUT": str(dst)})
    assert message.startswith(f"band 1 of {src} holds complex values (CFloat32), as a "
                              "Sentinel-1 SLC product does")
    assert_left(dst, earlier)


# -- 4. a declared scale the values contradict ---------------------------------------------------
def test_amplitude_declared_linear_is_refused(s2o, model, tmp_path):
    src = write_sar(tmp_path / "amplitude.tif", 120, 120, scale="amplitude",
                    descriptions=["VV", "VH"])
    dst = tmp_path / "optical.tif"
    earlier = earlier_output(dst, model)
    message = refused({"INPUT": str(src), "MODEL": model, "INPUT_SCALE": LINEAR,
                       "TILE_SIZE": 64, "OUTPUT": str(dst)})
    assert "the input is declared linear" in message
    assert "but its values look like amplitude: speckle contrast" in message
    assert_left(dst, earlier)


# -- 5. GDAL scale and offset ----------------------------------------------------------------------
def test_gdal_scale_is_applied(s2o, model, tmp_path):
    stored = tmp_path / "db_x100.tif"
    with rasterio.open(stored, "w", driver="GTiff", width=96, height=96, count=2, dtype="int16",
                       crs="EPSG:32633", transform=UTM_TRANSFORM) as out:
        out.write(np.round(sar_db(96, 96) * 100).astype("int16"))
        out.scales = (0.01, 0.01)
        out.descriptions = ("VV", "VH")
    dst = tmp_path / "optical.tif"
    out, log = translate({"INPUT": str(stored), "MODEL": model, "TILE_SIZE": 64,
                          "OUTPUT": str(dst)})
    assert out["OUTPUT"] == str(dst)
    assert "band 1: values = stored x 0.01 + 0 (the raster's scale and offset, applied)" in log
    assert "input scale: db (auto: values have negatives" in log
    assert temporaries(tmp_path) == []


# -- 6. damaged inputs -----------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "corrupt block"])
def test_damaged_layer_is_reported_as_such(s2o, model, tmp_path, damage):
    dst = tmp_path / "optical.tif"
    earlier = earlier_output(dst, model)
    if damage == "truncated":
        full = write_sar(tmp_path / "full.tif", 300, 300, descriptions=["VV", "VH"])
        src = tmp_path / "cut.tif"
        src.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
        expected = "it is cut short"
    else:
        src = tmp_path / "blocks.tif"
        with rasterio.open(src, "w", driver="GTiff", width=600, height=600, count=2,
                           dtype="float32", crs="EPSG:32633", transform=UTM_TRANSFORM,
                           tiled=True, blockxsize=16, blockysize=16, compress="deflate") as out:
            out.write(sar_db(600, 600))
            out.descriptions = ("VV", "VH")
        with rasterio.open(src) as ds:  # a block no scale sample reads: found mid-run
            offset = int(ds.get_tag_item("BLOCK_OFFSET_8_8", "TIFF", bidx=1))
            size = int(ds.get_tag_item("BLOCK_SIZE_8_8", "TIFF", bidx=1))
        with open(src, "r+b") as f:
            f.seek(offset)
            f.write(b"\xff" * size)
        expected = "IReadBlock failed"
    message = refused({"INPUT": str(src), "MODEL": model, "TILE_SIZE": 64, "OUTPUT": str(dst)})
    message = message.splitlines()[-1]  # QGIS >= 3.40 refuses a file cut short in its checks
    assert message.startswith(f"cannot read the input {src}: ")
    assert expected in message and "The file is damaged or incomplete" in message
    assert_left(dst, earlier)


def test_a_bug_is_reported_as_one_not_as_a_traceback(s2o, model, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("s2o_qgis_plugin.engine.translate.translate_raster", broken)
    src = write_sar(tmp_path / "s1.tif", 40, 40, descriptions=["VV", "VH"])
    message = refused({"INPUT": str(src), "MODEL": model, "OUTPUT": str(tmp_path / "o.tif")})
    assert message == ("unexpected failure (ZeroDivisionError: division by zero); please report "
                       "it with this message")


# -- 7. killed runs (a real qgis_process) ----------------------------------------------------------
def _long_run(tmp_path, dst, profile):
    big, src = long_run_inputs(tmp_path)
    proc = qgis_process({"INPUT": src, "MODEL": big, "TILE_SIZE": 128, "OUTPUT": dst}, profile)
    wait_until_writing(proc, dst.parent, 180)
    return proc


@pytest.mark.slow
def test_sigterm_to_qgis_process_leaves_the_earlier_output(model, tmp_path, profile):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / "optical.tif"
    earlier = earlier_output(dst, model)
    proc = _long_run(tmp_path, dst, profile)
    proc.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # still translating: the SIGTERM was lost
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"qgis_process went on for 120 s after SIGTERM:\n{stdout}{stderr}")
    assert proc.returncode == 1, stdout + stderr
    assert f"interrupted by SIGTERM: nothing was written to {dst}" in stdout + stderr
    assert_left(dst, earlier)


@pytest.mark.slow
def test_sigkill_leftover_is_removed_by_the_next_run(s2o, model, tmp_path, profile):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / "optical.tif"
    earlier = earlier_output(dst, model)
    proc = _long_run(tmp_path, dst, profile)
    proc.kill()
    proc.communicate(timeout=60)
    (orphan,) = temporaries(out_dir)
    src = write_sar(tmp_path / "small.tif", 40, 40, descriptions=["VV", "VH"])
    out, log = translate({"INPUT": str(src), "MODEL": model, "TILE_SIZE": 64,
                          "OUTPUT": str(out_dir / "other.tif")})
    assert f"removed {orphan}: a temporary file left by an earlier run that was killed" in log
    assert_left(dst, earlier)
    assert sorted(p.name for p in out_dir.iterdir()) == ["optical.tif", "other.tif"]


# -- 8. GDAL virtual paths ----------------------------------------------------------------------
def test_vsizip_layer_is_translated(s2o, model, tmp_path):
    src = write_sar(tmp_path / "s1.tif", 48, 64, descriptions=["VV", "VH"])
    archive = tmp_path / "scene.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(src, "inside/s1.tif")
    layer = QgsRasterLayer(f"/vsizip/{archive}/inside/s1.tif", "scene in a zip", "gdal")
    assert layer.isValid()  # QGIS opens it: so must the algorithm
    dst = tmp_path / "optical.tif"
    out, log = translate({"INPUT": layer, "MODEL": model, "TILE_SIZE": 64, "OUTPUT": str(dst)})
    assert out["OUTPUT"] == str(dst) and "input scale: db" in log
    with rasterio.open(dst) as result, rasterio.open(src) as ref:
        assert (result.crs, result.transform, result.shape) == (ref.crs, ref.transform, ref.shape)
    assert temporaries(tmp_path) == []


# -- 9. smaller ones -------------------------------------------------------------------------------
ADDRESS_SPACE = int(2.5 * 2**30)  # enough for qgis_process and a small tile, not a 4096 one


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def test_tile_too_large_for_the_memory_in_qgis_process(model, tmp_path, profile):
    db = np.full((2, 4096, 4096), -10.0, np.float32) + np.linspace(0, 1, 4096, dtype=np.float32)
    db[1] -= 6
    src = tmp_path / "s1.tif"
    with rasterio.open(src, "w", driver="GTiff", width=4096, height=4096, count=2,
                       dtype="float32", crs="EPSG:32633", transform=UTM_TRANSFORM, tiled=True,
                       compress="deflate") as out:
        out.write(db)
        out.descriptions = ("VV_dB", "VH_dB")
    small = write_sar(tmp_path / "small.tif", 64, 64, descriptions=["VV", "VH"])
    control = qgis_process({"INPUT": small, "MODEL": model, "TILE_SIZE": 64,
                            "OUTPUT": tmp_path / "control.tif"}, profile,
                           preexec_fn=_limit_memory)
    stdout, stderr = control.communicate(timeout=300)
    if control.returncode != 0:
        pytest.skip(f"{ADDRESS_SPACE / 2**30:g} GiB of address space is too little for "
                    f"qgis_process here: {(stdout + stderr).strip()[-200:]}")
    dst = tmp_path / "optical.tif"
    earlier = earlier_output(dst, model)
    proc = qgis_process({"INPUT": src, "MODEL": model, "TILE_SIZE": 4096, "OUTPUT": dst},
                        profile, preexec_fn=_limit_memory)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stdout + stderr
    assert "tile 4096 too large for the memory available: try 2048" in stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert_left(dst, earlier)


def test_long_output_name(s2o, model, tmp_path):
    src = write_sar(tmp_path / "s1.tif", 40, 40, descriptions=["VV", "VH"])
    dst = tmp_path / ("é" * 123 + "x.tif")
    assert len(os.fsencode(dst.name)) == 251
    out, _ = translate({"INPUT": str(src), "MODEL": model, "TILE_SIZE": 64, "OUTPUT": str(dst)})
    assert out["OUTPUT"] == str(dst)
    with rasterio.open(dst) as result:
        assert result.count == 3
    assert temporaries(tmp_path) == []


def test_all_zero_layer_is_warned_about(s2o, model, tmp_path):
    src = write_raster(tmp_path / "zero.tif", np.zeros((2, 48, 48), np.float32))
    dst = tmp_path / "optical.tif"
    out, log = translate({"INPUT": str(src), "MODEL": model, "TILE_SIZE": 64, "OUTPUT": str(dst)})
    assert out["OUTPUT"] == str(dst)
    assert "warning: every value sampled across the input is 0: an empty raster, or 0 marks " \
           "missing data without being declared as nodata" in log
    assert temporaries(tmp_path) == []
