"""Benchmark of the store's verification: what the records and checks cost each stage.

On a synthetic store of the demo's size (60 clusters, 3 projections, the events of a 100 ks ACIS-I
observation, built as benchmarks/bench_stamps.py builds it, through the production writers):

1. mocks: recording a halo's events (CRC-32C of x, y, energy) against writing them, and against the
   demo's observation time per halo (`--observe-s`, from benchmarks/bench_mocks.py).
2. stamps: each cluster's task with its events checked as they are read, against the same task
   reading them unchecked (best of 3), and the whole stage (`xraymass stamps`, LocalCluster of 2).
3. train: checking every stamps chunk before a fold trains (once per fold), against reading them,
   and against the train stage of one fold (`xraymass train --fold 0`, `--epochs` epochs).
4. evaluate: reading the predictions checked against unchecked; `xraymass check` of the whole run.

    python benchmarks/bench_integrity.py [--quick] [--epochs N] [--observe-s S] [--keep]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stamps import build_store  # noqa: E402

from xraymass.layout import events_group  # noqa: E402
from xraymass.rawread import RawRows  # noqa: E402
from xraymass.sites.site import load_site  # noqa: E402
from xraymass.stamps.binning import Field, bin_projections  # noqa: E402
from xraymass.stamps.dihedral import all_transforms  # noqa: E402
from xraymass.stamps.images import event_layout, stamp_cluster  # noqa: E402
from xraymass.store import data_record, open_store, read_verified, verify_array, write_array  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORKERS = 2


def best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_stage(*args: str) -> float:
    env = dict(os.environ, XRAYMASS_HOME=str(REPO))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "xraymass", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"xraymass {args[0]} failed:\n{out.stderr}")
    return time.perf_counter() - start


def bench_mocks_writer(root, observe_s: float) -> dict:
    """Per halo: the record (CRC-32C of x, y, energy) against writing the arrays (create_array), best of 3 each."""
    scratch = root.require_group("bench_scratch")
    write = record = 0.0
    n = 0
    for name, group in root["events"].groups():
        arrays = {key: np.asarray(group[key][:]) for key in ("x", "y", "energy")}
        chunk = max(min(len(arrays["x"]), 1 << 20), 1)
        n += 1
        write += best(lambda: [scratch.create_array(key, data=data, chunks=(chunk,), overwrite=True)
                               for key, data in arrays.items()])
        record += best(lambda: [data_record(data) for data in arrays.values()])
    return {"halos": n, "write_s": write / n, "record_s": record / n, "of_write": record / write,
            "of_observe": record / n / observe_s, "observe_s": observe_s}


class Unchecked:
    """An event array read as xraymass.store.Reader reads it (straight from its files), with no checksum."""

    def __init__(self, array):
        self.array, self.raw, self.chunks, self.shape = array, RawRows.of(array), array.chunks, array.shape

    def __getitem__(self, rows: slice) -> np.ndarray:
        lo, hi, _ = rows.indices(self.shape[0])
        return self.raw.read(lo, hi) if self.raw is not None else np.asarray(self.array[rows])


def unverified_task(store: str, halo_id: int, cluster: int, emin_kev, emax_kev, npix, fov_arcmin, block_events):
    """stamp_cluster without the checks: the same reads, binning and write, nothing verified."""
    root = open_store(store, "r+")
    group = root[events_group(halo_id)]
    layout = event_layout(group, "bench")
    field = Field.centred(layout["centre_pix"], fov_arcmin * 60.0 / layout["pixel_arcsec"], npix)
    images = bin_projections(*(Unchecked(layout["arrays"][key]) for key in ("x", "y", "energy")), layout["offsets"],
                             field, emin_kev, emax_kev, block_events)
    stamps = np.concatenate([all_transforms(image.astype(np.int32)) for image in images])
    root["stamps/images"][cluster * len(stamps):(cluster + 1) * len(stamps)] = stamps


def bench_stamps_tasks(store: Path, halo_ids: np.ndarray, kernel: dict) -> dict:
    plain = checked = 0.0
    for c, h in enumerate(halo_ids):
        plain += best(lambda: unverified_task(str(store), int(h), c, **kernel))
        checked += best(lambda: stamp_cluster(str(store), int(h), c, **kernel))
    return {"tasks_s": plain, "checked_s": checked, "overhead": (checked - plain) / plain}


def bench_train_check(store: Path) -> dict:
    images = open_store(store)["stamps/images"]
    rows = images.chunks[0]
    n_blocks = images.shape[0] // rows

    def read():
        for b in range(n_blocks):
            np.asarray(images[b * rows:(b + 1) * rows])

    def read_and_check():
        verify_array(images, "bench")

    t_read, t_check = best(read), best(read_and_check)
    return {"blocks": n_blocks, "bytes": images.nbytes, "read_s": t_read, "checked_s": t_check,
            "check_s": t_check - t_read}


def bench_predictions(root) -> dict:
    group = root.require_group("bench_predictions")
    n = 1440
    data = {name: np.random.default_rng(0).normal(14.3, 0.3, n).astype(np.float32) for name in ("true", "pred")}
    for name, values in data.items():
        write_array(group, name, values, overwrite=True)
    t_plain = best(lambda: [np.asarray(group[name][...]) for name in data], 5)
    t_checked = best(lambda: [read_verified(group[name], name) for name in data], 5)
    return {"rows": n, "plain_s": t_plain, "checked_s": t_checked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the events, one epoch (a smoke run)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the timed train stage")
    parser.add_argument("--observe-s", type=float, default=2.4,
                        help="observation time of one demo halo, s (benchmarks/bench_mocks.py: 2.4 s at demo size)")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic run directory")
    args = parser.parse_args()
    scale, epochs = (0.1, 1) if args.quick else (1.0, args.epochs)
    workdir = Path(tempfile.mkdtemp(prefix="xraymass-bench-integrity-"))
    try:
        run = workdir / "run"
        store = run / "store.zarr"
        n_events = build_store(store, 60, scale)
        config = yaml.safe_load((REPO / "pipeline" / "demo.yaml").read_text())
        config["run"]["directory"] = str(run)
        config["train"]["max_epochs"] = epochs
        path = workdir / "bench.yaml"
        path.write_text(yaml.safe_dump(config))
        t_stamps = run_stage("stamps", "--config", str(path), "--site", "local", "--site-set", f"dask.n_workers={WORKERS}")
        root = open_store(store, "r+")
        halo_ids = np.asarray(root["halos/halo_id"][:])
        kernel = {key: config["stamps"][key] for key in ("emin_kev", "emax_kev", "npix", "fov_arcmin")}
        kernel["block_events"] = config["stamps"].get("block_events") or load_site("local").cfg.resources["block_events"]
        mocks = bench_mocks_writer(root, args.observe_s)
        stamps = bench_stamps_tasks(store, halo_ids, kernel)
        train = bench_train_check(store)
        t_train = run_stage("train", "--config", str(path), "--fold", "0")
        evaluate = bench_predictions(root)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "xraymass", "check", str(run)], capture_output=True, text=True)
        t_check = time.perf_counter() - start
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"store: 60 clusters, {n_events / 1e6:.1f} M events, stamps {train['bytes'] / 2**20:.0f} MiB")
    print(f"mocks:    record per halo {1e3 * mocks['record_s']:.2f} ms = {100 * mocks['of_write']:.1f}% of writing "
          f"its events ({1e3 * mocks['write_s']:.1f} ms), {100 * mocks['of_observe']:.3f}% of observing it "
          f"({mocks['observe_s']:g} s)")
    extra = (stamps["checked_s"] - stamps["tasks_s"]) / WORKERS  # the tasks run on WORKERS workers at once
    print(f"stamps:   60 tasks {stamps['tasks_s']:.2f} s unchecked, {stamps['checked_s']:.2f} s checked: "
          f"{100 * stamps['overhead']:+.1f}% of the tasks; {1e3 * extra:.0f} ms = {100 * extra / t_stamps:.1f}% of the "
          f"whole stage ({t_stamps:.1f} s wall, LocalCluster of {WORKERS})")
    print(f"train:    checking {train['blocks']} chunks {1e3 * train['check_s']:.0f} ms over reading them "
          f"({1e3 * train['read_s']:.0f} ms) = {100 * train['check_s'] / t_train:.2f}% of the train stage of one fold "
          f"({t_train:.1f} s, {epochs} epochs)")
    print(f"evaluate: {evaluate['rows']} predictions read checked {1e3 * evaluate['checked_s']:.2f} ms, "
          f"unchecked {1e3 * evaluate['plain_s']:.2f} ms")
    print(f"check:    `xraymass check` of the run {t_check:.1f} s")


if __name__ == "__main__":
    main()
