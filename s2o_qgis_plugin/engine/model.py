"""Load an exported S2O generator (ONNX + s2o metadata), pick execution providers, run batches.

Providers: ``device="auto"`` asks onnxruntime for CUDA when the installed onnxruntime lists it,
and keeps whatever the session really got (``session.get_providers()``): onnxruntime-gpu on a
machine without a usable GPU falls back to CPU. The failed CUDA load is logged by onnxruntime at
error level, so session creation with CUDA runs with its logger at FATAL only, and the outcome
is cached for the process: once CUDA failed, later loads go straight to CPU. ``device="cuda"``
refuses (ModelError) instead of falling back; ``device="cpu"`` never tries CUDA.

onnxruntime is imported on first use, so importing the engine stays cheap (QGIS start-up).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import InputError, ModelError, whole_number, words
from .metadata import DUAL_POL, VV_ONLY, MetadataError, ModelMetadata, read_from_onnx_session

# The models embedded in the plugin (one home for their paths): the default one takes VV+VH, the
# other VV alone. translate_raster picks the one that fits the input's bands (embedded_model_path).
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL_PATH = MODELS_DIR / "s2o_npde_default.onnx"  # VV+VH (metadata.DUAL_POL)
VV_MODEL_PATH = MODELS_DIR / "s2o_npde_vv.onnx"  # VV only (metadata.VV_ONLY), when installed
DEVICES = ("auto", "cuda", "cpu")
DEFAULT_DEVICE = DEVICES[0]  # "auto": CUDA when onnxruntime has it, else the CPU
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
OUTPUT_CHANNELS = 3
ORT_LOG_WARNING, ORT_LOG_ERROR, ORT_LOG_FATAL = 2, 3, 4

# how onnxruntime says that an allocation failed (CPU arena, std::bad_alloc, CUDA, cuDNN, cuBLAS)
_ALLOCATION_FAILED = re.compile(
    r"failed to allocate|bad_alloc|out of memory|ALLOC_FAILED|MemoryError", re.IGNORECASE)

_cuda_works: bool | None = None  # outcome of the first session that asked for CUDA


def default_model_path() -> Path:
    """The model embedded in the plugin, or ModelError when it is not installed."""
    if not DEFAULT_MODEL_PATH.is_file():
        raise ModelError(
            f"the default model is missing ({DEFAULT_MODEL_PATH}): reinstall the s2o plugin, "
            f"or choose a model file ({words().option('model')})"
        )
    return DEFAULT_MODEL_PATH


def embedded_model_path(input_bands=DUAL_POL, why: str = "") -> Path:
    """The embedded model for ``input_bands`` (metadata.DUAL_POL or VV_ONLY): DEFAULT_MODEL_PATH
    or VV_MODEL_PATH; ModelError when that model is not installed (``why``, the reason the
    input was found to be VV only, goes into the message)."""
    layout = tuple(input_bands)
    if layout == DUAL_POL:
        return default_model_path()
    if layout != VV_ONLY:
        raise ModelError(f"no embedded model takes {'+'.join(layout)}: choose a model file")
    if not VV_MODEL_PATH.is_file():
        reason = f" ({why})" if why else ""
        raise ModelError(
            f"the input is VV only{reason} and the embedded VV-only model is not installed "
            f"({VV_MODEL_PATH}): choose a VV-only s2o model file ({words().option('model')}), "
            "or use a "
            "raster with VV and VH bands for the embedded VV+VH model"
        )
    return VV_MODEL_PATH


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ModelError(
            "onnxruntime is not installed: `python -m pip install onnxruntime-gpu` "
            "(or onnxruntime for CPU only)"
        ) from exc
    return onnxruntime


def check_device(device: str) -> str:
    """``device`` when it is one of DEVICES, else InputError listing them."""
    if device not in DEVICES:
        raise InputError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    return device


def _requested_providers(ort, device: str) -> list[str]:
    check_device(device)
    has_cuda = CUDA in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise ModelError(
            f"{words().label('device')} '{words().choice('device', 'cuda')}' was requested but "
            "this onnxruntime has no CUDA support "
            f"(providers: {', '.join(ort.get_available_providers())}); install onnxruntime-gpu, "
            f"or {words().set_to('device', 'auto', 'cpu')}"
        )
    if device == "cpu" or not has_cuda or (device == "auto" and _cuda_works is False):
        return [CPU]
    return [CUDA, CPU]


def _session(ort, path: Path, providers: list[str], threads: int | None):
    global _cuda_works
    options = ort.SessionOptions()
    options.log_severity_level = ORT_LOG_ERROR
    if threads is not None:
        options.intra_op_num_threads = threads
    tries_cuda = CUDA in providers
    if tries_cuda:  # a failed CUDA load is logged at error level: hush it, we report instead
        ort.set_default_logger_severity(ORT_LOG_FATAL)
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... classes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path} is not a model onnxruntime can load (corrupt or not ONNX?): {first}"
        ) from exc
    finally:
        if tries_cuda:
            ort.set_default_logger_severity(ORT_LOG_WARNING)
    if tries_cuda:
        _cuda_works = CUDA in session.get_providers()
    return session


class S2OModel:
    """An S2O generator ready to run. Attributes: ``path``, ``meta`` (ModelMetadata),
    ``providers`` (what the session really got), ``provider`` (the first of them),
    ``session`` (the onnxruntime InferenceSession), ``input_name``, ``output_name``."""

    def __init__(self, path: Path, session, meta: ModelMetadata):
        self.path = path
        self.session = session
        self.meta = meta
        self.providers: list[str] = list(session.get_providers())
        self.provider: str = self.providers[0]
        self.input_name = meta.input_name
        self.output_name = meta.output_name

    def __repr__(self) -> str:
        return f"S2OModel({self.meta.name} {self.meta.version}, {self.path}, {self.provider})"

    @classmethod
    def load(cls, path=None, device: str = DEFAULT_DEVICE, threads: int | None = None) -> S2OModel:
        """Open ``path`` (None: the default model) on ``device`` ("auto", "cuda" or "cpu") with
        ``threads`` intra-op threads (None: onnxruntime's default, one per physical core).
        Raises ModelError (or InputError for a bad device/threads value) with the reason."""
        path = default_model_path() if path is None else Path(path)
        if threads is not None:
            threads = whole_number(threads, "threads")
        if not path.exists():
            raise ModelError(f"model file not found: {path}")
        if not path.is_file():
            raise ModelError(f"model path is not a file: {path}")
        ort = _ort()
        providers = _requested_providers(ort, device)
        session = _session(ort, path, providers, None if threads is None else int(threads))
        if device == "cuda" and CUDA not in session.get_providers():
            raise ModelError(
                f"{words().label('device')} '{words().choice('device', 'cuda')}' was requested "
                "but onnxruntime could not start CUDA here (no NVIDIA GPU, or CUDA/cuDNN "
                f"libraries missing): {words().set_to('device', 'auto', 'cpu')}"
            )
        try:
            meta = read_from_onnx_session(session)
        except MetadataError as exc:
            raise ModelError(f"{path}: {exc}") from exc
        model = cls(path, session, meta)
        model._check_signature()
        return model

    def _check_signature(self) -> None:
        """The graph's input and output agree with the metadata (names, rank, channels)."""
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        if self.input_name not in inputs:
            raise ModelError(
                f"{self.path}: the metadata names input '{self.input_name}' but the graph's "
                f"inputs are {sorted(inputs)}: re-export the model"
            )
        if self.output_name not in outputs:
            raise ModelError(
                f"{self.path}: the metadata names output '{self.output_name}' but the graph's "
                f"outputs are {sorted(outputs)}: re-export the model"
            )
        shape = inputs[self.input_name].shape
        if len(shape) != 4:
            raise ModelError(
                f"{self.path}: input '{self.input_name}' has shape {shape}; an s2o model takes "
                "a 4-D batch (N, bands, height, width)"
            )
        if isinstance(shape[1], int) and shape[1] != self.meta.n_input_bands:
            raise ModelError(
                f"{self.path}: the graph takes {shape[1]} input band(s) but its metadata "
                f"declares {self.meta.n_input_bands} ({', '.join(self.meta.input_bands)})"
            )
        out = outputs[self.output_name].shape
        if len(out) != 4 or (isinstance(out[1], int) and out[1] != OUTPUT_CHANNELS):
            raise ModelError(
                f"{self.path}: output '{self.output_name}' has shape {out}; an s2o model "
                f"returns (N, {OUTPUT_CHANNELS}, height, width) for Red, Green, Blue"
            )

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Network input (N, C, H, W) float32 in [-1, 1] -> network output (N, 3, H, W) float32.
        H and W must be multiples of ``meta.size_multiple`` (the tiler guarantees it). A batch
        too large for the memory available raises MemoryError (the caller knows the tile)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        n_in, m = self.meta.n_input_bands, self.meta.size_multiple
        if batch.ndim != 4 or batch.shape[1] != n_in:
            raise InputError(
                f"model input must be (N, {n_in}, H, W) for bands "
                f"{', '.join(self.meta.input_bands)}, got {batch.shape}"
            )
        if batch.shape[2] % m or batch.shape[3] % m:
            raise InputError(f"model input height and width must be multiples of {m}, "
                             f"got {batch.shape[2:]}")
        try:
            (y,) = self.session.run([self.output_name], {self.input_name: batch})
        except Exception as exc:
            if _ALLOCATION_FAILED.search(str(exc)):  # the batch is too large, not the model bad
                first = str(exc).strip().splitlines()[0]
                raise MemoryError(f"{self.path}: onnxruntime ran out of memory: {first}") from exc
            raise ModelError(f"{self.path}: inference failed: {exc}") from exc
        expected = (batch.shape[0], OUTPUT_CHANNELS) + batch.shape[2:]
        if y.shape != expected:
            raise ModelError(f"{self.path}: the model returned shape {y.shape}, expected "
                             f"{expected}: re-export it")
        return y.astype(np.float32, copy=False)
