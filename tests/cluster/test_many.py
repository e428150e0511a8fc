"""s2o-translate-many and translate_many on a real LocalCluster (two worker processes x 1 thread)
with real Sentinel-1 scenes: a folder with one corrupt file, identical outputs to the engine's,
resuming, one model load per worker, a worker killed in the middle of a scene."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import rasterio

from s2o_qgis_plugin.distributed import many
from s2o_qgis_plugin.distributed.cli import EXIT_SCENES_FAILED
from s2o_qgis_plugin.distributed.many import ClusterError, cluster_size, plan_scenes
from s2o_qgis_plugin.distributed.tasks import SKIPPED, WRITTEN, model_loads
from s2o_qgis_plugin.engine.errors import InputError
from s2o_qgis_plugin.engine.model import DEFAULT_MODEL_PATH
from s2o_qgis_plugin.engine.raster_io import OUTPUT_NODATA, TMP_MARK
from s2o_qgis_plugin.engine.translate import TAG_MODEL
from tests.cluster.helpers import (
    HEFEI,
    MOSAIC,
    N_WORKERS,
    PATCHES,
    PUNJAB,
    ROOT,
    engine_output,
    enlarged,
    scene_folder,
    temporaries,
    truncated_copy,
)

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "s2o_qgis_plugin.distributed.cli"]


def run_cli(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def stdout_lines(r) -> dict[str, list[str]]:
    """stdout lines by their first word (written, skipped, failed, summary)."""
    out: dict[str, list[str]] = {}
    for line in r.stdout.splitlines():
        out.setdefault(line.split(":", 1)[0], []).append(line)
    return out


def mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


# -- the command on a folder of real scenes, one corrupt ----------------------------------------
def test_folder_with_a_corrupt_scene_writes_the_rest_names_the_bad_one_and_resumes(
        tmp_path, cluster):
    scenes = [PUNJAB, MOSAIC, *PATCHES[:2]]
    inputs = scene_folder(tmp_path / "in", scenes)
    out = tmp_path / "out"

    # 1: the default LocalCluster path of the command, sized by its options
    r = run_cli(inputs, "--out-dir", out, "--workers", N_WORKERS, "--threads-per-worker", 1)
    assert r.returncode == EXIT_SCENES_FAILED, r.stderr
    lines = stdout_lines(r)
    assert len(lines["written"]) == len(scenes)
    (failed,) = lines["failed"]
    assert failed.startswith(f"failed: {inputs / 'broken.tif'}: cannot read the input")
    assert "cut short" in failed and "damaged or incomplete" in failed
    assert len(lines["summary"]) == 1
    assert re.match(rf"summary: {len(scenes)} written, 0 skipped, 1 failed \(5 scenes, "
                    rf"{N_WORKERS} worker", lines["summary"][0])
    assert "s2o-translate-many: 5 scene(s) on 2 worker(s)" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{s.stem}_optical.tif" for s in scenes)  # nothing for the bad one, no temporary

    # every output is the engine's, to the DN, with the input's georeference
    for s in scenes:
        reference = engine_output(s, tmp_path / "ref.tif")
        with rasterio.open(out / f"{s.stem}_optical.tif") as got, rasterio.open(s) as src:
            assert np.array_equal(got.read(), reference), s.name
            assert (got.crs, got.transform, got.nodata) == (src.crs, src.transform,
                                                            OUTPUT_NODATA)

    # 2: again, on the running cluster: every good scene skipped, none rewritten
    before = mtimes(out)
    r = run_cli(inputs, "--out-dir", out, "--scheduler", cluster.scheduler.address)
    assert r.returncode == EXIT_SCENES_FAILED, r.stderr
    lines = stdout_lines(r)
    assert "written" not in lines and len(lines["skipped"]) == len(scenes)
    assert all(line.endswith("(complete, made by the same model)") for line in lines["skipped"])
    assert len(lines["failed"]) == 1
    assert mtimes(out) == before

    # 3: an output cut short and one made by another model are translated again, the rest kept
    cut = out / f"{MOSAIC.stem}_optical.tif"
    truncated_copy(cut, cut, cut.stat().st_size // 2)
    other = out / f"{PUNJAB.stem}_optical.tif"
    with rasterio.open(other, "r+") as d:
        d.update_tags(**{TAG_MODEL: "someone-else 9.9"})
    before = mtimes(out)
    r = run_cli(inputs, "--out-dir", out, "--scheduler", cluster.scheduler.address, "--quiet")
    lines = stdout_lines(r)
    assert r.stderr == ""  # --quiet
    written = {line.split(" -> ")[1].split(" (")[0]: line for line in lines["written"]}
    assert set(written) == {str(cut), str(other)}
    assert "incomplete or damaged" in written[str(cut)]
    assert "made by someone-else 9.9" in written[str(other)]
    assert len(lines["skipped"]) == len(scenes) - 2
    after = mtimes(out)
    assert {n for n in after if after[n] != before[n]} == {cut.name, other.name}
    for s in (MOSAIC, PUNJAB):
        with rasterio.open(out / f"{s.stem}_optical.tif") as got:
            assert np.array_equal(got.read(), engine_output(s, tmp_path / "ref.tif"))
    assert temporaries(out) == []


def test_every_scene_failing_for_its_own_reason_is_reported_and_the_job_ends(tmp_path, cluster):
    """A missing file, a text file and an optical image among good scenes: each named with the
    engine's words; the good ones written."""
    inputs = scene_folder(tmp_path / "in", [PATCHES[0]], broken=None)
    (inputs / "notes.tif").write_text("not a raster")
    optical = ROOT / "tests" / "data" / "heldout" / "punjab_s2.tif"
    result = many.translate_many([inputs, optical, tmp_path / "gone.tif"], tmp_path / "out",
                                 client=cluster)
    by_name = {os.path.basename(s.src): s for s in result.scenes}
    assert [s.status for s in result.scenes].count(WRITTEN) == 1
    assert by_name[PATCHES[0].name].status == WRITTEN
    assert "is not a raster GDAL can read" in by_name["notes.tif"].reason
    assert "looks like an optical image, not Sentinel-1 SAR" in by_name["punjab_s2.tif"].reason
    assert by_name["gone.tif"].reason == f"input raster not found: {tmp_path / 'gone.tif'}"
    assert len(result.failed) == 3 and result.summary().startswith("1 written, 0 skipped, 3 "
                                                                   "failed (4 scenes")


