"""training/fetch_data.py against a tiny replica served on 127.0.0.1 by the test itself: download,
checks, resume after an interruption, refusal of corrupt files, disk-space refusal, safe
unpacking into the layouts training/data.py reads, and the rsync command line."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
import urllib.parse
import warnings
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.errors import NotGeoreferencedWarning

from training import data as D
from training import fetch_data as F

# ---------------------------------------------------------------------------------------------
# The replica server


class Replica:
    """Files served over HTTP with Range support. `cut[name] = n` makes the next answer for name
    stop after n bytes and close the connection; honour_range=False answers every Range with 200.
    `requests` records (name, Range header) of every request."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []
        self.url = ""

    def handler(self):
        replica = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                name = urllib.parse.unquote(self.path.lstrip("/"))
                wanted = self.headers.get("Range")
                replica.requests.append((name, wanted))
                if name not in replica.files:
                    self.send_error(404)
                    return
                data = replica.files[name]
                start = 0
                if wanted and replica.honour_range:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = replica.cut.pop(name, None)
                self.wfile.write(body if cut is None else body[:cut])

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    """No traffic beyond 127.0.0.1: any other connection fails the test."""
    connect = socket.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] in ("127.0.0.1", "localhost"), f"connection to {address} attempted"
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


@pytest.fixture
def replica():
    rep = Replica()
    server = ThreadingHTTPServer(("127.0.0.1", 0), rep.handler())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    rep.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield rep
    server.shutdown()
    server.server_close()


def dataset_of(*files) -> F.Dataset:
    return F.Dataset(key="tiny", title="tiny replica", record="0", data_kind="sen12",
                     train_args="", files=tuple(files), sources="made by the test")


def remote(name, data: bytes, *, size=True, md5=True, folder=False, extracted=0):
    return F.RemoteFile(name, approx=len(data), extracted=extracted,
                        size=len(data) if size else None,
                        md5=hashlib.md5(data).hexdigest() if md5 else None, folder=folder)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Real little files: a SEN1-2 PNG pair, a SEN12MS GeoTIFF pair, archives of them


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def sen12_pair(season: str, scene: int, patch: int, seed: int) -> dict[str, bytes]:
    """A 256 x 256 SEN1-2 pair: grey SAR PNG and RGB optical PNG at their real paths."""
    rng = np.random.default_rng(seed)
    stem = f"{season}_s{{}}_{scene}_p{patch}.png"
    return {f"{season}/s1_{scene}/{stem.format(1)}": png(rng.integers(0, 256, (256, 256),
                                                                      dtype=np.uint8)),
            f"{season}/s2_{scene}/{stem.format(2)}": png(rng.integers(0, 256, (256, 256, 3),
                                                                      dtype=np.uint8))}


def tif(bands: np.ndarray, tmp: Path) -> bytes:
    path = tmp / "band.tif"
    count, h, w = bands.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=count,
                           dtype=bands.dtype.name) as ds:
            ds.write(bands)
    return path.read_bytes()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# (a) download, check, unpack into the layouts training/data.py reads


