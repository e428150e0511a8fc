"""S2OModel: loading, provider choice, validation messages, running batches."""

import numpy as np
import onnx
import pytest

from s2o_qgis_plugin.engine import metadata as md
from s2o_qgis_plugin.engine import model as model_module
from s2o_qgis_plugin.engine.errors import InputError, ModelError
from s2o_qgis_plugin.engine.model import S2OModel, default_model_path, embedded_model_path
from tests.engine.fixtures import TEST_MODEL_HALO, build_model, make_model, model_metadata


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("m") / "vvvh.onnx")


def test_load_reads_metadata_and_reports_the_real_provider(model_path):
    m = S2OModel.load(model_path, device="cpu", threads=1)
    assert m.meta.name == "s2o-test" and m.meta.input_bands == ["VV", "VH"]
    assert m.meta.halo == TEST_MODEL_HALO and m.meta.size_multiple == 4
    assert m.providers == ["CPUExecutionProvider"] and m.provider == "CPUExecutionProvider"
    assert m.path == model_path
    assert m.session.get_session_options().intra_op_num_threads == 1


def test_run_returns_three_bands_of_the_input_size(model_path):
    m = S2OModel.load(model_path, device="cpu", threads=1)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 2, 24, 36))
    y = m.run(x)  # float64 in: converted
    assert y.shape == (2, 3, 24, 36) and y.dtype == np.float32
    assert np.abs(y).max() <= 1.0 and y.std() > 0.01


def test_run_refuses_a_wrong_batch(model_path):
    m = S2OModel.load(model_path, device="cpu", threads=1)
    with pytest.raises(InputError, match=r"\(N, 2, H, W\) for bands VV, VH"):
        m.run(np.zeros((1, 1, 8, 8), np.float32))
    with pytest.raises(InputError, match="multiples of 4"):
        m.run(np.zeros((1, 2, 10, 8), np.float32))


def test_auto_falls_back_to_cpu_without_cuda_noise(model_path, monkeypatch, capfd):
    monkeypatch.setattr(model_module, "_cuda_works", None)  # probe again in this process
    m = S2OModel.load(model_path, device="auto", threads=1)
    err = capfd.readouterr().err
    if m.provider == "CUDAExecutionProvider":  # a machine with a working GPU
        assert model_module._cuda_works is True
        return
    assert m.providers == ["CPUExecutionProvider"]
    assert "CUDA" not in err and "libcu" not in err, err
    assert model_module._cuda_works in (False, None)  # None: this onnxruntime has no CUDA


def test_cuda_requested_but_unusable_is_a_clear_error(model_path):
    try:
        m = S2OModel.load(model_path, device="cuda", threads=1)
    except ModelError as exc:
        assert "device 'cuda' was requested" in str(exc)
        assert "set device to auto or cpu" in str(exc)
    else:  # a machine with a working GPU
        assert m.provider == "CUDAExecutionProvider"


@pytest.mark.parametrize("kwargs,err,msg", [
    (dict(device="gpu"), InputError, "device must be one of auto, cuda, cpu, got 'gpu'"),
    (dict(threads=0), InputError, "threads must be a positive whole number, got 0"),
    (dict(threads=1.5), InputError, "threads must be a positive whole number"),
])
def test_bad_options(model_path, kwargs, err, msg):
    with pytest.raises(err) as info:
        S2OModel.load(model_path, **kwargs)
    assert msg in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ModelError, match="model file not found: .*nope.onnx"):
        S2OModel.load(tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match="model path is not a file"):
        S2OModel.load(tmp_path)


def test_text_file_is_not_a_model(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a network\n")
    with pytest.raises(ModelError, match="is not a model onnxruntime can load"):
        S2OModel.load(path, device="cpu")


def test_truncated_onnx_is_not_a_model(tmp_path, model_path):
    data = model_path.read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="corrupt or not ONNX"):
        S2OModel.load(path, device="cpu")


def test_foreign_onnx_without_s2o_metadata(tmp_path):
    path = make_model(tmp_path / "foreign.onnx", with_metadata=False)
    with pytest.raises(ModelError) as info:
        S2OModel.load(path, device="cpu")
    assert md.NOT_S2O_HELP in str(info.value)
    assert "export/export_onnx.py" in str(info.value)


