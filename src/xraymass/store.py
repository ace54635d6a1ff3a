"""The run directory and its Zarr store (schema: docs/store.md, version SCHEMA_VERSION).

Helpers every stage uses: open with a schema-version check, a `complete` attribute written
as the last act on a group, skip-if-complete, and atomic writes of plain files.

Verified data: every array a stage writes carries a `record` attribute (its shape, dtype and a
CRC of its contents: CRC-32C of the whole, or zlib's CRC-32 per chunk along the first axis), written with the data
(`write_array`, `record_array`, `record_chunks`). Zarr returns the fill value for a chunk file that
is missing and does not store all-fill chunks, so only the writer's record tells a reader that
data are missing: readers go through `read_verified`, `Reader` (streamed) or `verify_chunk`, which
raise StoreError naming the array and what is wrong. `record_settings`/`check_settings` record the
config sections a group was made with, so that a later stage can refuse other settings.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import zarr

from .errors import ConfigError, StoreError
from .rawread import RawRows

SCHEMA_VERSION = 2
COMPLETE = "complete"
RECORD = "record"      # array attribute: what the writer wrote (shape, dtype, crc32c or chunk_crc32)
SETTINGS = "settings"  # group attribute: the config sections (and keys) the group was made with


def open_store(path: str | os.PathLike, mode: str = "r") -> zarr.Group:
    """Open the run's store. mode 'r' or 'r+': it must exist; 'a': create it if absent."""
    path = Path(path)
    exists = (path / "zarr.json").is_file()
    if not exists and mode != "a":
        raise StoreError(f"{path}: no xraymass store here (run the earlier stages first)")
    try:
        # never through consolidated metadata: it is a snapshot taken when a stage ended, and a later
        # stage's groups (stamps, predictions) would be invisible through it
        root = zarr.open_group(str(path), mode=mode, zarr_format=3, use_consolidated=False)
    except Exception as err:  # zarr raises many kinds on a damaged store
        raise StoreError(f"{path}: store is not readable ({type(err).__name__}: {err})") from None
    if not exists:
        root.attrs["schema_version"] = SCHEMA_VERSION
    found = root.attrs.get("schema_version")
    if found != SCHEMA_VERSION:
        raise StoreError(f"{path}: store schema version {found!r}, this xraymass reads version "
                         f"{SCHEMA_VERSION}; write a new run directory or use the matching xraymass")
    return root


def require_group(root: zarr.Group, name: str) -> zarr.Group:
    return root.require_group(name)


def is_complete(node: zarr.Group | zarr.Array) -> bool:
    return node.attrs.get(COMPLETE) is True


def mark_complete(node: zarr.Group | zarr.Array) -> None:
    """Mark a group or array complete: always the last write to it."""
    node.attrs[COMPLETE] = True