def test_replica_downloads_checks_and_unpacks_into_the_training_layouts(replica, tmp_path):
    rng = np.random.default_rng(1)
    spring = tar_gz(sen12_pair("ROIs1158_spring", 0, 1, seed=2))  # SEN1-2 pair in a tar.gz
    winter = zipped(sen12_pair("ROIs2017_winter", 3, 7, seed=3))  # a season folder, zipped
    s1 = tar_gz({"ROIs1158_spring_s1/s1_1/ROIs1158_spring_s1_1_p30.tif":  # SEN12MS S1, dB
                 tif(rng.uniform(-25, 0, (2, 32, 32)).astype(np.float32), tmp_path)})
    s2 = tar_gz({"ROIs1158_spring_s2/s2_1/ROIs1158_spring_s2_1_p30.tif":  # 13-band S2
                 tif(rng.integers(1, 4000, (13, 32, 32)).astype(np.uint16), tmp_path)})
    readme = b"replica\n"
    replica.files = {"pairs.tar.gz": spring, "ROIs2017_winter": winter,
                     "ROIs1158_spring_s1.tar.gz": s1, "ROIs1158_spring_s2.tar.gz": s2,
                     "README.txt": readme}
    dataset = dataset_of(
        remote("pairs.tar.gz", spring, extracted=300_000),           # size and MD5 known
        remote("ROIs2017_winter", winter, size=False, md5=False, folder=True),
        remote("ROIs1158_spring_s1.tar.gz", s1, md5=False),          # size only
        remote("ROIs1158_spring_s2.tar.gz", s2, size=False, md5=False),  # nothing published
        remote("README.txt", readme, size=False, md5=False))
    dest = tmp_path / "data"

    paths = F.fetch(dataset, dest, base_url=replica.url, extract=True, progress=False)

    served = {"pairs.tar.gz": spring, "ROIs2017_winter.zip": winter, "README.txt": readme,
              "ROIs1158_spring_s1.tar.gz": s1, "ROIs1158_spring_s2.tar.gz": s2}
    assert sorted(p.name for p in paths) == sorted(served)
    for name, data in served.items():
        assert (dest / name).read_bytes() == data
        assert (dest / f"{name}.sha256").read_text() == f"{sha256(data)}  {name}\n"
        assert not (dest / f"{name}.part").exists()
    assert not (dest / "README.txt.extracted").exists()  # not an archive
    assert (dest / "ROIs2017_winter.zip.extracted").exists()

    # the unpacked layouts are the ones training/data.py reads
    for pair_id in ("ROIs1158_spring/s1_0/ROIs1158_spring_s1_0_p1",
                    "ROIs2017_winter/s1_3/ROIs2017_winter_s1_3_p7"):
        split = D.location_split("/".join(pair_id.split("/")[:2]))
        ds = D.make_dataset("sen12", dest, split, in_bands=("VV",))
        sample = ds[ds.ids.index(pair_id)]
        assert sample["sar"].shape == (1, 256, 256) and sample["optical"].shape == (3, 256, 256)
    split = D.location_split("ROIs1158_spring/s1_1")
    ds = D.make_dataset("sen12ms", dest, split)
    assert ds.ids == ["ROIs1158_spring_s1/s1_1/ROIs1158_spring_s1_1_p30"]
    assert ds[0]["sar"].shape == (2, 32, 32) and ds[0]["optical"].shape == (3, 32, 32)

    # a second run finds every file complete and valid: no request, nothing unpacked again
    before = len(replica.requests)
    (dest / "ROIs1158_spring_s1" / "s1_1" / "ROIs1158_spring_s1_1_p30.tif").unlink()
    F.fetch(dataset, dest, base_url=replica.url, extract=True, progress=False)
    assert len(replica.requests) == before
    assert not (dest / "ROIs1158_spring_s1" / "s1_1" / "ROIs1158_spring_s1_1_p30.tif").exists()


def test_a_damaged_local_file_fails_its_sidecar_and_is_fetched_again(replica, tmp_path):
    data = bytes(range(256)) * 40
    replica.files = {"f.bin": data}
    dataset = dataset_of(remote("f.bin", data, size=False, md5=False))
    F.fetch(dataset, tmp_path, base_url=replica.url, progress=False)
    (tmp_path / "f.bin").write_bytes(data[:-1] + b"\x00")  # same size, other bytes

    F.fetch(dataset, tmp_path, base_url=replica.url, progress=False)

    assert (tmp_path / "f.bin").read_bytes() == data
    assert (tmp_path / "f.bin.corrupt").read_bytes() == data[:-1] + b"\x00"
    assert len(replica.requests) == 2


# ---------------------------------------------------------------------------------------------
# (b) an interrupted download resumes with a Range request


@pytest.mark.parametrize("honour_range", [True, False])
def test_an_interrupted_download_resumes(replica, tmp_path, honour_range):
    data = np.random.default_rng(4).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    replica.files = {"big.bin": data}
    replica.cut = {"big.bin": 100_000}
    replica.honour_range = honour_range
    dataset = dataset_of(remote("big.bin", data))

    with pytest.raises(F.FetchError, match=r"big\.bin.*100000 of 300000 bytes.*resume"):
        F.fetch(dataset, tmp_path, base_url=replica.url, progress=False)
    assert (tmp_path / "big.bin.part").stat().st_size == 100_000
    assert not (tmp_path / "big.bin").exists()

    F.fetch(dataset, tmp_path, base_url=replica.url, progress=False)

    assert replica.requests == [("big.bin", None), ("big.bin", "bytes=100000-")]
    assert (tmp_path / "big.bin").read_bytes() == data  # appended (206) or started again (200)
    assert not (tmp_path / "big.bin.part").exists()
    assert F.read_sidecar(tmp_path / "big.bin") == sha256(data)


