"""Radiometry: scale conversions, the "auto" scale on real and synthetic Sentinel-1 values,
refusal of contradictions, band choice."""

from pathlib import Path

import numpy as np
import pytest
import rasterio

from s2o_qgis_plugin.engine.errors import InputError
from s2o_qgis_plugin.engine.radiometry import (
    FLOOR_DB,
    ScaleDecision,
    ValueStats,
    choose_bands,
    decide_input_scale,
    embedded_layout,
    from_db,
    network_to_dn,
    network_to_uint16,
    polarisation_notes,
    sar_to_network,
    scale_from_descriptions,
    to_db,
)
from tests.engine.fixtures import db_as, sar_db

DATA = Path(__file__).resolve().parents[1] / "data" / "bigearthnet"
REAL_DB = sorted((DATA / "s1").glob("*.tif"))
REAL_LINEAR = sorted((DATA / "s1_linear").glob("*.tif"))
needs_real = pytest.mark.skipif(not REAL_DB, reason="tests/data/bigearthnet not present")


def stats_of(data):
    return ValueStats.from_blocks([np.asarray(data, dtype=np.float32)])


def read_all(path):
    with rasterio.open(path) as src:
        return src.read(out_dtype="float32"), list(src.descriptions)


# -- conversions ----------------------------------------------------------------------------------
def test_to_db_and_back():
    db = np.array([-30.0, -12.5, 0.0, 3.0], np.float32)
    for scale in ("linear", "amplitude", "db"):
        assert np.allclose(to_db(db_as(db, scale), scale), db, atol=1e-4)
        assert np.allclose(from_db(db, scale), db_as(db, scale), rtol=1e-5)
    assert np.allclose(to_db(np.array([0.01]), "amplitude"), -40.0)
    assert to_db(np.array([0.1], np.float64), "linear").dtype == np.float32


def test_floor_for_zero_and_negative_values_and_nan_passes_through():
    out = to_db(np.array([0.0, -0.2, np.nan, 1.0]), "linear")
    assert out[0] == pytest.approx(FLOOR_DB) and out[1] == pytest.approx(FLOOR_DB)
    assert np.isnan(out[2]) and out[3] == 0.0
    assert to_db(np.array([0.0]), "amplitude")[0] == pytest.approx(FLOOR_DB)


def test_sar_to_network_maps_the_db_range_to_minus_one_one():
    lin = db_as(np.array([[-40.0, -25.0, -12.5, 0.0, 5.0]] * 2, np.float32), "linear")
    x = sar_to_network(lin, "linear", [[-25.0, 0.0], [-32.5, 0.0]])
    assert np.allclose(x[0], [-1, -1, 0, 1, 1], atol=1e-5)
    assert np.allclose(x[1, 2], 2 * (20 / 32.5) - 1, atol=1e-5)


# -- auto scale from values ---------------------------------------------------------------------
@needs_real
@pytest.mark.parametrize("path", REAL_DB, ids=lambda p: p.stem)
def test_auto_recognises_real_sentinel1_in_all_three_scales(path):
    db, descriptions = read_all(path)
    assert descriptions == ["VV", "VH"]  # names the polarisation, not the scale
    for scale in ("db", "linear", "amplitude"):
        decision = decide_input_scale(stats_of(db_as(db, scale)), "auto", descriptions)
        assert decision.scale == scale, decision.reason
        assert decision.reason.startswith("auto: values")


@needs_real
def test_auto_on_the_committed_linear_fixture():
    data, descriptions = read_all(REAL_LINEAR[0])
    decision = decide_input_scale(stats_of(data), "auto", descriptions)
    assert decision.scale == "linear"
    assert "speckle contrast" in decision.reason and ">= 0.29" in decision.reason


@pytest.mark.parametrize("scale", ["db", "linear", "amplitude"])
def test_auto_on_synthetic_speckled_scenes(scale):
    data = db_as(sar_db(120, 120, 2, seed=5), scale)
    assert decide_input_scale(stats_of(data)).scale == scale


