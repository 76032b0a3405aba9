"""fetch_verified: mirrors tried in order, checksums, timeouts, retries, atomic writes."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mnist_lr_batch import fetch
from mnist_lr_batch.fetch import FetchError, fetch_verified

NAME = "t10k-labels-idx1-ubyte"
CONTENT = b"\x00\x00\x08\x01\x00\x00\x00\x04\x07\x02\x01\x00"
GOOD_MD5 = hashlib.md5(CONTENT).hexdigest()


def fetch_small(destination, mirrors, **kwargs):
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("retries", 0)
    return fetch_verified(NAME, destination, mirrors, expected_md5=GOOD_MD5, **kwargs)


def no_partial_files(directory: Path) -> bool:
    return not any(path.name.endswith(".part") for path in directory.iterdir())


class MirrorServer:
    """A tiny HTTP mirror on 127.0.0.1; each path maps to a behaviour."""

    def __init__(self):
        self.routes: dict[str, list] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                behaviours = server.routes.get(self.path, [("status", 404)])
                kind, *args = behaviours.pop(0) if len(behaviours) > 1 else behaviours[0]
                if kind == "status":
                    self.send_error(args[0])
                elif kind == "ok":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(args[0])))
                    self.end_headers()
                    self.wfile.write(args[0])
                elif kind == "truncate":  # promise more bytes than are sent
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(args[0]) + 100))
                    self.end_headers()
                    self.wfile.write(args[0])
                    self.close_connection = True
                elif kind == "hang":
                    server.release.wait(30)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix}/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with MirrorServer() as running:
        yield running


def test_local_directory_with_gzip(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / f"{NAME}.gz").write_bytes(gzip.compress(CONTENT))
    destination = tmp_path / "out" / NAME
    assert fetch_small(destination, [str(mirror)]) == str(mirror / f"{NAME}.gz")
    assert destination.read_bytes() == CONTENT  # stored decompressed


def test_raw_file_and_file_url(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / NAME).write_bytes(CONTENT)
    destination = tmp_path / NAME
    fetch_small(destination, [mirror.as_uri()])
    assert destination.read_bytes() == CONTENT


def test_checksum_mismatch_lists_expected_and_actual(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    corrupted = CONTENT[:-1] + b"\x09"
    (mirror / f"{NAME}.gz").write_bytes(gzip.compress(corrupted))
    destination = tmp_path / NAME
    with pytest.raises(FetchError) as error:
        fetch_small(destination, [str(mirror)])
    message = str(error.value)
    assert f"could not fetch a verified copy of {NAME}" in message
    assert f"{mirror / NAME}.gz: checksum mismatch: expected MD5 {GOOD_MD5}, got {hashlib.md5(corrupted).hexdigest()}" in message
    assert f"{mirror / NAME}: not found" in message
    assert not destination.exists() and no_partial_files(tmp_path)


def test_corrupt_and_truncated_gzip_are_reported(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    (first / f"{NAME}.gz").write_bytes(gzip.compress(CONTENT)[:-6])
    (second / f"{NAME}.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(FetchError) as error:
        fetch_small(tmp_path / NAME, [str(first), str(second)])
    message = str(error.value)
    assert f"{first / NAME}.gz: truncated gzip" in message
    assert f"{second / NAME}.gz: invalid gzip" in message


def test_falls_back_to_the_next_mirror_in_order(tmp_path, server):
    server.routes[f"/bad/{NAME}.gz"] = [("ok", gzip.compress(b"wrong content"))]
    server.routes[f"/good/{NAME}.gz"] = [("ok", gzip.compress(CONTENT))]
    destination = tmp_path / NAME
    source = fetch_small(destination, [server.url("missing"), server.url("bad"), server.url("good")])
    assert source == server.url("good") + f"{NAME}.gz"
    assert destination.read_bytes() == CONTENT
    assert server.requests == [
        f"/missing/{NAME}.gz", f"/missing/{NAME}", f"/bad/{NAME}.gz", f"/bad/{NAME}", f"/good/{NAME}.gz",
    ]


def test_every_failure_is_listed(tmp_path, server):
    server.routes[f"/a/{NAME}.gz"] = [("status", 403)]
    with pytest.raises(FetchError) as error:
        fetch_small(tmp_path / NAME, [server.url("a"), "ftp://example.org/mnist/"])
    message = str(error.value)
    assert f"{server.url('a')}{NAME}.gz: HTTP 403" in message
    assert f"{server.url('a')}{NAME}: HTTP 404" in message
    assert "unsupported mirror scheme 'ftp'" in message


def test_transient_errors_are_retried(tmp_path, server):
    server.routes[f"/flaky/{NAME}.gz"] = [("status", 503), ("ok", gzip.compress(CONTENT))]
    fetch_small(tmp_path / NAME, [server.url("flaky")], retries=1)
    assert server.requests == [f"/flaky/{NAME}.gz"] * 2


def test_retries_are_bounded(tmp_path, server):
    server.routes[f"/down/{NAME}.gz"] = [("status", 503)]
    with pytest.raises(FetchError, match=r"HTTP 503 .*gave up after 3 attempts"):
        fetch_small(tmp_path / NAME, [server.url("down")], retries=2)
    assert server.requests.count(f"/down/{NAME}.gz") == 3


def test_hanging_server_hits_the_timeout(tmp_path, server):
    server.routes[f"/slow/{NAME}.gz"] = [("hang",)]
    server.routes[f"/slow/{NAME}"] = [("hang",)]
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"slow/t10k-labels-idx1-ubyte.gz: timed out after 0.5 s"):
        fetch_small(tmp_path / NAME, [server.url("slow")], timeout=0.5)
    assert time.monotonic() - started < 10
    assert not (tmp_path / NAME).exists() and no_partial_files(tmp_path)


def test_truncated_download_is_detected(tmp_path, server):
    server.routes[f"/cut/{NAME}"] = [("truncate", CONTENT)]
    with pytest.raises(FetchError, match=r"cut/t10k-labels-idx1-ubyte: (download interrupted|truncated download)"):
        fetch_small(tmp_path / NAME, [server.url("cut")])


def test_failure_while_writing_leaves_no_file(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / NAME).write_bytes(CONTENT)

    def write_half_then_fail(source, destination, expected, *, gzipped):
        destination.write_bytes(CONTENT[:5])
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of the copy

    monkeypatch.setattr(fetch, "verify_into", write_half_then_fail)
    destination = tmp_path / "out" / NAME
    with pytest.raises(KeyboardInterrupt):
        fetch_small(destination, [str(mirror)])
    assert not destination.exists() and no_partial_files(destination.parent)


def test_killed_fetch_never_leaves_a_final_file(tmp_path, server):
    """SIGKILL mid-download: the final path must not exist (only a .part may remain)."""
    server.routes[f"/stall/{NAME}.gz"] = [("hang",)]
    destination = tmp_path / NAME
    env = dict(os.environ, PYTHONPATH=str(Path(fetch.__file__).parents[1]))
    process = subprocess.Popen(
        [sys.executable, "-m", "mnist_lr_batch.fetch", "--name", NAME, "--output", str(destination),
         "--mirror", server.url("stall"), "--timeout", "20"],
        env=env, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.requests, "the fetch never reached the server"
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert not destination.exists()


def test_cli_reports_failure_with_exit_code(tmp_path, caplog):
    missing = tmp_path / "nothing-here"
    code = fetch.main(["--name", NAME, "--output", str(tmp_path / NAME), "--mirror", str(missing)])
    assert code == 1
    assert f"could not fetch a verified copy of {NAME}" in caplog.text
    assert f"{missing / NAME}.gz: not found" in caplog.text