def test_a_complete_part_is_checked_without_downloading_again(replica, tmp_path):
    data = b"x" * 5000
    replica.files = {"f.bin": data}
    (tmp_path / "f.bin.part").write_bytes(data)
    F.fetch(dataset_of(remote("f.bin", data)), tmp_path, base_url=replica.url, progress=False)
    assert replica.requests == []
    assert (tmp_path / "f.bin").read_bytes() == data


# ---------------------------------------------------------------------------------------------
# (c) a file that is not the table's is refused


def test_a_file_with_the_wrong_checksum_is_refused(replica, tmp_path):
    good, bad = b"a" * 4096, b"b" * 4096
    replica.files = {"f.tar.gz": bad}
    dataset = dataset_of(remote("f.tar.gz", good))

    with pytest.raises(F.FetchError) as err:
        F.fetch(dataset, tmp_path, base_url=replica.url, extract=True, progress=False)

    message = str(err.value)
    assert "f.tar.gz: md5 is" in message
    assert hashlib.md5(good).hexdigest() in message and hashlib.md5(bad).hexdigest() in message
    assert not (tmp_path / "f.tar.gz").exists() and not (tmp_path / "f.tar.gz.part").exists()
    assert (tmp_path / "f.tar.gz.corrupt").read_bytes() == bad
    assert not (tmp_path / "f.tar.gz.sha256").exists()


def test_a_file_of_the_wrong_size_is_refused(replica, tmp_path):
    replica.files = {"f.bin": b"c" * 5000}
    dataset = dataset_of(remote("f.bin", b"c" * 4000, md5=False))

    with pytest.raises(F.FetchError, match=r"f\.bin: the server offers 5000 bytes, expected 4000"):
        F.fetch(dataset, tmp_path, base_url=replica.url, progress=False)

    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_main_exits_1_naming_the_corrupt_file(replica, tmp_path, monkeypatch, capsys):
    replica.files = {"f.bin": b"b" * 100}
    monkeypatch.setitem(F.DATASETS, "tiny", dataset_of(remote("f.bin", b"a" * 100)))
    assert F.main(["tiny", "--dest", str(tmp_path), "--base-url", replica.url]) == 1
    assert "f.bin: md5 is" in capsys.readouterr().err
    assert not (tmp_path / "f.bin").exists()


# ---------------------------------------------------------------------------------------------
# (d) disk space


def test_not_enough_free_space_is_refused_before_any_download(replica, tmp_path):
    data = b"d" * 10_000
    replica.files = {"f.tar.gz": data}
    dataset = dataset_of(remote("f.tar.gz", data, extracted=50_000))
    assert F.space_needed(dataset.files, tmp_path, "http", extract=True) == (10_000, 50_000)

    with pytest.raises(F.SpaceError, match=r"has 20\.0 kB free but this needs about 60\.0 kB"):
        F.fetch(dataset, tmp_path, base_url=replica.url, extract=True, free_bytes=20_000,
                progress=False)
    assert replica.requests == []

    F.fetch(dataset, tmp_path, base_url=replica.url, free_bytes=20_000, progress=False)  # fits
    assert (tmp_path / "f.tar.gz").read_bytes() == data


