"""Export: checkpoint -> ONNX with the s2o metadata, checked, and at parity with torch. The
exported models are shared by the session (tests/export/conftest.py: ``exports``)."""

import numpy as np
import onnx
import pytest

from export.export_onnx import export, main
from s2o_qgis_plugin.engine.metadata import METADATA_KEY, SCHEMA_VERSION, ModelMetadata
from s2o_qgis_plugin.engine.model import S2OModel
from tests.export.conftest import REAL_S1
from tests.export.exported_models import make_checkpoint


@pytest.mark.parametrize("bands", ["VV,VH", "VV"])
def test_export_full_model_parity_and_metadata(exports, bands):
    made = exports(bands)
    cfg, out, report = made.cfg, made.onnx, made.report
    assert report.ok, report.text()
    assert set(report.parity) >= {f"real {REAL_S1.name}"}
    assert max(report.parity.values()) <= 1e-4

    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    props = {p.key: p.value for p in proto.metadata_props}
    meta = ModelMetadata.from_json(props[METADATA_KEY])
    assert meta.input_bands == cfg.in_bands.split(",")
    assert meta.size_multiple == 4
    assert meta.halo > 20  # three residual blocks at 1/4 resolution: a wide field
    assert meta.credit == "Contains modified Copernicus Sentinel data"
    assert meta.s2_level == "L2A" and meta.schema_version == SCHEMA_VERSION == 3
    assert "Sentinel-2 L2A-like true colour" in meta.description
    # dynamic batch/height/width; one input (the fixed PDE kernels are constants, not inputs)
    (inp,) = proto.graph.input
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims[1] == len(meta.input_bands) and all(
        isinstance(d, str) for d in (dims[0], *dims[2:])
    )

    engine = S2OModel.load(out, device="cpu")
    y = engine.run(np.zeros((3, len(meta.input_bands), 20, 28), np.float32))
    assert y.shape == (3, 3, 20, 28) and np.all(np.abs(y) <= 1)


def test_export_fp16_is_smaller_and_close(exports, tmp_path, capsys):
    made = exports()
    fp16 = tmp_path / "b.onnx"
    assert main([str(made.checkpoint), str(fp16), "--fp16"]) == 0
    printed = capsys.readouterr().out
    assert "parity OK" in printed and "MB)" in printed and "tolerance 0.02" in printed
    assert fp16.stat().st_size < 0.7 * made.onnx.stat().st_size


def test_s2_level_option_is_written_and_checked(tmp_path, capsys):
    make_checkpoint(tmp_path / "ckpt.pt", variant="base")
    out = tmp_path / "l1c.onnx"
    assert main([str(tmp_path / "ckpt.pt"), str(out), "--s2-level", "L1C"]) == 0
    assert '"s2_level": "L1C"' in capsys.readouterr().out
    meta = S2OModel.load(out, device="cpu").meta  # the engine reads what the exporter wrote
    assert meta.s2_level == "L1C"
    assert meta.product == "Sentinel-2 L1C-like (top of atmosphere)"
    assert "Sentinel-2 L1C-like true colour" in meta.description
    with pytest.raises(ValueError, match=r"s2_level must be one of \['L2A', 'L1C'\], got 'L3'"):
        export(tmp_path / "ckpt.pt", tmp_path / "x.onnx", s2_level="L3")
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "ckpt.pt"), str(tmp_path / "x.onnx"), "--s2-level", "l1c"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'l1c'" in capsys.readouterr().err


