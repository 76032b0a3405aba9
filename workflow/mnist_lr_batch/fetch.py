"""Fetch one MNIST IDX file from an ordered list of mirrors, verified by checksum.

A mirror is an http(s) URL prefix, a ``file://`` URL or a local directory. Each
mirror may hold a file gzip-compressed (``NAME.gz``) or raw (``NAME``); both are
tried, in that order (a mirror that does not answer within the timeout is not
asked for its raw copy too). A file is accepted only when the MD5 of its decompressed
content equals the canonical value, and it is stored decompressed (so
``md5sum -c`` works on it) with an atomic rename: an interrupted fetch never
leaves a file that looks complete. When no mirror yields a verified file, one
`FetchError` lists every location tried and why it failed.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import http.client
import logging
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Iterator, Sequence

from mnist_lr_batch.atomic import DiskFullError, atomic_path

# MD5 of the decompressed canonical files (the values LeCun's site and every
# mirror publish for the uncompressed IDX files).
CANONICAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_FILES = tuple(CANONICAL_MD5)
CHUNK_BYTES = 1 << 20
RETRY_BACKOFF_SECONDS = 0.5

log = logging.getLogger("mnist_lr_batch.fetch")


class FetchError(RuntimeError):
    """No mirror yielded a verified copy of a file."""


class SourceProblem(Exception):
    """One location failed; the message says why."""


class TransientProblem(SourceProblem):
    """A failure worth retrying (timeout, dropped connection, HTTP 5xx)."""


class NoAnswer(TransientProblem):
    """The mirror did not answer within the timeout: its other candidates are skipped, not waited for too."""


def fetch_verified(
    name: str,
    destination: str | Path,
    mirrors: Sequence[str],
    *,
    timeout: float = 30.0,
    retries: int = 2,
    expected_md5: str | None = None,
) -> str:
    """Store a verified, decompressed copy of `name` at `destination`; return its source."""
    expected = expected_md5 or CANONICAL_MD5[name]
    if not mirrors:
        raise FetchError(f"no mirrors configured for {name}")
    failures = []
    for mirror in mirrors:
        silent = None  # the candidate this mirror did not answer for
        for candidate in (f"{name}.gz", name):
            location = join_location(mirror, candidate)
            if silent is not None:
                failures.append(f"  - {location}: skipped (the mirror did not answer for {silent})")
                continue
            try:
                with atomic_path(destination) as temporary:
                    with retrieve(location, temporary.parent, timeout, retries) as local_copy:
                        verify_into(local_copy, temporary, expected, gzipped=candidate.endswith(".gz"))
                log.info("fetched %s from %s (MD5 %s verified)", name, location, expected)
                return location
            except SourceProblem as problem:
                log.warning("%s: %s", location, problem)
                failures.append(f"  - {location}: {problem}")
                if isinstance(problem, NoAnswer):
                    silent = candidate
    raise FetchError(
        f"could not fetch a verified copy of {name} "
        f"(expected MD5 of the decompressed file: {expected}). Tried, in order:\n"
        + "\n".join(failures)
    )


def join_location(mirror: str, filename: str) -> str:
    """The location of `filename` in `mirror`: a URL for http(s), else a local path."""
    scheme = urllib.parse.urlparse(mirror).scheme
    if scheme in ("http", "https"):
        return urllib.parse.urljoin(mirror.rstrip("/") + "/", filename)
    if scheme == "file":
        directory = urllib.request.url2pathname(urllib.parse.urlparse(mirror).path)
        return str(Path(directory) / filename)
    if scheme and len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        return f"{mirror.rstrip('/')}/{filename}"  # rejected by `retrieve` with a clear message
    return str(Path(mirror).expanduser() / filename)


@contextlib.contextmanager
def retrieve(location: str, staging_dir: Path, timeout: float, retries: int) -> Iterator[Path]:
    """Yield a local file holding the bytes at `location` (downloaded into `staging_dir` if remote)."""
    scheme = urllib.parse.urlparse(location).scheme
    if scheme in ("http", "https"):
        handle, name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=staging_dir)
        os.close(handle)
        staged = Path(name)
        try:
            download_with_retries(location, staged, timeout, retries)
            yield staged
        finally:
            staged.unlink(missing_ok=True)
        return
    if scheme and len(scheme) > 1:
        raise SourceProblem(f"unsupported mirror scheme {scheme!r} (use http, https, file or a directory)")
    path = Path(location)
    if not path.is_file():
        raise SourceProblem("not found")
    yield path


def download_with_retries(url: str, destination: Path, timeout: float, retries: int) -> None:
    """Download `url`, retrying transient failures `retries` times with backoff."""
    for attempt in range(retries + 1):
        try:
            download_once(url, destination, timeout)
            return
        except TransientProblem as problem:
            if attempt == retries:
                raise type(problem)(f"{problem} (gave up after {attempt + 1} attempts)") from None
            delay = RETRY_BACKOFF_SECONDS * 2**attempt
            log.info("%s: %s; retrying in %.1f s", url, problem, delay)
            time.sleep(delay)


def download_once(url: str, destination: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "mnist-lr-batch"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(destination, "wb") as out:
            declared = response.headers.get("Content-Length")
            received = 0
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as error:
        problem = f"HTTP {error.code} {error.reason}"
        raise (TransientProblem if error.code >= 500 or error.code == 429 else SourceProblem)(problem) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, socket.gaierror):
            raise SourceProblem(f"unreachable (host lookup failed: {error.reason})") from None
        if isinstance(error.reason, TimeoutError):
            raise NoAnswer(f"timed out after {timeout:g} s") from None
        raise TransientProblem(f"unreachable ({error.reason})") from None
    except TimeoutError:
        raise NoAnswer(f"timed out after {timeout:g} s") from None
    except (http.client.IncompleteRead, ConnectionError, http.client.HTTPException) as error:
        raise TransientProblem(f"download interrupted ({type(error).__name__}: {error})") from None
    if declared is not None and received != int(declared):
        raise TransientProblem(f"truncated download: received {received} of {declared} bytes")


def verify_into(source: Path, destination: Path, expected_md5: str, *, gzipped: bool) -> None:
    """Write the (decompressed) content of `source` to `destination`; check its MD5."""
    digest = hashlib.md5()
    opener = gzip.open if gzipped else open
    try:
        with opener(source, "rb") as stream, open(destination, "wb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
    except gzip.BadGzipFile as error:
        if "CRC check failed" in str(error):
            raise SourceProblem(
                f"checksum mismatch: the gzip CRC-32 check failed, so the content cannot match "
                f"the expected MD5 {expected_md5} (a corrupt file)"
            ) from None
        raise SourceProblem(f"invalid gzip ({error})") from None
    except EOFError:
        raise SourceProblem("truncated gzip: the compressed stream ends before its end marker") from None
    except zlib.error as error:
        raise SourceProblem(f"corrupt gzip data ({error})") from None
    actual = digest.hexdigest()
    if actual != expected_md5:
        raise SourceProblem(f"checksum mismatch: expected MD5 {expected_md5}, got {actual}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, choices=MNIST_FILES)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--mirror", action="append", required=True, help="repeat, in order of preference")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per network read")
    parser.add_argument("--retries", type=int, default=2, help="extra attempts after a transient failure")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        fetch_verified(args.name, args.output, args.mirror, timeout=args.timeout, retries=args.retries)
    except (FetchError, DiskFullError) as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