def test_graph_band_count_disagrees_with_metadata(tmp_path):
    path = make_model(tmp_path / "m.onnx", ("VV", "VH"), graph_in_channels=1)
    with pytest.raises(ModelError, match=r"takes 1 input band\(s\) but its metadata declares 2"):
        S2OModel.load(path, device="cpu")


def test_wrong_input_rank(tmp_path):
    path = make_model(tmp_path / "m.onnx", ("VV",), input_rank=3)
    with pytest.raises(ModelError, match="takes a 4-D batch"):
        S2OModel.load(path, device="cpu")


def test_output_not_three_channels(tmp_path):
    path = make_model(tmp_path / "m.onnx", ("VV",), out_channels=4)
    with pytest.raises(ModelError, match=r"returns \(N, 3, height, width\)"):
        S2OModel.load(path, device="cpu")


def test_metadata_names_an_input_the_graph_lacks(tmp_path):
    proto = build_model(("VV",))
    md.write_to_onnx_model(proto, model_metadata(("VV",), input_name="s1"))
    path = tmp_path / "m.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelError, match=r"names input 's1' but the graph's inputs are \['sar'\]"):
        S2OModel.load(path, device="cpu")


def test_single_band_model(tmp_path):
    m = S2OModel.load(make_model(tmp_path / "vv.onnx", ("VV",)), device="cpu", threads=1)
    assert m.meta.n_input_bands == 1
    assert m.run(np.zeros((1, 1, 16, 16), np.float32)).shape == (1, 3, 16, 16)


def test_default_model_path_missing_is_a_model_error(tmp_path, monkeypatch):
    monkeypatch.setattr(model_module, "DEFAULT_MODEL_PATH", tmp_path / "s2o_npde_default.onnx")
    with pytest.raises(ModelError, match="the default model is missing .*reinstall"):
        default_model_path()
    with pytest.raises(ModelError, match="the default model is missing"):
        S2OModel.load(None)


def test_embedded_model_paths(tmp_path, monkeypatch):
    assert model_module.DEFAULT_MODEL_PATH.name == "s2o_npde_default.onnx"
    assert model_module.VV_MODEL_PATH == model_module.DEFAULT_MODEL_PATH.with_name(
        "s2o_npde_vv.onnx")
    dual = make_model(tmp_path / "dual.onnx")
    monkeypatch.setattr(model_module, "DEFAULT_MODEL_PATH", dual)
    monkeypatch.setattr(model_module, "VV_MODEL_PATH", tmp_path / "s2o_npde_vv.onnx")
    assert embedded_model_path(("VV", "VH")) == embedded_model_path() == dual
    with pytest.raises(ModelError) as err:
        embedded_model_path(("VV",), "a single band, taken as VV")
    assert str(err.value) == (
        "the input is VV only (a single band, taken as VV) and the embedded VV-only model is "
        f"not installed ({tmp_path / 's2o_npde_vv.onnx'}): choose a VV-only s2o model file "
        "(model option), or use a raster with VV and VH bands for the embedded VV+VH model")
    vv = make_model(tmp_path / "s2o_npde_vv.onnx", ("VV",))
    assert embedded_model_path(("VV",)) == vv


def test_engine_package_exports_lazily():
    import subprocess
    import sys

    code = ("import sys, s2o_qgis_plugin.engine as e, s2o_qgis_plugin.engine.metadata; "
            "assert 'rasterio' not in sys.modules and 'onnxruntime' not in sys.modules; "
            "from s2o_qgis_plugin.engine import translate_raster, S2OModel, InputError; "
            "assert 'rasterio' in sys.modules and 'onnxruntime' not in sys.modules; "
            "import s2o_qgis_plugin.engine.despeckle, s2o_qgis_plugin.engine.evaluate, "
            "s2o_qgis_plugin.engine.cli, s2o_qgis_plugin.engine.memory; "
            "assert 'qgis' not in sys.modules and 'torch' not in sys.modules; "
            "print(sorted(e.__all__)[:3])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['Cancelled', 'DEFAULT_MODEL_PATH', 'DespeckleResult']"
