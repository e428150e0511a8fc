"""The QGIS enum values the plugin uses, fully scoped, on every QGIS it runs on (3.22 to 4).

QGIS 3.30 and 3.36 moved these enums into the ``Qgis`` class (``Qgis.LayerType``,
``Qgis.ProcessingNumberParameterType``, ``Qgis.ProcessingParameterFlag``); the old names are
deprecated aliases in 3.40 and leave with QGIS 4. Each value here comes from the new home when
this QGIS has it, else from the old one, spelled scoped (which PyQt5 allows and Qt6 requires).
Enums that did not move are written scoped where they are used (``Qgis.MessageLevel.Warning``).
tests/unit/test_qt6_ready.py keeps the plugin to this.
"""

from __future__ import annotations

from qgis.core import Qgis

if hasattr(Qgis, "ProcessingNumberParameterType"):  # QGIS >= 3.36
    NUMBER_INTEGER = Qgis.ProcessingNumberParameterType.Integer
    NUMBER_DOUBLE = Qgis.ProcessingNumberParameterType.Double
else:
    from qgis.core import QgsProcessingParameterNumber  # QGIS < 3.36

    NUMBER_INTEGER = QgsProcessingParameterNumber.Type.Integer  # QGIS < 3.36
    NUMBER_DOUBLE = QgsProcessingParameterNumber.Type.Double  # QGIS < 3.36

if hasattr(Qgis, "ProcessingParameterFlag"):  # QGIS >= 3.36
    PARAMETER_ADVANCED = Qgis.ProcessingParameterFlag.Advanced
else:
    from qgis.core import QgsProcessingParameterDefinition  # QGIS < 3.36

    PARAMETER_ADVANCED = QgsProcessingParameterDefinition.Flag.FlagAdvanced  # QGIS < 3.36

if hasattr(Qgis, "LayerType"):  # QGIS >= 3.30
    RASTER_LAYER = Qgis.LayerType.Raster
else:
    from qgis.core import QgsMapLayerType  # QGIS < 3.30

    RASTER_LAYER = QgsMapLayerType.RasterLayer  # QGIS < 3.30
