"""Store helpers: schema version, complete markers, atomic files, provenance."""
from __future__ import annotations

import os

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
    assert prov["git_commit"] != ""


def test_groups_written_after_consolidation_are_seen(tmp_path):
    root = open_store(tmp_path / "s.zarr", "a")
    root.require_group("halos")
    consolidate(tmp_path / "s.zarr")
    open_store(tmp_path / "s.zarr", "r+").require_group("predictions/fold_00")
    assert "fold_00" in open_store(tmp_path / "s.zarr")["predictions"]
