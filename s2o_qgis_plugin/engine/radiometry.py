"""Radiometry: Sentinel-1 backscatter to network input, network output to reflectance.

The linear maps below are the numeric side of the metadata contract (see metadata.py); the
training data loaders import them too, so training, export and inference scale identically.

    network input   x  = 2 * (clip(dB, lo, hi) - lo) / (hi - lo) - 1          (per band)
    network output  DN = dlo + (clip(y, a, b) - a) * (dhi - dlo) / (b - a)      (reflectance x 10000)
    optical target  y  = a + (clip(DN, dlo, dhi) - dlo) * (b - a) / (dhi - dlo)  (inverse, training)
"""

from __future__ import annotations

import numpy as np


def db_to_network(db: np.ndarray, db_range) -> np.ndarray:
    """Map sigma0 in dB, shape (C, ...) with one (lo, hi) per band, to [-1, 1] (float32)."""
    db = np.asarray(db, dtype=np.float32)
    out = np.empty_like(db)
    for c, (lo, hi) in enumerate(db_range):
        out[c] = 2.0 * (np.clip(db[c], lo, hi) - lo) / (hi - lo) - 1.0
    return out


def network_to_dn(y: np.ndarray, value_range, dn_range) -> np.ndarray:
    """Map network output in value_range to reflectance x 10000 in dn_range (float32)."""
    a, b = value_range
    lo, hi = dn_range
    return (lo + (np.clip(y, a, b) - a) * ((hi - lo) / (b - a))).astype(np.float32)


def dn_to_network(dn: np.ndarray, dn_range, value_range=(-1.0, 1.0)) -> np.ndarray:
    """Map reflectance x 10000 to the network's output range (the training target)."""
    a, b = value_range
    lo, hi = dn_range
    dn = np.asarray(dn, dtype=np.float32)
    return (a + (np.clip(dn, lo, hi) - lo) * ((b - a) / (hi - lo))).astype(np.float32)
