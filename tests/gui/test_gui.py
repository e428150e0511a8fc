"""The plugin in the real QGIS desktop: QGIS 3.22 started under Xvfb (1600 x 1000) with the
openbox window manager, the plugin installed from its zip into a fresh profile, driven from
inside by driver.py. Two sessions: "full" (the project's venv on QGIS's Python path) and
"missing" (QGIS's own Python: no onnxruntime, no scikit-image). Screenshots go to
$S2O_GUI_SHOTS (`make test-gui` sets docs/gui), else to the test's temporary folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.build_plugin import build_zip, install
from scripts.qgis_env import qgis_env
from tests.conftest import ROOT

HERE = Path(__file__).resolve().parent
SCREEN = "1600x1000x24"
SESSION_TIMEOUT = 600
TOOLS = ("xvfb-run", "openbox", "qgis")
SENTENCE_END = re.compile(r"[.:!?)\"]$")


def run_session(scenario: str, tmp: Path) -> dict:
    """Start QGIS with driver.py for ``scenario``; its results.json."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"the GUI tier needs {', '.join(missing)} (Debian: apt-get install xvfb "
                    "openbox; make setup does it as root)")
    profile = tmp / "qgis"
    install(build_zip(tmp / "dist"), dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(profile)))
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "PYTHONPATH")}
    if scenario == "full":  # onnxruntime, scikit-image... from the venv, as a user's pip would
        env["PYTHONPATH"] = qgis_env()["PYTHONPATH"]
    runtime = tmp / "xdg"
    runtime.mkdir(mode=0o700)
    env.update(
        QGIS_CUSTOM_CONFIG_PATH=str(profile), XDG_RUNTIME_DIR=str(runtime),
        S2O_GUI_SCENARIO=scenario, S2O_GUI_OUT=str(tmp / "out"),
        S2O_GUI_SHOTS=os.environ.get("S2O_GUI_SHOTS") or str(tmp / "shots"),
        S2O_GUI_DATA=str(ROOT / "tests" / "data"),
    )
    command = ["xvfb-run", "-a", "-s", f"-screen 0 {SCREEN}", "bash", "-c",
               'openbox >/dev/null 2>&1 & exec qgis --nologo --noversioncheck --code "$0"',
               str(HERE / "driver.py")]
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=SESSION_TIMEOUT)
    results = tmp / "out" / "results.json"
    assert results.is_file(), f"QGIS ended ({done.returncode}) without results:\n" \
                              f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    data = json.loads(results.read_text())
    assert data["errors"] == [], "\n".join(data["errors"])
    return data


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return run_session("full", tmp_path_factory.mktemp("gui_full"))


@pytest.fixture(scope="module")
def missing(tmp_path_factory):
    """The session on QGIS's own Python; skipped where that Python has onnxruntime (a desktop
    with it installed system-wide cannot show the missing state)."""
    data = run_session("missing", tmp_path_factory.mktemp("gui_missing"))
    if "onnxruntime" not in data["missing_packages"]:
        pytest.skip("QGIS's own Python has onnxruntime here: nothing is missing")
    return data


# -- the dialogs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["translate", "despeckle", "evaluate"])
def test_each_dialog_fits_its_default_size(full, name):
    facts = full["dialogs"][name]
    assert facts["size"][0] <= 700  # QGIS's default, 688 x 523 here
    assert facts["hscroll"] and max(facts["hscroll"]) == 0, facts
    assert not any(facts["hscroll_visible"]) and facts["clipped"] == []


@pytest.mark.parametrize("name", ["translate", "despeckle", "evaluate"])
def test_help_reads_as_paragraphs_and_has_a_help_button(full, name):
    facts = full["dialogs"][name]
    title, *paragraphs = facts["help"]
    assert len(paragraphs) >= 4
    broken = [p for p in paragraphs if not SENTENCE_END.search(p)]
    assert broken == [], broken  # a paragraph stopping mid-sentence: a hard line break
    assert not any("export_onnx" in p for p in paragraphs)  # not in the plugin zip
    assert facts["help_button_enabled"]


