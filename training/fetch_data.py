"""Fetch the paper's public SAR-optical datasets from TUM's mediaTUM archive, resumably and checked.

    python training/fetch_data.py --list
    python training/fetch_data.py sen12ms --dest data/sen12ms \\
        --files '*_s1.tar.gz' '*_s2.tar.gz' --extract
    python training/fetch_data.py sen1-2 --dest data/sen1-2 --method rsync

Datasets (DATASETS; `--list` prints them with sizes and where each figure comes from):
- sen1-2: SEN1-2 (Schmitt et al. 2018), mediaTUM record 1436631; training kind "sen12".
- sen12ms: SEN12MS (Schmitt et al. 2019), record 1474000; training kind "sen12ms".
- sen12ms-cr: SEN12MS-CR (Ebel et al. 2020), record 1554803; training kind "sen12ms".

Methods:
- http (default): urllib GET of https://dataserv.ub.tum.de/s/m<record>/download?path=/&files=<name>
  into <name>.part. After an interruption the next run resumes with `Range: bytes=<have>-` (a
  206 answer is appended; a 200 answer starts the file again). A SEN1-2 season is a folder on the
  server, which the server sends as a zip built on the fly (<season>.zip; prefer rsync there).
- rsync: rsync --partial --append-verify rsync://m<record>@dataserv.ub.tum.de/m<record>/<name>
  with RSYNC_PASSWORD=m<record> (the record's documented password).

Checks: before downloading, the space needed (bytes still to fetch, plus the unpacked size with
--extract) is compared with the destination's free space, and the run is refused when it does
not fit. A fetched file must have the table's size (where known) and MD5 (where published);
then it is renamed from <name>.part to <name> and its sha256 written to <name>.sha256
(`sha256sum -c` format), which later runs verify it against. A file that fails a check is moved
to <name>.corrupt and reported with the expected and actual values. Files already complete and
valid are skipped; --extract unpacks each archive once (<name>.extracted marks it done),
refusing archive members that would land outside the destination.

Exit status: 0 done; 1 a file failed (download, check or unpacking; the message says which);
2 bad arguments; 3 not enough free disk space; 130 interrupted (run again to resume).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from tqdm import tqdm

HTTP_URL = "https://dataserv.ub.tum.de/s/m{record}/download?path=/&files={name}"
RSYNC_URL = "rsync://m{record}@dataserv.ub.tum.de/m{record}/"
USER_AGENT = "s2o-fetch-data/1 (Python urllib)"
CHUNK = 1 << 20
GIB = 1 << 30
KIB = 1 << 10
ARCHIVES = (".tar", ".tar.gz", ".tgz", ".zip")
# tarfile's own "data" filter where this Python has it (3.11.4+); members are checked here anyway
TAR_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


class FetchError(RuntimeError):
    """A file could not be fetched, checked or unpacked; the message says what to do."""


class VerifyError(FetchError):
    """A file's size or checksum is not the expected one."""


class SpaceError(FetchError):
    """The destination has less free space than the fetch needs."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a record, or (folder=True) one folder of it.

    size: exact bytes where published (checked), else None.
    approx: bytes to plan disk space with (the exact size where known, else an estimate).
    extracted: approximate bytes once unpacked (0: nothing to unpack).
    md5: a published MD5, or None where none is published.
    """

    name: str
    approx: int
    extracted: int = 0
    size: int | None = None
    md5: str | None = None
    folder: bool = False

    def local_name(self, method: str) -> str:
        """What lands in the destination: over HTTP a folder comes as a zip."""
        return f"{self.name}.zip" if self.folder and method == "http" else self.name


@dataclass(frozen=True)
class Dataset:
    """A mediaTUM record: its files, the training/data.py kind that reads it, and sources."""

    key: str
    title: str
    record: str
    data_kind: str
    train_args: str
    files: tuple[RemoteFile, ...]
    sources: str


# ---------------------------------------------------------------------------------------------
# The table. No record publishes sizes or checksums of its own; every figure says where it is from.

_SEASONS = ("ROIs1158_spring", "ROIs1868_summer", "ROIs1970_fall", "ROIs2017_winter")

# SEN1-2: pairs per season folder (public code; they sum to the paper's 282,384) x ~200 kB a pair
_SEN12_PAIRS = (75_724, 53_508, 86_370, 66_782)
_SEN12_PAIR_BYTES = 200_000

