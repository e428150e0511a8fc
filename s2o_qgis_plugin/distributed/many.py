"""Many scenes on a Dask cluster: one task per scene, each written atomically by the engine.

    translate_many(inputs, out_dir, model=None, scheduler=None, ...) -> ManyResult

Where it runs: on ``client`` when given, else on the cluster whose scheduler listens at
``scheduler`` (``tcp://host:8786``: dask-jobqueue on HPC, dask-kubernetes, ``dask scheduler``
by hand...), else on a LocalCluster sized to this machine (:func:`cluster_size`). Workers need
this package installed and must see the inputs and the output folder under the same paths as
the client (a shared file system on a cluster).

Each scene is one task (tasks.translate_scene): the engine's translate_raster with a per-process
model cache, so each worker opens the model once. A scene that fails comes back as a report
with its reason and the others go on. An output already complete (tasks.output_problem) is kept,
so the same call after a crash or a Ctrl-C resumes the job. Larger files are scheduled first.

A worker that dies (killed, out of memory) costs the scene it was running: the scheduler runs
that task again on another worker (up to ``distributed.scheduler.allowed-failures`` deaths per
task, 3 by default, then the scene is reported failed). Its temporary file is removed by the next
engine run in that folder on the same host (raster_io.remove_stale_temporaries) and, for those
on this host, by a last sweep once the cluster is closed; the destination never holds a partial
file. Temporaries left by workers of other hosts are removed by the next run on those hosts.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import errors, raster_io
from ..engine.errors import InputError, OutputError, S2OError, whole_number
from ..engine.model import DEFAULT_DEVICE, check_device
from ..engine.radiometry import DEFAULT_INPUT_SCALE, check_scale_name
from ..engine.tiling import DEFAULT_BATCH, DEFAULT_TILE, validate_tile_size
from . import OUTPUT_SUFFIX, require
from .tasks import FAILED, SKIPPED, WRITTEN, SceneOptions, SceneReport, translate_scene

FOLDER_SUFFIXES = (".tif", ".tiff")  # the files a folder given as input contributes
WORKER_MEMORY = 2**30  # memory budget of one worker: model, three batches of windows, GDAL cache
CONNECT_TIMEOUT_S = 30


class ClusterError(S2OError):
    """The Dask cluster cannot be started or reached."""


@dataclass
class ManyResult:
    """The reports of every scene (in the order given) and how the job ran."""

    scenes: list[SceneReport]
    seconds: float
    workers: int
    threads: int  # threads of all workers together
    scheduler: str = ""
    removed_temporaries: list[Path] = field(default_factory=list)

    def _with(self, status: str) -> list[SceneReport]:
        return [s for s in self.scenes if s.status == status]

    @property
    def written(self) -> list[SceneReport]:
        return self._with(WRITTEN)

    @property
    def skipped(self) -> list[SceneReport]:
        return self._with(SKIPPED)

    @property
    def failed(self) -> list[SceneReport]:
        return self._with(FAILED)

    @property
    def megapixels_written(self) -> float:
        return sum(s.megapixels for s in self.written)

    def summary(self) -> str:
        return (f"{len(self.written)} written, {len(self.skipped)} skipped, "
                f"{len(self.failed)} failed ({len(self.scenes)} scenes, {self.workers} "
                f"worker(s), {self.seconds:.1f} s)")


# -- the scenes ----------------------------------------------------------------------------------
def output_path(src, out_dir, suffix: str = OUTPUT_SUFFIX) -> Path:
    """``out_dir/<stem of src><suffix>.tif`` (for GDAL virtual paths, the last part's stem)."""
    return Path(out_dir) / f"{Path(os.fspath(src)).stem}{suffix}.tif"


def plan_scenes(inputs: Iterable, out_dir, suffix: str = OUTPUT_SUFFIX) -> list[tuple[str, Path]]:
    """(input, output) pairs: files and GDAL paths as given (one alone, or a list), folders as
    their GeoTIFFs (FOLDER_SUFFIXES, hidden files left out, and files that are another scene's
    output, as when the output folder is an input folder). InputError when there is no input
    or when two inputs would write the same output."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    given: list[tuple[str, bool]] = []
    for item in inputs:
        name = os.fspath(item)
        if not raster_io.is_gdal_virtual(name) and Path(name).is_dir():
            found = sorted(p for p in Path(name).iterdir()
                           if p.suffix.lower() in FOLDER_SUFFIXES and not p.name.startswith(".")
                           and p.is_file())
            given += [(str(p.absolute()), True) for p in found]
        else:
            given.append((name if raster_io.is_gdal_virtual(name) else str(Path(name).absolute()),
                          False))
    seen, pairs = set(), []
    for src, from_folder in given:
        if src not in seen:
            seen.add(src)
            pairs.append((src, output_path(src, out_dir, suffix).absolute(), from_folder))
    outputs = {str(dst) for _, dst, _ in pairs}
    pairs = [(s, d) for s, d, from_folder in pairs if not (from_folder and s in outputs)]
    if not pairs:
        raise InputError("no input rasters: give files, or folders holding .tif files")
    by_output: dict[Path, str] = {}
    for src, dst in pairs:
        if dst in by_output:
            raise InputError(f"{by_output[dst]} and {src} would both be written to {dst}: "
                             "give inputs with different names, or run them separately")
        by_output[dst] = src
    return pairs


def _priority(src: str) -> int:
    """Larger files first (Dask runs higher priorities first), so the job does not end
    waiting for one large scene started last."""
    try:
        return os.path.getsize(src)
    except OSError:
        return 0


# -- the cluster ---------------------------------------------------------------------------------
def cluster_size(n_workers: int | None = None, threads_per_worker: int | None = None,
                 cpus: int | None = None, memory: int | None = None) -> tuple[int, int]:
    """(workers, threads per worker) of the default LocalCluster: one thread per worker (a
    model runs most efficiently on one thread per core, and processes share nothing), as many
    workers as CPUs this process may use, at most one per WORKER_MEMORY of RAM."""
    threads = whole_number(threads_per_worker if threads_per_worker is not None else 1,
                           "threads per worker")
    if n_workers is not None:
        return whole_number(n_workers, "workers"), threads
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if memory is None:
        import psutil  # a dependency of distributed

        memory = psutil.virtual_memory().total
    return max(1, min(cpus // threads, memory // WORKER_MEMORY)), threads


@contextlib.contextmanager
def connect(scheduler: str | None = None, client=None, n_workers: int | None = None,
            threads_per_worker: int | None = None, timeout: float = CONNECT_TIMEOUT_S):
    """A distributed Client: ``client`` as it is, one connected to ``scheduler``, or one on a
    new LocalCluster (:func:`cluster_size`) that is closed when the block ends. ClusterError
    when the scheduler cannot be reached or the cluster cannot start."""
    if client is not None:
        yield client
        return
    require()
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            remote = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        with remote:
            yield remote
        return
    workers, threads = cluster_size(n_workers, threads_per_worker)
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                               dashboard_address=":0")
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise ClusterError(f"cannot start a local Dask cluster of {workers} worker(s): "
                           f"{exc}") from exc
    with cluster, Client(cluster) as local:
        yield local


def _workers(client) -> tuple[int, int]:
    info = client.scheduler_info()["workers"]
    return len(info), sum(w.get("nthreads", 1) for w in info.values())


# -- the job -------------------------------------------------------------------------------------
def check_options(options: SceneOptions) -> SceneOptions:
    """Refuse bad options before any task runs (the same checks as translate_raster's)."""
    check_scale_name(options.input_scale)
    whole_number(options.batch_size, "batch size")
    validate_tile_size(options.tile_size, 1)  # a whole number in range; the model's multiple
    check_device(options.device)  # and halo are checked by the engine, scene by scene
    if options.threads is not None:
        whole_number(options.threads, "threads")
    return options


def worker_died(dst, existed: bool, failures) -> str:
    return (f"the worker running it died {failures} time(s) (killed, or out of memory: run "
            f"fewer workers per machine or a smaller tile); {errors.kept_or_nothing(dst, existed)}")


def _outcome(future, src: str, dst: Path, existed: bool) -> SceneReport:
    """The report a finished task returned, or a FAILED report for a task Dask gave up on."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        import dask

        failures = dask.config.get("distributed.scheduler.allowed-failures") + 1
        reason = worker_died(dst, existed, failures)
    except Exception as exc:  # the task cannot raise (tasks.translate_scene): Dask itself did
        reason = errors.unexpected_failure(exc)
    return SceneReport(src=src, dst=str(dst), status=FAILED, reason=reason)


def translate_many(
    inputs: Iterable,
    out_dir,
    model=None,
    *,
    scheduler: str | None = None,
    client=None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    suffix: str = OUTPUT_SUFFIX,
    overwrite: bool = False,
    bands: Sequence[int] | None = None,
    input_scale: str = DEFAULT_INPUT_SCALE,
    tile_size: int = DEFAULT_TILE,
    batch_size: int = DEFAULT_BATCH,
    device: str = DEFAULT_DEVICE,
    threads: int | None = None,
    progress: Callable[[SceneReport, int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> ManyResult:
    """Translate every scene of ``inputs`` (files, GDAL paths or folders) into
    ``out_dir/<stem><suffix>.tif`` on a Dask cluster (module docstring).

    ``model``, ``bands``, ``input_scale``, ``tile_size``, ``batch_size``, ``device`` and
    ``threads`` are translate_raster's, the same for every scene (``threads`` None: each
    worker's thread count). ``overwrite``: translate again even where a complete output exists.
    ``progress(report, done, total)`` is called as each scene finishes; ``log(message)`` gets
    the cluster used; ``connect_timeout``: seconds to reach ``scheduler``. Raises InputError
    (no inputs, clashing outputs, bad options), OutputError (output folder), ClusterError,
    ImportError (dask missing, with the command to install it); a scene's own failure is in
    its report, never raised.
    """
    say = log if log is not None else (lambda message: None)
    if client is None:
        require()
    options = check_options(SceneOptions(
        model=None if model is None else str(Path(model).absolute()),
        bands=None if bands is None else tuple(bands), input_scale=input_scale,
        tile_size=tile_size, batch_size=batch_size, device=device, threads=threads,
        overwrite=overwrite))
    scenes = plan_scenes(inputs, out_dir, suffix)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out_dir}: {exc}") from exc
    started = time.perf_counter()
    reports: list[SceneReport | None] = [None] * len(scenes)
    try:
        with connect(scheduler, client, n_workers, threads_per_worker, connect_timeout) as c:
            workers, total_threads, address = _run(c, scenes, options, reports, progress, say)
            seconds = time.perf_counter() - started
    finally:  # the temporaries of workers killed on this host (a local cluster's are gone now)
        removed = raster_io.remove_stale_temporaries(out_dir)
    for stale in removed:
        say(f"removed {stale.name}: a temporary file left by a worker that was killed")
    return ManyResult(scenes=reports, seconds=seconds, workers=workers, threads=total_threads,
                      scheduler=address, removed_temporaries=removed)


def _run(c, scenes, options, reports, progress, say) -> tuple[int, int, str]:
    """Submit one task per scene to the client ``c`` and fill ``reports`` as they finish;
    on any exception or interruption the tasks not finished are cancelled."""
    from distributed import as_completed

    workers, total_threads = _workers(c)
    address = c.scheduler_info().get("address", "")
    say(f"{len(scenes)} scene(s) on {workers} worker(s), {total_threads} thread(s) in all "
        f"(scheduler {address})")
    existed = [dst.exists() for _, dst in scenes]
    job = uuid.uuid4().hex[:8]
    futures = {
        c.submit(translate_scene, src, str(dst), options, key=f"s2o-{job}-{i}-{Path(src).name}",
                 pure=False, priority=_priority(src)): i
        for i, (src, dst) in enumerate(scenes)
    }
    try:
        for done, future in enumerate(as_completed(futures, loop=c.loop), start=1):
            i = futures[future]
            reports[i] = _outcome(future, scenes[i][0], scenes[i][1], existed[i])
            future.release()
            if progress is not None:
                progress(reports[i], done, len(scenes))
    except BaseException:
        c.cancel(list(futures))
        raise
    return workers, total_threads, address
