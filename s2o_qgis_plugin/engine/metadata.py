"""The metadata contract between the exporter and the engine.

An exported S2O generator carries one JSON document in the ONNX file's ``metadata_props`` under
the key :data:`METADATA_KEY`. The exporter builds a :class:`ModelMetadata` and calls
:func:`write_to_onnx_model`; the engine calls :func:`read_from_onnx_session` (or
:func:`ModelMetadata.from_json`). Field names exist only as the dataclass's attributes, so no key
is spelled twice.

Radiometric contract
--------------------
Input: the network's input band ``i`` (``input_bands[i]``, e.g. "VV", "VH") is sigma0 in dB,
clipped to ``input_db_range[i] = (lo, hi)`` and mapped linearly to [-1, 1]:
``x = 2 * (clip(db, lo, hi) - lo) / (hi - lo) - 1``.

Output: the network's output band ``j`` (``output_bands[j]``, "Red", "Green", "Blue") in
``output_value_range = (a, b)`` maps linearly to Sentinel-2 reflectance x 10000 in
``output_dn_range = (lo, hi)``: ``dn = lo + (clip(y, a, b) - a) * (hi - lo) / (b - a)``.

Geometry: the network's height and width must be multiples of ``size_multiple`` (its total
stride); a pixel's value depends on input pixels at most ``halo`` pixels away (receptive-field
radius), so tiles read with a halo of at least ``halo`` and stitched give the whole-image result.

Padding: ``padding`` names how the graph's convolutions pad their inputs. "reflect" is the
trained network as it is. "zeros" (schema 2) is the exporter's faster graph: the same network with
zero padding inside each convolution, identical wherever a pixel is at least ``halo`` pixels from
the input's border and different only in that band. The engine always runs the network on tiles
with a halo of at least ``halo`` pixels (reflected at the scene's edges) and keeps only the tile's
centre, so both give the same result there; a caller that runs the graph itself must do the same.

Sentinel-2 product: ``s2_level`` (schema 3) names the product whose reflectance the network
imitates, the level of all its training targets: "L2A" (surface reflectance, atmospherically
corrected) or "L1C" (top-of-atmosphere reflectance). :data:`S2_LEVELS` holds the allowed values
and the words shown to users (:func:`s2_level_label`). A schema-1 or schema-2 file has no such
field and reads as "L2A": every model exported before schema 3 was trained on BigEarthNet,
whose Sentinel-2 patches are L2A.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields

from .errors import MetadataError  # defined with the engine's other errors (a ModelError)

METADATA_KEY = "s2o_metadata"
SCHEMA_VERSION = 3
PADDINGS = ("reflect", "zeros")
VV_ONLY = ("VV",)
DUAL_POL = ("VV", "VH")
INPUT_LAYOUTS = (VV_ONLY, DUAL_POL)
OUTPUT_BANDS = ("Red", "Green", "Blue")  # the only output an s2o model has (and its band names)
# the Sentinel-2 product a model imitates -> how it is named to users (the one home of both)
S2_LEVELS = {
    "L2A": "Sentinel-2 L2A-like (surface reflectance)",
    "L1C": "Sentinel-2 L1C-like (top of atmosphere)",
}
DEFAULT_S2_LEVEL = "L2A"  # also what files older than schema 3 are read as (module docstring)
# the attribution the Copernicus licence asks of every product made from Sentinel data
SENTINEL_CREDIT = "Contains modified Copernicus Sentinel data"


def layout_name(input_bands) -> str:
    """How a model's input bands are named to users: "VV-only" or "VV+VH"."""
    return "VV-only" if tuple(input_bands) == VV_ONLY else "+".join(input_bands)


def s2_level_label(level: str) -> str:
    """The words for a Sentinel-2 level ("L2A" -> "Sentinel-2 L2A-like (surface reflectance)");
    MetadataError for a level that is not in S2_LEVELS."""
    try:
        return S2_LEVELS[level]
    except (KeyError, TypeError):
        raise MetadataError(f"s2_level must be one of {list(S2_LEVELS)}, got {level!r}") from None


