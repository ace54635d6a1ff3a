"""Rows of an uncompressed one-dimensional Zarr v3 array, read straight from its chunk files.

Zarr's own read of the event arrays ran at about 40% of reading the same bytes from the files with
os.preadv, and it was what bounded binning from the store (benchmarks/bench_stamps.py). For an array in a local store whose only codec
is `bytes` (little-endian), alone or inside a `sharding_indexed` codec whose index is `bytes` +
`crc32c` at the end of the shard (the layout the mocks write, xraymass.mocks.stage), the stored
bytes of a chunk are its values. The Zarr v3 specification fixes the rest: a shard ends with one
(offset, nbytes) pair of little-endian uint64 per inner chunk, both 2^64-1 for a chunk not stored,
then the CRC-32C of those pairs; a chunk not stored, or a chunk file that is absent, reads as the
fill value. Rows are then read with os.preadv into the output array. `RawRows.of` returns None for
any other array, which is read through Zarr.

The index's CRC-32C is checked, and a chunk whose stored length is not a whole chunk is refused.
What is read is then checked against the writer's record (xraymass.store.Reader), as Zarr's read is.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

NOT_STORED = 2 ** 64 - 1


class RawRows:
    """read(lo, hi): rows lo:hi of one array, as numpy, without going through Zarr's codec pipeline."""

    def __init__(self, directory: Path, encode, dtype: np.dtype, fill, n_rows: int, inner: int, shard: int,
                 sharded: bool):
        self.directory, self.encode, self.dtype, self.fill = directory, encode, dtype, fill
        self.n_rows, self.inner, self.shard, self.sharded = n_rows, inner, shard, sharded
        self.n_inner = shard // inner
        self.indexes: dict[int, np.ndarray | None] = {}

    @classmethod
    def of(cls, array) -> "RawRows | None":
        """A direct reader of `array` (a zarr.Array), or None where its layout is not the one above."""
        from zarr.codecs import Crc32cCodec, ShardingCodec

        directory = _local(array)
        if directory is None or array.ndim != 1:
            return None
        dtype = np.dtype(array.dtype)
        if dtype.kind not in "fiu":
            return None
        codecs = tuple(array.metadata.codecs)
        inner = shard = int(array.chunks[0])
        if len(codecs) == 1 and _little(codecs[0], dtype):
            sharded = False
        elif (len(codecs) == 1 and isinstance(codecs[0], ShardingCodec) and len(codecs[0].codecs) == 1
              and _little(codecs[0].codecs[0], dtype) and len(codecs[0].index_codecs) == 2
              and _little(codecs[0].index_codecs[0], dtype) and isinstance(codecs[0].index_codecs[1], Crc32cCodec)
              and getattr(codecs[0].index_location, "value", None) == "end"):
            sharded, shard = True, int(array.shards[0])
        else:
            return None
        if inner <= 0 or shard % inner:
            return None
        return cls(directory, array.metadata.chunk_key_encoding.encode_chunk_key, dtype.newbyteorder("<"),
                   array.metadata.fill_value, int(array.shape[0]), inner, shard, sharded)

    def read(self, lo: int, hi: int, into: np.ndarray | None = None) -> np.ndarray:
        """Rows lo:hi, in a new array or at the start of `into` (as long at least, of this dtype)."""
        lo, hi = max(lo, 0), min(hi, self.n_rows)
        out = np.empty(max(hi - lo, 0), self.dtype) if into is None else into[:max(hi - lo, 0)]
        pos = lo
        while pos < hi:
            s, within = divmod(pos, self.shard)
            c = within // self.inner
            start = s * self.shard + c * self.inner  # the chunk's first row
            stop = min(hi, start + self.inner)
            target = out[pos - lo:stop - lo]
            path = self.directory / self.encode((s,))
            where = self._chunk(path, s, c)
            if where is None:
                target[...] = self.fill
            else:
                _read_into(path, target, where + (pos - start) * self.dtype.itemsize)
            pos = stop
        return out

    def _chunk(self, path: Path, s: int, c: int) -> int | None:
        """Byte offset of inner chunk c in file `path` (shard s), or None where it is not stored."""
        if not self.sharded:
            if not path.is_file():
                return None
            size = path.stat().st_size
            if size != self.inner * self.dtype.itemsize:
                raise ValueError(f"{path}: {size} bytes, not a chunk of {self.inner} values")
            return 0
        if s not in self.indexes:
            self.indexes[s] = _shard_index(path, self.n_inner) if path.is_file() else None
        index = self.indexes[s]
        if index is None:
            return None
        offset, nbytes = (int(v) for v in index[c])
        if offset == NOT_STORED and nbytes == NOT_STORED:
            return None
        if nbytes != self.inner * self.dtype.itemsize:
            raise ValueError(f"{path}: inner chunk {c} holds {nbytes} bytes, not {self.inner} values")
        return offset


