"""Fault 8: a mirror that accepts the connection and never answers."""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import pytest
import yaml

from faults.conftest import GRID, jobs, leftovers, output_of, run_snakemake
from mnist_lr_batch.fetch import CANONICAL_MD5

pytestmark = pytest.mark.workflow

NAME = "t10k-labels-idx1-ubyte"
TIMEOUT, RETRIES = 1, 1


class SilentMirror:
    """Listens on 127.0.0.1, accepts every connection, reads nothing and never answers."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections: list[socket.socket] = []
        threading.Thread(target=self.accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/mnist/"

    def accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)  # kept open, unanswered

    def close(self) -> None:
        for connection in [self.listener, *self.connections]:
            connection.close()


@pytest.fixture
def silent_mirror():
    mirror = SilentMirror()
    yield mirror
    mirror.close()


@pytest.mark.parametrize("next_mirror", ["has the file", "lacks the file"])
def test_a_mirror_that_never_answers_times_out_and_the_next_is_tried(tmp_path, silent_mirror, mnist_mirror,
                                                                       next_mirror):
    """After the timeout (and its retry) the next mirror is tried, without waiting on the silent one a
    second time for the uncompressed copy; when the next one fails too, the error lists both."""
    second = mnist_mirror if next_mirror == "has the file" else tmp_path / "empty-mirror"
    second.mkdir(exist_ok=True)
    config = GRID | {"mnist": {"mirrors": [silent_mirror.url, str(second)], "timeout_seconds": TIMEOUT,
                               "retries": RETRIES}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    workdir = tmp_path / "work"

    started = time.monotonic()
    result = run_snakemake(workdir, "--cores", "1", "--configfile", str(tmp_path / "config.yaml"),
                           "--", f"resources/mnist/{NAME}", check=False)
    elapsed = time.monotonic() - started
    output = output_of(result)
    log = (workdir / "logs" / "fetch_mnist" / f"{NAME}.log").read_text()
    assert jobs(result) == {"fetch_mnist": 1}
    assert len(silent_mirror.connections) == 1 + RETRIES  # the compressed copy only, each attempt timed out
    assert elapsed < 60
    assert f"{silent_mirror.url}{NAME}.gz: timed out after {TIMEOUT} s (gave up after {1 + RETRIES} attempts)" in log
    fetched = workdir / "resources" / "mnist" / NAME
    if next_mirror == "has the file":
        assert result.returncode == 0, output
        assert hashlib.md5(fetched.read_bytes()).hexdigest() == CANONICAL_MD5[NAME]
    else:
        assert result.returncode != 0
        assert f"could not fetch a verified copy of {NAME}" in output  # the failed job's log, shown
        for tried in (f"{silent_mirror.url}{NAME}.gz: timed out",
                      f"{silent_mirror.url}{NAME}: skipped (the mirror did not answer for {NAME}.gz)",
                      f"{second / NAME}.gz: not found", f"{second / NAME}: not found"):
            assert f"  - {tried}" in output, tried
        assert not fetched.exists()
    assert leftovers(workdir) == []