def test_auto_reason_names_the_numbers():
    d = decide_input_scale(stats_of(sar_db(60, 60, 1)))
    assert d.scale == "db"
    assert "median -" in d.reason and "% negative" in d.reason and "[-50, 20]" in d.reason


def test_auto_refuses_what_is_no_scale():
    with pytest.raises(InputError, match="values have negatives but are not sigma0 in dB"):
        decide_input_scale(stats_of(np.linspace(-500, 100, 400).reshape(1, 20, 20)))
    with pytest.raises(InputError, match="fit neither linear sigma0 nor amplitude"):
        decide_input_scale(stats_of(np.full((1, 20, 20), 1200.0)))


def test_auto_refuses_to_guess_linear_or_amplitude_on_a_few_pixels():
    with pytest.raises(InputError, match="so few pixels.*set input scale to linear or amplitude"):
        decide_input_scale(stats_of(np.full((1, 3, 5), 0.1)))


def test_all_nodata_gives_a_decision_without_values():
    d = decide_input_scale(stats_of(np.full((2, 8, 8), np.nan)))
    assert d.scale == "db" and "all nodata" in d.reason


# -- descriptions --------------------------------------------------------------------------------
@pytest.mark.parametrize("descriptions,scale", [
    (["VV_dB", "VH_dB"], "db"),
    (["Sigma0_VV_db", "Sigma0_VH_db"], "db"),
    (["VVdB"], "db"),
    (["Amplitude_VV", "Amplitude_VH"], "amplitude"),
    (["Sigma0_VV", "Sigma0_VH"], "linear"),
    (["Intensity_VV"], "linear"),
    (["VV", "VH"], None),
    ([None, ""], None),
    (["dbz"], None),
])
def test_scale_from_descriptions(descriptions, scale):
    assert scale_from_descriptions(descriptions)[0] == scale


def test_descriptions_that_disagree_are_refused():
    with pytest.raises(InputError, match="disagree on the input scale: 'VV_dB' \\(db\\)"):
        scale_from_descriptions(["VV_dB", "Sigma0_VH"])


def test_auto_follows_descriptions_and_says_so():
    lin = db_as(sar_db(40, 40, 2), "linear")
    d = decide_input_scale(stats_of(lin), "auto", ["Sigma0_VV", "Sigma0_VH"])
    assert d == ScaleDecision("linear", "auto: band description 'Sigma0_VV'")


# -- contradictions ------------------------------------------------------------------------------
def test_declared_db_but_values_look_linear():
    lin = np.random.default_rng(0).gamma(2.0, 0.025, (1, 40, 40))  # median ~0.04
    with pytest.raises(InputError) as err:
        decide_input_scale(stats_of(lin), "db")
    msg = str(err.value)
    assert "declared dB (input scale option)" in msg and "median of 0.04" in msg
    assert "set input scale to linear, amplitude or auto" in msg


def test_description_db_but_values_linear_names_the_description():
    lin = db_as(sar_db(40, 40, 2), "linear")
    with pytest.raises(InputError, match="declared dB \\(band description 'VV_dB'\\)"):
        decide_input_scale(stats_of(lin), "auto", ["VV_dB", "VH_dB"])


def test_declared_linear_but_values_negative():
    with pytest.raises(InputError) as err:
        decide_input_scale(stats_of(sar_db(40, 40, 1)), "linear")
    msg = str(err.value)
    assert "declared linear" in msg and "100.0% of its values are negative" in msg
    assert "minimum -" in msg and "set input scale to db" in msg


def test_declared_amplitude_but_uncalibrated_numbers():
    with pytest.raises(InputError, match="99th percentile is 4000.*calibrate"):
        decide_input_scale(stats_of(np.full((1, 10, 10), 4000.0)), "amplitude")


