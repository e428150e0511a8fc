"""Processing algorithm s2o:despeckle -> engine.despeckle.despeckle_raster."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)
from qgis.PyQt.QtCore import QCoreApplication

from .. import deps
from .common import GROUP, GROUP_ID, engine_callbacks, engine_errors, gdal_file_source, output_path

INPUT = "INPUT"
BAND = "BAND"
ITERATIONS = "ITERATIONS"
KAPPA = "KAPPA"
TIME_STEP = "TIME_STEP"
SCALE = "SCALE"
OUTPUT = "OUTPUT"

SCALES = [("db", "Decibels (dB)"), ("linear", "Linear (power or amplitude)")]
DEFAULT_ITERATIONS = 10
MAX_ITERATIONS = 1000
DEFAULT_KAPPA = 1.0
DEFAULT_TIME_STEP = 0.2
MAX_TIME_STEP = 0.25  # explicit 4-neighbour scheme is stable for dt <= 1/4

HELP = """<p>Reduces speckle in one band of a SAR raster with Perona-Malik anisotropic diffusion,
the same PDE the S2O-NPDE model builds into its generator: smooths within homogeneous areas
while keeping edges.</p>
<p>Each iteration updates every pixel from its 4 neighbours:
<code>I += dt * sum_d g(|grad_d I|) * grad_d I</code> with
<code>g(s) = 1 / (1 + (s / kappa)^2)</code>. Differences much larger than <b>kappa</b> (edges)
diffuse little; smaller ones (speckle) are smoothed. <b>Time step</b> dt must be at most 0.25
for the explicit scheme to be stable; more <b>iterations</b> smooth more.</p>
<p><b>Scale</b>: diffusion in decibels (recommended for sigma0: speckle is multiplicative and
becomes additive in dB; kappa is then in dB) or directly on the linear values (kappa in the
band's units). The output is written in the input's units.</p>
<p><b>Output</b>: a one-band float32 GeoTIFF with the input's CRS, extent, pixel size and
nodata (nodata pixels are left out of the diffusion). Scenes of any size are processed in
tiles with a border wide enough (one pixel per iteration) that the tiles join without
seams.</p>"""


class DespeckleAlgorithm(QgsProcessingAlgorithm):
    def name(self):
        return "despeckle"

    def displayName(self):  # noqa: N802
        return self.tr("Despeckle (Perona-Malik)")

    def group(self):
        return self.tr(GROUP)

    def groupId(self):  # noqa: N802
        return GROUP_ID

    def shortHelpString(self):  # noqa: N802
        return self.tr(HELP)

    def tr(self, text):
        return QCoreApplication.translate("S2O", text)

    def createInstance(self):  # noqa: N802
        return DespeckleAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(INPUT, self.tr("SAR raster")))
        self.addParameter(
            QgsProcessingParameterBand(
                BAND, self.tr("Band"), defaultValue=1, parentLayerParameterName=INPUT
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                ITERATIONS,
                self.tr("Iterations"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=DEFAULT_ITERATIONS,
                minValue=1,
                maxValue=MAX_ITERATIONS,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                KAPPA,
                self.tr("Edge threshold kappa (in the diffusion scale's units)"),
                QgsProcessingParameterNumber.Double,
                defaultValue=DEFAULT_KAPPA,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                TIME_STEP,
                self.tr("Time step dt (at most 0.25)"),
                QgsProcessingParameterNumber.Double,
                defaultValue=DEFAULT_TIME_STEP,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                SCALE, self.tr("Diffuse in"), [label for _, label in SCALES], defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination(OUTPUT, self.tr("Despeckled output"))
        )

    def checkParameterValues(self, parameters, context):  # noqa: N802
        dt = self.parameterAsDouble(parameters, TIME_STEP, context)
        if not 0 < dt <= MAX_TIME_STEP:
            return False, self.tr(
                f"Time step {dt:g} is outside (0, {MAX_TIME_STEP}]: the explicit Perona-Malik "
                f"scheme is unstable above {MAX_TIME_STEP}. Use e.g. {DEFAULT_TIME_STEP}."
            )
        kappa = self.parameterAsDouble(parameters, KAPPA, context)
        if not kappa > 0:
            return False, self.tr(f"Kappa must be positive, got {kappa:g}.")
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = gdal_file_source(self.parameterAsRasterLayer(parameters, INPUT, context))
        dst = output_path(self.parameterAsOutputLayer(parameters, OUTPUT, context))
        with engine_errors():
            deps.require("rasterio")
            from ..engine.despeckle import despeckle_raster

            result = despeckle_raster(
                src,
                dst,
                band=self.parameterAsInt(parameters, BAND, context),
                iterations=self.parameterAsInt(parameters, ITERATIONS, context),
                kappa=self.parameterAsDouble(parameters, KAPPA, context),
                dt=self.parameterAsDouble(parameters, TIME_STEP, context),
                scale=SCALES[self.parameterAsEnum(parameters, SCALE, context)][0],
                **engine_callbacks(feedback),
            )
        feedback.pushInfo(f"Despeckled: {result}")
        return {OUTPUT: dst}
