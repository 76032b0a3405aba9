"""Parse IDX files (the MNIST format) strictly, and decode MNIST to one cached .npz.

IDX layout: two zero bytes, a type code, the number of dimensions, one
big-endian uint32 size per dimension, then the data, big-endian, row-major.
Every deviation (bad magic number, unexpected dimensions, truncation, trailing
bytes, image/label count mismatch, bad gzip) is an `IdxError` naming the file.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import struct
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from mnist_lr_batch.atomic import atomic_open

# IDX type code -> big-endian NumPy dtype.
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10

log = logging.getLogger("mnist_lr_batch.idx")


class IdxError(ValueError):
    """A malformed IDX file; the message names the file and the problem."""


class DecodedFileError(ValueError):
    """The decoded .npz is unreadable or not what decode_mnist writes; the message names it and the remedy."""


DECODED_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def read_bytes(path: Path) -> bytes:
    """The file's content, transparently decompressed when it is gzip."""
    raw = path.read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise IdxError(f"{path}: invalid gzip ({error or 'the compressed stream ends early'})") from None


def parse_idx(content: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array with the file's own shape and a native dtype."""
    if len(content) < 4:
        raise IdxError(f"{source}: truncated: {len(content)} bytes, shorter than the 4-byte magic number")
    zero, type_code, ndim = struct.unpack(">HBB", content[:4])
    if zero != 0 or type_code not in IDX_TYPES or ndim == 0:
        raise IdxError(
            f"{source}: wrong magic number 0x{content[:4].hex()}: an IDX file starts with two zero bytes, "
            f"a type code ({', '.join(f'0x{code:02x}' for code in IDX_TYPES)}) and a non-zero number of dimensions"
        )
    header_bytes = 4 + 4 * ndim
    if len(content) < header_bytes:
        raise IdxError(f"{source}: truncated header: {ndim} dimensions need {header_bytes} bytes, file has {len(content)}")
    shape = struct.unpack(f">{ndim}I", content[4:header_bytes])
    dtype = IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(content) - header_bytes
    if actual < expected:
        raise IdxError(f"{source}: truncated: the header {shape} promises {expected} data bytes, the file holds {actual}")
    if actual > expected:
        raise IdxError(f"{source}: {actual - expected} trailing bytes after the {expected} data bytes the header {shape} declares")
    array = np.frombuffer(content, dtype=dtype, offset=header_bytes).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))


def read_images_and_labels(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one MNIST split, checking the shapes, types and counts that MNIST requires."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise IdxError(f"{images_path}: wrong dimensions {images.shape}: expected (count, 28, 28) images")
    if labels.ndim != 1:
        raise IdxError(f"{labels_path}: wrong dimensions {labels.shape}: expected (count,) labels")
    for path, array in ((images_path, images), (labels_path, labels)):
        if array.dtype != np.uint8:
            raise IdxError(f"{path}: element type {array.dtype}, expected unsigned bytes (type code 0x08)")
    if len(images) != len(labels):
        raise IdxError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if labels.size and labels.max() >= N_CLASSES:
        raise IdxError(f"{labels_path}: label {labels.max()} outside 0-{N_CLASSES - 1}")
    return images, labels


def decode_mnist(
    train_images: Path, train_labels: Path, test_images: Path, test_labels: Path, output: Path
) -> None:
    """Decode the four IDX files into one .npz (uint8 arrays), written atomically."""
    x_train, y_train = read_images_and_labels(train_images, train_labels)
    x_test, y_test = read_images_and_labels(test_images, test_labels)
    with atomic_open(output, "wb") as handle:
        np.savez(handle, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    log.info("wrote %s: %d training and %d test images", output, len(x_train), len(x_test))


def check_decoded(path: str | Path) -> None:
    """Raise `DecodedFileError` if the .npz at `path` is damaged: unreadable, or not uint8 images and labels.

    Reads the whole file, so a training job calls it only once loading the file has failed,
    to tell a damaged file (and its remedy) from any other error. The workflow never
    re-decodes the file by itself (it is `ancient`, so that re-decoding does not retrain
    every cell), hence the remedy in the message.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = [data[key] for key in DECODED_ARRAYS]
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise DecodedFileError(damaged(path, f"unreadable: {type(error).__name__}: {error}")) from None
    for images, labels in (arrays[:2], arrays[2:]):
        if (images.shape[1:] != IMAGE_SHAPE or labels.shape != images.shape[:1]
                or images.dtype != np.uint8 or labels.dtype != np.uint8):
            raise DecodedFileError(damaged(path, f"arrays of {images.dtype} {images.shape} and {labels.dtype} "
                                                 f"{labels.shape}, not uint8 (count, 28, 28) images and labels"))


def damaged(path: str | Path, problem: str) -> str:
    return (f"{path} is damaged ({problem}). It is only a decoding of the verified IDX files in "
            f"resources/mnist/: delete it (rm {path}) and run snakemake again, which decodes it anew "
            f"(and refetches any IDX file that is missing)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Decode the four MNIST IDX files into one .npz.")
    for name in ("train-images", "train-labels", "test-images", "test-labels", "output"):
        parser.add_argument(f"--{name}", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        decode_mnist(args.train_images, args.train_labels, args.test_images, args.test_labels, args.output)
    except (IdxError, OSError) as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
