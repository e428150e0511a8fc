"""The algorithms chained in a Processing model (as the graphical Modeler builds it), and run
from a shell with qgis_process.bin on the installed plugin zip."""

import math
import re

import pytest
import rasterio
from plugin_fixtures import bigearthnet, grid, installed_profile, patch_ids, qgis_process_run
from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterRasterLayer,
)

from tests.engine.fixtures import make_model

Source = QgsProcessingModelChildParameterSource


def child(alg_id, child_id, sources, outputs=()):
    """A model step; parameters without a source get their default, as the Modeler's dialog
    fills them in."""
    step = QgsProcessingModelChildAlgorithm(alg_id)
    step.setChildId(child_id)
    for definition in step.algorithm().parameterDefinitions():
        name = definition.name()
        if name in sources:
            step.addParameterSources(name, [sources[name]])
        elif not definition.isDestination() and definition.defaultValue() is not None:
            step.addParameterSources(name, [Source.fromStaticValue(definition.defaultValue())])
    model_outputs = {}
    for out_name, child_output in outputs:
        output = QgsProcessingModelOutput(out_name)
        output.setChildId(child_id)
        output.setChildOutputName(child_output)
        model_outputs[out_name] = output
    step.setModelOutputs(model_outputs)
    return step


def chain_model(model_path) -> QgsProcessingModelAlgorithm:
    """sar -> despeckle VV (dB) -> translate (VV-only model) -> evaluate against reference."""
    model = QgsProcessingModelAlgorithm("s2o chain", "tests")
    for name in ("sar", "reference"):
        model.addModelParameter(
            QgsProcessingParameterRasterLayer(name, name), QgsProcessingModelParameter(name)
        )
    model.addChildAlgorithm(
        child(
            "s2o:despeckle",
            "despeckle",
            {"INPUT": Source.fromModelParameter("sar"), "BAND": Source.fromStaticValue(1)},
        )
    )
    model.addChildAlgorithm(
        child(
            "s2o:translate",
            "translate",
            {
                "INPUT": Source.fromChildOutput("despeckle", "OUTPUT"),
                "MODEL": Source.fromStaticValue(str(model_path)),
                "TILE_SIZE": Source.fromStaticValue(64),
            },
            outputs=[("optical", "OUTPUT")],
        )
    )
    model.addChildAlgorithm(
        child(
            "s2o:evaluate",
            "evaluate",
            {
                "PREDICTION": Source.fromChildOutput("translate", "OUTPUT"),
                "REFERENCE": Source.fromModelParameter("reference"),
            },
            outputs=[("report", "OUTPUT_HTML_FILE")],
        )
    )
    return model


def test_processing_model_chains_the_three_algorithms(s2o, tmp_path):
    import processing

    vv_model = make_model(tmp_path / "vv.onnx", input_bands=("VV",))
    model = chain_model(vv_model)
    for step in ("despeckle", "translate", "evaluate"):
        valid, issues = model.validateChildAlgorithm(step)
        assert valid, issues
    name = patch_ids()[0]
    sar = bigearthnet("s1", tmp_path, name)
    reference = bigearthnet("s2", tmp_path, name)
    optical, report = tmp_path / "optical.tif", tmp_path / "report.html"
    out = processing.run(
        model,
        {
            "sar": sar,
            "reference": reference,
            "translate:optical": str(optical),
            "evaluate:report": str(report),
        },
        context=QgsProcessingContext(),
        feedback=QgsProcessingFeedback(),
    )
    assert out["translate:optical"] == str(optical)
    assert grid(optical) == grid(sar)
    psnr = float(re.search(r"<th>PSNR \(dB\)</th><td>([0-9.]+)</td>", report.read_text())[1])
    assert 3.0 < psnr < 40.0


@pytest.mark.slow
def test_qgis_process_runs_the_installed_plugin(tmp_path):
    """translate, despeckle and evaluate from a shell (qgis_process.bin), model passed
    explicitly; a bad time step gives the algorithm's message and a non-zero exit."""
    env = installed_profile(tmp_path)
    model = make_model(tmp_path / "tiny.onnx")
    name = patch_ids()[0]
    sar = bigearthnet("s1", tmp_path, name)
    reference = bigearthnet("s2", tmp_path, name)
    optical = tmp_path / "optical.tif"
    done = qgis_process_run(
        "s2o:translate",
        {"INPUT": sar, "MODEL": model, "TILE_SIZE": 64, "OUTPUT": optical},
        env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Execution provider: CPUExecutionProvider" in done.stdout + done.stderr
    assert grid(optical) == grid(sar)
    with rasterio.open(optical) as ds:
        assert ds.count == 3

    smooth = tmp_path / "vv_smooth.tif"
    done = qgis_process_run(
        "s2o:despeckle", {"INPUT": sar, "BAND": 1, "ITERATIONS": 5, "OUTPUT": smooth}, env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert grid(smooth) == grid(sar)

    done = qgis_process_run(
        "s2o:evaluate",
        {
            "PREDICTION": optical,
            "REFERENCE": reference,
            "OUTPUT_HTML_FILE": tmp_path / "report.html",
        },
        env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    psnr = float(re.search(r"PSNR:\s*([0-9.inf]+)", done.stdout)[1])
    ssim = float(re.search(r"SSIM:\s*([-0-9.]+)", done.stdout)[1])
    assert 3.0 < psnr < 40.0 and not math.isinf(psnr)
    assert -1.0 < ssim < 1.0

    done = qgis_process_run(
        "s2o:despeckle", {"INPUT": sar, "TIME_STEP": 0.3, "OUTPUT": tmp_path / "bad.tif"}, env
    )
    assert done.returncode != 0
    assert "time step must be in (0, 0.25]" in done.stdout + done.stderr