def test_dialogs_preselect_a_sar_layer_not_the_active_optical_one(full):
    """punjab_s2 (Sentinel-2, Red/Green/Blue) is the active layer when the dialogs open."""
    assert full["dialogs"]["translate"]["preselected_INPUT"] == "punjab_s1"
    assert full["dialogs"]["despeckle"]["preselected_INPUT"] == "punjab_s1"
    assert full["reopened"]["preselected_INPUT"] == "punjab_s1"
    # the batch dialog's first row: the topmost SAR layer (a strip), not the active result
    assert full["batch_preselected"] in {"s1_north", "s1_middle", "s1_south"}


# -- runs ------------------------------------------------------------------------------------------
def test_translate_run_from_the_dialog_names_and_styles_the_layer(full):
    run = full["translate_run"]
    layer = run["layer"]
    assert layer["name"] == "punjab_s1 optical"
    assert layer["renderer"] == "multibandcolor"
    assert layer["bands"] == [1, 2, 3] and layer["stretch"] == [0.0, 3000.0]
    assert "Sentinel-2 L2A-like (surface reflectance)" in run["log"]
    assert run["active_layer"] == "punjab_s1 optical"  # what the next dialog must not pick


def test_progress_shows_a_percentage_from_the_first_tile(full):
    """Tile size 128 on a 264 x 264 scene: 9 tiles; the bar counts them, not only at the end."""
    determinate = [v for maximum, v in full["translate_run"]["progress"] if maximum == 100]
    run = determinate[:determinate.index(100) + 1]  # the bar is reset after the run
    assert 0 < run[0] <= 100 / 9 + 1
    assert len(set(run)) >= 8


def test_an_optical_layer_is_refused_in_the_dialogs_words(full):
    log = full["optical_refused"]["log"]
    assert "this layer looks like an optical image, not Sentinel-1 SAR" in log
    assert "its bands are described as Red, Green, Blue" in log
    assert "option" not in log.split("looks like an optical image")[1]
    assert not [n for n in full["optical_refused"]["layers"] if n.startswith("punjab_s2 optical")]


def test_a_graphical_batch_of_three_sar_layers(full):
    names = sorted(layer["name"] for layer in full["batch"]["layers"])
    assert names == ["s1_middle optical", "s1_north optical", "s1_south optical"]
    for layer in full["batch"]["layers"]:
        assert layer["renderer"] == "multibandcolor" and layer["stretch"] == [0.0, 3000.0]
        assert layer["crs"] == "EPSG:32633"
    assert "3 executions failed" not in full["batch"]["log"]


# -- without onnxruntime and scikit-image ----------------------------------------------------------
def listing(names):
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def test_the_message_bar_names_what_cannot_run_and_the_install_size(missing):
    """On Debian 12's QGIS: onnxruntime and scikit-image missing, rasterio there (Debian's)."""
    message, packages = missing["message"], missing["missing_packages"]
    blocked = ["Translate SAR to optical"]
    if {"rasterio", "scikit-image"} & set(packages):
        blocked.append("Evaluate against reference (PSNR, SSIM)")
    if "rasterio" in packages:
        blocked.insert(1, "Despeckle (Perona-Malik)")
    assert message["text"] == f"{listing(packages)} missing: {listing(blocked)} cannot run yet."
    assert re.fullmatch(r"Install \(about \d+ MB\)", message["buttons"][-1])
    assert message["install_action"] == "Install Python dependencies…"


def test_each_algorithm_says_before_run_what_it_lacks(missing):
    can = missing["can_execute"]
    assert can["s2o:despeckle"][0] is ("rasterio" not in missing["missing_packages"])
    assert can["s2o:translate"][0] is False and "onnxruntime" in can["s2o:translate"][1]
    assert can["s2o:evaluate"][0] is not ("scikit-image" in missing["missing_packages"])
    dialog = missing["dialog"]
    assert not dialog["run_enabled"]
    assert dialog["help"][1].startswith("Cannot run yet: The Python package(s) onnxruntime")
    assert "Plugins > S2O SAR-to-optical > Install Python dependencies…" in dialog["help"][1]
    assert dialog["message"] == "onnxruntime missing: see the help."
    assert "onnxruntime" in missing["toolbox"]["text"]


def test_the_screenshots_exist(full, missing):
    shots = {**full["screenshots"], **missing["screenshots"]}
    for name in ("translate_dialog", "despeckle_dialog", "evaluate_dialog", "map_translated",
                 "translate_optical_refused", "batch_dialog_filled", "batch_map",
                 "missing_dependencies", "translate_missing_dependencies", "toolbox_cannot_run"):
        assert Path(shots[name]).stat().st_size > 10_000, name