# SEN12MS: approximate archive sizes in GB (s1, s2, lc) from a third-party FTP listing
_SEN12MS_GB = ((18.5, 49.3, 0.064), (20.7, 53.8, 0.065), (28.2, 74.4, 0.095),
               (14.4, 38.1, 0.048))
# SEN12MS: MD5s as torchgeo publishes them (torchgeo/datasets/sen12ms.py, SEN12MS.md5s)
_SEN12MS_MD5 = {
    "ROIs1158_spring_lc.tar.gz": "6e2e8fa8b8cba77ddab49fd20ff5c37b",
    "ROIs1158_spring_s1.tar.gz": "fba019bb27a08c1db96b31f718c34d79",
    "ROIs1158_spring_s2.tar.gz": "d58af2c15a16f376eb3308dc9b685af2",
    "ROIs1868_summer_lc.tar.gz": "2c5bd80244440b6f9d54957c6b1f23d4",
    "ROIs1868_summer_s1.tar.gz": "01044b7f58d33570c6b57fec28a3d449",
    "ROIs1868_summer_s2.tar.gz": "4dbaf72ecb704a4794036fe691427ff3",
    "ROIs1970_fall_lc.tar.gz": "9b126a68b0e3af260071b3139cb57cee",
    "ROIs1970_fall_s1.tar.gz": "19132e0aab9d4d6862fd42e8e6760847",
    "ROIs1970_fall_s2.tar.gz": "b8f117818878da86b5f5e06400eb1866",
    "ROIs2017_winter_lc.tar.gz": "0fa0420ef7bcfe4387c7e6fe226dc728",
    "ROIs2017_winter_s1.tar.gz": "bb8cbfc16b95a4f054a3d5380e0130ed",
    "ROIs2017_winter_s2.tar.gz": "3807545661288dcca312c9c538537b63",
}
_SEN12MS_UNPACK = 1.5  # unpacked / archive size, an estimate (GeoTIFFs compress little)

# SEN12MS-CR: unpacked size of each archive in KiB (s1, s2, s2_cloudy), the maintainers' dl_data.sh
_SEN12MSCR_KIB = ((15_026_120, 48_568_904, 48_569_368), (17_456_784, 56_425_520, 56_426_004),
                  (21_127_832, 68_291_864, 68_292_448), (9_460_956, 30_580_552, 30_580_812))


def _sen12ms_files() -> tuple[RemoteFile, ...]:
    files = []
    for season, (s1, s2, lc) in zip(_SEASONS, _SEN12MS_GB, strict=True):
        s1_unpacked = int(s1 * GIB * _SEN12MS_UNPACK)
        for part, gb, unpacked in (("lc", lc, s1_unpacked), ("s1", s1, s1_unpacked),
                                   ("s2", s2, int(s2 * GIB * _SEN12MS_UNPACK))):
            name = f"{season}_{part}.tar.gz"
            files.append(RemoteFile(name, approx=int(gb * GIB), extracted=unpacked,
                                    md5=_SEN12MS_MD5[name]))
    return tuple(files)


DATASETS: dict[str, Dataset] = {
    "sen1-2": Dataset(
        key="sen1-2",
        title="SEN1-2 (Schmitt et al. 2018)",
        record="1436631",
        data_kind="sen12",
        train_args="--in-bands VV",
        files=tuple(RemoteFile(season, approx=n * _SEN12_PAIR_BYTES,
                               extracted=n * _SEN12_PAIR_BYTES, folder=True)
                    for season, n in zip(_SEASONS, _SEN12_PAIRS, strict=True)),
        sources=(
            "The record holds one folder per season, <season>/s1_<n>/*.png and s2_<n>/*.png "
            "(public scripts list it so over FTP), and publishes no archive, size or checksum. "
            "Sizes are estimates: pairs per season (75,724 / 53,508 / 86,370 / 66,782 from "
            "public code; they sum to the paper's 282,384) x ~200 kB a pair (a third-party "
            "note: ~43 kB per SAR PNG, ~2 GB per 10,000 pairs). Over HTTP the server zips a "
            "folder on the fly (no size in advance, resuming not assured): prefer --method rsync."
        ),
    ),
    "sen12ms": Dataset(
        key="sen12ms",
        title="SEN12MS (Schmitt et al. 2019)",
        record="1474000",
        data_kind="sen12ms",
        train_args="",
        files=_sen12ms_files(),
        sources=(
            "Names and MD5s: torchgeo (torchgeo/datasets/sen12ms.py); the record itself "
            "publishes no checksum. Sizes: approximate GB from a third-party FTP listing (read "
            "as GiB here, to err large); no exact byte size is published, so a local sha256 is "
            "recorded after download. Unpacked: 1.5 x the archive, an estimate (land cover as "
            "much as S1: the same raw bytes per patch). The lc archives are not needed to train."
        ),
    ),
    "sen12ms-cr": Dataset(
        key="sen12ms-cr",
        title="SEN12MS-CR (Ebel et al. 2020)",
        record="1554803",
        data_kind="sen12ms",
        train_args="",
        files=tuple(RemoteFile(f"{season}_{part}.tar.gz", approx=kib * KIB, extracted=kib * KIB)
                    for season, sizes in zip(_SEASONS, _SEN12MSCR_KIB, strict=True)
                    for part, kib in zip(("s1", "s2", "s2_cloudy"), sizes, strict=True)),
        sources=(
            "Names and unpacked sizes: the maintainers' download script (PatrickTUM/"
            "SEN12MS-CR-TS util/dl_data.sh); its figures are KiB (they match uncompressed "
            "256 x 256 GeoTIFFs: ~0.5 MiB per S1 and ~1.6 MiB per 13-band S2 patch). No archive "
            "size or checksum is published: downloads are planned with the unpacked size (an "
            "upper bound) and a local sha256 is recorded. The s2_cloudy archives are not "
            "needed to train."
        ),
    ),
}


