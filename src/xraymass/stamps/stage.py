"""`xraymass stamps`: bin each cluster's events into 128x128 counts images (one channel per energy band of
`stamps.bands` when set), augment them by the 8
symmetries of the square, and label them with log10(M500c), halo id, projection, augmentation and
cross-validation fold (schema: docs/store.md, `stamps/`; user guide: docs/stamps.md).

One Dask task per cluster writes that cluster's own chunk of `stamps/images`; the client (this
process) writes everything else: the labels, `cluster_done`, provenance, `complete` and the
consolidated metadata. Clusters already done are skipped, so the same command resumes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from zarr.codecs import BloscCodec

from ..config import Config
from ..errors import InputError, StoreError
from ..layout import EVENTS, HALOS, STAMPS, catalogue_complete
from ..mocks.config_schema import SETTINGS as MOCKS_SETTINGS
from ..progress import Progress
from ..provenance import provenance, write_effective_config
from ..store import (array_of, array_problems, check_settings, config_problems, consolidate, group_to_check,
                     is_complete, mark_complete, open_store, read_verified, record_array, record_chunks,
                     record_settings)
from .config_schema import SETTINGS
from .dihedral import N_TRANSFORMS
from .folds import assign_folds
from .images import event_layout, events_group_name
from .workers import dask_client, say

# Counts are small integers held in int32: blosc's bit shuffle groups their always-zero high bits, after
# which lz4 stores the demo's stamps in 12% of their bytes (zarr's default zstd: 19%) and decodes them
# about three times faster, which training's input pays once per image and epoch (benchmarks/bench_train.py)
IMAGE_COMPRESSORS = (BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle"),)
KERNEL_KEYS = ("emin_kev", "emax_kev", "npix", "fov_arcmin", "block_events", "bands")
LAYOUT_KEYS = ("n_folds", "emin_kev", "emax_kev", "npix", "fov_arcmin", "projections", "n_clusters")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", default=None,
                        help="folder of site_configs/ that says where the Dask workers come from "
                             "(default: $XRAYMASS_SITE, else local)")
    parser.add_argument("--site-set", dest="site_overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override one site config value (repeatable), e.g. --site-set dask.n_workers=8")


def run(cfg: Config, args: argparse.Namespace) -> int:
    from ..sites.site import load_site

    site = load_site(args.site, overrides=args.site_overrides)
    root = open_store(cfg.store_path, "r+")
    halo_ids, log_m500c = read_catalogue(root, cfg.store_path)
    events = check_events(root, halo_ids, cfg.stamps, cfg.store_path)
    check_settings(root[EVENTS], cfg, MOCKS_SETTINGS, f"{cfg.store_path}/{EVENTS}", "stamps")
    stamps = prepare_stamps_group(root, halo_ids, log_m500c, events["projections"], cfg.stamps, cfg.store_path,
                                  cfg.masking)
    if is_complete(stamps):
        say(f"stamps/ is complete ({stamps['images'].shape[0]} images); nothing to do")
        return 0
    todo = clusters_to_do(stamps, events["n_events"])
    n_workers = 0
    if len(todo):
        with dask_client(site.cfg.dask, site.directory) as client:
            stamp_clusters(client, cfg.store_path, stamps, halo_ids, todo,
                           {**cfg.stamps, "block_events": cfg.stamps["block_events"] or site.cfg.resources["block_events"]},
                           masking={"masking": cfg.masking, "run_seed": cfg.run["seed"]})
            n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
    finish(stamps, cfg, n_workers, events["physics_data"])
    return 0


def read_catalogue(root, store_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Halo ids and log10(M500c) of the catalogue, in catalogue order."""
    if not catalogue_complete(root):
        raise StoreError(f"{store_path}: halos/ is missing or incomplete; run `xraymass halos` first")
    halos = root[HALOS]
    halo_ids, log_m500c = (read_verified(array_of(halos, name, f"{store_path}/halos/{name}"), f"{store_path}/halos/{name}")
                           for name in ("halo_id", "log_m500c"))
    halo_ids, log_m500c = np.asarray(halo_ids, np.int64), np.asarray(log_m500c, np.float64)
    if len(halo_ids) == 0:
        raise InputError(f"{store_path}: halos/ holds no halo; nothing to stamp")
    return halo_ids, log_m500c


