"""The direct reads of xraymass.rawread (uncompressed event rows, stamps chunks) against Zarr's own, on real Zarr
stores."""
from __future__ import annotations

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec

from xraymass.errors import StoreError
from xraymass.rawread import RawChunks, RawRows
from xraymass.store import Reader, write_array

ROWS = 2_500_003


def arrays(tmp_path):
    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=3)
    data = np.random.default_rng(0).normal(size=ROWS).astype(np.float32)
    chunk = 1 << 20
    made = {
        "sharded": write_array(root, "sharded", data, chunks=(chunk,), shards=(3 * chunk,), compressors=None,
                               chunk_key_encoding={"name": "default", "separator": "."}),
        "two_shards": write_array(root, "two_shards", data, chunks=(chunk // 2,), shards=(chunk,), compressors=None),
        "plain": write_array(root, "plain", data, chunks=(chunk,), compressors=None),
        "int": write_array(root, "int", np.arange(ROWS, dtype=np.int64), chunks=(chunk,), compressors=None),
    }
    return root, data, made


def test_rows_equal_zarr_read_for_every_slice(tmp_path):
    root, data, made = arrays(tmp_path)
    for name, array in made.items():
        raw = RawRows.of(array)
        assert raw is not None, name
        for lo, hi in [(0, ROWS), (0, 1), (ROWS - 1, ROWS), (1_048_575, 1_048_577), (17, 2_200_000), (5, 5),
                       (ROWS - 10, ROWS + 50)]:
            got = raw.read(lo, hi)
            assert got.dtype == array.dtype
            np.testing.assert_array_equal(got, np.asarray(array[lo:hi]), err_msg=f"{name} {lo}:{hi}")


def test_compressed_arrays_go_through_zarr(tmp_path):
    root = zarr.open_group(str(tmp_path / "c.zarr"), mode="w", zarr_format=3)
    array = root.create_array("z", data=np.arange(1000, dtype=np.float32), chunks=(100,))  # zstd by default
    assert RawRows.of(array) is None
    reader = Reader(write_array(root, "w", np.arange(1000, dtype=np.float32), chunks=(100,)), "c.zarr/w")
    assert reader.raw is None
    np.testing.assert_array_equal(reader[0:1000], np.arange(1000, dtype=np.float32))
    reader.finish()


def test_chunk_not_stored_reads_as_fill_and_fails_the_record(tmp_path):
    root = zarr.open_group(str(tmp_path / "f.zarr"), mode="w", zarr_format=3)
    data = np.zeros(3000, np.float32)
    data[2000:] = 1.0  # the first two chunks are all fill: zarr does not store them
    array = write_array(root, "a", data, chunks=(1000,), shards=(3000,), compressors=None)
    np.testing.assert_array_equal(RawRows.of(array).read(0, 3000), data)
    plain = write_array(root, "p", data, chunks=(1000,), compressors=None)
    (tmp_path / "f.zarr" / "p" / "c" / "2").unlink()  # a chunk file lost
    reader = Reader(plain, "f.zarr/p")
    np.testing.assert_array_equal(reader[0:3000], np.zeros(3000, np.float32))
    with pytest.raises(StoreError, match="f.zarr/p: the content differs"):
        reader.finish()


def test_damaged_shard_is_refused_in_one_line(tmp_path):
    root, data, made = arrays(tmp_path)
    shard = tmp_path / "s.zarr" / "sharded" / "c.0"
    raw = bytearray(shard.read_bytes())
    raw[-10] ^= 0xFF  # inside the shard index
    shard.write_bytes(bytes(raw))
    reader = Reader(made["sharded"], "s.zarr/sharded")
    with pytest.raises(StoreError, match=r"s.zarr/sharded: not readable \(ValueError: .*CRC-32C"):
        reader[0:100]
    shard.write_bytes(bytes(raw[:1000]))  # truncated below its index
    with pytest.raises(StoreError, match="s.zarr/sharded: not readable"):
        Reader(made["sharded"], "s.zarr/sharded")[0:100]
    chunk = tmp_path / "s.zarr" / "plain" / "c" / "0"
    chunk.write_bytes(chunk.read_bytes()[:4000])  # a truncated chunk file
    with pytest.raises(StoreError, match="s.zarr/plain: not readable .*not a chunk of 1048576 values"):
        Reader(made["plain"], "s.zarr/plain")[0:100]


def test_damaged_chunk_content_fails_the_record(tmp_path):
    root, data, made = arrays(tmp_path)
    shard = tmp_path / "s.zarr" / "sharded" / "c.0"
    raw = bytearray(shard.read_bytes())
    raw[12345] ^= 0x01  # one value's bits, not the index
    shard.write_bytes(bytes(raw))
    reader = Reader(made["sharded"], "s.zarr/sharded")
    for lo in range(0, ROWS, 1 << 22):
        reader[lo:lo + (1 << 22)]
    with pytest.raises(StoreError, match="s.zarr/sharded: the content differs"):
        reader.finish()


@pytest.mark.parametrize("compressors", [None, "auto", BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle"),
                                         BloscCodec(cname="zstd", clevel=1, shuffle="shuffle")])
@pytest.mark.parametrize("shape", [(100, 16, 16), (100, 8, 8, 3)])
def test_chunks_equal_zarr_read(tmp_path, compressors, shape):
    root = zarr.open_group(str(tmp_path / "i.zarr"), mode="w", zarr_format=3)
    data = np.random.default_rng(1).poisson(3.0, shape).astype(np.int32)
    data[24:48] = 0  # a chunk of fill: zarr does not store it
    array = root.create_array("images", data=data, chunks=(24, *shape[1:]), compressors=compressors)
    raw = RawChunks.of(array)
    assert raw is not None
    for b in range(5):  # the last chunk holds 4 rows
        got = raw.read(b)
        assert got.dtype == array.dtype
        np.testing.assert_array_equal(got, np.asarray(array[b * 24:(b + 1) * 24]), err_msg=f"chunk {b}")


def test_chunks_of_other_layouts_go_through_zarr(tmp_path):
    root = zarr.open_group(str(tmp_path / "o.zarr"), mode="w", zarr_format=3)
    data = np.zeros((48, 16, 16), np.int32)
    assert RawChunks.of(root.create_array("split", data=data, chunks=(24, 8, 16))) is None
    assert RawChunks.of(root.create_array("sharded", data=data, chunks=(24, 16, 16), shards=(48, 16, 16))) is None
    assert RawChunks.of(root.create_array("two", data=data, chunks=(24, 16, 16),
                                          compressors=[BloscCodec(), BloscCodec()])) is None


@pytest.mark.parametrize("compressors", [None, "auto", BloscCodec(cname="lz4", shuffle="bitshuffle")])
def test_damaged_chunk_of_stamps_is_one_line_naming_the_file(tmp_path, compressors):
    root = zarr.open_group(str(tmp_path / "d.zarr"), mode="w", zarr_format=3)
    data = np.random.default_rng(2).poisson(3.0, (48, 16, 16)).astype(np.int32)
    array = root.create_array("images", data=data, chunks=(24, 16, 16), compressors=compressors)
    path = tmp_path / "d.zarr" / "images" / "c" / "1" / "0" / "0"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError) as err:
        RawChunks.of(array).read(1)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
