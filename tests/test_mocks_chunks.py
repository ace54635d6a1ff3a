"""Halos cut into particle blocks (xraymass.mocks.chunks): the same store whether a halo's blocks are
separate queue tasks or one rank's loop, on one rank or two MPI ranks; staged blocks resume a run."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from conftest import mpirun, science_config, xraymass
from xraymass.mocks.chunks import chunk_rows, plan_halo

SMALL = {
    "synthetic": {"n_halos": 3, "particles_per_halo": 3000},
    "mocks": {"exposure_ks": 5.0, "nbins": 100, "chunk_particles": 1000},
    "physics": {"data": "embedded"},
}


def test_chunk_rows_cover_the_halo_in_order():
    assert chunk_rows(500, 1000) == [(0, 500)]
    assert chunk_rows(3000, 1000) == [(0, 1000), (1000, 2000), (2000, 3000)]
    rows = chunk_rows(10_000_001, 1_000_000)
    assert len(rows) == 11 and rows[0][0] == 0 and rows[-1][1] == 10_000_001
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
    assert max(hi - lo for lo, hi in rows) <= 1_000_000


def test_plan_halo_tasks():
    halo = {"halo_id": 4, "n_gas": 2500, "m500c": 1e14, "centre": [0.0, 0.0, 0.0], "r500c": 900.0}
    assert [t["kind"] for t in plan_halo(halo, 1000, True, set())] == ["photons"] * 3
    assert [t["block"] for t in plan_halo(halo, 1000, True, {0, 2})] == [1]
    assert [t["kind"] for t in plan_halo(halo, 1000, True, {0, 1, 2})] == ["detect"]
    assert [t["kind"] for t in plan_halo(halo, 1000, False, set())] == ["halo"]
    assert [t["kind"] for t in plan_halo(halo, 5000, True, set())] == ["halo"]


def _open(store: Path):
    return zarr.open_group(str(store), mode="r", use_consolidated=False)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("mocks_chunks")
    out = xraymass("halos", "--config", str(_config(base, "halos", {})), timeout=600)
    assert out.returncode == 0, out.stderr
    return base


def _config(base: Path, name: str, mocks: dict) -> Path:
    path = science_config(base / f"{name}.yaml", base / name, SMALL, {"mocks": mocks},
                          {"physics": {"cache_dir": str(base / "physics")}})
    if name != "halos" and not (base / name / "store.zarr").exists():
        shutil.copytree(base / "halos" / "store.zarr", base / name / "store.zarr")
    return path


def _events(store: Path) -> dict:
    events = _open(store)["events"]
    return {name: ({key: group[key][...] for key in ("x", "y", "energy")},
                   {k: v for k, v in group.attrs.items() if k != "provenance"})
            for name, group in sorted(events.groups())}


def _assert_same(a: dict, b: dict, what: str) -> None:
    assert list(a) == list(b), what
    for name in a:
        for key in ("x", "y", "energy"):
            assert np.array_equal(a[name][0][key], b[name][0][key]), f"{what}: {name}/{key} differs"
        assert a[name][1] == b[name][1], f"{what}: {name} attributes differ"


@pytest.mark.mpi
def test_split_and_whole_halos_give_the_same_store_on_one_and_two_ranks(base):
    runs = {}
    for name, split, ranks in (("whole1", False, 1), ("split1", True, 1), ("split2", True, 2), ("whole2", False, 2)):
        config = _config(base, name, {"split_halos": split})
        out = (xraymass("mocks", "--config", str(config)) if ranks == 1
               else mpirun(ranks, "-m", "xraymass", "mocks", "--config", str(config)))
        assert out.returncode == 0, out.stderr
        if split:
            assert "3 split into blocks of at most 1000 cells: 9 block tasks" in out.stderr
        store = base / name / "store.zarr"
        assert "events_chunks" not in _open(store), f"{name}: staging group left behind"
        assert _open(store)["events"].attrs.get("complete") is True
        runs[name] = _events(store)
    for name in ("split1", "split2", "whole2"):
        _assert_same(runs["whole1"], runs[name], f"whole halos on 1 rank vs {name}")
    counts = [len(v[0]["x"]) for v in runs["whole1"].values()]
    assert min(counts) > 100, counts


def test_a_rerun_takes_the_blocks_a_killed_run_staged(base):
    """Stage block 1 of the first halo as a killed run would have, then run: only the other blocks are made,
    and the events equal those of a run from nothing (the staged block is the same block)."""
    from xraymass.config import load_config
    from xraymass.context import get_context
    from xraymass.mocks import stage as mocks_stage
    from xraymass.mocks.chunks import staged_blocks
    from xraymass.store import open_store

    reference = _config(base, "resume_ref", {})
    assert xraymass("mocks", "--config", str(reference)).returncode == 0
    config = _config(base, "resume", {})
    cfg = load_config(config, [])
    halo_id = int(open_store(cfg.store_path, "r")["halos"]["halo_id"][0])
    plan = mocks_stage.plan_work(cfg, [halo_id])
    block_task = next(t for t in plan.tasks if t["block"] == 1)
    mocks_stage.quiet_libraries()
    phys = mocks_stage.resolve_physics_on_every_rank(get_context(), cfg)
    mocks_stage.HaloObserver(cfg, phys, ranks=1, rank=0)(block_task)
    assert staged_blocks(open_store(cfg.store_path, "r"), halo_id) == {1}
    # another cut would mix blocks of two cuts: refused in one line before anything is made
    out = xraymass("mocks", "--config", str(config), "--set", "mocks.chunk_particles=1500")
    assert out.returncode != 0
    assert "mocks.chunk_particles: 1000 there, 1500 here" in out.stderr.strip().splitlines()[-1]
    out = xraymass("mocks", "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert "1 blocks staged by an earlier run" in out.stderr and ": 8 block tasks" in out.stderr
    _assert_same(_events(base / "resume_ref" / "store.zarr"), _events(base / "resume" / "store.zarr"), "resumed")
