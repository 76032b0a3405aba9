"""The IDX parser and the decode step, on small IDX files written here."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from idx_files import idx_bytes, tiny_split, write_idx

from mnist_lr_batch.idx import DecodedFileError, IdxError, check_decoded, decode_mnist, read_idx, read_images_and_labels


def test_reads_good_files_raw_and_gzipped(tmp_path):
    images, labels = tiny_split()
    raw_images = write_idx(tmp_path / "images", images)
    gz_labels = write_idx(tmp_path / "labels.gz", labels, compress=True)
    got_images, got_labels = read_images_and_labels(raw_images, gz_labels)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.dtype == np.uint8 and got_labels.dtype == np.uint8


# Every IDX type code, with values whose bytes are not palindromes: a type read in the wrong
# byte order gives other numbers.
IDX_TYPES = [
    (0x08, np.uint8, [[0, 255], [7, 128]]),
    (0x09, np.int8, [[1, -2], [127, -128]]),
    (0x0B, np.int16, [[1, -2], [300, -30000]]),
    (0x0C, np.int32, [[1, -2], [300, 70000]]),
    (0x0D, np.float32, [[1.5, -2.25], [3e-5, 7e10]]),
    (0x0E, np.float64, [[1.5, -2.25], [3e-300, 7e100]]),
]


@pytest.mark.parametrize("type_code, dtype, values", IDX_TYPES, ids=[f"0x{code:02x}" for code, _, _ in IDX_TYPES])
def test_reads_every_type_big_endian_into_native_order(tmp_path, type_code, dtype, values):
    values = np.array(values, dtype=dtype)
    path = tmp_path / "array"
    path.write_bytes(idx_bytes(values, type_code=type_code))
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_wrong_magic_number_names_the_file(tmp_path):
    path = tmp_path / "bad-magic"
    path.write_bytes(b"\x00\x01\x08\x01" + b"\x00\x00\x00\x01" + b"\x05")
    with pytest.raises(IdxError, match=r"bad-magic: wrong magic number 0x00010801"):
        read_idx(path)


def test_unknown_type_code_is_a_wrong_magic_number(tmp_path):
    path = tmp_path / "bad-type"
    path.write_bytes(b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"\x05")
    with pytest.raises(IdxError, match="bad-type: wrong magic number"):
        read_idx(path)


def test_wrong_image_dimensions(tmp_path):
    images, labels = tiny_split()
    path = write_idx(tmp_path / "images", images[:, :, :27])
    with pytest.raises(IdxError, match=r"images: wrong dimensions \(5, 28, 27\)"):
        read_images_and_labels(path, write_idx(tmp_path / "labels", labels))


def test_labels_must_be_one_dimensional(tmp_path):
    images, labels = tiny_split()
    path = write_idx(tmp_path / "labels", labels.reshape(5, 1))
    with pytest.raises(IdxError, match="labels: wrong dimensions"):
        read_images_and_labels(write_idx(tmp_path / "images", images), path)


def test_truncated_data(tmp_path):
    images, _ = tiny_split()
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(images)[:-1])
    with pytest.raises(IdxError, match=r"images: truncated: the header \(5, 28, 28\) promises 3920 data bytes, the file holds 3919"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(IdxError, match="short: truncated header"):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    images, _ = tiny_split()
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(images) + b"\x00\x00")
    with pytest.raises(IdxError, match="images: 2 trailing bytes"):
        read_idx(path)


def test_mismatched_image_and_label_counts(tmp_path):
    images, labels = tiny_split()
    with pytest.raises(IdxError, match="holds 5 images but .*labels holds 4 labels"):
        read_images_and_labels(write_idx(tmp_path / "images", images), write_idx(tmp_path / "labels", labels[:4]))


def test_labels_out_of_range(tmp_path):
    images, labels = tiny_split()
    labels[2] = 10
    with pytest.raises(IdxError, match="label 10 outside 0-9"):
        read_images_and_labels(write_idx(tmp_path / "images", images), write_idx(tmp_path / "labels", labels))


def test_invalid_gzip(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(b"\x1f\x8b" + b"definitely not deflate data")
    with pytest.raises(IdxError, match="labels.gz: invalid gzip"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    _, labels = tiny_split()
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(labels))[:-12])
    with pytest.raises(IdxError, match="labels.gz: invalid gzip"):
        read_idx(path)


def test_decode_writes_all_four_arrays(tmp_path):
    train_images, train_labels = tiny_split(6, seed=1)
    test_images, test_labels = tiny_split(3, seed=2)
    paths = [
        write_idx(tmp_path / name, array)
        for name, array in [("ti", train_images), ("tl", train_labels), ("vi", test_images), ("vl", test_labels)]
    ]
    output = tmp_path / "out" / "mnist.npz"
    decode_mnist(*paths, output)
    with np.load(output) as data:
        assert sorted(data.files) == ["x_test", "x_train", "y_test", "y_train"]
        np.testing.assert_array_equal(data["x_train"], train_images)
        np.testing.assert_array_equal(data["y_test"], test_labels)


def test_decode_failure_leaves_no_output(tmp_path):
    train_images, train_labels = tiny_split(6)
    paths = [
        write_idx(tmp_path / "ti", train_images),
        write_idx(tmp_path / "tl", train_labels[:5]),  # count mismatch
        write_idx(tmp_path / "vi", train_images),
        write_idx(tmp_path / "vl", train_labels),
    ]
    output = tmp_path / "mnist.npz"
    with pytest.raises(IdxError):
        decode_mnist(*paths, output)
    assert list(tmp_path.glob("*mnist.npz*")) == []


def decoded_npz(tmp_path, **overrides):
    """A small .npz as decode_mnist writes it (or with some arrays replaced)."""
    train_images, train_labels = tiny_split(6, seed=1)
    test_images, test_labels = tiny_split(3, seed=2)
    arrays = {"x_train": train_images, "y_train": train_labels, "x_test": test_images, "y_test": test_labels}
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays | overrides)
    return path


def test_check_decoded_accepts_what_decode_writes(tmp_path):
    check_decoded(decoded_npz(tmp_path))


@pytest.mark.parametrize("damage", ["truncated", "one byte changed", "empty", "float images", "labels missing"])
def test_check_decoded_names_a_damaged_npz_and_the_remedy(tmp_path, damage):
    """What the train job reports when loading resources/mnist.npz fails (tests/faults runs it end to end)."""
    path = decoded_npz(tmp_path, **({"x_train": tiny_split(6)[0].astype(np.float32)} if damage == "float images"
                                    else {}))
    content = bytearray(path.read_bytes())
    if damage == "truncated":
        path.write_bytes(content[: len(content) // 2])
    elif damage == "one byte changed":
        content[len(content) // 2] ^= 0xFF  # inside x_train's data: the zip's CRC no longer matches
        path.write_bytes(bytes(content))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "labels missing":
        train_images, _ = tiny_split(6, seed=1)
        np.savez(path, x_train=train_images, x_test=train_images, y_test=np.zeros(6, np.uint8))
    with pytest.raises(DecodedFileError, match=rf"{path} is damaged \(.*\)\. .*delete it \(rm {path}\)"):
        check_decoded(path)
