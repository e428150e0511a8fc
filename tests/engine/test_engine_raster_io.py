"""GDAL's block cache is capped while the engine streams, and restored afterwards."""

from osgeo import gdal

from s2o_qgis_plugin.engine import raster_io


@raster_io.bounded_gdal_cache
def cache_size_inside():
    return gdal.GetCacheMax()


def test_cache_capped_during_and_restored_after(monkeypatch):
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    before = gdal.GetCacheMax()
    assert cache_size_inside() == raster_io.GDAL_CACHE_BYTES != before
    assert gdal.GetCacheMax() == before


def test_user_setting_wins(monkeypatch):
    monkeypatch.setenv("GDAL_CACHEMAX", "512")
    assert cache_size_inside() == gdal.GetCacheMax()
