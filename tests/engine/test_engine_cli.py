"""s2o-translate as a script sees it: exit codes, stdout/stderr, and a real Sentinel-1 patch."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from s2o_qgis_plugin.engine.model import VV_MODEL_PATH
from tests.engine.fixtures import make_model, write_raster, write_sar

ROOT = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).parent / "s2o-translate"
DATA = ROOT / "tests" / "data" / "bigearthnet"
REAL = sorted((DATA / "s1").glob("*.tif"))
ERR = "s2o-translate: error: "


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("m") / "m.onnx")


def cli(*args, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env, **kwargs)


def test_help_documents_the_exit_codes():
    r = cli("--help")
    assert r.returncode == 0
    for line in ("0    the output was written", "2    bad input", "3    the model cannot",
                 "4    the output cannot", "130  interrupted", "--input-scale",
                 "the embedded model that fits the input's bands", "--bands runs them anyway"):
        assert line in r.stdout


def test_success_prints_provider_and_output(tmp_path, model):
    src = write_sar(tmp_path / "s1.tif", 40, 56, descriptions=["VV", "VH"])
    dst = tmp_path / "out.tif"
    r = cli(src, dst, "--model", model, "--tile", 32, "--device", "cpu", "--threads", 1)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "provider: CPUExecutionProvider", f"model: {model}",
        "product: Sentinel-2 L2A-like (surface reflectance)", f"output: {dst}",
    ]
    assert "s2o-translate: input scale: db (auto: values" in r.stderr
    assert "100/100%" in r.stderr  # the progress bar reached the end
    with rasterio.open(dst) as s:
        assert s.count == 3 and (s.width, s.height) == (56, 40)


def test_quiet_prints_nothing(tmp_path, model):
    src = write_sar(tmp_path / "s1.tif", 20, 20, descriptions=["VV", "VH"])
    r = cli(src, tmp_path / "out.tif", "--model", model, "--tile", 32, "--quiet")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


@pytest.mark.parametrize("case,code,message", [
    ("missing", 2, "input raster not found"),
    ("bands", 2, "argument --bands: bands must be band numbers separated by commas"),
    ("tile", 2, "tile size 50 is not a multiple of the model's size multiple 4: use 48"),
    ("scale", 2, "argument --input-scale: invalid choice: 'decibel'"),
    ("contradiction", 2, "declared dB (input scale option)"),
    ("foreign", 3, "has no s2o metadata"),
    ("nomodel", 3, "model file not found"),
    ("folder", 4, "the output folder does not exist"),
    ("same", 4, "the output is the input raster itself"),
])
def test_errors_exit_codes_and_messages(tmp_path, model, case, code, message):
    src = write_sar(tmp_path / "s1.tif", 20, 20, descriptions=["VV", "VH"])
    lin = write_sar(tmp_path / "lin.tif", 20, 20, scale="linear")
    dst = tmp_path / "out.tif"
    args = {
        "missing": [tmp_path / "none.tif", dst, "--model", model],
        "bands": [src, dst, "--model", model, "--bands", "a,b"],
        "tile": [src, dst, "--model", model, "--tile", 50],
        "scale": [src, dst, "--input-scale", "decibel"],
        "contradiction": [lin, dst, "--model", model, "--input-scale", "db"],
        "foreign": [src, dst, "--model", make_model(tmp_path / "f.onnx", with_metadata=False)],
        "nomodel": [src, dst, "--model", tmp_path / "nope.onnx"],
        "folder": [src, tmp_path / "no" / "out.tif", "--model", model],
        "same": [src, src, "--model", model],
    }[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    r = cli(*args)
    assert r.returncode == code, r.stderr
    assert r.stdout == ""
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(ERR) and message in last, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.slow
def test_ctrl_c_exits_130_and_leaves_nothing(tmp_path):
    model = make_model(tmp_path / "big.onnx", features=32)
    db = np.full((2, 2048, 2048), -10.0, np.float32)
    db[1] -= 6
    src = write_raster(tmp_path / "s1.tif", db, descriptions=["VV_dB", "VH_dB"])
    dst = tmp_path / "out.tif"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([str(EXE), str(src), str(dst), "--model", str(model), "--tile", "128",
                             "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.monotonic() + 60
    while not any(".s2o-tmp-" in p.name for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "never started writing"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == f"{ERR}interrupted: nothing was written to {dst}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "s1.tif"]


@pytest.mark.skipif(not REAL, reason="tests/data/bigearthnet not present")
@pytest.mark.parametrize("folder,scale", [("s1", "db"), ("s1_linear", "linear")])
def test_real_bigearthnet_patch(tmp_path, model, folder, scale):
    src = sorted((DATA / folder).glob("*.tif"))[0]
    dst = tmp_path / "optical.tif"
    r = cli(src, dst, "--model", model, "--tile", 64, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert f"input scale: {scale} (auto: values" in r.stderr
    assert "bands: VV <- 1 (VV), VH <- 2 (VH)" in r.stderr
    with rasterio.open(src) as a, rasterio.open(dst) as b:
        assert (b.crs, b.transform, b.shape) == (a.crs, a.transform, a.shape)
        assert b.crs.to_epsg() // 100 == 326  # UTM north
        out = b.read()
    assert out.shape == (3, 120, 120) and out.min() >= 1 and out.std() > 10


HELDOUT = ROOT / "tests" / "data" / "heldout"


@pytest.mark.skipif(not VV_MODEL_PATH.is_file(), reason="the embedded VV-only model is not "
                    "shipped yet (that such input is then refused is tested in test_engine_model)")
def test_one_band_vv_scene_uses_the_embedded_vv_model(tmp_path):
    """A real Sentinel-1 scene the models never saw (Hefei, SEN12MS), VV alone in dB with a
    nodata block: the embedded VV-only model translates it, georeferenced, nodata carried."""
    from s2o_qgis_plugin.engine.raster_io import OUTPUT_NODATA
    from s2o_qgis_plugin.engine.translate import TAG_MODEL_FILE

    with rasterio.open(HELDOUT / "hefei_s1.tif") as s:
        vv, profile = s.read(1), s.profile
    vv[100:140, 30:90] = -9999.0
    profile.update(count=1, nodata=-9999.0)
    src = tmp_path / "hefei_vv.tif"
    with rasterio.open(src, "w", **profile) as d:
        d.write(vv, 1)
        d.set_band_description(1, "VV")
    dst = tmp_path / "hefei_optical.tif"
    r = cli(src, dst, "--tile", 128, "--threads", 1, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert f"model: {VV_MODEL_PATH}" in r.stdout.splitlines()
    with rasterio.open(dst) as out, rasterio.open(src) as inp:
        assert (out.count, out.crs, out.transform) == (3, inp.crs, inp.transform)
        assert out.tags()[TAG_MODEL_FILE] == VV_MODEL_PATH.name
        rgb = out.read()
    assert out.nodata == OUTPUT_NODATA
    assert (rgb[:, 100:140, 30:90] == OUTPUT_NODATA).all()
    valid = np.ones(vv.shape, bool)
    valid[100:140, 30:90] = False
    assert (rgb[:, valid] != OUTPUT_NODATA).mean() > 0.99  # a picture wherever the radar saw
    assert float(rgb[:, valid].std()) > 20  # not one flat colour
