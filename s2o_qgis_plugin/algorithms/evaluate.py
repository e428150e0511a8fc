"""Processing algorithm s2o:evaluate -> engine.evaluate.evaluate_rasters."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

from .. import deps
from ..engine import input_kind
from ..engine.radiometry import DEFAULT_STRETCH
from ..qgis_enums import NUMBER_DOUBLE
from .common import (
    S2OAlgorithm,
    engine_callbacks,
    engine_check,
    engine_errors,
    gdal_file_source,
    prefer_input,
)

PREDICTION = "PREDICTION"
REFERENCE = "REFERENCE"
PREDICTION_BANDS = "PREDICTION_BANDS"
REFERENCE_BANDS = "REFERENCE_BANDS"
STRETCH = "STRETCH"
OUTPUT_HTML_FILE = "OUTPUT_HTML_FILE"
PSNR = "PSNR"
SSIM = "SSIM"
N_PIXELS = "N_PIXELS"

HELP = (
    "Scores a translated (or any RGB) layer against an optical reference image with the two "
    "measures of the S2O-NPDE paper: <b>PSNR</b> (peak signal-to-noise ratio in dB, higher is "
    "better, inf when the images are identical) and <b>SSIM</b> (structural similarity, 1 for "
    "identical images).",
    "<b>Prediction</b>: the translated layer, for example the output of Translate SAR to "
    "optical. <b>Reference</b>: typically a Sentinel-2 L2A image of the same place and date. Both "
    "are read as reflectance x 10000 and turned into 8-bit images as <code>round(clip(value / "
    f"stretch, 0, 1) * 255)</code>, with <b>Stretch</b> {DEFAULT_STRETCH:g} by default.",
    "<b>Prediction bands</b>, <b>Reference bands</b>: red, green and blue, in that order. When "
    "not set they are found by their descriptions (Red/Green/Blue or Sentinel-2 B04/B03/B02), "
    "else bands 1, 2 and 3 are used.",
    "The scores are computed on the common extent, on the prediction's pixel grid; the "
    "reference is resampled (bilinear) when its CRS, resolution or alignment differ. Pixels "
    "that are nodata in either layer are left out, and so are SSIM windows (7 x 7) touching "
    "them. Both layers need a CRS and must overlap. Large layers are processed in strips.",
    "<b>Report</b>: PSNR, SSIM and the number of pixels compared as an HTML page; the three "
    "numbers are also outputs of the algorithm (for models and scripts).",
)


class EvaluateAlgorithm(S2OAlgorithm):
    NAME = "evaluate"
    DISPLAY_NAME = "Evaluate against reference (PSNR, SSIM)"
    HELP = HELP
    ICON = "icons/evaluate.svg"
    TAGS = ("psnr", "ssim", "accuracy", "quality", "score", "compare", "optical", "sentinel-2",
            "s2o")
    REQUIRES = ("rasterio", "skimage")

    def initAlgorithm(self, config=None):  # noqa: N802
        prediction = QgsProcessingParameterRasterLayer(PREDICTION, self.tr("Prediction"))
        reference = QgsProcessingParameterRasterLayer(REFERENCE, self.tr("Reference"))
        chosen = prefer_input(prediction, input_kind.OPTICAL)
        prefer_input(reference, input_kind.OPTICAL, exclude=[chosen] if chosen else [])
        self.addParameter(prediction)
        self.addParameter(reference)
        self.addParameter(
            QgsProcessingParameterBand(
                PREDICTION_BANDS,
                self.tr("Prediction bands (R, G, B)"),
                parentLayerParameterName=PREDICTION,
                optional=True,
                allowMultiple=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterBand(
                REFERENCE_BANDS,
                self.tr("Reference bands (R, G, B)"),
                parentLayerParameterName=REFERENCE,
                optional=True,
                allowMultiple=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                STRETCH,
                self.tr("Stretch (value shown as 255)"),
                NUMBER_DOUBLE,
                defaultValue=DEFAULT_STRETCH,
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                OUTPUT_HTML_FILE,
                self.tr("Report"),
                self.tr("HTML files (*.html)"),
                optional=True,
                createByDefault=True,
            )
        )
        self.addOutput(QgsProcessingOutputNumber(PSNR, self.tr("PSNR (dB)")))
        self.addOutput(QgsProcessingOutputNumber(SSIM, self.tr("SSIM")))
        self.addOutput(QgsProcessingOutputNumber(N_PIXELS, self.tr("Pixels compared")))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """The engine's own check (engine.evaluate.check_parameters), in its words."""
        try:  # imports rasterio and scikit-image: without them canExecute says what is missing
            from ..engine.evaluate import check_parameters
        except ImportError:
            return super().checkParameterValues(parameters, context)
        ok, message = engine_check(
            check_parameters,
            self.parameterAsDouble(parameters, STRETCH, context),
            self.parameterAsInts(parameters, PREDICTION_BANDS, context),
            self.parameterAsInts(parameters, REFERENCE_BANDS, context),
        )
        if not ok:
            return False, message
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        pred = gdal_file_source(
            self.parameterAsRasterLayer(parameters, PREDICTION, context), "prediction"
        )
        ref = gdal_file_source(
            self.parameterAsRasterLayer(parameters, REFERENCE, context), "reference"
        )
        pred_bands = self.parameterAsInts(parameters, PREDICTION_BANDS, context)
        ref_bands = self.parameterAsInts(parameters, REFERENCE_BANDS, context)
        stretch = self.parameterAsDouble(parameters, STRETCH, context)
        report = self.parameterAsFileOutput(parameters, OUTPUT_HTML_FILE, context) or None
        with engine_errors():
            deps.require(*self.REQUIRES)
            from ..engine.evaluate import evaluate_rasters

            result = evaluate_rasters(
                pred,
                ref,
                pred_bands=pred_bands,
                ref_bands=ref_bands,
                stretch=stretch,
                report=report,
                **engine_callbacks(feedback),
            )
        feedback.pushInfo(
            f"PSNR {result.psnr:.2f} dB, SSIM {result.ssim:.4f} over {result.n_pixels} pixels"
        )
        outputs = {PSNR: result.psnr, SSIM: result.ssim, N_PIXELS: result.n_pixels}
        if report:
            outputs[OUTPUT_HTML_FILE] = report
        return outputs