def check_events(root, halo_ids: np.ndarray, stamps_cfg: dict, store_path: Path) -> dict:
    """Fail fast, before any worker starts: every halo's events complete, same projections, field inside."""
    projections, physics_data, n_events = None, None, []
    for halo_id in halo_ids:
        name = events_group_name(halo_id)
        where = f"{store_path}/{name}"
        if name not in root:
            raise InputError(f"{where}: events missing for halo {halo_id}; run `xraymass mocks` first (it resumes)")
        group = root[name]
        if not is_complete(group):
            raise InputError(f"{where}: events of halo {halo_id} are incomplete; run `xraymass mocks` again "
                             f"(it resumes)")
        layout = event_layout(group, where)
        if projections is None:
            projections, physics_data = layout["projections"], group.attrs.get("physics_data")
        elif layout["projections"] != projections:
            raise InputError(f"{where}: projections {layout['projections']} differ from {projections} of the "
                             f"first halo; every cluster needs the same projections")
        if stamps_cfg["fov_arcmin"] > layout["fov_arcmin"] * (1 + 1e-9):
            raise InputError(f"{where}: stamps.fov_arcmin = {stamps_cfg['fov_arcmin']:g} is larger than the "
                             f"events' field of {layout['fov_arcmin']:g} arcmin")
        n_events.append(layout["offsets"][-1])
    return {"projections": projections, "physics_data": physics_data, "n_events": np.asarray(n_events)}


def prepare_stamps_group(root, halo_ids, log_m500c, projections, stamps_cfg: dict, store_path: Path,
                         masking_cfg: dict | None = None):
    """The stamps/ group, created (or recreated when incomplete and laid out differently), labels written."""
    per_cluster = N_TRANSFORMS * len(projections)
    wanted = {key: stamps_cfg[key] for key in LAYOUT_KEYS if key in stamps_cfg}
    wanted.update(projections=list(projections), n_clusters=len(halo_ids))
    # point-source masking is part of the layout when on (stamps without it record no `masking` attribute)
    wanted["masking"] = masking_cfg if masking_cfg and masking_cfg["method"] != "none" else None
    if stamps_cfg.get("bands"):  # multi-band: recorded; single band keeps the paper's attributes unchanged
        wanted["bands"] = [list(map(float, band)) for band in stamps_cfg["bands"]]
    labels = image_labels(halo_ids, log_m500c, len(projections), stamps_cfg["n_folds"])
    if STAMPS in root:
        stamps = root[STAMPS]
        keys = (*LAYOUT_KEYS, "masking", *(("bands",) if "bands" in wanted or "bands" in stamps.attrs else ()))
        same = ({k: stamps.attrs.get(k) for k in keys} == wanted and "halo_id" in stamps
                and np.array_equal(stamps["halo_id"][::per_cluster], halo_ids))
        if is_complete(stamps):
            if not same:
                raise StoreError(f"{store_path}/stamps was made with other settings or halos than this config "
                                 f"asks ({_describe(stamps.attrs, wanted)}); use a new run directory")
            return stamps
        if same and "images_crc32" in stamps:
            write_labels(stamps, labels)
            return stamps
        say("stamps/ is incomplete and laid out for other settings: starting it again")
    stamps = create_stamps_group(root, len(halo_ids), per_cluster, stamps_cfg["npix"],
                                 {k: v for k, v in wanted.items() if v is not None or k != "masking"},
                                 len(stamps_cfg.get("bands") or []))
    write_labels(stamps, labels)
    record_settings(stamps, _Sections(stamps_cfg, masking_cfg), SETTINGS)
    return stamps


def image_labels(halo_ids, log_m500c, n_projections: int, n_folds: int) -> dict[str, np.ndarray]:
    """Per image: row 8*P*c + 8*p + a is cluster c, projection p, augmentation a."""
    per_cluster = N_TRANSFORMS * n_projections
    folds = assign_folds(log_m500c, n_folds)
    return {
        "log_m500c": np.repeat(log_m500c, per_cluster).astype(np.float32),
        "halo_id": np.repeat(halo_ids, per_cluster).astype(np.int64),
        "projection": np.tile(np.repeat(np.arange(n_projections), N_TRANSFORMS), len(halo_ids)).astype(np.int8),
        "augmentation": np.tile(np.arange(N_TRANSFORMS), n_projections * len(halo_ids)).astype(np.int8),
        "fold": np.repeat(folds, per_cluster).astype(np.int8),
    }


def create_stamps_group(root, n_clusters: int, per_cluster: int, npix: int, attrs: dict, n_bands: int = 0):
    """The empty stamps/ group: images [N, npix, npix] (single band), or [N, npix, npix, n_bands] (multi-band)."""
    stamps = root.create_group(STAMPS, overwrite=True)
    n_images = n_clusters * per_cluster
    channels = (n_bands,) if n_bands else ()
    stamps.create_array("images", shape=(n_images, npix, npix, *channels), chunks=(per_cluster, npix, npix, *channels),
                        dtype="int32", fill_value=0, compressors=IMAGE_COMPRESSORS)
    for name, dtype in (("log_m500c", "float32"), ("halo_id", "int64"), ("projection", "int8"),
                        ("augmentation", "int8"), ("fold", "int8")):
        stamps.create_array(name, shape=(n_images,), chunks=(n_images,), dtype=dtype, fill_value=0)
    stamps.create_array("cluster_done", shape=(n_clusters,), chunks=(n_clusters,), dtype="bool", fill_value=False)
    # CRC-32 of each cluster's block of images, as its task wrote it (the record of `images`)
    stamps.create_array("images_crc32", shape=(n_clusters,), chunks=(n_clusters,), dtype="int64", fill_value=-1)
    stamps.attrs.update(attrs)
    return stamps


