"""The metadata contract: round trip, every validation rule's message, schema handling."""

import json

import pytest

from s2o_qgis_plugin.engine import metadata as md
from s2o_qgis_plugin.engine.errors import ModelError
from s2o_qgis_plugin.engine.model import S2OModel
from tests.engine.fixtures import build_model, model_metadata


def test_round_trip_through_json_and_an_onnx_proto():
    import onnx

    meta = model_metadata(name="m", version="1.2.3", halo=40, padding="zeros", s2_level="L1C",
                          metrics={"a": 1})
    assert md.ModelMetadata.from_json(meta.to_json()) == meta
    proto = onnx.ModelProto()
    md.write_to_onnx_model(proto, model_metadata(name="old"))
    md.write_to_onnx_model(proto, meta)  # replaces, does not add a second entry
    entries = [p for p in proto.metadata_props if p.key == md.METADATA_KEY]
    assert len(entries) == 1
    assert md.read_from_custom_map({md.METADATA_KEY: entries[0].value}) == meta


def test_schema_1_files_read_as_reflection_padded():
    raw = json.loads(model_metadata().to_json())
    del raw["padding"]
    raw["schema_version"] = 1
    meta = md.ModelMetadata.from_json(json.dumps(raw))
    assert meta.padding == "reflect" and meta.schema_version == 1


def test_schema_2_files_read_as_l2a():
    """Files written before schema 3 have no s2_level: all were trained on BigEarthNet L2A."""
    raw = json.loads(model_metadata(padding="zeros").to_json())
    del raw["s2_level"]
    raw["schema_version"] = 2
    meta = md.ModelMetadata.from_json(json.dumps(raw))
    assert (meta.s2_level, meta.padding, meta.schema_version) == ("L2A", "zeros", 2)
    assert meta.product == "Sentinel-2 L2A-like (surface reflectance)"


def test_s2_levels_and_their_words():
    assert md.SCHEMA_VERSION == 3
    assert model_metadata().s2_level == "L2A"
    assert md.s2_level_label("L1C") == "Sentinel-2 L1C-like (top of atmosphere)"
    assert model_metadata(s2_level="L1C").validate().product == md.S2_LEVELS["L1C"]
    with pytest.raises(md.MetadataError, match=r"s2_level must be one of \['L2A', 'L1C'\]"):
        md.s2_level_label("L3")


@pytest.mark.parametrize("change,message", [
    (dict(input_bands=["HH"]), "input_bands must be one of"),
    (dict(input_db_range=[[-25.0, 0.0]]), "one (low, high) pair per input band"),
    (dict(input_db_range=[[0.0, -25.0], [-32.5, 0.0]]),
     "input_db_range for VV must be (low, high)"),
    (dict(output_bands=["B", "G", "R"]), "output_bands must be Red, Green, Blue"),
    (dict(output_dn_range=[3000.0, 0.0]), "output_dn_range must be (low, high)"),
    (dict(size_multiple=0), "size_multiple must be a positive integer"),
    (dict(halo=-1), "halo must be a non-negative integer"),
    (dict(padding="replicate"), "padding must be one of ['reflect', 'zeros'], got 'replicate'"),
    (dict(s2_level="l2a"), "s2_level must be one of ['L2A', 'L1C'], got 'l2a'"),
    (dict(schema_version=md.SCHEMA_VERSION + 1), "newer than this plugin understands"),
])
def test_each_rule_names_the_problem(change, message):
    raw = {**json.loads(model_metadata().to_json()), **change}
    with pytest.raises(md.MetadataError) as info:
        md.ModelMetadata.from_json(json.dumps(raw))
    assert message in str(info.value)


def test_unknown_keys_and_non_s2o_files():
    raw = {**json.loads(model_metadata().to_json()), "colour": "red"}
    with pytest.raises(md.MetadataError, match=r"unknown model metadata keys: \['colour'\]"):
        md.ModelMetadata.from_json(json.dumps(raw))
    with pytest.raises(md.MetadataError, match="not valid JSON"):
        md.ModelMetadata.from_json("{")
    with pytest.raises(md.MetadataError, match="no s2o metadata"):
        md.read_from_custom_map({})


def test_the_fields_a_model_cannot_run_without_are_required():
    """A file lacking the geometry or the radiometry is refused, naming what it lacks, instead of
    being run with a guess (an empty document once read as a complete model with halo 64)."""
    assert md.required_fields() == ("input_bands", "input_db_range", "output_value_range",
                                    "output_dn_range", "size_multiple", "halo")
    with pytest.raises(md.MetadataError) as info:
        md.ModelMetadata.from_json("{}")
    assert "lacks input_bands, input_db_range, output_value_range, output_dn_range, " \
           "size_multiple, halo" in str(info.value)
    for name in md.required_fields():
        raw = json.loads(model_metadata().to_json())
        del raw[name]
        with pytest.raises(md.MetadataError, match=f"metadata lacks {name}, which the engine"):
            md.ModelMetadata.from_json(json.dumps(raw))
    with pytest.raises(TypeError, match="halo"):
        md.ModelMetadata(input_bands=["VV"], input_db_range=[[-25.0, 0.0]],
                         output_value_range=[-1.0, 1.0], output_dn_range=[0.0, 3000.0],
                         size_multiple=4)


def test_a_model_file_without_its_halo_is_refused_on_load(tmp_path):
    """The engine's loader says which file and which field, as a ModelError (the words the CLI
    and the QGIS algorithms show)."""
    import onnx

    proto = build_model()
    entry = next(p for p in proto.metadata_props if p.key == md.METADATA_KEY)
    raw = json.loads(entry.value)
    del raw["halo"]
    entry.value = json.dumps(raw)
    path = tmp_path / "no_halo.onnx"
    onnx.save(proto, path)
    with pytest.raises(ModelError) as info:
        S2OModel.load(path, device="cpu", threads=1)
    assert str(info.value).startswith(f"{path}: the model's metadata lacks halo,")


def test_the_shipped_models_hold_every_required_field():
    from s2o_qgis_plugin.engine.model import DEFAULT_MODEL_PATH, VV_MODEL_PATH

    for path in (DEFAULT_MODEL_PATH, VV_MODEL_PATH):
        if not path.is_file():
            continue
        meta = S2OModel.load(path, device="cpu", threads=1).meta
        assert meta.halo == 47 and meta.size_multiple == 4
        assert all(getattr(meta, name) is not None for name in md.required_fields())