@dataclass(kw_only=True)
class ModelMetadata:
    """The contract (module docstring). Fields without a default are required (a file lacking
    one is refused, never run with a guess): the geometry (size_multiple, halo) and the
    radiometry (input bands and the ranges of both maps). The defaults of the others are true
    of every file that lacks them (output_bands has one allowed value; padding and s2_level are
    what files older than their schema were; the graph's tensor names are the exporter's, and
    S2OModel.load checks them against the graph) or only describe the model."""

    name: str = "s2o-npde"
    version: str = "0.0.0"
    architecture: str = "s2o-npde"
    input_bands: list[str]
    input_db_range: list[list[float]]
    output_bands: list[str] = field(default_factory=lambda: list(OUTPUT_BANDS))
    output_value_range: list[float]
    output_dn_range: list[float]
    size_multiple: int
    halo: int
    padding: str = "reflect"
    s2_level: str = DEFAULT_S2_LEVEL
    input_name: str = "sar"  # the graph's tensors, as the exporter names them (checked on load)
    output_name: str = "optical"
    training_data: str = ""
    licence: str = ""
    credit: str = ""
    metrics: dict = field(default_factory=dict)
    description: str = ""
    schema_version: int = SCHEMA_VERSION

    # -- validation --------------------------------------------------------------------------
    def validate(self) -> ModelMetadata:
        """Raise MetadataError naming the first broken rule; return self when all hold."""
        if self.schema_version > SCHEMA_VERSION:
            raise MetadataError(
                f"model metadata schema {self.schema_version} is newer than this plugin "
                f"understands ({SCHEMA_VERSION}): update the s2o plugin"
            )
        if tuple(self.input_bands) not in INPUT_LAYOUTS:
            raise MetadataError(
                f"input_bands must be one of {[list(x) for x in INPUT_LAYOUTS]}, "
                f"got {self.input_bands}"
            )
        if len(self.input_db_range) != len(self.input_bands):
            raise MetadataError("input_db_range needs one (low, high) pair per input band")
        for band, rng in zip(self.input_bands, self.input_db_range, strict=True):
            if len(rng) != 2 or not rng[0] < rng[1]:
                raise MetadataError(f"input_db_range for {band} must be (low, high), got {rng}")
        if tuple(self.output_bands) != OUTPUT_BANDS:
            raise MetadataError(
                f"output_bands must be {', '.join(OUTPUT_BANDS)}, got {self.output_bands}")
        for name in ("output_value_range", "output_dn_range"):
            rng = getattr(self, name)
            if len(rng) != 2 or not rng[0] < rng[1]:
                raise MetadataError(f"{name} must be (low, high), got {rng}")
        if not (isinstance(self.size_multiple, int) and self.size_multiple >= 1):
            raise MetadataError(f"size_multiple must be a positive integer: {self.size_multiple}")
        if not (isinstance(self.halo, int) and self.halo >= 0):
            raise MetadataError(f"halo must be a non-negative integer, got {self.halo}")
        if self.padding not in PADDINGS:
            raise MetadataError(f"padding must be one of {list(PADDINGS)}, got {self.padding!r}")
        s2_level_label(self.s2_level)  # MetadataError for a level not in S2_LEVELS
        return self

    @property
    def n_input_bands(self) -> int:
        return len(self.input_bands)

    @property
    def product(self) -> str:
        """The Sentinel-2 product imitated, in words: "Sentinel-2 L2A-like (surface ...)"."""
        return s2_level_label(self.s2_level)

    # -- serialisation -----------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MetadataError(f"model metadata is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise MetadataError("model metadata must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown and raw.get("schema_version", SCHEMA_VERSION) <= SCHEMA_VERSION:
            raise MetadataError(f"unknown model metadata keys: {sorted(unknown)}")
        missing = [name for name in required_fields() if name not in raw]
        if missing:
            raise MetadataError(
                f"the model's metadata lacks {', '.join(missing)}, which the engine cannot run "
                "a model without (a guess would give wrong pixels): re-export the model with "
                "export/export_onnx.py"
            )
        meta = cls(**{k: v for k, v in raw.items() if k in known})
        return meta.validate()


def required_fields() -> tuple[str, ...]:
    """The names of the fields a model's metadata must have (those without a default)."""
    return tuple(f.name for f in fields(ModelMetadata)
                 if f.default is MISSING and f.default_factory is MISSING)


NOT_S2O_HELP = (
    "this ONNX file has no s2o metadata: it was not written by `python export/export_onnx.py`. "
    "Export the checkpoint with that tool, or choose an s2o model file"
)


def write_to_onnx_model(onnx_model, meta: ModelMetadata) -> None:
    """Store ``meta`` in an ``onnx.ModelProto`` (in place), replacing an earlier entry."""
    meta.validate()
    for prop in list(onnx_model.metadata_props):
        if prop.key == METADATA_KEY:
            onnx_model.metadata_props.remove(prop)
    entry = onnx_model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = meta.to_json()


def read_from_custom_map(custom: dict) -> ModelMetadata:
    """Read from a ``{key: value}`` map such as onnxruntime's ``custom_metadata_map``."""
    if METADATA_KEY not in custom:
        raise MetadataError(NOT_S2O_HELP)
    return ModelMetadata.from_json(custom[METADATA_KEY])


def read_from_onnx_session(session) -> ModelMetadata:
    """Read from an ``onnxruntime.InferenceSession``."""
    return read_from_custom_map(session.get_modelmeta().custom_metadata_map)