def test_export_refuses_non_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not an s2o training checkpoint"):
        export(bad, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_default_graph_pads_with_zeros_inside_the_convolutions(exports):
    """The default (zeros) graph: no Pad operator left; the trained network's pixels wherever the
    engine keeps them, and a different border band (so the graph really is the zero-padded one)."""
    import torch

    from export.export_onnx import with_halo
    from training.checkpoint import load_generator

    made_zeros, made_reflect = exports(padding="zeros"), exports(padding="reflect")
    zeros, reflect = made_zeros.onnx, made_reflect.onnx
    report = made_zeros.report
    assert report.ok and report.meta.padding == "zeros"
    assert not any(k.endswith("border included") for k in report.parity)
    ops = [n.op_type for n in onnx.load(str(zeros)).graph.node]
    assert "Pad" not in ops and ops.count("Conv") == 25

    report = made_reflect.report
    assert report.ok and report.meta.padding == "reflect"
    assert max(v for k, v in report.parity.items() if k.endswith("border included")) <= 1e-4
    assert [n.op_type for n in onnx.load(str(reflect)).graph.node].count("Pad") == 25

    generator, spec = load_generator(made_zeros.checkpoint)
    assert spec.bands == ("VV", "VH") and list(spec.db_ranges) == [
        tuple(r) for r in report.meta.input_db_range
    ]
    x = np.random.default_rng(1).uniform(-1, 1, (1, 2, 40, 44)).astype(np.float32)
    padded, h = with_halo(x, report.meta)
    with torch.no_grad():
        trained = generator.eval()(torch.from_numpy(padded)).numpy()
    y_zeros = S2OModel.load(zeros, device="cpu").run(padded)
    y_reflect = S2OModel.load(reflect, device="cpu").run(padded)
    core = (..., slice(h, -h), slice(h, -h))
    assert np.abs(y_zeros - trained)[core].max() <= 1e-4
    assert np.abs(y_reflect - trained).max() <= 1e-4
    assert np.abs(y_zeros - trained).max() > 1e-2


def test_unknown_padding_is_refused(tmp_path):
    make_checkpoint(tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match=r"padding must be one of \['reflect', 'zeros'\]"):
        export(tmp_path / "ckpt.pt", tmp_path / "x.onnx", padding="edge")
    assert not (tmp_path / "x.onnx").exists()


def test_engine_output_is_the_same_with_either_padding(exports, tmp_path):
    """The claim behind the zeros default: a real Sentinel-1 GeoTIFF translated by tiles (edges
    included) gives the same DN with the zero-padded graph as with the trained graph."""
    import rasterio

    from s2o_qgis_plugin.engine.translate import translate_raster

    outputs = []
    for padding in ("zeros", "reflect"):
        model = exports(padding=padding).onnx
        dst = tmp_path / f"{padding}.tif"
        translate_raster(REAL_S1, dst, S2OModel.load(model, device="cpu"), tile_size=64)
        with rasterio.open(dst) as out:
            outputs.append(out.read().astype(int))
    assert outputs[0].shape[0] == 3 and outputs[0].std() > 10  # a varied image, not a constant
    assert np.abs(outputs[0] - outputs[1]).max() <= 1


def test_export_reads_the_model_section_not_the_config(exports, tmp_path):
    """The spec is all export needs: a checkpoint without its training config exports the same
    graph and metadata."""
    from training.checkpoint import read_checkpoint, save_checkpoint

    made = exports()
    checkpoint = read_checkpoint(made.checkpoint)
    del checkpoint["config"]
    save_checkpoint(tmp_path / "spec_only.pt", checkpoint)
    report = export(
        tmp_path / "spec_only.pt",
        tmp_path / "spec_only.onnx",
        real=REAL_S1,
        training_data="unit test",
    )
    assert report.ok and report.meta == made.report.meta
    a, b = (onnx.load(str(p)) for p in (tmp_path / "spec_only.onnx", made.onnx))
    assert a.graph.SerializeToString() == b.graph.SerializeToString()


def test_context_model_exports_with_its_wider_halo_and_tiles_exactly(tmp_path):
    """A generator with the multi-look context (training.nets.layers.ContextLooks): the halo the
    exporter measures covers the context's reach, the zero-padded graph has no Pad operator, and
    the engine's output on a real Sentinel-1 GeoTIFF is the same by small tiles as in one tile."""
    import rasterio

    from s2o_qgis_plugin.engine.translate import translate_raster

    make_checkpoint(tmp_path / "ckpt.pt", context_sigmas=(8.0, 16.0))
    make_checkpoint(tmp_path / "plain.pt")
    report = export(tmp_path / "ckpt.pt", tmp_path / "ctx.onnx", real=REAL_S1,
                    training_data="unit test")
    assert report.ok, report.text()
    plain_report = export(tmp_path / "plain.pt", tmp_path / "plain.onnx", training_data="unit")
    # the context reaches 2 x 16 px from a 4 x 4 look; the backbone's own reach adds to it
    assert (plain_report.meta.halo, report.meta.halo) == (47, 73)
    assert "Pad" not in [n.op_type for n in onnx.load(str(tmp_path / "ctx.onnx")).graph.node]
    model = S2OModel.load(tmp_path / "ctx.onnx", device="cpu")
    outputs = []
    for tile in (80, 512):
        dst = tmp_path / f"tile{tile}.tif"
        result = translate_raster(REAL_S1, dst, model, tile_size=tile)
        assert (result.tiles > 1) == (tile == 80)
        with rasterio.open(dst) as out:
            outputs.append(out.read().astype(int))
    assert outputs[0].std() > 10 and np.array_equal(outputs[0], outputs[1])
