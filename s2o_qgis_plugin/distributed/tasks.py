"""What runs on a Dask worker: the model cache of the worker process and the task that translates
one scene. No dask import here: these are plain functions that Dask ships to its workers.

Model cache (:data:`MODELS`): a worker process opens each model file once, on its first task,
and every later task of that process reuses the onnxruntime session (sessions are safe to run
from several threads). A model is known by its resolved path, size and modification time (a
model file replaced on disk is opened anew), device and thread count. ``MODELS.loads`` counts
the loads per model, so anyone can check the "once" (the tests ask every worker).

Scene task (:func:`translate_scene`): the engine's translate_raster, unchanged (atomic output,
seam-free tiles, every check), with the cache as its model loader; what it returns is a
:class:`SceneReport`, never an exception: a scene that fails says why and the others go on. An
existing output that is complete, on the input's grid and made by the model this run uses is
kept (:func:`output_problem`), so running the same job again resumes it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import rasterio
from rasterio.errors import RasterioError

from ..engine import raster_io
from ..engine.errors import S2OError, unexpected_failure
from ..engine.model import DEFAULT_DEVICE, S2OModel, default_model_path
from ..engine.radiometry import DEFAULT_INPUT_SCALE
from ..engine.tiling import DEFAULT_BATCH, DEFAULT_TILE
from ..engine.translate import (
    TAG_MODEL,
    TAG_MODEL_FILE,
    embedded_model,
    output_tags,
    translate_raster,
)

WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"


class ModelCache:
    """The models this process has opened (module docstring); thread-safe."""

    def __init__(self):
        self._models: dict[tuple, S2OModel] = {}
        self._lock = threading.Lock()
        self.loads: Counter = Counter()  # key -> how many times it was opened (1, or a bug)

    @staticmethod
    def key(path, device: str, threads: int | None) -> tuple | None:
        """What tells two models apart; None when the file cannot be stat'ed (the engine's
        loader then says what is wrong with it)."""
        path = Path(path)
        try:
            st = path.stat()
        except OSError:
            return None
        return (str(path.resolve()), st.st_size, st.st_mtime_ns, device, threads)

    def load(self, path=None, device: str = DEFAULT_DEVICE, threads: int | None = None) -> S2OModel:
        """The model at ``path`` (None: the default embedded model), opened once per process;
        the same signature as S2OModel.load, so it serves as translate_raster's loader."""
        path = default_model_path() if path is None else Path(path)
        key = self.key(path, device, threads)
        if key is None:
            return S2OModel.load(path, device, threads)  # raises ModelError with the reason
        with self._lock:
            if key not in self._models:
                self._models[key] = S2OModel.load(path, device, threads)
                self.loads[key] += 1
            return self._models[key]


MODELS = ModelCache()


def warm(model=None, device: str = DEFAULT_DEVICE, threads: int | None = None) -> str:
    """Open ``model`` (None: the default embedded model) in this process's cache, as a scene
    task with these options would (``threads`` None: the worker's); for ``client.run`` before
    a timed job. Returns the provider onnxruntime gave."""
    threads = threads if threads is not None else worker_threads()
    return MODELS.load(model, device, threads).provider


def model_loads() -> dict[str, int]:
    """How many times this process opened each model file (path -> loads; device and threads
    apart, the largest count): 1 each when the cache does its job. For ``client.run``."""
    loads: dict[str, int] = {}
    for key, n in MODELS.loads.items():
        loads[key[0]] = max(loads.get(key[0], 0), n)
    return loads


@dataclass(frozen=True)
class SceneOptions:
    """The translate_raster options of a job, the same for every scene."""

    model: str | None = None  # None: the embedded model that fits each scene's bands
    bands: tuple[int, ...] | None = None
    input_scale: str = DEFAULT_INPUT_SCALE
    tile_size: int = DEFAULT_TILE
    batch_size: int = DEFAULT_BATCH
    device: str = DEFAULT_DEVICE
    threads: int | None = None  # None: the worker's thread count
    overwrite: bool = False  # True: translate again even when a complete output exists


