"""Store helpers: schema version, complete markers, atomic files, provenance."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml
import zarr

from xraymass import __version__
from xraymass.config import load_config
from xraymass.errors import StoreError
from xraymass.provenance import write_effective_config
from xraymass.store import (SCHEMA_VERSION, atomic_path, consolidate, is_complete, mark_complete, open_store,
                            write_text_atomic)

from conftest import REPO


def test_missing_store_is_one_clear_error(tmp_path):
    with pytest.raises(StoreError, match=r"no xraymass store here"):
        open_store(tmp_path / "store.zarr")


def test_create_then_reopen(tmp_path):
    root = open_store(tmp_path / "s.zarr", "a")
    assert root.attrs["schema_version"] == SCHEMA_VERSION
    group = root.require_group("halos")
    assert not is_complete(group)
    mark_complete(group)
    assert is_complete(open_store(tmp_path / "s.zarr")["halos"])


def test_schema_version_mismatch_is_refused(tmp_path):
    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=3)
    root.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}, this xraymass reads version {SCHEMA_VERSION}"):
        open_store(tmp_path / "s.zarr")


def test_unreadable_store(tmp_path):
    (tmp_path / "s.zarr").mkdir()
    (tmp_path / "s.zarr" / "zarr.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"store is not readable"):
        open_store(tmp_path / "s.zarr")


def test_consolidate(tmp_path):
    root = open_store(tmp_path / "s.zarr", "a")
    root.create_array("a", shape=(3,), dtype="i4")
    consolidate(tmp_path / "s.zarr")
    assert "consolidated_metadata" in (tmp_path / "s.zarr" / "zarr.json").read_text()


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    write_text_atomic(target, "whole")
    assert target.read_text() == "whole" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    umask = os.umask(0o022)
    try:
        write_text_atomic(target, "again")
    finally:
        os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644


def test_effective_config_with_provenance(tmp_path):
    cfg = load_config(REPO / "pipeline" / "demo.yaml", ["train.max_epochs=7"])
    path = write_effective_config(tmp_path, cfg, "train", ranks=2, physics_data={"kind": "embedded"})
    doc = yaml.safe_load(path.read_text())
    assert path.name == "train.config.yaml"
    assert doc["config"]["train"]["max_epochs"] == 7
    prov = doc["provenance"]
    assert prov["xraymass_version"] == __version__ and prov["ranks"] == 2
    assert prov["physics_data"] == {"kind": "embedded"} and prov["stage"] == "train"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", prov["git_commit"]) and prov["git_commit"].startswith(head)


def test_groups_written_after_consolidation_are_seen(tmp_path):
    root = open_store(tmp_path / "s.zarr", "a")
    root.require_group("halos")
    consolidate(tmp_path / "s.zarr")
    open_store(tmp_path / "s.zarr", "r+").require_group("predictions/fold_00")
    assert "fold_00" in open_store(tmp_path / "s.zarr")["predictions"]


# --- verified data ---------------------------------------------------------------------------

import numpy as np  # noqa: E402

from xraymass.errors import ConfigError  # noqa: E402
from xraymass.store import (Reader, check_settings, read_verified, record_settings, verify_array,  # noqa: E402
                            verify_chunk, write_array)


def test_a_deleted_chunk_reads_as_zeros_but_fails_its_record(tmp_path):
    root = open_store(tmp_path / "s.zarr", "a")
    data = np.arange(1, 3001, dtype=np.float32)
    array = write_array(root, "x", data, chunks=(1000,))
    assert array.attrs["record"]["shape"] == [3000]
    np.testing.assert_array_equal(read_verified(array, "s.zarr/x"), data)
    (tmp_path / "s.zarr" / "x" / "c" / "1").unlink()
    assert (array[...] == 0).sum() == 1000  # what zarr alone gives: silent zeros
    with pytest.raises(StoreError, match=r"s.zarr/x: the content differs from what was written"):
        read_verified(array, "s.zarr/x")
    with pytest.raises(StoreError, match=r"s.zarr/x: the content differs"):
        verify_array(array, "s.zarr/x")


def test_streamed_reads_chain_the_checksum_and_out_of_order_reads_fall_back(tmp_path):
    root = open_store(tmp_path / "s.zarr", "a")
    array = write_array(root, "x", np.random.default_rng(0).normal(size=2500).astype(np.float32), chunks=(1000,))
    reader = Reader(array, "x")
    for lo in range(0, 2500, 700):
        reader[lo:lo + 700]
    reader.finish()
    reader = Reader(array, "x")
    reader[1000:2000]
    reader.finish()  # not in order: checked whole, still passes
    array[5] = 1.0  # changed behind the writer's back
    reader = Reader(array, "x")
    reader[0:2500]
    with pytest.raises(StoreError, match="differs"):
        reader.finish()


def test_per_chunk_records_name_the_chunk(tmp_path):
    root = open_store(tmp_path / "s.zarr", "a")
    images = np.arange(4 * 6 * 3 * 3, dtype=np.int32).reshape(24, 3, 3)
    array = write_array(root, "images", images, per_chunk=True, chunks=(6, 3, 3))
    verify_chunk(array, 2, images[12:18], "images")
    with pytest.raises(StoreError, match=r"images: chunk 2 \(rows 12-17\) differs"):
        verify_chunk(array, 2, np.zeros_like(images[12:18]), "images")
    root.create_array("bare", data=images)
    with pytest.raises(StoreError, match="bare: no record of what was written"):
        read_verified(root["bare"], "bare")


def test_settings_name_every_key_that_differs(tmp_path):
    cfg = load_config(REPO / "pipeline" / "demo.yaml")
    group = open_store(tmp_path / "s.zarr", "a").require_group("stamps")
    record_settings(group, cfg, {"stamps": ("npix", "n_folds", "emin_kev")})
    check_settings(group, cfg, {"stamps": ("npix", "n_folds", "emin_kev")}, "stamps", "train")
    other = load_config(REPO / "pipeline" / "demo.yaml", ["stamps.npix=64", "stamps.n_folds=5"])
    with pytest.raises(ConfigError, match=r"demo.yaml: stamps was made with other settings than this config "
                                          r"\(stamps.npix: 128 there, 64 here; stamps.n_folds: 10 there, 5 here\)"):
        check_settings(group, other, {"stamps": ("npix", "n_folds", "emin_kev")}, "stamps", "train")


def test_an_atomic_write_removes_what_a_killed_one_left(tmp_path):
    (tmp_path / ".out.txt.abc123.tmp").write_text("half")
    write_text_atomic(tmp_path / "out.txt", "whole")
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