# ---------------------------------------------------------------------------------------------
# Small helpers


def human(n: float) -> str:
    """Bytes in decimal units: 1.5 GB."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder; 0 when absent."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.is_file() else 0


def hash_file(path: Path, progress: bool = True) -> dict[str, str]:
    """MD5 and sha256 of a file, in one pass."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                     desc=f"checking {path.name}", disable=not progress) as bar:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            bar.update(len(chunk))
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def read_sidecar(path: Path) -> str | None:
    """The sha256 recorded in <path>.sha256, if any."""
    sidecar = _sibling(path, ".sha256")
    return sidecar.read_text().split()[0] if sidecar.is_file() else None


def write_sidecar(path: Path, sha256: str) -> None:
    """<path>.sha256 in `sha256sum -c` format."""
    _sibling(path, ".sha256").write_text(f"{sha256}  {path.name}\n")


def verify(path: Path, name: str, size: int | None = None, md5: str | None = None,
           sha256: str | None = None, progress: bool = True) -> str:
    """Check a file's size, MD5 and sha256 (each where given); return its sha256.
    Raises VerifyError naming the file, the expected and the actual value."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise VerifyError(f"{name}: size is {actual} bytes, expected {size}")
    digests = hash_file(path, progress)
    for kind, expected in (("md5", md5), ("sha256", sha256)):
        if expected and digests[kind] != expected.lower():
            raise VerifyError(f"{name}: {kind} is {digests[kind]}, expected {expected}")
    return digests["sha256"]


def _move_aside(path: Path, final: Path) -> Path:
    """Rename a refused file to <final name>.corrupt (replacing an older one)."""
    corrupt = _sibling(final, ".corrupt")
    os.replace(path, corrupt)
    return corrupt


# ---------------------------------------------------------------------------------------------
# Methods


def file_url(dataset: Dataset, remote: RemoteFile, base_url: str | None = None) -> str:
    """The HTTP URL of a file: base_url with {record} and {name} filled in, or base_url/<name>."""
    template = base_url or HTTP_URL
    name = urllib.parse.quote(remote.name)
    if "{name}" in template:
        return template.format(record=dataset.record, name=name)
    return f"{template.rstrip('/')}/{name}"


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) of a Content-Range header `bytes S-E/T`."""
    try:
        span, total = value.split()[1].split("/")
        return int(span.split("-")[0]), (None if total == "*" else int(total))
    except (AttributeError, IndexError, ValueError):
        return None, None