def test_main_exits_3_when_the_disk_is_too_small(replica, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(F.DATASETS, "tiny", dataset_of(remote("f.bin", b"e" * 1000)))
    monkeypatch.setattr(F.shutil, "disk_usage", lambda path: SimpleNamespace(free=999))
    assert F.main(["tiny", "--dest", str(tmp_path), "--base-url", replica.url]) == 3
    assert "has 999 B free but this needs about 1.0 kB" in capsys.readouterr().err
    assert replica.requests == []


# ---------------------------------------------------------------------------------------------
# (e) rsync


def test_rsync_command_line():
    sen12ms, sen12 = F.DATASETS["sen12ms"], F.DATASETS["sen1-2"]
    archive = next(f for f in sen12ms.files if f.name == "ROIs2017_winter_s1.tar.gz")
    argv, env = F.rsync_command(sen12ms, archive, Path("/data/sen12ms"))
    assert argv == ["rsync", "--partial", "--append-verify", "--info=progress2",
                    "rsync://m1474000@dataserv.ub.tum.de/m1474000/ROIs2017_winter_s1.tar.gz",
                    "/data/sen12ms/"]
    assert env == {"RSYNC_PASSWORD": "m1474000"}

    argv, env = F.rsync_command(sen12, sen12.files[0], Path("/d"), "rsync://u@mirror/mod/")
    assert argv == ["rsync", "--partial", "--append-verify", "--info=progress2", "--recursive",
                    "rsync://u@mirror/mod/ROIs1158_spring", "/d/"]
    assert env == {"RSYNC_PASSWORD": "m1436631"}


def test_rsync_fetch_checks_what_rsync_wrote(tmp_path, monkeypatch):
    data = b"r" * 3000
    dataset = dataset_of(remote("f.tar.gz", data))
    calls = []

    def fake_run(argv, env, check):
        calls.append((argv, env["RSYNC_PASSWORD"]))
        Path(argv[-1], "f.tar.gz").write_bytes(data)
        return SimpleNamespace(returncode=0)

    monkeypatch.setattr(F.shutil, "which", lambda name: "/usr/bin/rsync")
    monkeypatch.setattr(F.subprocess, "run", fake_run)
    F.fetch(dataset, tmp_path, method="rsync", progress=False)
    assert calls[0][1] == "m0" and calls[0][0][-2].endswith("/m0/f.tar.gz")
    assert F.read_sidecar(tmp_path / "f.tar.gz") == sha256(data)

    monkeypatch.setattr(F.shutil, "which", lambda name: None)
    with pytest.raises(F.FetchError, match="rsync is not installed"):
        F.run_rsync(dataset, dataset.files[0], tmp_path, None)


# ---------------------------------------------------------------------------------------------
# safe unpacking


def test_unpacking_refuses_members_outside_the_destination(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(F.FetchError, match=r"'\.\./evil\.txt' would land outside"):
        F.extract_archive(evil, dest)

    link = tmp_path / "link.tar.gz"
    with tarfile.open(link, "w:gz") as tf:
        info = tarfile.TarInfo("ok/link")
        info.type, info.linkname = tarfile.SYMTYPE, "../../outside"
        tf.addfile(info)
    with pytest.raises(F.FetchError, match="would land outside"):
        F.extract_archive(link, dest)

    zipped_evil = tmp_path / "evil.zip"
    zipped_evil.write_bytes(zipped({"a/../../evil.txt": b"evil"}))
    with pytest.raises(F.FetchError, match="would land outside"):
        F.extract_archive(zipped_evil, dest)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "outside").exists()


# ---------------------------------------------------------------------------------------------
# the table and the command line


def test_the_table_is_consistent():
    assert set(F.DATASETS) == {"sen1-2", "sen12ms", "sen12ms-cr"}
    for key, dataset in F.DATASETS.items():
        assert dataset.key == key and dataset.data_kind in D.KINDS and dataset.sources
        names = [f.name for f in dataset.files]
        assert len(names) == len(set(names)) == (4 if key == "sen1-2" else 12)
        for f in dataset.files:
            assert f.approx > 0 and f.extracted > 0
            assert f.md5 is None or (len(f.md5) == 32 and int(f.md5, 16) >= 0)
    assert all(f.md5 for f in F.DATASETS["sen12ms"].files)
    assert all(f.folder for f in F.DATASETS["sen1-2"].files)


def test_list_and_bad_arguments(capsys):
    assert F.main(["--list"]) == 0
    out = capsys.readouterr().out
    for text in ("sen1-2: SEN1-2", "record 1474000", "ROIs1158_spring/",
                 "md5 fba019bb27a08c1db96b31f718c34d79", "no checksum published",
                 "--data-kind sen12 --in-bands VV", "sources: "):
        assert text in out
    with pytest.raises(SystemExit) as err:
        F.main(["sen12ms", "--dest", "/nonexistent/x", "--files", "*.nothing"])
    assert err.value.code == 2
    assert "match(es) no file of sen12ms" in capsys.readouterr().err
