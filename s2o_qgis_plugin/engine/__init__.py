"""The s2o inference engine: numpy + onnxruntime + rasterio, no QGIS, no torch.

Public API (imported lazily on first access, so ``import s2o_qgis_plugin.engine.metadata`` from
the exporter or the training code does not pull in rasterio or onnxruntime):

    translate_raster, TranslateResult      translate.py   SAR raster -> RGB GeoTIFF
    despeckle_raster, DespeckleResult,     despeckle.py   Perona-Malik despeckling
    perona_malik                           diffusion.py   (the scheme, numpy only)
    S2OModel, default_model_path,          model.py       ONNX model + metadata + providers;
    DEFAULT_MODEL_PATH, VV_MODEL_PATH,                    the embedded models (VV+VH, VV only)
    embedded_model_path
    choose_bands, decide_input_scale,      radiometry.py  band choice, input scale
    ScaleDecision, INPUT_SCALES
    S2OError, InputError, ModelError,      errors.py      what callers catch
    OutputError, Cancelled
"""

import importlib

_EXPORTS = {
    "translate_raster": "translate", "TranslateResult": "translate",
    "despeckle_raster": "despeckle", "DespeckleResult": "despeckle", "perona_malik": "diffusion",
    "S2OModel": "model", "default_model_path": "model", "DEFAULT_MODEL_PATH": "model",
    "VV_MODEL_PATH": "model", "embedded_model_path": "model",
    "choose_bands": "radiometry", "decide_input_scale": "radiometry",
    "ScaleDecision": "radiometry", "INPUT_SCALES": "radiometry",
    "S2OError": "errors", "InputError": "errors", "ModelError": "errors",
    "OutputError": "errors", "Cancelled": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