def download_part(url: str, part: Path, name: str, size: int | None = None, *,
                  progress: bool = True, timeout: float = 60.0) -> None:
    """Download url into `part`, resuming from the bytes already there.

    A 206 answer is appended; a 200 answer (a server that ignores Range) starts again; 416 means
    nothing follows the bytes already there. Raises FetchError when the transfer breaks off (the
    .part stays for the next run) and VerifyError when the server's size is not `size`."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        print(f"{part.name} is longer than {name} ({have} > {size} bytes): starting again",
              file=sys.stderr)
        have = 0
    if size is not None and have == size:
        return
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            return
        raise FetchError(f"{name}: {url} answered HTTP {err.code} {err.reason}; check the URL "
                         f"(--base-url) or try --method rsync") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise FetchError(f"{name}: cannot reach {url} ({reason}); check the network and run "
                         f"the same command again") from err
    with response:
        if response.headers.get_content_type() == "text/html":
            raise FetchError(f"{name}: {url} answered an HTML page, not the file (a login or "
                             f"bot-check page?); try --method rsync")
        length = response.headers.get("Content-Length")
        if have and response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != have:
                raise FetchError(f"{name}: asked for bytes {have}- but the server sent "
                                 f"{response.headers.get('Content-Range')!r}; delete "
                                 f"{part} and run again")
            total = total if total is not None else (have + int(length) if length else None)
            mode = "ab"
        else:
            if have:
                print(f"{name}: the server ignored the Range request; downloading it from the "
                      f"start", file=sys.stderr)
            have, mode = 0, "wb"
            total = int(length) if length else None
        if size is not None and total is not None and total != size:
            part.unlink(missing_ok=True)
            raise VerifyError(f"{name}: the server offers {total} bytes, expected {size}; "
                              f"nothing kept")
        with open(part, mode) as out, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                           desc=name, disable=not progress) as bar:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, HTTPException) as err:
                    out.flush()
                    raise FetchError(f"{name}: the download broke off at {out.tell()} of "
                                     f"{total if total is not None else '?'} bytes ({err!r}); "
                                     f"run the same command again to resume") from err
                if not chunk:
                    break
                out.write(chunk)
                bar.update(len(chunk))
            got = out.tell()
    if total is not None and got < total:
        raise FetchError(f"{name}: the server stopped at {got} of {total} bytes; run the same "
                         f"command again to resume")


def rsync_command(dataset: Dataset, remote: RemoteFile, dest: Path,
                  base_url: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) of the rsync that fetches `remote` into `dest`.

    base_url: an rsync:// module URL to use instead of the record's (ends with /)."""
    source = (base_url or RSYNC_URL.format(record=dataset.record)).rstrip("/") + "/" + remote.name
    argv = ["rsync", "--partial", "--append-verify", "--info=progress2"]
    if remote.folder:
        argv.append("--recursive")
    argv += [source, f"{dest}/"]
    return argv, {"RSYNC_PASSWORD": f"m{dataset.record}"}


def run_rsync(dataset: Dataset, remote: RemoteFile, dest: Path, base_url: str | None) -> None:
    """Run rsync_command; FetchError when rsync is missing or fails."""
    if shutil.which("rsync") is None:
        raise FetchError("rsync is not installed: install it (e.g. apt-get install rsync) or use "
                         "--method http")
    argv, env = rsync_command(dataset, remote, dest, base_url)
    print("$ RSYNC_PASSWORD=... " + " ".join(argv), flush=True)
    result = subprocess.run(argv, env={**os.environ, **env}, check=False)
    if result.returncode != 0:
        raise FetchError(f"{remote.name}: rsync exited with status {result.returncode}; run the "
                         f"same command again to resume (rsync keeps what arrived)")


# ---------------------------------------------------------------------------------------------
# Unpacking


def _inside(root: Path, target: Path) -> bool:
    return target == root or root in target.parents


def _check_member(root: Path, archive: str, name: str, link: str | None = None) -> None:
    """Refuse a member (or its link target) that would land outside root."""
    target = (root / name).resolve()
    where = [target]
    if link is not None:
        where.append((target.parent / link).resolve())
    if Path(name).is_absolute() or any(not _inside(root, t) for t in where):
        raise FetchError(f"{archive}: member {name!r}{f' -> {link!r}' if link else ''} would "
                         f"land outside {root}; refusing to unpack it (damaged or malicious "
                         f"archive: delete it and fetch it again)")