def test_each_worker_loads_the_model_once(tmp_path, cluster):
    scenes = [*PATCHES, HEFEI]
    result = many.translate_many(scene_folder(tmp_path / "in", scenes, broken=None),
                                 tmp_path / "out", client=cluster)
    assert [s.status for s in result.scenes] == [WRITTEN] * len(scenes)
    used = {s.worker for s in result.scenes}
    assert len(used) == N_WORKERS  # both workers translated scenes...
    loads = cluster.run(model_loads)
    assert set(loads) >= used
    for worker in used:  # ...and each opened the model once, whatever it ran before
        assert loads[worker] and set(loads[worker].values()) == {1}, loads
    assert all(str(DEFAULT_MODEL_PATH) in loads[w] for w in used)  # the embedded VV+VH model


# -- a worker killed in the middle of a scene ----------------------------------------------------
def test_a_worker_killed_mid_scene_costs_only_that_scene(tmp_path, cluster):
    """SIGKILL the worker process whose temporary output is in the folder (it is translating):
    that scene runs again on another worker, no other scene is translated twice, no partial
    file is left, and the outputs are the engine's."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    scenes = [enlarged(MOSAIC, inputs / f"big{i}.tif") for i in range(3)]  # 720 x 480 px each
    out = tmp_path / "out"
    pids = cluster.run(os.getpid)  # worker address -> pid
    finished: dict[str, int] = {}  # output -> its mtime when its report arrived
    box: dict = {}

    def progress(report, done, total):
        finished[report.dst] = os.stat(report.dst).st_mtime_ns if report.status == WRITTEN else 0

    def job():
        try:
            box["result"] = many.translate_many(inputs, out, client=cluster, tile_size=256,
                                                progress=progress)
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            box["error"] = exc

    thread = threading.Thread(target=job)
    thread.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        for p in (out.iterdir() if out.exists() else []):
            m = re.search(rf"{re.escape(TMP_MARK)}[0-9a-f]+-(\d+)-", p.name)
            if m and int(m[1]) in pids.values():
                killed = (int(m[1]), p)
                os.kill(killed[0], signal.SIGKILL)
                break
        time.sleep(0.02)
    thread.join(300)
    assert killed is not None, "no scene was caught in the middle"
    assert "error" not in box, box.get("error")
    result = box["result"]
    victim = next(s for s in result.scenes
                  if killed[1].name.startswith(f".{os.path.basename(s.dst)}"))
    assert victim.status == WRITTEN
    assert victim.pid != killed[0]  # run again elsewhere (another worker, or its restart)
    # a scene the killed worker had finished but not yet handed over is run again, finds its
    # output complete and reports it skipped
    assert {s.status for s in result.scenes} <= {WRITTEN, SKIPPED} and not result.failed
    assert all(s.pid != killed[0] for s in result.scenes)
    # no scene finished before the kill was translated again afterwards
    assert {dst: os.stat(dst).st_mtime_ns for dst in finished} == finished
    assert temporaries(out) == []
    reference = engine_output(scenes[0], tmp_path / "ref.tif", tile_size=256)
    with rasterio.open(victim.dst) as got:
        assert np.array_equal(got.read(), reference)  # every big scene is the same picture
    cluster.wait_for_workers(N_WORKERS, timeout=60)  # the nanny restarted the killed worker


def test_the_command_stopped_by_sigterm_leaves_complete_outputs_only_and_resumes(tmp_path,
                                                                                  cluster):
    """SIGTERM once a scene is written: exit 143 with the engine's words, every output in the
    folder complete (no temporary file of the workers that were stopped), and the same command
    again skips what was written and writes the rest."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    n_scenes = 10  # enough that some are still queued when the first is written, on idle cores
    for i in range(n_scenes):
        enlarged(MOSAIC, inputs / f"big{i}.tif")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([*CLI, str(inputs), "--out-dir", str(out), "--workers", "2",
                              "--tile", "256", "--quiet"], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None and not (
            out.exists() and any(p.name.endswith("_optical.tif") and not p.name.startswith(".")
                                 for p in out.iterdir())):
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 128 + signal.SIGTERM, stderr
    m = re.search(r"s2o-translate-many: error: interrupted by SIGTERM after (\d+) scene\(s\) "
                  r"written: every output is complete or absent; run the same command again "
                  r"to resume$", stderr.strip())
    assert m, stderr
    assert stdout == ""
    done = sorted(p.name for p in out.iterdir())
    assert temporaries(out) == [] and 1 <= len(done) < n_scenes
    assert int(m[1]) <= len(done)  # a report may still have been on its way
    before = mtimes(out)
    r = run_cli(inputs, "--out-dir", out, "--scheduler", cluster.scheduler.address, "--quiet")
    assert r.returncode == 0, r.stderr
    lines = stdout_lines(r)
    assert len(lines["skipped"]) == len(done) and len(lines["written"]) == n_scenes - len(done)
    assert {n: t for n, t in mtimes(out).items() if n in done} == before


# -- arguments and the cluster, without running scenes --------------------------------------------
def test_plan_scenes_refuses_clashing_outputs_and_skips_its_own_outputs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        scene_folder(folder, [PATCHES[0]], broken=None)
    with pytest.raises(InputError, match="would both be written to .*_optical.tif"):
        plan_scenes([a, b], tmp_path / "out")
    (a / f"{PATCHES[0].stem}_optical.tif").write_bytes(b"")  # a earlier run wrote into a
    (a / ".hidden.tif").write_bytes(b"")
    assert plan_scenes([a], a) == [(str(a / PATCHES[0].name),
                                    a / f"{PATCHES[0].stem}_optical.tif")]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no input rasters"):
        plan_scenes([empty], tmp_path / "out")


def test_bad_arguments_and_an_unreachable_scheduler_in_the_commands_words(tmp_path):
    r = run_cli(tmp_path, "--out-dir", tmp_path / "out")
    assert r.returncode == 2
    assert r.stderr.strip() == ("s2o-translate-many: error: no input rasters: give files, or "
                                "folders holding .tif files")
    r = run_cli(PUNJAB, "--out-dir", tmp_path / "out", "--input-scale", "decibel")
    assert r.returncode == 2 and "invalid choice: 'decibel'" in r.stderr
    (tmp_path / "file").write_text("")
    r = run_cli(PUNJAB, "--out-dir", tmp_path / "file" / "out")
    assert r.returncode == 4 and "cannot create the output folder" in r.stderr
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        many.translate_many([PUNJAB], tmp_path / "out", scheduler="tcp://127.0.0.1:9",
                            connect_timeout=2)


@pytest.mark.parametrize("cpus,memory,workers,threads,expected", [
    (2, 24 * 2**30, None, None, (2, 1)),  # this machine: one worker per CPU
    (64, 16 * 2**30, None, None, (16, 1)),  # memory bounds the workers
    (8, 64 * 2**30, None, 2, (4, 2)),  # threads per worker share the CPUs
    (1, 2**29, None, None, (1, 1)),  # always one
    (8, 64 * 2**30, 3, None, (3, 1)),  # as asked
])
def test_cluster_size_follows_the_machine(cpus, memory, workers, threads, expected):
    assert cluster_size(workers, threads, cpus=cpus, memory=memory) == expected