@dataclass
class SceneReport:
    """What became of one scene (status WRITTEN, SKIPPED or FAILED) and where it ran."""

    src: str
    dst: str
    status: str
    reason: str = ""  # why it failed, why it was skipped, or what was replaced
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the worker process's CPU time meanwhile (this task's alone when
    # the worker has one thread, as s2o-translate-many's LocalCluster does)
    width: int = 0
    height: int = 0
    worker: str = ""  # the Dask worker's address
    host: str = ""
    pid: int = 0
    provider: str = ""
    model: str = ""
    log: list[str] = field(default_factory=list)

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def worker_threads() -> int | None:
    """The thread count of the Dask worker running this task; None outside a worker."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return ""


def scene_model(ds, options: SceneOptions, threads: int | None) -> S2OModel:
    """The model the engine runs on the open raster ``ds`` with these options (cached)."""
    if options.model is not None:
        return MODELS.load(options.model, options.device, threads)
    model, _ = embedded_model(ds.descriptions, ds.count, options.bands, options.device, threads,
                              MODELS.load)
    return model


def output_problem(src, dst, options: SceneOptions, threads: int | None = None) -> str | None:
    """Why the existing ``dst`` is not a finished translation of ``src`` by the model this
    run uses, in words; None when it is (same model name, version and file, the input's size
    and georeference, 3 uint16 bands, every block present and readable)."""
    with raster_io.open_raster(src) as ds:
        try:
            with rasterio.open(dst) as out:
                tags, grid = out.tags(), (out.crs, out.transform)
        except (RasterioError, OSError) as exc:
            return f"it does not open ({str(exc).strip() or type(exc).__name__})"
        if TAG_MODEL not in tags:
            return f"it is not an s2o translation (no {TAG_MODEL} tag)"
        expected = output_tags(scene_model(ds, options, threads))
        made, wanted = ((tags.get(TAG_MODEL), tags.get(TAG_MODEL_FILE)),
                        (expected[TAG_MODEL], expected[TAG_MODEL_FILE]))
        if made != wanted:
            return f"it was made by {made[0]} ({made[1]}), this run uses {wanted[0]} ({wanted[1]})"
        if grid != (ds.crs, ds.transform):
            return "its georeference differs from the input's"
        problem = raster_io.read_back_problem(
            dst, raster_io.RasterShape(ds.width, ds.height, 3, "uint16"))
        return None if problem is None else f"it is incomplete or damaged ({problem})"


def translate_scene(src: str, dst: str, options: SceneOptions) -> SceneReport:
    """Translate ``src`` into ``dst`` on this worker (module docstring). Never raises for a
    scene's own failure: the report says FAILED and why."""
    started, cpu = time.perf_counter(), time.process_time()
    report = SceneReport(src=str(src), dst=str(dst), status=FAILED, worker=_worker_address(),
                         host=socket.gethostname(), pid=os.getpid())
    threads = options.threads if options.threads is not None else worker_threads()
    try:
        if not options.overwrite and os.path.exists(dst):
            problem = output_problem(src, dst, options, threads)
            if problem is None:
                with raster_io.open_raster(src) as ds:
                    report.width, report.height = ds.width, ds.height
                report.status, report.reason = SKIPPED, "complete, made by the same model"
                return report
            report.reason = f"replaced {Path(dst).name}: {problem}"
        result = translate_raster(
            src, dst, options.model, bands=options.bands, input_scale=options.input_scale,
            tile_size=options.tile_size, batch_size=options.batch_size, device=options.device,
            threads=threads, loader=MODELS.load,
        )
        report.status, report.width, report.height = WRITTEN, result.width, result.height
        report.provider, report.model, report.log = (result.provider, result.model_name,
                                                     result.log)
    except S2OError as exc:
        report.reason = str(exc)
    except Exception as exc:  # a bug: the scene fails with the type named, the job goes on
        report.reason = unexpected_failure(exc)
    finally:
        report.seconds = time.perf_counter() - started
        report.cpu_seconds = time.process_time() - cpu
    return report
