"""One source of user-facing words: the engine's messages in the CLI's words by default and in
the dialog's words inside ``speaking(DIALOG)``; optical rasters refused for what they are."""

import threading

import numpy as np
import pytest

from s2o_qgis_plugin.engine import input_kind
from s2o_qgis_plugin.engine.errors import CLI, DIALOG, InputError, speaking, words
from s2o_qgis_plugin.engine.model import DEVICES
from s2o_qgis_plugin.engine.radiometry import INPUT_SCALES, choose_bands
from s2o_qgis_plugin.engine.translate import translate_raster
from tests.engine.fixtures import make_model, sar_db, write_raster, write_sar


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("m") / "tiny.onnx")


def test_the_dialog_names_every_engine_choice():
    assert set(DIALOG.choices["input_scale"]) == set(INPUT_SCALES)
    assert set(DIALOG.choices["device"]) == set(DEVICES)
    assert set(CLI.labels) == set(DIALOG.labels)


def test_cli_words_by_default_dialog_words_inside_speaking():
    assert words() is CLI
    assert CLI.set_to("input_scale", "db") == "set input scale to db"
    assert CLI.bands_example([1, 2], ["VV", "VH"]) == "bands option, e.g. 1,2"
    with speaking(DIALOG):
        assert words() is DIALOG
        assert words().set_to("input_scale", "linear", "db") == \
            "set Input scale to Linear (power) or Decibels (dB)"
        assert words().bands_example([3, 4], ["VV", "VH"]) == "VV band 3 and VH band 4"
    assert words() is CLI


def test_the_words_belong_to_the_thread_that_speaks():
    seen = []
    with speaking(DIALOG):
        worker = threading.Thread(target=lambda: seen.append(words()))
        worker.start()
        worker.join()
    assert seen == [CLI]


def test_a_band_refusal_in_each_front_ends_words():
    with pytest.raises(InputError) as cli:
        choose_bands([None, None, None], 3)
    assert "(bands option, e.g. 1,2)" in str(cli.value)
    with speaking(DIALOG), pytest.raises(InputError) as dialog:
        choose_bands([None, None, None], 3)
    assert "(VV band 1 and VH band 2)" in str(dialog.value)
    assert "option" not in str(dialog.value)


def test_a_declared_scale_the_values_contradict_in_dialog_words(tmp_path, model):
    src = write_sar(tmp_path / "lin.tif", 40, 40, scale="linear")
    with speaking(DIALOG), pytest.raises(InputError) as err:
        translate_raster(src, tmp_path / "out.tif", model, input_scale="db", tile_size=32)
    text = str(err.value)
    assert "declared dB (Input scale)" in text
    assert "set Input scale to Linear (power), Amplitude or Auto" in text
    assert not (tmp_path / "out.tif").exists()


@pytest.mark.parametrize("descriptions,dtypes,colours,expected", [
    (["VV", "VH"], ["float32"] * 2, [], input_kind.SAR),
    (["Sigma0_VV_db"], ["float32"], [], input_kind.SAR),
    ([None, None], ["float32"] * 2, [], input_kind.UNKNOWN),
    ([None], ["uint16"], [], input_kind.UNKNOWN),  # a Sentinel-1 DN band looks like this too
    (["Red", "Green", "Blue"], ["uint16"] * 3, [], input_kind.OPTICAL),
    (["B04", "B03", "B02", "B8A"], ["float32"] * 4, [], input_kind.OPTICAL),
    ([None, None, None], ["float32"] * 3, ["red", "green", "blue"], input_kind.OPTICAL),
    ([None, None, None], ["uint8"] * 3, [], input_kind.OPTICAL),
    ([None, None, None], ["float32"] * 3, [], input_kind.UNKNOWN),  # e.g. VV, VH, ratio
    (["VV", "VH", "Blue"], ["uint16"] * 3, [], input_kind.SAR),  # a polarisation says SAR
])
def test_kind_of_raster(descriptions, dtypes, colours, expected):
    assert input_kind.kind(descriptions, dtypes, colours) == expected


def test_an_optical_raster_is_refused_for_what_it_is(tmp_path, model):
    rgb = np.random.default_rng(0).integers(1, 3000, (3, 40, 40)).astype("uint16")
    src = write_raster(tmp_path / "s2.tif", rgb, descriptions=["Red", "Green", "Blue"])
    with pytest.raises(InputError) as cli:
        translate_raster(src, tmp_path / "out.tif", model, tile_size=32)
    assert str(cli.value).startswith("the input looks like an optical image, not Sentinel-1 SAR: "
                                     "its bands are described as Red, Green, Blue")
    with speaking(DIALOG), pytest.raises(InputError) as dialog:
        translate_raster(src, tmp_path / "out.tif", model, bands=[1, 2], tile_size=32)
    assert str(dialog.value).startswith("this layer looks like an optical image, not Sentinel-1")
    assert not (tmp_path / "out.tif").exists()
    sar = write_raster(tmp_path / "s1.tif", sar_db(40, 40, 2), descriptions=["VV", "VH"])
    assert translate_raster(sar, tmp_path / "out.tif", model, tile_size=32).bands == [1, 2]