def write_labels(stamps, labels: dict[str, np.ndarray]) -> None:
    for name, values in labels.items():
        stamps[name][:] = values
        record_array(stamps[name], values)


def clusters_to_do(stamps, n_events: np.ndarray) -> np.ndarray:
    """Clusters not yet done, the largest event lists first (the longest tasks start first)."""
    done = stamps["cluster_done"][:]
    todo = np.flatnonzero(~done)
    todo = todo[np.argsort(-n_events[todo], kind="stable")]
    say(f"{len(done)} clusters x {stamps['images'].chunks[0]} images: {len(todo)} to stamp, "
        f"{len(done) - len(todo)} done before")
    return todo


def stamp_clusters(client, store_path: Path, stamps, halo_ids: np.ndarray, todo: np.ndarray,
                   stamps_cfg: dict, masking: dict | None = None) -> None:
    """One task per cluster; the client records each finished cluster in cluster_done.
    `masking`: {"masking": the config section, "run_seed": run.seed} (xraymass.stamps.masking), or None."""
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    from .images import stamp_cluster

    kernel = {key: stamps_cfg[key] for key in KERNEL_KEYS}
    path = str(Path(store_path).resolve())
    futures = [client.submit(stamp_cluster, path, int(halo_ids[c]), int(c), **kernel, **(masking or {}), priority=-rank,
                             key=f"stamps-{events_group_name(halo_ids[c]).split('/')[1]}", pure=False)
               for rank, c in enumerate(todo)]
    done, crcs = stamps["cluster_done"], stamps["images_crc32"]
    progress = Progress("stamps", len(todo), unit="cluster")
    try:
        for future in as_completed(futures):
            try:
                cluster, _, crc = future.result()
            except (KilledWorker, FutureCancelledError) as err:
                raise InputError(f"{future.key}: the Dask worker running it died ({type(err).__name__}); see the "
                                 f"worker logs (often memory: lower stamps.block_events)") from None
            crcs[cluster] = crc
            done[cluster] = True
            progress.update()
    finally:
        progress.close()
        client.cancel(futures)


def finish(stamps, cfg: Config, n_workers: int, physics_data) -> None:
    """Provenance, then `complete` (the last write), consolidated metadata, the effective config."""
    done, crcs = stamps["cluster_done"][:], stamps["images_crc32"][:]
    if not done.all() or (crcs < 0).any():
        raise StoreError(f"{cfg.store_path}/stamps: some clusters are not done; run the stage again")
    record_chunks(stamps["images"], crcs.tolist())
    record_array(stamps["cluster_done"], done)
    record_array(stamps["images_crc32"], crcs)
    stamps.attrs["provenance"] = provenance("stamps", n_workers, physics_data)
    mark_complete(stamps)
    consolidate(cfg.store_path)
    write_effective_config(cfg.run_dir, cfg, "stamps", n_workers, physics_data)
    say(f"stamps/ complete: {stamps['images'].shape[0]} images of {stamps['cluster_done'].shape[0]} clusters")


class _Sections:
    """A stand-in for a Config holding only the stamps and masking sections (what record_settings reads)."""

    def __init__(self, stamps_cfg: dict, masking_cfg: dict | None = None):
        self.stamps = stamps_cfg
        # unmasked stamps record only the method: the other masking keys do not change them
        on = masking_cfg is not None and masking_cfg["method"] != "none"
        self.masking = masking_cfg if on else {"method": "none"}


def check_outputs(root, store_path: Path, run_dir: Path) -> tuple[str, list[str]]:
    """For `xraymass check`: (summary, problems) of `stamps/` and the stage's effective config."""
    stamps, where, problems = group_to_check(root, STAMPS, store_path, "run `xraymass stamps` again; it resumes")
    if stamps is None:
        return "not run", []
    if problems:
        return "incomplete", problems
    names = sorted(name for name, _ in stamps.arrays())
    problems += array_problems(stamps, names, where) + config_problems(run_dir, "stamps")
    n = stamps["images"].shape[0] if "images" in stamps else 0
    return f"{n} images of {stamps.attrs.get('n_clusters', '?')} clusters, {len(names)} arrays", problems


def _describe(found, wanted: dict) -> str:
    diffs = [f"{k}: {found.get(k)!r} vs {v!r}" for k, v in wanted.items() if found.get(k) != v]
    return "; ".join(diffs) or "the halo ids differ"