def test_declared_scales_that_fit_are_kept():
    lin = db_as(sar_db(40, 40, 2), "linear")
    assert decide_input_scale(stats_of(lin), "Linear").scale == "linear"
    amp = db_as(sar_db(40, 40, 2), "amplitude")
    assert decide_input_scale(stats_of(amp), "amplitude").reason == "input scale option, as chosen"
    with pytest.raises(InputError, match="input scale must be one of auto, linear, db, amplitude"):
        decide_input_scale(stats_of(lin), "power")


# -- band choice -----------------------------------------------------------------------------------
@pytest.mark.parametrize("descriptions,count,needed,expected", [
    (["VV", "VH"], 2, ("VV", "VH"), [1, 2]),
    (["Sigma0_VH", "Sigma0_VV"], 2, ("VV", "VH"), [2, 1]),  # SNAP's alphabetical order
    (["vh_db", "angle", "VVdB"], 3, ("VV", "VH"), [3, 1]),
    (["VV", "VH"], 2, ("VV",), [1]),
    ([None, None], 2, ("VV", "VH"), [1, 2]),
    ([None], 1, ("VV",), [1]),
    ([], 1, ("VV",), [1]),
])
def test_choose_bands_defaults(descriptions, count, needed, expected):
    assert choose_bands(descriptions, count, None, needed) == expected


def test_choose_bands_requested_wins_and_is_checked():
    assert choose_bands(["VV", "VH"], 2, [2, 1]) == [2, 1]
    assert choose_bands([None] * 4, 4, (3,), ("VV",)) == [3]
    with pytest.raises(InputError, match="give 2 band number\\(s\\), got \\[1\\]"):
        choose_bands([None] * 3, 3, [1])
    with pytest.raises(InputError, match="band 5 does not exist: the raster has bands 1..3"):
        choose_bands([None] * 3, 3, [1, 5])
    with pytest.raises(InputError, match="bands must differ"):
        choose_bands([None] * 3, 3, [2, 2])
    with pytest.raises(InputError, match="band numbers such as 1,2"):
        choose_bands([None] * 3, 3, ["a", "b"])


def test_two_band_model_on_a_one_band_raster():
    with pytest.raises(InputError) as err:
        choose_bands(["VV"], 1, None, ("VV", "VH"))
    assert "the model needs 2 bands (VV, VH) but the raster has 1 (1 'VV')" in str(err.value)


def test_more_bands_than_needed_without_descriptions():
    with pytest.raises(InputError) as err:
        choose_bands([None, None, None], 3, None, ("VV", "VH"))
    msg = str(err.value)
    assert "the raster has 3 bands (1 (no description), 2 (no description), 3 (no description))"\
        in msg
    assert "bands option, e.g. 1,2" in msg


def test_vv_model_on_an_undescribed_two_band_raster_is_not_guessed():
    with pytest.raises(InputError, match="the model needs 1 \\(VV\\)"):
        choose_bands([None, None], 2, None, ("VV",))


def test_described_polarisations_that_do_not_match():
    with pytest.raises(InputError, match="no band is described as VH \\(1 'VV', 2 'HH'\\)"):
        choose_bands(["VV", "HH"], 2, None, ("VV", "VH"))
    with pytest.raises(InputError, match="bands 1, 2 all look like VV"):
        choose_bands(["VV_asc", "VV_desc"], 2, None, ("VV",))


HH_REASON = "the s2o models were trained on VV/VH"


@pytest.mark.parametrize("descriptions,needed,suggested", [
    (["HH", "HV"], ("VV", "VH"), [1, 2]),
    (["Sigma0_HV_db", "Sigma0_HH_db"], ("VV", "VH"), [2, 1]),
    (["HH", "HV"], ("VV",), [1]),
    (["angle", "HH"], ("VV",), [2]),
])
def test_hh_hv_bands_are_refused_with_the_reason_and_the_override(descriptions, needed,
                                                                   suggested):
    with pytest.raises(InputError) as err:
        choose_bands(descriptions, len(descriptions), None, needed)
    msg = str(err.value)
    assert "the raster's bands are HH/HV polarisation" in msg and HH_REASON in msg
    assert "polar and sea-ice" in msg and "HH/HV backscatter differs from VV/VH" in msg
    assert f"choose the bands yourself (bands option, e.g. {','.join(map(str, suggested))})" in msg
    # the override: bands chosen explicitly are used as told, with a note for the log
    chosen = choose_bands(descriptions, len(descriptions), suggested, needed)
    notes = polarisation_notes(descriptions, chosen, needed)
    assert notes and "is used as VV, as chosen" in notes[0] and "not trained on it" in notes[0]


