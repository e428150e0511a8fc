"""Is a raster Sentinel-1 SAR backscatter, or an optical image? From what its header says.

The translation and despeckling need SAR; an optical image (a Sentinel-2 product, an RGB photo,
an s2o translation) given by mistake is refused for what it is, before any band or scale
question. The same reading ranks a project's layers for the QGIS dialogs, so that the input
they preselect looks like SAR.

What says optical (any one, unless a band description names a polarisation, which says SAR):

- a band description naming an optical band: Red, Green, Blue, NIR, SWIR, red edge,
  coastal, Sentinel-2 band names B1..B12, B8A (with or without a leading zero);
- bands coloured red, green and blue (GDAL colour interpretation, e.g. PHOTOMETRIC=RGB);
- three or more bands, all of an integer type (8 or 16 bit, as optical products store
  reflectance or colour): Sentinel-1 has at most two polarisations and calibrated backscatter
  is stored as floating point.

No rasterio here: QGIS reads the header with GDAL, the engine with rasterio.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import InputError, words
from .radiometry import described_polarisations

SAR, OPTICAL, UNKNOWN = "sar", "optical", "unknown"
_OPTICAL_BAND = re.compile(
    r"(?<![a-z0-9])(red|green|blue|nir|swir\d?|red ?edge\d?|coastal|b0?[1-9]|b1[0-2]|b8a)"
    r"(?![a-z0-9])"
)
_INTEGER_TYPES = ("byte", "uint8", "int8", "uint16", "int16")
_RGB = {"red", "green", "blue"}
MIN_INTEGER_BANDS = 3


def optical_evidence(descriptions: Sequence[str | None], dtypes: Sequence[str],
                     colours: Sequence[str] = ()) -> list[str]:
    """Why a raster looks optical (module docstring), in words; [] when nothing says so or a
    band description names a polarisation. ``dtypes`` as numpy/GDAL names ("uint16", "Byte"),
    ``colours`` as GDAL colour interpretations ("red", "gray", "undefined")."""
    described = [d for d in descriptions if d]
    if any(described_polarisations(d) for d in described):
        return []
    reasons = []
    optical = [d for d in described if _OPTICAL_BAND.search(d.lower())]
    if optical:
        reasons.append(f"its bands are described as {', '.join(optical)}")
    if _RGB <= {str(c).lower() for c in colours}:
        reasons.append("its bands are coloured red, green and blue")
    types = {str(t).lower() for t in dtypes}
    if len(dtypes) >= MIN_INTEGER_BANDS and types <= set(_INTEGER_TYPES):
        reasons.append(f"it has {len(dtypes)} bands of {'/'.join(sorted(types))}, as optical "
                       "images store colour or reflectance (Sentinel-1 backscatter has one or two "
                       "floating-point bands)")
    return reasons


def kind(descriptions: Sequence[str | None], dtypes: Sequence[str],
         colours: Sequence[str] = ()) -> str:
    """SAR when a band description names a polarisation (VV, VH, HH, HV), OPTICAL when
    :func:`optical_evidence` finds a reason, else UNKNOWN."""
    if any(described_polarisations(d) for d in descriptions):
        return SAR
    return OPTICAL if optical_evidence(descriptions, dtypes, colours) else UNKNOWN


def refuse_optical(ds) -> None:
    """InputError when the open raster ``ds`` (rasterio dataset) looks optical, not SAR; the
    message gives the first reason of :func:`optical_evidence`."""
    reasons = optical_evidence(ds.descriptions, ds.dtypes,
                               [c.name for c in ds.colorinterp])
    if reasons:
        raise InputError(
            f"{words().the_input} looks like an optical image, not Sentinel-1 SAR: "
            f"{reasons[0]}. Choose Sentinel-1 backscatter (VV, or VV and VH; linear, "
            "dB or amplitude) as input"
        )
