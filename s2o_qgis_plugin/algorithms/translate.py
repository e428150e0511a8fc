"""Processing algorithm s2o:translate -> engine.translate.translate_raster."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import deps
from ..engine import model as model_names
from ..engine import radiometry
from ..engine.errors import DIALOG
from ..engine.metadata import S2_LEVELS, SENTINEL_CREDIT
from ..engine.tiling import DEFAULT_TILE, MAX_TILE, MIN_TILE
from .common import (
    INPUT,
    INPUT_SCALE,
    OUTPUT,
    TILE_SIZE,
    OutputLayer,
    S2OAlgorithm,
    choice_parameter,
    engine_callbacks,
    engine_errors,
    gdal_file_source,
    output_name,
    output_path,
    prefer_input,
    tile_size_parameter,
)

VV_BAND = "VV_BAND"
VH_BAND = "VH_BAND"
MODEL = "MODEL"
DEVICE = "DEVICE"
EXECUTION_PROVIDER = "EXECUTION_PROVIDER"
MODEL_USED = "MODEL_USED"

INPUT_SCALES = radiometry.INPUT_SCALES  # the enum's options, in the dialog's words (DIALOG)
DEVICES = model_names.DEVICES

HELP = (
    "Translates a Sentinel-1 SAR layer into a Sentinel-2-like true-colour image with S2O-NPDE, "
    "a CycleGAN generator with Taylor-central-difference residual blocks and a Perona-Malik "
    "diffusion module (IJCAI 2023), run by onnxruntime.",
    "<b>Sentinel-1 layer</b>: Sentinel-1 GRD backscatter (calibrated sigma0, ideally terrain "
    "corrected) with a VV band and, if it has one, a VH band. Optical images are refused. "
    "Web-service, memory and virtual layers must be saved as GeoTIFF first.",
    "<b>VV band</b>, <b>VH band</b>: when not set, the bands are found by their descriptions "
    "(VV, VH), else band 1 is VV and band 2 is VH; a VV band alone means a VV-only input. "
    "Bands described HH and HV (Sentinel-1's polar and sea-ice modes) are refused, because the "
    "models were trained on VV and VH: set VV band to the HH band and VH band to the HV band to "
    "run them anyway.",
    "<b>Input scale</b>: Linear (power) sigma0, Decibels (dB, 10 log10 sigma0) or Amplitude "
    "(square root of sigma0). Auto reads the band descriptions, else decides from the values; "
    "the log says what it chose and why.",
    "<b>Model</b>: left empty, the model embedded in the plugin that fits the input runs: the "
    "VV+VH model for a VV and a VH band (or two bands without descriptions), the VV-only model "
    "for a single band or VV alone (an optional part of the plugin: the run says when it is not "
    "installed). Any s2o model file (.onnx) can be chosen instead; its metadata declares its "
    "bands and scaling. The log says which model ran and why.",
    "<b>Tile size</b>: the scene is translated in tiles of this many pixels, each read with an "
    "extra border so that the tiles join without seams; it must be a multiple of the model's "
    "size multiple. Larger tiles are faster but need more memory (GPU memory with CUDA).",
    "<b>Device</b>: Auto uses a CUDA GPU when onnxruntime-gpu and a GPU are present, the CPU "
    "otherwise; the log reports which one ran.",
    "<b>Optical image</b>: a 3-band GeoTIFF (Red, Green, Blue) of Sentinel-2-like reflectance "
    "x 10000 (uint16) with the input's CRS, extent, pixel size and nodata, added to the map in "
    "true colour and named after the input (\"&lt;input&gt; optical\"). Each model declares "
    "the Sentinel-2 product it imitates, reported in the log and stored in the file's "
    f"metadata: the embedded models give \"{S2_LEVELS['L2A']}\".",
    f"{SENTINEL_CREDIT} when run on Sentinel-1 products.",
)


class TranslateAlgorithm(S2OAlgorithm):
    NAME = "translate"
    DISPLAY_NAME = "Translate SAR to optical"
    HELP = HELP
    TAGS = ("sar", "sentinel-1", "sentinel-2", "radar", "optical", "rgb", "translation",
            "deep learning", "onnx", "s2o")
    REQUIRES = ("onnxruntime", "rasterio")

    def initAlgorithm(self, config=None):  # noqa: N802
        source = QgsProcessingParameterRasterLayer(INPUT, self.tr("Sentinel-1 layer"))
        prefer_input(source)
        self.addParameter(source)
        for name, setting in ((VV_BAND, "vv_band"), (VH_BAND, "vh_band")):
            self.addParameter(
                QgsProcessingParameterBand(
                    name,
                    self.tr(DIALOG.label(setting)),
                    parentLayerParameterName=INPUT,
                    optional=True,
                )
            )
        self.addParameter(choice_parameter(self, INPUT_SCALE, "input_scale", INPUT_SCALES))
        self.addParameter(
            QgsProcessingParameterFile(
                MODEL, self.tr(DIALOG.label("model")), extension="onnx", optional=True
            )
        )
        self.addParameter(
            tile_size_parameter(
                self,
                DEFAULT_TILE,
                MIN_TILE,  # the model's own limits are checked when it is loaded
                MAX_TILE,
            )
        )
        self.addParameter(choice_parameter(self, DEVICE, "device", DEVICES))
        self.addParameter(
            QgsProcessingParameterRasterDestination(OUTPUT, self.tr("Optical image"))
        )
        self.addOutput(
            QgsProcessingOutputString(EXECUTION_PROVIDER, self.tr("Execution provider"))
        )
        self.addOutput(QgsProcessingOutputString(MODEL_USED, self.tr("Model used")))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        vv = self.parameterAsInt(parameters, VV_BAND, context)
        vh = self.parameterAsInt(parameters, VH_BAND, context)
        if vv and vv == vh:
            return False, self.tr(
                f"VV band and VH band are both band {vv}: choose two different bands "
                "(or leave VH band not set for a VV-only input)."
            )
        if vh and not vv:
            return False, self.tr("VH band is set but VV band is not: set VV band too.")
        model = self.parameterAsFile(parameters, MODEL, context)
        if model and not os.path.isfile(model):
            return False, self.tr(
                f"The model file {model} does not exist: choose an s2o .onnx model, or leave "
                "Model empty for the embedded model that fits the input."
            )
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layer = self.parameterAsRasterLayer(parameters, INPUT, context)
        src = gdal_file_source(layer)
        vv = self.parameterAsInt(parameters, VV_BAND, context)
        vh = self.parameterAsInt(parameters, VH_BAND, context)
        bands = [b for b in (vv, vh) if b] or None
        scale = INPUT_SCALES[self.parameterAsEnum(parameters, INPUT_SCALE, context)]
        device = DEVICES[self.parameterAsEnum(parameters, DEVICE, context)]
        model = self.parameterAsFile(parameters, MODEL, context) or None
        tile_size = self.parameterAsInt(parameters, TILE_SIZE, context)
        dst = output_path(self.parameterAsOutputLayer(parameters, OUTPUT, context))
        with engine_errors(dst):
            deps.require(*self.REQUIRES)
            from ..engine.translate import translate_raster

            result = translate_raster(
                src,
                dst,
                model,
                bands=bands,
                input_scale=scale,
                tile_size=tile_size,
                device=device,
                log=feedback.pushInfo,
                **engine_callbacks(feedback),
            )
        feedback.pushInfo(
            f"Execution provider: {result.provider}; model {result.model_name} "
            f"({result.model_path}), {result.product}; input scale {result.input_scale} "
            f"({result.scale_reason}); bands {result.bands}; {result.width} x {result.height} "
            f"pixels in {result.tiles} tiles, {result.seconds:.1f} s"
        )
        OutputLayer.attach(context, dst, output_name(layer, "optical"), true_colour=True)
        return {
            OUTPUT: dst,
            EXECUTION_PROVIDER: result.provider,
            MODEL_USED: str(result.model_path),
        }
