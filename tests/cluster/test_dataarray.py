"""translate_dataarray on a real LocalCluster: a Dask-backed DataArray of a real Sentinel-1 scene
(rioxarray.open_rasterio) gives the engine's DN exactly at the same tile size, whatever the
chunks, within the engine's own 1 DN of the whole-image run, and writes a GeoTIFF with the
engine's georeference, nodata, band labels and tags; the chunks are computed on the workers."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rioxarray
from distributed import get_task_stream

from s2o_qgis_plugin.distributed.arrays import grid_chunks, translate_dataarray, write_translation
from s2o_qgis_plugin.distributed.tasks import model_loads
from s2o_qgis_plugin.engine.errors import InputError
from s2o_qgis_plugin.engine.model import DEFAULT_MODEL_PATH
from s2o_qgis_plugin.engine.raster_io import OUTPUT_NODATA, RGB_DESCRIPTIONS
from s2o_qgis_plugin.engine.tiling import read_halo, reflect_index, tile_grid
from s2o_qgis_plugin.engine.translate import TAG_MODEL_FILE
from tests.cluster.helpers import MOSAIC, PUNJAB, engine_output

pytestmark = pytest.mark.slow
WHOLE = 1024  # a tile larger than the scenes: the engine runs the whole image at once


def loads_of(cluster) -> dict:
    """worker address -> {model path: times its process opened it}."""
    return cluster.run(model_loads)


def open_lazy(path, chunk=100):
    return rioxarray.open_rasterio(path, chunks={"band": -1, "y": chunk, "x": chunk})


@pytest.mark.parametrize("scene,tile,chunk", [(PUNJAB, 64, 100), (PUNJAB, 48, 100),
                                              (MOSAIC, 96, 100), (MOSAIC, 48, 150)])
def test_the_dataarray_path_gives_the_engines_dn(tmp_path, cluster, scene, tile, chunk):
    arr = open_lazy(scene, chunk=77)  # the input's chunks: not tiles, rechunked to the grid
    out = translate_dataarray(arr, tile_size=tile, chunk=chunk)
    assert out.data.npartitions > 1  # lazy, in chunks...
    with get_task_stream(cluster) as stream:
        got = out.compute().values  # ...computed on the cluster (the current client)
    ran = [t for t in stream.data if t["key"][0] == out.data.name]  # the chunks' tasks
    assert len(ran) == out.data.npartitions and all(t["worker"] in loads_of(cluster)
                                                    for t in ran)
    reference = engine_output(scene, tmp_path / "tiled.tif", tile_size=tile)
    assert got.dtype == np.uint16 and got.shape == reference.shape
    assert np.array_equal(got, reference)  # bit-identical to translate_raster, same tile
    whole = engine_output(scene, tmp_path / "whole.tif", tile_size=WHOLE)
    assert np.abs(got.astype(int) - whole).max() <= 1  # the engine's seam-free bound
    for worker in {t["worker"] for t in ran}:  # each worker that ran chunks opened the model
        assert loads_of(cluster)[worker][str(DEFAULT_MODEL_PATH)] == 1  # once


def test_written_output_matches_the_engines_file_with_nodata_carried(tmp_path, cluster):
    """A real scene with a declared nodata value over a block and NaNs elsewhere: the file
    written from the DataArray equals translate_raster's, pixels, georeference and labels."""
    with rasterio.open(MOSAIC) as s:
        data, profile = s.read(), s.profile
    data[:, 100:180, 30:110] = -9999.0
    data[1, 5:9, 200:230] = np.nan
    profile.update(nodata=-9999.0)
    src = tmp_path / "mosaic_nodata.tif"
    with rasterio.open(src, "w", **profile) as d:
        d.write(data)
        d.set_band_description(1, "VV")
        d.set_band_description(2, "VH")
    dst = tmp_path / "from_dataarray.tif"
    out = translate_dataarray(open_lazy(src), tile_size=64)
    assert out.rio.nodata == OUTPUT_NODATA and out.rio.crs == profile["crs"]
    percents = []
    assert write_translation(out, dst, progress=percents.append) == dst
    assert percents[0] == 0 and percents[-1] == 100 and percents == sorted(percents)
    engine_output(src, tmp_path / "engine.tif", tile_size=64)
    with rasterio.open(dst) as got, rasterio.open(tmp_path / "engine.tif") as ref:
        pixels = got.read()
        assert np.array_equal(pixels, ref.read())
        for attribute in ("crs", "transform", "nodata", "descriptions", "colorinterp", "dtypes",
                          "block_shapes", "compression"):
            assert getattr(got, attribute) == getattr(ref, attribute), attribute
        assert got.tags() == ref.tags() and got.tags()[TAG_MODEL_FILE] == DEFAULT_MODEL_PATH.name
    assert got.descriptions == RGB_DESCRIPTIONS
    assert (pixels[:, 100:180, 30:110] == OUTPUT_NODATA).all()
    assert (pixels[:, 5:9, 200:230] == OUTPUT_NODATA).all()
    assert (pixels[:, 200:] != OUTPUT_NODATA).all()
    assert not list(tmp_path.glob(".*s2o-tmp*"))
    out.rio.to_raster(tmp_path / "rio.tif")  # rioxarray's writer carries the same
    with rasterio.open(tmp_path / "rio.tif") as got, rasterio.open(tmp_path / "engine.tif") as ref:
        assert np.array_equal(got.read(), pixels)
        for attribute in ("crs", "transform", "nodata", "descriptions"):
            assert getattr(got, attribute) == getattr(ref, attribute), attribute
        assert got.tags() == ref.tags()


def test_refusals_in_the_engines_words(cluster):
    arr = open_lazy(PUNJAB)
    with pytest.raises(InputError, match="tile size 50 is not a multiple of the model's size "
                                         "multiple 4: use 48"):
        translate_dataarray(arr, tile_size=50)
    with pytest.raises(InputError, match="looks like an optical image, not Sentinel-1 SAR"):
        translate_dataarray(open_lazy(PUNJAB.with_name("punjab_s2.tif")))
    with pytest.raises(InputError, match="the input is declared linear .* negative"):
        translate_dataarray(arr, input_scale="linear")
    with pytest.raises(InputError, match="dimensions are"):
        translate_dataarray(arr.rename(x="lon"))


@pytest.mark.parametrize("n", [1, 7, 48, 100, 129, 264, 360, 1000, 4097])
@pytest.mark.parametrize("tile,chunk", [(48, 48), (64, 100), (96, 500), (512, 2048)])
def test_grid_chunks_hold_whole_tiles_and_their_windows(n, tile, chunk):
    """Every chunk is whole engine tiles and every tile's window (reflected at the edges) lies
    in its chunk and the overlap of h' pixels on either side: what makes the DN identical."""
    m, halo = 4, 47
    hp = read_halo(halo, m)
    chunks = grid_chunks(n, tile, m, halo, chunk)
    assert sum(chunks) == n
    starts = np.cumsum((0,) + chunks)
    assert all(s % tile == 0 for s in starts[:-1])
    for t in tile_grid(n, 1, tile, m, halo):
        k = np.searchsorted(starts, t.row, side="right") - 1
        assert t.row + t.height <= starts[k + 1]
        idx = reflect_index(np.arange(t.read_row, t.read_row + t.read_height), n)
        assert idx.min() >= starts[k] - hp and idx.max() < starts[k + 1] + hp
