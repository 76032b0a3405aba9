"""Fault 8: a mirror that accepts the connection and never answers."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
import time

import pytest
import yaml

from faults.conftest import GRID, assert_documented, jobs, leftovers, output_of, run_snakemake
from mnist_lr_batch.fetch import CANONICAL_MD5

pytestmark = pytest.mark.workflow

HAS, LACKS = "t10k-labels-idx1-ubyte", "train-labels-idx1-ubyte"  # the smallest files; the second mirror has one
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


def test_a_mirror_that_never_answers_times_out_and_the_next_is_tried(request, tmp_path, silent_mirror,
                                                                       mnist_mirror):
    """After the timeout (and its retry) the next mirror is tried, without waiting on the silent one a
    second time for the uncompressed copy. The next mirror has one file (fetched, verified) and not the
    other, whose error lists both mirrors. One snakemake run fetches both."""
    second = tmp_path / "second-mirror"
    second.mkdir()
    shutil.copy(mnist_mirror / f"{HAS}.gz", second)
    config = GRID | {"mnist": {"mirrors": [silent_mirror.url, str(second)], "timeout_seconds": TIMEOUT,
                               "retries": RETRIES}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    workdir = tmp_path / "work"

    started = time.monotonic()
    result = run_snakemake(workdir, "--cores", "2", "--configfile", str(tmp_path / "config.yaml"),
                           "--", f"resources/mnist/{HAS}", f"resources/mnist/{LACKS}", check=False)
    assert time.monotonic() - started < 60
    assert jobs(result) == {"fetch_mnist": 2} and result.returncode != 0
    assert len(silent_mirror.connections) == 2 * (1 + RETRIES)  # each file's compressed copy, each attempt
    logs = {name: (workdir / "logs" / "fetch_mnist" / f"{name}.log").read_text() for name in (HAS, LACKS)}
    for name, log in logs.items():
        assert f"{silent_mirror.url}{name}.gz: timed out after {TIMEOUT} s (gave up after {1 + RETRIES} attempts)" in log
        assert_documented(request, log)

    fetched = workdir / "resources" / "mnist"
    assert hashlib.md5((fetched / HAS).read_bytes()).hexdigest() == CANONICAL_MD5[HAS]
    assert not (fetched / LACKS).exists()
    output = output_of(result)
    assert f"could not fetch a verified copy of {LACKS}" in output  # the failed job's log, shown
    for tried in (f"{silent_mirror.url}{LACKS}.gz: timed out",
                  f"{silent_mirror.url}{LACKS}: skipped (the mirror did not answer for {LACKS}.gz)",
                  f"{second / LACKS}.gz: not found", f"{second / LACKS}: not found"):
        assert f"  - {tried}" in output, tried
    assert leftovers(workdir) == []
