"""Processing algorithm s2o:translate -> engine.translate.translate_raster."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)
from qgis.PyQt.QtGui import QIcon

from .. import deps
from ..engine import model as model_names
from ..engine.metadata import S2_LEVELS
from ..engine.tiling import MAX_TILE
from ..provider import ICON_PATH
from .common import (
    INPUT_SCALES,
    S2OAlgorithm,
    TrueColourStyle,
    engine_callbacks,
    engine_errors,
    gdal_file_source,
    output_path,
    tile_size_parameter,
)

INPUT = "INPUT"
VV_BAND = "VV_BAND"
VH_BAND = "VH_BAND"
INPUT_SCALE = "INPUT_SCALE"
MODEL = "MODEL"
TILE_SIZE = "TILE_SIZE"
DEVICE = "DEVICE"
OUTPUT = "OUTPUT"
EXECUTION_PROVIDER = "EXECUTION_PROVIDER"
MODEL_USED = "MODEL_USED"

DEVICES = list(zip(model_names.DEVICES, (
    "Auto (CUDA GPU when available, else CPU)",
    "CUDA GPU",
    "CPU",
), strict=True))
DEFAULT_TILE_SIZE = 512
MIN_TILE_SIZE = 64

HELP = f"""<p>Translates a Sentinel-1 SAR raster into a Sentinel-2-like true-colour image with
S2O-NPDE, a CycleGAN generator with Taylor-central-difference residual blocks and a
Perona-Malik diffusion module (IJCAI 2023), run by onnxruntime.</p>
<p><b>Input</b>: a Sentinel-1 GRD backscatter raster (calibrated sigma0, ideally terrain
corrected) with a VV band and, if it has one, a VH band. Leave the band choices empty to pick
them from the band descriptions ("VV", "VH"), else band 1 = VV and band 2 = VH. <b>Input
scale</b>: linear power (sigma0), decibels (10 log10 sigma0) or amplitude (sqrt sigma0);
<i>Auto</i> reads the band metadata, else decides from the value range, and the log says what
it chose. Web-service, memory and virtual layers must be saved as GeoTIFF first.</p>
<p><b>Model</b>: empty uses the model embedded in the plugin that fits the input's bands: the
VV+VH model for a VV and a VH band (or two bands without descriptions), the VV-only model for a
single band or bands naming VV and no VH (choosing only a VV band also means VV only; the
VV-only model is an optional part of the plugin, and the run says when it is not installed).
The log says which model ran and why. Any s2o ONNX model exported by
<code>export/export_onnx.py</code> can be chosen instead (its metadata declares its bands and
scaling).</p>
<p><b>HH/HV rasters</b> (Sentinel-1's polar and sea-ice modes) are refused: the models were
trained on VV/VH (vertical co- and cross-polarisation) and HH/HV backscatter differs. To run
them anyway, choose the bands yourself: HH as the VV band and HV as the VH band.</p>
<p><b>Output</b>: a 3-band GeoTIFF (Red, Green, Blue) of Sentinel-2-like reflectance x 10000
(uint16), with the input's CRS, extent, pixel size and nodata; loaded as a true-colour layer
(0-3000 stretch). Each model declares the Sentinel-2 product it imitates, reported in the log
and stored in the file's metadata (S2O_S2_LEVEL, S2O_PRODUCT): the embedded models are
"{S2_LEVELS["L2A"]}"; a model trained on L1C targets gives "{S2_LEVELS["L1C"]}".</p>
<p><b>Scenes of any size</b> are processed in tiles of <i>tile size</i> pixels read with an extra
border (the model's halo) so that the tiles join without seams; tile size must be a multiple of
the model's stride. Larger tiles are faster but need more memory (GPU memory with CUDA).</p>
<p><b>Device</b>: <i>Auto</i> uses the CUDA GPU when onnxruntime-gpu and a GPU are present and
the CPU otherwise; the log reports which execution provider ran.</p>
<p>Contains modified Copernicus Sentinel data when run on Sentinel-1 products.</p>"""


class TranslateAlgorithm(S2OAlgorithm):
    NAME = "translate"
    DISPLAY_NAME = "Translate SAR to optical"
    HELP = HELP

    def icon(self):
        return QIcon(ICON_PATH)

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(
            QgsProcessingParameterRasterLayer(INPUT, self.tr("Sentinel-1 SAR raster"))
        )
        self.addParameter(
            QgsProcessingParameterBand(
                VV_BAND,
                self.tr("VV band (empty: from band descriptions)"),
                parentLayerParameterName=INPUT,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterBand(
                VH_BAND,
                self.tr("VH band (empty: from band descriptions)"),
                parentLayerParameterName=INPUT,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                INPUT_SCALE,
                self.tr("Input scale"),
                [label for _, label in INPUT_SCALES],
                defaultValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                MODEL,
                self.tr("Model (.onnx; empty: the embedded model that fits the input's bands)"),
                extension="onnx",
                optional=True,
            )
        )
        self.addParameter(
            tile_size_parameter(
                TILE_SIZE,
                self.tr("Tile size (pixels)"),
                DEFAULT_TILE_SIZE,
                MIN_TILE_SIZE,
                MAX_TILE,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                DEVICE, self.tr("Device"), [label for _, label in DEVICES], defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination(OUTPUT, self.tr("Optical (RGB) output"))
        )
        self.addOutput(
            QgsProcessingOutputString(EXECUTION_PROVIDER, self.tr("Execution provider used"))
        )
        self.addOutput(QgsProcessingOutputString(MODEL_USED, self.tr("Model file used")))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        vv = self.parameterAsInt(parameters, VV_BAND, context)
        vh = self.parameterAsInt(parameters, VH_BAND, context)
        if vv and vv == vh:
            return False, self.tr(
                f"The VV band and the VH band are both band {vv}: choose two different bands "
                "(or leave VH empty for a VV-only model)."
            )
        if vh and not vv:
            return False, self.tr("A VH band was chosen without a VV band: choose the VV band too.")
        model = self.parameterAsFile(parameters, MODEL, context)
        if model and not os.path.isfile(model):
            return False, self.tr(
                f"The model file {model} does not exist: choose an s2o .onnx model, or leave "
                "Model empty for the embedded model that fits the input's bands."
            )
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = gdal_file_source(self.parameterAsRasterLayer(parameters, INPUT, context))
        vv = self.parameterAsInt(parameters, VV_BAND, context)
        vh = self.parameterAsInt(parameters, VH_BAND, context)
        bands = [b for b in (vv, vh) if b] or None
        scale = INPUT_SCALES[self.parameterAsEnum(parameters, INPUT_SCALE, context)][0]
        device = DEVICES[self.parameterAsEnum(parameters, DEVICE, context)][0]
        model = self.parameterAsFile(parameters, MODEL, context) or None
        tile_size = self.parameterAsInt(parameters, TILE_SIZE, context)
        dst = output_path(self.parameterAsOutputLayer(parameters, OUTPUT, context))
        with engine_errors(dst):
            deps.require("onnxruntime", "rasterio")
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
        TrueColourStyle.attach(context, dst)
        return {
            OUTPUT: dst,
            EXECUTION_PROVIDER: result.provider,
            MODEL_USED: str(result.model_path),
        }