@pytest.mark.parametrize("descriptions,count,requested,layout,why", [
    (["VV", "VH"], 2, None, ("VV", "VH"), "the band descriptions name VV and VH"),
    (["Sigma0_VH_db", "Sigma0_VV_db"], 2, None, ("VV", "VH"), "name VV and VH"),
    (["VV", "HH", "HV", "VH"], 4, None, ("VV", "VH"), "name VV and VH"),  # quad-pol
    (["Sigma0_VV_db"], 1, None, ("VV",), "the band descriptions name VV and no VH"),
    (["VV", "angle"], 2, None, ("VV",), "name VV and no VH"),
    ([None], 1, None, ("VV",), "a single band, taken as VV"),
    ([], 1, None, ("VV",), "a single band, taken as VV"),
    (["VH"], 1, None, ("VV",), "a single band described as VH"),  # choose_bands refuses it
    ([None, None], 2, None, ("VV", "VH"), "2 bands, none described by polarisation"),
    ([None] * 3, 3, None, ("VV", "VH"), "3 bands"),
    (["VV", "VH"], 2, [2], ("VV",), "band 2 was chosen alone"),
    (["HH", "HV"], 2, [1, 2], ("VV", "VH"), "bands 1, 2 were chosen"),
    (["HH"], 1, [1], ("VV",), "band 1 was chosen alone"),
])
def test_embedded_layout_fits_the_bands(descriptions, count, requested, layout, why):
    got, reason = embedded_layout(descriptions, count, requested)
    assert got == layout and why in reason


def test_embedded_layout_refuses_bands_that_are_not_a_list():
    with pytest.raises(InputError, match="bands must be band numbers such as 1,2; got 3"):
        embedded_layout([None], 1, 3)


@pytest.mark.parametrize("descriptions,example", [
    (["HH", "HV"], "e.g. 1,2"), (["HH"], "e.g. 1)"), (["Sigma0_HH_db", "angle"], "e.g. 1)"),
])
def test_embedded_layout_refuses_hh_hv(descriptions, example):
    with pytest.raises(InputError) as err:
        embedded_layout(descriptions, len(descriptions))
    assert HH_REASON in str(err.value) and example in str(err.value)


def test_polarisation_notes_only_for_bands_used_against_their_description():
    assert polarisation_notes(["VV", "VH"], [1, 2], ("VV", "VH")) == []
    assert polarisation_notes([None, None], [1, 2], ("VV", "VH")) == []
    (note,) = polarisation_notes(["VV", "VH"], [2], ("VV",))
    assert note == "band 2 is described as VH ('VH') but is used as VV, as chosen"


@pytest.mark.parametrize("dn_range", [(0.0, 3000.0), (100.0, 10000.0), (0.0, 70000.0)])
def test_network_to_uint16_is_network_to_dn_rounded_and_clipped(dn_range):
    y = np.random.default_rng(0).uniform(-1.2, 1.2, (3, 64, 64)).astype(np.float32)
    y[0, 0, :4] = [-1.0, 1.0, -1.0 + 1e-4, 0.0]
    expected = np.clip(np.rint(network_to_dn(y, (-1.0, 1.0), dn_range)), 1, 65535)
    got = network_to_uint16(y, (-1.0, 1.0), dn_range)
    assert got.dtype == np.uint16
    assert np.abs(got.astype(int) - expected).max() <= 1  # float rounding at .5 only
    assert (got == expected).mean() > 0.99