def extract_archive(archive: Path, dest: Path) -> None:
    """Unpack a .tar, .tar.gz / .tgz or .zip into dest, refusing members that would escape it
    (absolute names, '..', links pointing outside, devices)."""
    root = dest.resolve()
    name = archive.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                _check_member(root, name, member)
            zf.extractall(root)
    elif name.endswith((".tar", ".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:*") as tf:
            for member in tf:  # one pass: check a member, then unpack it
                if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                    raise FetchError(f"{name}: member {member.name!r} is not a file, folder or "
                                     f"link; refusing to unpack it")
                if member.islnk():  # a hard link's target is relative to the archive root
                    _check_member(root, name, member.linkname)
                _check_member(root, name, member.name, member.linkname if member.issym()
                              else None)
                tf.extract(member, root, **TAR_FILTER)
    else:
        raise FetchError(f"{name}: cannot unpack it (expected {', '.join(ARCHIVES)})")


# ---------------------------------------------------------------------------------------------
# Fetching a dataset


def select_files(dataset: Dataset, patterns=None) -> list[RemoteFile]:
    """The files whose name matches any of the shell patterns (all files without patterns)."""
    if not patterns:
        return list(dataset.files)
    unmatched = [p for p in patterns if not any(fnmatch.fnmatch(f.name, p) for f in dataset.files)]
    if unmatched:
        raise ValueError(f"--files {' '.join(unmatched)} match(es) no file of {dataset.key}; its "
                         f"files are: {', '.join(f.name for f in dataset.files)}")
    return [f for f in dataset.files if any(fnmatch.fnmatch(f.name, p) for p in patterns)]


def space_needed(files, dest: Path, method: str, extract: bool) -> tuple[int, int]:
    """(bytes still to download, bytes to unpack) for these files into dest."""
    fetch_bytes = unpack_bytes = 0
    for remote in files:
        path = dest / remote.local_name(method)
        have = max(_size(path), _size(_sibling(path, ".part")))
        fetch_bytes += max(remote.approx - have, 0)
        if extract and path.name.endswith(ARCHIVES) and not _sibling(path, ".extracted").exists():
            unpack_bytes += remote.extracted
    return fetch_bytes, unpack_bytes


def fetch_file(dataset: Dataset, remote: RemoteFile, dest: Path, *, method: str = "http",
               base_url: str | None = None, progress: bool = True) -> Path:
    """Make dest/<local name> complete and checked; skip it when it already is."""
    path = dest / remote.local_name(method)
    if remote.folder and method == "rsync":  # many small files: rsync checks each itself
        run_rsync(dataset, remote, dest, base_url)
        return path
    recorded = read_sidecar(path)
    # over HTTP only a checked file gets the final name; rsync --partial keeps a partial there
    if path.exists() and (method == "http" or recorded):
        try:
            sha = verify(path, remote.name, remote.size, remote.md5, recorded, progress)
        except VerifyError as err:
            print(f"{err}; moved it to {_move_aside(path, path).name} and fetching it again",
                  file=sys.stderr)
        else:
            if recorded is None:
                write_sidecar(path, sha)
            print(f"{path.name}: already complete and valid, skipped")
            return path
    _sibling(path, ".extracted").unlink(missing_ok=True)
    if method == "rsync":
        run_rsync(dataset, remote, dest, base_url)
        candidate = path
    else:
        candidate = _sibling(path, ".part")
        download_part(file_url(dataset, remote, base_url), candidate, remote.name, remote.size,
                      progress=progress)
    try:
        sha = verify(candidate, remote.name, remote.size, remote.md5, recorded, progress)
    except VerifyError as err:
        corrupt = _move_aside(candidate, path)
        recorded_note = (f" or from {path.name}.sha256 of an earlier download (delete it to "
                         f"accept a changed file)" if recorded else "")
        raise VerifyError(f"{err}; refused, moved to {corrupt}. Run the same command again to "
                          f"download it anew; if it fails again, the file on the server differs "
                          f"from the table (see --list for where the figures come from)"
                          f"{recorded_note}") from err
    os.replace(candidate, path)
    write_sidecar(path, sha)
    return path


def fetch(dataset: Dataset | str, dest, patterns=None, *, method: str = "http",
          base_url: str | None = None, extract: bool = False, free_bytes: int | None = None,
          space_check: bool = True, progress: bool = True) -> list[Path]:
    """Fetch (and with extract, unpack) a dataset's files into dest; return the local paths.

    free_bytes: free space to assume instead of asking the file system.
    Raises SpaceError before downloading anything when the space needed is not free, and
    FetchError naming every file that failed after trying them all."""
    if isinstance(dataset, str):
        dataset = DATASETS[dataset]
    if method not in ("http", "rsync"):
        raise ValueError(f"unknown method {method!r}; expected http or rsync")
    files = select_files(dataset, patterns)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    fetch_bytes, unpack_bytes = space_needed(files, dest, method, extract)
    free = shutil.disk_usage(dest).free if free_bytes is None else free_bytes
    print(f"{dataset.title}, {len(files)} file(s) into {dest}: needs about "
          f"{human(fetch_bytes + unpack_bytes)} ({human(fetch_bytes)} to download"
          f"{f' + {human(unpack_bytes)} to unpack' if extract else ''}); {human(free)} free")
    if space_check and fetch_bytes + unpack_bytes > free:
        raise SpaceError(f"{dest} has {human(free)} free but this needs about "
                         f"{human(fetch_bytes + unpack_bytes)}: free some space, choose another "
                         f"--dest or fewer --files (sizes without a published figure are "
                         f"estimates; --no-space-check skips this check)")
    done, errors = [], []
    for remote in files:
        try:
            path = fetch_file(dataset, remote, dest, method=method, base_url=base_url,
                              progress=progress)
            marker = _sibling(path, ".extracted")
            if extract and path.name.endswith(ARCHIVES) and not marker.exists():
                print(f"unpacking {path.name} into {dest}", flush=True)
                extract_archive(path, dest)
                marker.write_text(f"{path.name} unpacked into {dest.resolve()}\n")
            done.append(path)
        except FetchError as err:
            print(f"error: {err}", file=sys.stderr)
            errors.append(str(err))
        except OSError as err:
            print(f"error: {remote.name}: {err}", file=sys.stderr)
            errors.append(f"{remote.name}: {err}")
    if errors:
        raise FetchError(f"{len(errors)} of {len(files)} file(s) failed:\n  " + "\n  ".join(errors))
    return done


def list_text(keys=None) -> str:
    """The table as text: datasets, files, sizes, checksums and sources."""
    lines = []
    for dataset in (DATASETS[k] for k in (keys or DATASETS)):
        lines.append(f"{dataset.key}: {dataset.title}, mediaTUM record {dataset.record} "
                     f"(https://mediatum.ub.tum.de/{dataset.record}); training kind "
                     f"--data-kind {dataset.data_kind} {dataset.train_args}".rstrip())
        for f in dataset.files:
            size = f"{f.size} B" if f.size is not None else f"~{human(f.approx)} (estimate)"
            name = f"{f.name}/" if f.folder else f.name
            lines.append(f"  {name:36} {size:24} unpacked ~{human(f.extracted):9} "
                         f"{f'md5 {f.md5}' if f.md5 else 'no checksum published'}")
        lines.append(f"  total ~{human(sum(f.approx for f in dataset.files))} to download, "
                     f"~{human(sum(f.extracted for f in dataset.files))} unpacked")
        lines.append(f"  sources: {dataset.sources}\n")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Fetch SEN1-2, SEN12MS or SEN12MS-CR from TUM's mediaTUM archive, "
                    "resumably and checked.",
        epilog="exit status: 0 done, 1 a file failed, 2 bad arguments, 3 not enough free space, "
               "130 interrupted")
    parser.add_argument("dataset", nargs="?", choices=sorted(DATASETS), help="see --list")
    parser.add_argument("--list", action="store_true",
                        help="print the datasets, their files, sizes and sources, and exit")
    parser.add_argument("--dest", help="destination folder (the training --data-root)")
    parser.add_argument("--files", nargs="+", metavar="PATTERN",
                        help="only files matching these shell patterns, e.g. '*_s1.tar.gz'")
    parser.add_argument("--base-url", help="another server or mirror: a URL with {record} and "
                        "{name}, a folder URL (http) or an rsync:// module URL (rsync)")
    parser.add_argument("--method", choices=("http", "rsync"), default="http",
                        help="http (urllib, resumable) or rsync (needs rsync installed)")
    parser.add_argument("--extract", action="store_true",
                        help="unpack the archives into --dest (kept beside the archives)")
    parser.add_argument("--no-space-check", action="store_true",
                        help="do not refuse when the (partly estimated) space needed is not free")
    args = parser.parse_args(argv)
    if args.list:
        print(list_text([args.dataset] if args.dataset else None))
        return 0
    if not args.dataset or not args.dest:
        parser.error("give a DATASET and --dest DIR (or --list)")
    try:
        fetch(args.dataset, args.dest, args.files, method=args.method, base_url=args.base_url,
              extract=args.extract, space_check=not args.no_space_check)
    except ValueError as err:
        parser.error(str(err))
    except SpaceError as err:
        print(f"fetch_data.py: error: {err}", file=sys.stderr)
        return 3
    except FetchError as err:
        print(f"fetch_data.py: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return 130
    dataset = DATASETS[args.dataset]
    if args.method == "rsync" or args.extract:
        print(f"done. Train: python training/train.py --data-kind {dataset.data_kind} "
              f"--data-root {args.dest} {dataset.train_args}".rstrip())
    else:
        print("done. Unpack the archives (run again with --extract) before training.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
