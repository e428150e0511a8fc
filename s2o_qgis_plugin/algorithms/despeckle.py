"""Processing algorithm s2o:despeckle -> engine.despeckle.despeckle_raster."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterBand,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import deps
from ..engine import diffusion
from ..engine.radiometry import INPUT_SCALES
from ..engine.tiling import MAX_TILE, MIN_TILE, validate_tile_size
from ..qgis_enums import NUMBER_DOUBLE, NUMBER_INTEGER
from .common import (
    INPUT,
    INPUT_SCALE,
    OUTPUT,
    TILE_SIZE,
    OutputLayer,
    S2OAlgorithm,
    choice_parameter,
    engine_callbacks,
    engine_check,
    engine_errors,
    gdal_file_source,
    output_name,
    output_path,
    prefer_input,
    tile_size_parameter,
)

BAND = "BAND"
ITERATIONS = "ITERATIONS"
KAPPA = "KAPPA"
TIME_STEP = "TIME_STEP"

HELP = (
    "Reduces speckle in one band of a SAR layer with Perona-Malik anisotropic diffusion, the PDE "
    "that S2O-NPDE builds into its generator: it smooths homogeneous areas and keeps edges.",
    "The diffusion runs on sigma0 in decibels (speckle is multiplicative, so additive in dB). "
    "Each iteration updates every pixel from its 4 neighbours: <code>u += time_step * sum "
    "g(|d|) d</code> over the differences d to the neighbours, with <code>g(s) = 1 / (1 + "
    "(s / kappa)^2)</code>.",
    "<b>Edge threshold kappa</b>: differences much larger than kappa (in dB) are edges and "
    "diffuse little, smaller ones are smoothed; the default 2 dB is about the speckle of "
    f"Sentinel-1 GRD. <b>Time step</b> must be at most {diffusion.MAX_TIME_STEP} for the scheme "
    "to be stable. More <b>Iterations</b> smooth more: 10 with the defaults cut the speckle from "
    "about 2.3 to 0.5 dB.",
    "<b>Input scale</b>: what the band holds, Linear (power) sigma0, Decibels (dB) or Amplitude; "
    "Auto reads the band description, else decides from the values. The output is written in "
    "the same scale. Optical images are refused.",
    "<b>Despeckled image</b>: a one-band float32 GeoTIFF with the input's CRS, extent and pixel "
    "size, named after the input (\"&lt;input&gt; despeckled\"); nodata pixels stay nodata and "
    "never leak into their neighbours. Scenes of any size are processed in tiles (advanced: "
    "<b>Tile size</b>, at least the number of iterations) with a border of one pixel per "
    "iteration, so the tiles join exactly.",
)


class DespeckleAlgorithm(S2OAlgorithm):
    NAME = "despeckle"
    DISPLAY_NAME = "Despeckle (Perona-Malik)"
    HELP = HELP
    ICON = "icons/despeckle.svg"
    TAGS = ("sar", "sentinel-1", "radar", "speckle", "filter", "smoothing", "perona-malik",
            "anisotropic diffusion", "s2o")
    REQUIRES = ("rasterio",)

    def initAlgorithm(self, config=None):  # noqa: N802
        source = QgsProcessingParameterRasterLayer(INPUT, self.tr("SAR layer"))
        prefer_input(source)
        self.addParameter(source)
        self.addParameter(
            QgsProcessingParameterBand(
                BAND,
                self.tr("Band"),
                defaultValue=1,
                parentLayerParameterName=INPUT,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                ITERATIONS,
                self.tr("Iterations"),
                NUMBER_INTEGER,
                defaultValue=diffusion.DEFAULT_ITERATIONS,
                minValue=diffusion.MIN_ITERATIONS,
                maxValue=diffusion.MAX_ITERATIONS,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                KAPPA,
                self.tr("Edge threshold kappa (dB)"),
                NUMBER_DOUBLE,
                defaultValue=diffusion.DEFAULT_KAPPA,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                TIME_STEP,
                self.tr(f"Time step (at most {diffusion.MAX_TIME_STEP})"),
                NUMBER_DOUBLE,
                defaultValue=diffusion.DEFAULT_TIME_STEP,
            )
        )
        self.addParameter(choice_parameter(self, INPUT_SCALE, "input_scale", INPUT_SCALES))
        self.addParameter(
            tile_size_parameter(
                self,
                diffusion.DEFAULT_TILE_SIZE,
                MIN_TILE,  # and at least the number of iterations (checkParameterValues)
                MAX_TILE,
                advanced=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination(OUTPUT, self.tr("Despeckled image"))
        )

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """The engine's own checks (engine.diffusion, tiling), in its words."""
        iterations = self.parameterAsInt(parameters, ITERATIONS, context)
        for check, *args in (
            (diffusion.check_parameters, iterations,
             self.parameterAsDouble(parameters, KAPPA, context),
             self.parameterAsDouble(parameters, TIME_STEP, context)),
            (validate_tile_size, self.parameterAsInt(parameters, TILE_SIZE, context), 1,
             iterations),
        ):
            ok, message = engine_check(check, *args)
            if not ok:
                return False, message
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layer = self.parameterAsRasterLayer(parameters, INPUT, context)
        src = gdal_file_source(layer)
        dst = output_path(self.parameterAsOutputLayer(parameters, OUTPUT, context))
        with engine_errors(dst):
            deps.require(*self.REQUIRES)
            from ..engine.despeckle import despeckle_raster

            result = despeckle_raster(
                src,
                dst,
                band=self.parameterAsInt(parameters, BAND, context) or 1,
                iterations=self.parameterAsInt(parameters, ITERATIONS, context),
                kappa=self.parameterAsDouble(parameters, KAPPA, context),
                time_step=self.parameterAsDouble(parameters, TIME_STEP, context),
                input_scale=INPUT_SCALES[self.parameterAsEnum(parameters, INPUT_SCALE, context)],
                tile_size=self.parameterAsInt(parameters, TILE_SIZE, context),
                log=feedback.pushInfo,
                **engine_callbacks(feedback),
            )
        feedback.pushInfo(
            f"Despeckled band {result.band} ({result.input_scale}): {result.width} x "
            f"{result.height} pixels in {result.tiles} tiles, {result.seconds:.1f} s"
        )
        OutputLayer.attach(context, dst, output_name(layer, "despeckled"))
        return {OUTPUT: dst}
