"""The data stage through the real snakemake command, against the local MNIST mirror."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from conftest import run_snakemake

pytestmark = pytest.mark.workflow


def test_fetch_and_decode_produce_the_canonical_arrays(decoded_data):
    with np.load(decoded_data / "resources" / "mnist.npz") as data:
        shapes = {name: (data[name].shape, data[name].dtype) for name in data.files}
        train_zeros = int((data["y_train"] == 0).sum())
        test_zeros = int((data["y_test"] == 0).sum())
    assert shapes == {
        "x_train": ((60000, 28, 28), np.uint8),
        "y_train": ((60000,), np.uint8),
        "x_test": ((10000, 28, 28), np.uint8),
        "y_test": ((10000,), np.uint8),
    }
    assert (train_zeros, test_zeros) == (5923, 980)


def test_second_run_does_nothing(decoded_data, mnist_mirror):
    result = run_snakemake(
        decoded_data, "--cores", "2", "--config", f"mnist_mirror={mnist_mirror}", "--", "resources/mnist.npz"
    )
    assert "Nothing to be done" in result.stdout + result.stderr


def test_switching_mirrors_does_not_refetch(decoded_data):
    """Where verified data came from cannot change it: no mirror, no rerun."""
    result = run_snakemake(decoded_data, "--cores", "2", "--dry-run", "--", "resources/mnist.npz")
    assert "Nothing to be done" in result.stdout + result.stderr


def corrupt_one_image_byte(source, target):
    """Copy the mirror, changing one pixel inside the test images (a valid gzip)."""
    shutil.copytree(source, target)
    path = target / "t10k-images-idx3-ubyte.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[16 + 28 * 14 + 14] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(content)))


@pytest.mark.parametrize("corruption", ["content", "compressed-byte"])
def test_corrupt_mirror_fails_clearly_and_leaves_no_npz(tmp_path, mnist_mirror, corruption):
    mirror = tmp_path / "mirror"
    if corruption == "content":
        corrupt_one_image_byte(mnist_mirror, mirror)
    else:
        shutil.copytree(mnist_mirror, mirror)
        path = mirror / "t10k-images-idx3-ubyte.gz"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    workdir = tmp_path / "work"
    result = run_snakemake(
        workdir, "--cores", "2", "--config", f"mnist_mirror={mirror}", "--", "resources/mnist.npz", check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "could not fetch a verified copy of t10k-images-idx3-ubyte" in output
    assert f"{mirror}/t10k-images-idx3-ubyte.gz: checksum mismatch" in output
    assert not (workdir / "resources" / "mnist.npz").exists()
    assert not (workdir / "resources" / "mnist" / "t10k-images-idx3-ubyte").exists()