def _shard_index(path: Path, n_inner: int) -> np.ndarray:
    """The (offset, nbytes) pairs at the end of a shard, after checking their CRC-32C."""
    import google_crc32c

    size = n_inner * 16 + 4
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < size:
            raise ValueError(f"{path}: shorter than its shard index")
        f.seek(-size, os.SEEK_END)
        raw = f.read(size)
    if google_crc32c.value(raw[:-4]) != int.from_bytes(raw[-4:], "little"):
        raise ValueError(f"{path}: shard index fails its CRC-32C")
    return np.frombuffer(raw[:-4], "<u8").reshape(n_inner, 2)


def _read_into(path: Path, target: np.ndarray, offset: int) -> None:
    view = memoryview(target).cast("B")
    fd = os.open(path, os.O_RDONLY)
    try:
        done = 0
        while done < len(view):
            n = os.preadv(fd, [view[done:]], offset + done)
            if n <= 0:
                raise ValueError(f"{path}: ends {len(view) - done} bytes short of its chunk")
            done += n
    finally:
        os.close(fd)


class RawChunks:
    """read(b): chunk b along the first axis of a Zarr v3 array chunked along that axis only (the stamps'
    images), decoded by numcodecs from its file without Zarr's asynchronous read, which ran at 0.43 of this
    read on blosc lz4 stamps and 0.54 on zstd ones (benchmarks/bench_train.py). The chunk's codecs must be
    `bytes` (little-endian) followed by at most one blosc or zstd codec, as Zarr's own, numcodecs-based, decode
    them; a chunk file that is absent reads as the fill value. `of` returns None for any other array."""

    def __init__(self, directory: Path, encode, dtype: np.dtype, fill, shape: tuple, rows: int, decode):
        self.directory, self.encode, self.dtype, self.fill = directory, encode, dtype, fill
        self.shape, self.rows, self.decode = shape, rows, decode

    @classmethod
    def of(cls, array) -> "RawChunks | None":
        from zarr.codecs import BloscCodec, ZstdCodec

        directory = _local(array)
        if directory is None or array.ndim < 1 or tuple(array.chunks[1:]) != tuple(array.shape[1:]):
            return None
        dtype = np.dtype(array.dtype)
        codecs = tuple(array.metadata.codecs)
        if dtype.kind not in "fiu" or not codecs or not _little(codecs[0], dtype):
            return None
        if len(codecs) == 1:
            decode = _copy
        elif len(codecs) == 2 and isinstance(codecs[1], BloscCodec):
            decode = _blosc
        elif len(codecs) == 2 and isinstance(codecs[1], ZstdCodec):
            decode = _zstd
        else:
            return None
        return cls(directory, array.metadata.chunk_key_encoding.encode_chunk_key, dtype.newbyteorder("<"),
                   array.metadata.fill_value, tuple(int(n) for n in array.shape), int(array.chunks[0]), decode)

    def read(self, b: int) -> np.ndarray:
        """Rows b*rows to (b+1)*rows (fewer in the last chunk); ValueError naming the file when it does not decode
        to a whole chunk."""
        out = np.empty((self.rows, *self.shape[1:]), self.dtype)
        path = self.directory / self.encode((b, *[0] * (len(self.shape) - 1)))
        if not path.is_file():
            out[...] = self.fill
        else:
            try:
                self.decode(path.read_bytes(), out)
            except Exception as err:  # the codecs raise several kinds on a damaged frame
                raise ValueError(f"{path}: does not decode to a chunk of {out.nbytes} bytes "
                                 f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
        return out[:max(0, min(self.rows, self.shape[0] - b * self.rows))]


def _local(array) -> Path | None:
    """The directory of a Zarr v3 array in a local store, or None."""
    from zarr.storage import LocalStore

    if not isinstance(array.store, LocalStore) or array.metadata.zarr_format != 3:
        return None
    return Path(array.store.root) / array.store_path.path


def _little(codec, dtype: np.dtype) -> bool:
    """A `bytes` codec that stores `dtype` little-endian."""
    from zarr.codecs import BytesCodec

    return isinstance(codec, BytesCodec) and (codec.endian is None and dtype.itemsize == 1
                                              or getattr(codec.endian, "value", None) == "little")


def _copy(raw: bytes, out: np.ndarray) -> None:
    if len(raw) != out.nbytes:
        raise ValueError(f"{len(raw)} bytes stored")
    memoryview(out).cast("B")[:] = raw


def _blosc(raw: bytes, out: np.ndarray) -> None:
    from numcodecs import blosc

    blosc.use_threads = False  # one thread, the caller's: in training, TensorFlow's threads have the cores
    _copy(blosc.decompress(raw), out)


def _zstd(raw: bytes, out: np.ndarray) -> None:
    from numcodecs import Zstd

    _copy(Zstd().decode(raw), out)