def consolidate(path: str | os.PathLike) -> None:
    """Write consolidated metadata once, at the end of a stage (rank 0 only)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr warns that consolidation is not in the v3 spec
        zarr.consolidate_metadata(str(path))


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `path` (an empty file ending in `suffix`, for writers that
    insist on an extension); rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path.parent, f".{path.name}.*{suffix}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    tmp.chmod(0o666 & ~_umask())  # mkstemp's 0600 would hide results from the rest of a project group
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_leftovers(directory: str | os.PathLike, pattern: str) -> list[Path]:
    """Remove what a killed run left behind (temporary files or scratch directories matching
    `pattern` in `directory`); return what was removed. Each output has one writer, so whatever
    matches is stale."""
    import shutil

    removed = []
    for leftover in Path(directory).glob(pattern):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _umask() -> int:
    """The process umask, read without setting it (os.umask would change it for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


# --- verified data ------------------------------------------------------------------------

def checksum(data: np.ndarray, value: int = 0) -> int:
    """CRC-32 (zlib) of an array's bytes in C order, continuing from `value` (so blocks chain in order)."""
    import zlib

    return zlib.crc32(_bytes(data), value)


def checksum_c(data: np.ndarray, value: int = 0) -> int:
    """CRC-32C (Castagnoli; google-crc32c, hardware-accelerated) of an array's bytes in C order, continuing from
    `value`. Whole-array records use it: reading the event arrays checked this way runs at about twice the
    rate of zlib's CRC-32 (benchmarks/bench_stamps.py), which bounded binning from the store."""
    import google_crc32c

    return int(google_crc32c.extend(value, _bytes(data)))


WHOLE = {"crc32c": checksum_c, "crc32": checksum}  # a whole-array record's checksum: key -> function (older: crc32)


def _bytes(data: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(data).reshape(-1).view(np.uint8)


def _whole(record: dict) -> tuple[str, Any] | None:
    """(key, function) of a whole-array record's checksum, or None for a record per chunk."""
    return next(((key, fn) for key, fn in WHOLE.items() if key in record), None)


def data_record(data: np.ndarray) -> dict[str, Any]:
    data = np.asarray(data)
    return {"shape": [int(n) for n in data.shape], "dtype": str(np.dtype(data.dtype)), "crc32c": checksum_c(data)}


def write_array(group: zarr.Group, name: str, data: np.ndarray, per_chunk: bool = False, **kwargs) -> zarr.Array:
    """Create array `name` of `group` from `data`, with its record (shape, dtype, CRC-32 of the whole,
    or with per_chunk of each chunk along axis 0, for readers that take one chunk at a time)."""
    data = np.ascontiguousarray(data)
    if not per_chunk:
        return group.create_array(name, data=data, attributes={RECORD: data_record(data)}, **kwargs)
    array = group.create_array(name, data=data, **kwargs)
    rows = int(array.chunks[0])
    record_chunks(array, [checksum(data[lo:lo + rows]) for lo in range(0, max(len(data), 1), rows)])
    return array


def record_array(array: zarr.Array, data: np.ndarray) -> None:
    """Record what was just written whole into an existing array."""
    array.attrs[RECORD] = data_record(data)


def record_chunks(array: zarr.Array, chunk_crc32: Iterable[int]) -> None:
    """Record an array written chunk by chunk (along axis 0) by several writers: one CRC-32 each."""
    array.attrs[RECORD] = {"shape": [int(n) for n in array.shape], "dtype": str(np.dtype(array.dtype)),
                           "chunk_rows": int(array.chunks[0]), "chunk_crc32": [int(c) for c in chunk_crc32]}


def array_of(group: zarr.Group, name: str, where: str) -> zarr.Array:
    """group[name], or StoreError naming `where` when it is missing or its metadata is not readable."""
    try:
        node = group[name]
    except KeyError:
        raise StoreError(f"{where}: missing (docs/store.md)") from None
    except Exception as err:  # zarr on a truncated or foreign zarr.json
        raise StoreError(f"{where}: metadata not readable ({type(err).__name__}: {_one_line(err)})") from None
    if not isinstance(node, zarr.Array):
        raise StoreError(f"{where}: a group where an array was written")
    return node


def record_of(array: zarr.Array, where: str) -> dict[str, Any]:
    """The writer's record, checked against the array's metadata; StoreError when absent or different."""
    record = array.attrs.get(RECORD)
    if not isinstance(record, dict) or "shape" not in record:
        raise StoreError(f"{where}: no record of what was written (an unfinished write, or not written by "
                         f"xraymass schema {SCHEMA_VERSION}); it cannot be verified")
    shape = [int(n) for n in array.shape]
    if record["shape"] != shape:
        raise StoreError(f"{where}: shape {shape}, but {record['shape']} was written")
    dtype = str(np.dtype(array.dtype))
    if record.get("dtype") != dtype:
        raise StoreError(f"{where}: dtype {dtype}, but {record.get('dtype')} was written")
    return record


def _read(array: zarr.Array, selection, where: str) -> np.ndarray:
    try:
        return np.asarray(array[selection])
    except Exception as err:  # zarr and its codecs raise many kinds on a truncated or foreign chunk file
        raise StoreError(f"{where}: not readable ({type(err).__name__}: {_one_line(err)})") from None


def _mismatch(where: str, what: str) -> StoreError:
    return StoreError(f"{where}: {what} differs from what was written (a chunk file missing, truncated or "
                      f"replaced); re-run the stage that wrote it")


def read_verified(array: zarr.Array, where: str) -> np.ndarray:
    """The whole array, after checking it against its record (StoreError naming `where` if not)."""
    record = record_of(array, where)
    data = _read(array, ..., where)
    if "chunk_crc32" in record:
        for b in range(len(record["chunk_crc32"])):
            rows = record["chunk_rows"]
            _check_chunk(record, b, data[b * rows:(b + 1) * rows], where)
    else:
        key, fn = _whole(record) or ("crc32c", checksum_c)
        if fn(data) != record.get(key):
            raise _mismatch(where, "the content")
    return data


def array_problems(group: zarr.Group, names, where: str, block_rows: int | None = None) -> list[str]:
    """For `xraymass check`: one line per array of `group` named in `names` that is missing or differs
    from its record (verify_array), each named as `where`/NAME."""
    problems = []
    for name in names:
        try:
            verify_array(group[name], f"{where}/{name}", block_rows=block_rows)
        except KeyError:
            problems.append(f"{where}/{name}: missing")
        except Exception as err:  # StoreError, or zarr's own on damaged metadata
            problems.append(str(err))
    return problems


def group_to_check(root: zarr.Group, name: str, store_path, rerun: str) -> tuple[zarr.Group | None, str, list[str]]:
    """For `xraymass check`: (the group `name`, or None when the stage has not run; where it is; the problem
    "not complete (`rerun`)" when its marker is missing)."""
    if name not in root:
        return None, "", []
    group, where = root[name], f"{store_path}/{name}"
    return group, where, [] if is_complete(group) else [f"{where}: not complete ({rerun})"]


def config_problems(run_dir: Path, stage: str) -> list[str]:
    """For `xraymass check`: the stage's effective config `<run_dir>/<stage>.config.yaml`, if missing."""
    from .layout import effective_config

    path = effective_config(run_dir, stage)
    return [] if path.is_file() else [f"{path}: the effective config of the stage is missing"]


def verify_array(array: zarr.Array, where: str, block_rows: int | None = None) -> None:
    """Read the array through, a block of rows (default: one chunk) at a time, and check its record."""
    record = record_of(array, where)
    if array.ndim == 0 or array.shape[0] == 0:
        read_verified(array, where)
        return
    n = array.shape[0]
    if "chunk_crc32" in record:
        rows = int(record["chunk_rows"])
        for b in range(-(-n // rows)):
            _check_chunk(record, b, _read(array, slice(b * rows, min((b + 1) * rows, n)), where), where)
        return
    step = int(block_rows or array.chunks[0]) or 1
    reader = Reader(array, where, record)
    for lo in range(0, n, step):
        reader[lo:min(lo + step, n)]
    reader.finish()


def verify_group(group: zarr.Group, where: str) -> None:
    """Every array of `group` (not its subgroups) checked against its record: one line for a reader to call."""
    for name, array in sorted(group.arrays()):
        verify_array(array, f"{where}/{name}")


def verify_chunk(array: zarr.Array, b: int, data: np.ndarray, where: str) -> None:
    """Check block `b` (rows b*chunk_rows ...) of an array recorded per chunk, as just read."""
    _check_chunk(record_of(array, where), b, data, where)


def _check_chunk(record: dict, b: int, data: np.ndarray, where: str) -> None:
    crcs = record.get("chunk_crc32")
    if crcs is None:
        raise StoreError(f"{where}: recorded as a whole, not per chunk")
    if not 0 <= b < len(crcs) or crcs[b] is None or checksum(data) != crcs[b]:
        rows = record["chunk_rows"]
        raise _mismatch(where, f"chunk {b} (rows {b * rows}-{(b + 1) * rows - 1})")


class Reader:
    """Reads an array by slices of rows and checks its record once every row has been read.

    The record's checksum (CRC-32C; CRC-32 in older stores) is chained over the slices, so the rows
    must be read in order, each once (as a streaming reader does anyway); `finish()` raises
    StoreError when a row was skipped or the content differs. `chunks`, `shape` and `dtype` are the array's, so it can stand in for it.
    Uncompressed arrays (the event arrays) are read straight from their files (xraymass.rawread).
    """

    def __init__(self, array: zarr.Array, where: str, record: dict | None = None):
        self.array, self.where = array, where
        self.record = record or record_of(array, where)
        whole = _whole(self.record)
        if whole is None:
            raise StoreError(f"{where}: recorded per chunk, not as a whole")
        self.key, self.checksum = whole
        self.shape, self.dtype, self.chunks, self.ndim = array.shape, array.dtype, array.chunks, array.ndim
        self.position, self.crc, self.in_order = 0, 0, True
        self.raw = RawRows.of(array)  # uncompressed arrays: straight from the files (xraymass.rawread)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        lo, hi, step = rows.indices(self.shape[0])
        data = self._raw(lo, hi) if self.raw is not None and step == 1 else _read(self.array, rows, self.where)
        return self._chain(lo, hi, data)

    def read_into(self, lo: int, hi: int, into: np.ndarray) -> np.ndarray:
        """Rows lo:hi, checked as by self[lo:hi], at the start of `into`, which a streaming reader reuses: malloc
        maps and unmaps a new array of a few MiB on every read (xraymass.stamps.binning.bin_projections)."""
        if self.raw is None:
            return self[lo:hi]
        lo, hi = max(lo, 0), min(hi, self.shape[0])
        return self._chain(lo, hi, self._raw(lo, hi, into))

    def _chain(self, lo: int, hi: int, data: np.ndarray) -> np.ndarray:
        if lo == self.position and hi >= lo:
            self.crc = self.checksum(data, self.crc)
            self.position = hi
        elif hi > lo:
            self.in_order = False
        return data

    def _raw(self, lo: int, hi: int, into: np.ndarray | None = None) -> np.ndarray:
        try:
            return self.raw.read(lo, hi, into)
        except Exception as err:  # OSError, or a shard index or chunk length that is not what the metadata say
            raise StoreError(f"{self.where}: not readable ({type(err).__name__}: {_one_line(err)})") from None

    def finish(self) -> None:
        if not self.in_order or self.position != self.shape[0]:
            read_verified(self.array, self.where)  # read out of order: check it whole
        elif self.crc != self.record[self.key]:
            raise _mismatch(self.where, "the content")


def record_settings(group: zarr.Group, cfg, sections: dict[str, tuple[str, ...] | None]) -> None:
    """Record the config values `sections` names ({section: keys, or None for every key}) on `group`."""
    group.attrs[SETTINGS] = settings_of(cfg, sections)


def settings_of(cfg, sections: dict[str, tuple[str, ...] | None]) -> dict[str, dict[str, Any]]:
    out = {}
    for section, keys in sections.items():
        values = getattr(cfg, section)
        out[section] = {k: values[k] for k in (keys if keys is not None else values)}
    return out


def check_settings(group: zarr.Group, cfg, sections: dict[str, tuple[str, ...] | None], where: str,
                   stage: str) -> None:
    """ConfigError naming every key whose value differs from the one `group` was made with.

    Only keys the group recorded are compared (a group without a record, e.g. one made by hand, passes)."""
    recorded = group.attrs.get(SETTINGS)
    if not isinstance(recorded, dict):
        return
    wanted = settings_of(cfg, sections)
    diffs = [f"{section}.{key}: {recorded[section][key]!r} there, {value!r} here"
             for section, values in wanted.items() if isinstance(recorded.get(section), dict)
             for key, value in values.items() if key in recorded[section] and recorded[section][key] != value]
    if diffs:
        raise ConfigError(f"{cfg.path}: {where} was made with other settings than this config ({'; '.join(diffs)}); "
                          f"use the config it was made with, or a new run directory for `xraymass {stage}`")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
