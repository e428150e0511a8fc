"""A real Dask LocalCluster for the tests of s2o_qgis_plugin.distributed: two worker processes of
one thread each (child processes of pytest, started with its sys.path), shared by the tests of
this folder."""

from __future__ import annotations

import pytest

from tests.cluster.helpers import N_WORKERS


@pytest.fixture(scope="session")
def cluster():
    """A distributed Client on a LocalCluster of N_WORKERS processes x 1 thread."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=N_WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as local, Client(local) as client:
        client.wait_for_workers(N_WORKERS)
        yield client
