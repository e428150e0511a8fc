"""The metadata contract: round trip, every validation rule's message, schema handling."""

import json

import pytest

from s2o_qgis_plugin.engine import metadata as md


def test_round_trip_through_json_and_an_onnx_proto():
    import onnx

    meta = md.ModelMetadata(name="m", version="1.2.3", halo=40, padding="zeros", s2_level="L1C",
                            metrics={"a": 1})
    assert md.ModelMetadata.from_json(meta.to_json()) == meta
    proto = onnx.ModelProto()
    md.write_to_onnx_model(proto, md.ModelMetadata(name="old"))
    md.write_to_onnx_model(proto, meta)  # replaces, does not add a second entry
    entries = [p for p in proto.metadata_props if p.key == md.METADATA_KEY]
    assert len(entries) == 1
    assert md.read_from_custom_map({md.METADATA_KEY: entries[0].value}) == meta


def test_schema_1_files_read_as_reflection_padded():
    raw = json.loads(md.ModelMetadata().to_json())
    del raw["padding"]
    raw["schema_version"] = 1
    meta = md.ModelMetadata.from_json(json.dumps(raw))
    assert meta.padding == "reflect" and meta.schema_version == 1


def test_schema_2_files_read_as_l2a():
    """Files written before schema 3 have no s2_level: all were trained on BigEarthNet L2A."""
    raw = json.loads(md.ModelMetadata(padding="zeros").to_json())
    del raw["s2_level"]
    raw["schema_version"] = 2
    meta = md.ModelMetadata.from_json(json.dumps(raw))
    assert (meta.s2_level, meta.padding, meta.schema_version) == ("L2A", "zeros", 2)
    assert meta.product == "Sentinel-2 L2A-like (surface reflectance)"


def test_s2_levels_and_their_words():
    assert md.SCHEMA_VERSION == 3
    assert md.ModelMetadata().s2_level == "L2A"
    assert md.s2_level_label("L1C") == "Sentinel-2 L1C-like (top of atmosphere)"
    assert md.ModelMetadata(s2_level="L1C").validate().product == md.S2_LEVELS["L1C"]
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
    raw = {**json.loads(md.ModelMetadata().to_json()), **change}
    with pytest.raises(md.MetadataError) as info:
        md.ModelMetadata.from_json(json.dumps(raw))
    assert message in str(info.value)


def test_unknown_keys_and_non_s2o_files():
    raw = {**json.loads(md.ModelMetadata().to_json()), "colour": "red"}
    with pytest.raises(md.MetadataError, match=r"unknown model metadata keys: \['colour'\]"):
        md.ModelMetadata.from_json(json.dumps(raw))
    with pytest.raises(md.MetadataError, match="not valid JSON"):
        md.ModelMetadata.from_json("{")
    with pytest.raises(md.MetadataError, match="no s2o metadata"):
        md.read_from_custom_map({})
