"""Export the SAR -> optical generator of a training checkpoint to a self-describing ONNX file.

    python export/export_onnx.py CKPT OUT.onnx [--fp16] [--padding zeros|reflect]
                                 [--s2-level L2A|L1C] [--real-input S1.tif] [--metrics M.json]

1. load the checkpoint's generator (eval mode) and its model spec (training/checkpoint.py:
   variant, bands, width, dB and DN ranges: all the export reads of it); the generator's
   forward(x) is the optical output alone, without the PMD side output;
2. export with dynamic batch, height and width (opset 18), fixed PDE kernels as constants.
   By default (``--padding zeros``) the graph is the zero-padded copy of the generator
   (training/nets/layers.zero_padded): the padding lives inside each Conv instead of a separate
   reflection Pad operator, which lets onnxruntime keep its blocked-layout convolutions chained
   (see docs/PERFORMANCE.md). It computes the trained network exactly wherever a pixel is at least
   the receptive-field radius from the input's border, which the engine's halo guarantees;
   ``--padding reflect`` writes the trained network as it is;
3. write the s2o metadata through the contract module the engine reads
   (s2o_qgis_plugin/engine/metadata.py): bands and dB ranges, output scaling, size multiple,
   halo = the measured receptive-field radius, padding, the Sentinel-2 level the training
   targets were (``--s2-level``, default L2A: the BigEarthNet patches), training data, licence,
   metrics;
4. onnx.checker, then a parity check: onnxruntime (loaded through the engine, so the file also
   passes the engine's validation) against the trained torch generator (reflection padding) on
   random input and, when given, a real Sentinel-1 GeoTIFF, each padded by reflection with the
   engine's halo and compared on the pixels the engine keeps (all pixels for --padding
   reflect). fp32 must agree within 1e-4 (max abs difference); fp16 within 2e-2.
Prints the file's size, its metadata and the parity figures; exits 1 when parity fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from s2o_qgis_plugin.engine.atomic import replacing  # noqa: E402
from s2o_qgis_plugin.engine.metadata import (  # noqa: E402
    DEFAULT_S2_LEVEL,
    PADDINGS,
    S2_LEVELS,
    SENTINEL_CREDIT,
    ModelMetadata,
    write_to_onnx_model,
)
from training.checkpoint import ModelSpec, load_generator  # noqa: E402
from training.nets import receptive_field_radius, zero_padded  # noqa: E402

OPSET = 18
TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}


@dataclass
class ExportReport:
    path: Path
    size_bytes: int
    meta: ModelMetadata
    parity: dict  # name -> max abs difference
    tolerance: float
    providers: list

    @property
    def ok(self) -> bool:
        return all(v <= self.tolerance for v in self.parity.values())

    def text(self) -> str:
        lines = [
            f"exported {self.path} ({self.size_bytes / 1e6:.2f} MB)",
            f"metadata: {self.meta.to_json()}",
            f"onnxruntime providers: {self.providers}",
        ]
        for name, diff in self.parity.items():
            lines.append(
                f"parity {name}: max |onnx - torch| = {diff:.2e} (tolerance {self.tolerance:g})"
            )
        lines.append("parity OK" if self.ok else "PARITY FAILED")
        return "\n".join(lines)


def build_metadata(
    spec: ModelSpec,
    generator: nn.Module,
    *,
    name,
    version,
    training_data,
    licence,
    credit,
    metrics,
    padding="reflect",
    s2_level=DEFAULT_S2_LEVEL,
):
    bands = list(spec.bands)
    return ModelMetadata(
        name=name,
        version=version,
        architecture=spec.variant,
        input_bands=bands,
        input_db_range=[list(r) for r in spec.db_ranges],
        output_value_range=[-1.0, 1.0],
        output_dn_range=list(spec.optical_dn_range),
        size_multiple=int(generator.size_multiple),
        halo=int(receptive_field_radius(generator)),
        padding=padding,
        s2_level=s2_level,
        training_data=training_data,
        licence=licence,
        credit=credit,
        metrics=metrics,
        description=(
            f"S2O-NPDE ({spec.variant}) generator, width {spec.width}, SAR ({'+'.join(bands)}, dB) "
            f"to Sentinel-2 {s2_level}-like true colour (reflectance x 10000)"
        ),
    ).validate()


def export_graph(module: nn.Module, in_channels: int, path: Path, meta: ModelMetadata) -> None:
    """torch -> ONNX with dynamic batch/height/width (TorchScript exporter: it keeps the fixed
    PDE kernels as initialisers and handles the strided convolutions' symbolic sizes plainly)."""
    dummy = torch.zeros(1, in_channels, 64, 64)
    torch.onnx.export(
        module,
        (dummy,),
        str(path),
        input_names=[meta.input_name],
        output_names=[meta.output_name],
        dynamic_axes={
            meta.input_name: {0: "batch", 2: "height", 3: "width"},
            meta.output_name: {0: "batch", 2: "height", 3: "width"},
        },
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )


def write_onnx(
    graph: nn.Module, in_channels: int, out: Path, meta: ModelMetadata, fp16: bool
) -> None:
    """Export ``graph``, optionally convert it to fp16, embed ``meta``, check the model and
    write it to ``out`` atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        raw = Path(tmp) / "raw.onnx"
        export_graph(graph, in_channels, raw, meta)
        proto = onnx.load(str(raw))
    if fp16:
        proto = to_fp16(proto)
    write_to_onnx_model(proto, meta)
    proto.producer_name = "s2o export_onnx"
    onnx.checker.check_model(proto, full_check=True)
    with replacing(out) as tmp_out:
        onnx.save(proto, str(tmp_out))


def to_fp16(model_proto: onnx.ModelProto) -> onnx.ModelProto:
    """Weights and activations in float16, float32 input/output (onnxruntime's converter)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    converted = OnnxModel(convert_float_to_float16(model_proto, keep_io_types=True))
    converted.topological_sort()  # the converter appends its input casts at the graph's end
    return converted.model


def with_halo(x: np.ndarray, meta: ModelMetadata) -> tuple[np.ndarray, int]:
    """``x`` (N, C, H, W) padded by reflection with the engine's halo (a multiple of the size
    multiple, at least ``meta.halo``), and that halo: the engine's view of a whole image."""
    from s2o_qgis_plugin.engine.tiling import read_halo, reflect_index

    h = read_halo(meta.halo, meta.size_multiple)
    rows = reflect_index(np.arange(-h, x.shape[2] + h), x.shape[2])
    cols = reflect_index(np.arange(-h, x.shape[3] + h), x.shape[3])
    return x[:, :, rows][:, :, :, cols], h


def real_input(path: Path, meta: ModelMetadata) -> np.ndarray:
    """A real Sentinel-1 dB GeoTIFF -> network input as the engine makes it (bands chosen by
    description, nodata and masks to NODATA_INPUT), cut to the size multiple."""
    from s2o_qgis_plugin.engine import raster_io
    from s2o_qgis_plugin.engine.radiometry import NODATA_INPUT, choose_bands, sar_to_network

    with raster_io.open_raster(path) as src:
        bands = choose_bands(src.descriptions, src.count, None, meta.input_bands)
        m = meta.size_multiple
        h, w = src.height // m * m, src.width // m * m
        data, valid = raster_io.read_window(src, bands, 0, 0, h, w)
    x = sar_to_network(data, "db", meta.input_db_range)
    x[:, ~valid] = NODATA_INPUT
    return x[None]


def parity(module: nn.Module, model_path: Path, inputs: dict) -> tuple[dict, list]:
    """Max |onnx - torch| per input; ``module`` is the trained (reflection-padded) generator.
    Each input is given the engine's halo and compared on the pixels the engine keeps."""
    from s2o_qgis_plugin.engine.model import S2OModel

    engine_model = S2OModel.load(model_path, device="cpu")
    diffs = {}
    for name, x in inputs.items():
        padded, h = with_halo(x, engine_model.meta)
        with torch.no_grad():
            expected = module(torch.from_numpy(padded)).numpy()
        got = engine_model.run(padded)
        diffs[name] = float(np.abs(got - expected)[..., h:-h, h:-h].max())
        if engine_model.meta.padding == "reflect":  # the same graph: equal on the border too
            diffs[f"{name}, border included"] = float(np.abs(got - expected).max())
    return diffs, engine_model.providers


def export(
    checkpoint: Path,
    out: Path,
    *,
    fp16: bool = False,
    padding: str = "zeros",
    s2_level: str = DEFAULT_S2_LEVEL,
    real: Path | None = None,
    name: str = "s2o-npde",
    version: str = "0.1.0",
    training_data: str = "",
    licence: str = "",
    credit: str = SENTINEL_CREDIT,
    metrics: dict | None = None,
) -> ExportReport:
    try:
        generator, spec = load_generator(checkpoint)
    except Exception as exc:  # torch.load's unpickling errors vary; name the file and the cause
        raise ValueError(f"{checkpoint} is not an s2o training checkpoint: {exc}") from exc
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {list(PADDINGS)}, got {padding!r}")
    if s2_level not in S2_LEVELS:
        raise ValueError(f"s2_level must be one of {list(S2_LEVELS)}, got {s2_level!r}")
    module = generator.eval()  # forward(x) is the optical output alone (no PMD side output)
    graph = module if padding == "reflect" else zero_padded(generator).eval()
    meta = build_metadata(
        spec,
        generator,
        name=name,
        version=version,
        training_data=training_data,
        licence=licence,
        credit=credit,
        metrics=metrics or {},
        padding=padding,
        s2_level=s2_level,
    )
    write_onnx(graph, generator.in_channels, out, meta, fp16)

    rng = np.random.default_rng(0)
    c = generator.in_channels
    inputs = {
        f"random 2x{c}x64x96": rng.uniform(-1, 1, (2, c, 64, 96)).astype(np.float32),
        f"random 1x{c}x36x52": rng.uniform(-1, 1, (1, c, 36, 52)).astype(np.float32),
    }
    if real is not None:
        inputs[f"real {real.name}"] = real_input(real, meta)
    diffs, providers = parity(module, out, inputs)
    return ExportReport(
        out, out.stat().st_size, meta, diffs, TOLERANCE["fp16" if fp16 else "fp32"], providers
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--fp16", action="store_true", help="float16 weights (float32 I/O)")
    parser.add_argument(
        "--padding",
        choices=PADDINGS,
        default="zeros",
        help="zeros (default): the faster graph, exact wherever the engine keeps pixels; "
        "reflect: the trained network as it is, border band included",
    )
    parser.add_argument(
        "--s2-level",
        choices=list(S2_LEVELS),
        default=DEFAULT_S2_LEVEL,
        help="the Sentinel-2 product the training targets were, which the model imitates: "
        + "; ".join(f"{k}: {v}" for k, v in S2_LEVELS.items())
        + f" (default {DEFAULT_S2_LEVEL})",
    )
    parser.add_argument(
        "--real-input", type=Path, help="a Sentinel-1 dB GeoTIFF for the parity check"
    )
    parser.add_argument("--name", default="s2o-npde")
    parser.add_argument("--version", default="0.1.0")
    parser.add_argument("--training-data", default="")
    parser.add_argument("--licence", default="")
    parser.add_argument("--credit", default=SENTINEL_CREDIT)
    parser.add_argument("--metrics", type=Path, help="JSON file of metrics to embed")
    args = parser.parse_args(argv)
    metrics = json.loads(args.metrics.read_text()) if args.metrics else {}
    report = export(
        args.checkpoint,
        args.out,
        fp16=args.fp16,
        padding=args.padding,
        s2_level=args.s2_level,
        real=args.real_input,
        name=args.name,
        version=args.version,
        training_data=args.training_data,
        licence=args.licence,
        credit=args.credit,
        metrics=metrics,
    )
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
