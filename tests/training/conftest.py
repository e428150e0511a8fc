"""Fixtures of the training tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

WHEEL_CACHE_ENV = "S2O_WHEEL_CACHE"
# pip gives up at once when the index cannot be reached (offline: skip, not minutes of retries)
PIP_OFFLINE_FAST = {"PIP_RETRIES": "0", "PIP_TIMEOUT": "20"}


@pytest.fixture(scope="session")
def ben_wheel_cache(tmp_path_factory) -> Path:
    """A cache folder (training/build_data.py's ``cache``) holding the BigEarthNet wheels
    (configilm, bigearthnet-common: about 62 MB), fetched by pip into a temporary folder once
    per session, never into the checkout's data/.cache. $S2O_WHEEL_CACHE names a folder to use
    instead (one that has them costs no download). Skips when pip cannot fetch them."""
    from training import build_data

    given = os.environ.get(WHEEL_CACHE_ENV)
    cache = Path(given) if given else tmp_path_factory.mktemp("ben_wheels")
    saved = {k: os.environ.get(k) for k in PIP_OFFLINE_FAST}
    os.environ.update(PIP_OFFLINE_FAST)
    try:
        build_data.fetch_wheels(cache)
    except (subprocess.CalledProcessError, FileNotFoundError, OSError) as err:
        pytest.skip(
            f"the configilm / bigearthnet-common wheels are not in {cache} and pip could "
            f"not download them (offline?): {err}"
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return cache
