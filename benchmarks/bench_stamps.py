"""Benchmark of the stamps stage.

1. The binning kernel (xraymass.stamps.binning.bin_events, compiled with numba): events per
   second, against its numpy reference (bin_events_numpy) and numpy.histogram2d on the same
   events and band, and against the memory-bandwidth bound (bytes read per event over the copy
   bandwidth measured in the same run).
2. The whole stage (`xraymass stamps`, LocalCluster from the local site) on a synthetic store
   of the demo's size: 60 clusters, 3 projections, events per projection of a 100 ks ACIS-I
   observation at z = 0.05 (background plus a cluster whose counts grow as M500c^1.6).

    python benchmarks/bench_stamps.py [--quick] [--events N] [--workers N] [--keep]
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

from xraymass.layout import EVENTS, HALOS
from xraymass.stamps.binning import Field, bin_events, bin_events_numpy, bin_projections
from xraymass.mocks.observe import HaloEvents
from xraymass.stamps.images import EVENT_ARRAYS, event_layout
from xraymass.mocks.stage import write_halo_events
from xraymass.store import Reader, mark_complete, open_store, write_array

REPO = Path(__file__).resolve().parents[1]
BYTES_PER_EVENT = 12  # x, y, energy: float32 each
NPIX_DET = 2400  # 20 arcmin at 0.5 arcsec
EMIN, EMAX = 0.5, 7.0


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def copy_bandwidth(nbytes: int = 1 << 28, repeats: int = 5) -> float:
    """Bytes per second that numpy.copyto moves between two pre-touched arrays (bytes read)."""
    src = np.ones(nbytes // 8)
    dst = np.zeros_like(src)
    return src.nbytes / best_time(lambda: np.copyto(dst, src), repeats)


def synthetic_events(rng, n: int, centre: float = NPIX_DET / 2):
    """Half a beta-like cluster, half flat background, energies 0.1-10 keV (float32 as in the store)."""
    n_cluster = n // 2
    r = 60.0 * np.sqrt(rng.uniform(0, 1, n_cluster) ** -1.5 - 1)  # beta = 2/3 surface brightness
    phi = rng.uniform(0, 2 * np.pi, n_cluster)
    x = np.concatenate([centre + r * np.cos(phi), rng.uniform(0, NPIX_DET, n - n_cluster)])
    y = np.concatenate([centre + r * np.sin(phi), rng.uniform(0, NPIX_DET, n - n_cluster)])
    keep = (x >= 0) & (x < NPIX_DET) & (y >= 0) & (y < NPIX_DET)
    x, y = np.where(keep, x, centre), np.where(keep, y, centre)
    energy = rng.exponential(2.0, n) + 0.1
    return x.astype(np.float32), y.astype(np.float32), np.minimum(energy, 10.0).astype(np.float32)


def bench_kernel(n_events: int) -> dict:
    rng = np.random.default_rng(1)
    x, y, energy = synthetic_events(rng, n_events)
    field = Field.centred([NPIX_DET / 2, NPIX_DET / 2], NPIX_DET, 128)
    edges = field.edges()
    image = bin_events(x, y, energy, field, EMIN, EMAX)

    def histogram():
        band = (energy >= EMIN) & (energy <= EMAX)
        return np.histogram2d(x[band], y[band], bins=list(edges))[0]

    assert np.array_equal(image, histogram().T), "kernel and numpy.histogram2d disagree"
    assert np.array_equal(image, bin_events_numpy(x, y, energy, field, EMIN, EMAX)), "kernel and reference disagree"
    t_kernel = best_time(lambda: bin_events(x, y, energy, field, EMIN, EMAX), 5)
    t_numpy = best_time(lambda: bin_events_numpy(x, y, energy, field, EMIN, EMAX), 3)
    t_hist = best_time(histogram, 2)
    bandwidth = copy_bandwidth()
    bound = bandwidth / BYTES_PER_EVENT
    return {"events": n_events, "kernel": n_events / t_kernel, "numpy": n_events / t_numpy,
            "histogram2d": n_events / t_hist, "bandwidth": bandwidth, "bound": bound}


def build_store(store: Path, n_halos: int, scale: float, seed: int = 2) -> int:
    """A complete catalogue and events of n_halos, written by the mocks stage's own writer
    (write_halo_events: its chunks, shards and codec); returns the number of events."""
    rng = np.random.default_rng(seed)
    root = open_store(store, "a")
    # log M drawn from dN/dlogM ~ M^-1 over the paper's range: many small clusters, few large ones
    u = rng.uniform(0, 1, n_halos)
    log_m = -np.log10(10 ** -13.57 - u * (10 ** -13.57 - 10 ** -15.06))
    halo_id = np.arange(n_halos, dtype=np.int64)
    halos = root.create_group(HALOS, overwrite=True)
    for name, values in (("halo_id", halo_id), ("m500c", 10 ** log_m), ("log_m500c", log_m),
                         ("r500c", 800.0 * 10 ** ((log_m - 14.5) / 3)), ("n_gas", np.full(n_halos, 1)),
                         ("centre", np.zeros((n_halos, 3)))):
        write_array(halos, name, np.asarray(values))
    halos.attrs.update(source="synthetic", redshift=0.0, cosmology="planck15")
    mark_complete(halos)
    total = 0
    events = root.create_group(EVENTS, overwrite=True)
    for hid, m in zip(halo_id, log_m):
        per_projection = int(scale * (4e4 + 2e4 * 10 ** (1.6 * (m - 14.0))))
        parts = [synthetic_events(rng, per_projection) for _ in range(3)]
        halo = HaloEvents(*([p[k] for p in parts] for k in range(3)), n_photons=0, n_cells=1)
        write_halo_events(events, {"halo_id": int(hid)}, halo,
                          {"halo_id": int(hid), "projections": ["x", "y", "z"], "pixel_arcsec": 0.5,
                           "fov_arcmin": 20.0, "npix_det": NPIX_DET, "centre_pix": [NPIX_DET / 2, NPIX_DET / 2],
                           "physics_data": "benchmark events"})
        total += 3 * per_projection
    mark_complete(events)
    return total


def bench_store_read(store: Path) -> tuple[float, float]:
    """Events per second of binning the stored events as a stamps task does: the halo's group and arrays opened
    and checked (event_layout), each array read by xraymass.store.Reader (straight from its files for the
    store's uncompressed arrays, the writer's CRC-32C checked), bin_projections."""
    root = open_store(store)
    field = Field.centred([NPIX_DET / 2, NPIX_DET / 2], NPIX_DET, 128)
    n, opening, halos = 0, 0.0, 0
    start = time.perf_counter()
    for name, group in root[EVENTS].groups():
        t0 = time.perf_counter()
        layout = event_layout(group, name)
        readers = [Reader(layout["arrays"][key], f"{name}/{key}", layout["records"][key]) for key in EVENT_ARRAYS]
        opening += time.perf_counter() - t0
        bin_projections(*readers, layout["offsets"], field, EMIN, EMAX, 1 << 22)
        for reader in readers:
            reader.finish()
        n += readers[0].shape[0]
        halos += 1
    return n / (time.perf_counter() - start), opening / halos


CODECS = {"none (the store's)": None, "none, read through Zarr": None, "zstd (zarr's default)": "auto",
          "blosc lz4, shuffle": "blosc-lz4", "blosc zstd 1, bitshuffle": "blosc-zstd"}


def bench_codecs(workdir: Path, n_events: int) -> list[dict]:
    """One halo of n_events x 3 projections in the events layout (chunks of EVENT_CHUNK_ROWS in one shard) with
    each codec: bytes per event, reading alone, and bin_projections from the store, one process, each read as the
    stage reads (xraymass.store.Reader, the writer's CRC-32 checked); "read through Zarr": the store's arrays
    read by Zarr's own pipeline instead of straight from the files."""
    import zarr
    from zarr.codecs import BloscCodec

    from xraymass.mocks.stage import EVENT_CHUNK_ROWS

    rng = np.random.default_rng(3)
    x, y, energy = synthetic_events(rng, n_events)
    field = Field.centred([NPIX_DET / 2, NPIX_DET / 2], NPIX_DET, 128)
    kernel = best_time(lambda: bin_events(x, y, energy, field, EMIN, EMAX), 3)
    rows = []
    for name, codec in CODECS.items():
        if codec == "blosc-lz4":
            codec = BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
        elif codec == "blosc-zstd":
            codec = BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")
        path = workdir / f"codec{len(rows)}.zarr"
        group = zarr.open_group(str(path), mode="w", zarr_format=3)
        shard = -(-n_events // EVENT_CHUNK_ROWS) * EVENT_CHUNK_ROWS
        arrays = [write_array(group, key, data, chunks=(EVENT_CHUNK_ROWS,), shards=(shard,), compressors=codec)
                  for key, data in (("x", x), ("y", y), ("energy", energy))]
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

        def readers() -> list[Reader]:
            out = [Reader(array, f"{path.name}/{array.basename}") for array in arrays]
            if "through Zarr" in name:
                for reader in out:
                    reader.raw = None
            return out

        def read():
            rs = readers()
            for lo in range(0, n_events, 1 << 22):
                for reader in rs:
                    reader[lo:lo + (1 << 22)]
            for reader in rs:
                reader.finish()

        def binned():
            rs = readers()
            bin_projections(*rs, [0, n_events], field, EMIN, EMAX, 1 << 22)
            for reader in rs:
                reader.finish()

        t_read = best_time(read, 3)
        t_bin = best_time(binned, 3)
        rows.append({"codec": name, "bytes_per_event": size / n_events, "read": n_events / t_read,
                     "from_store": n_events / t_bin, "kernel": n_events / kernel})
    return rows


def bench_stage(workdir: Path, n_halos: int, scale: float, workers: int) -> dict:
    run = workdir / "run"
    start = time.perf_counter()
    n_events = build_store(run / "store.zarr", n_halos, scale)
    t_build = time.perf_counter() - start
    read_rate, opening = bench_store_read(run / "store.zarr")
    config = yaml.safe_load((REPO / "pipeline" / "demo.yaml").read_text())
    config["run"]["directory"] = str(run)
    path = workdir / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    env = dict(os.environ, XRAYMASS_HOME=str(REPO))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "xraymass", "stamps", "--config", str(path), "--site", "local",
                          "--site-set", f"dask.n_workers={workers}"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"stamps stage failed:\n{out.stderr}")
    stored = sum(f.stat().st_size for f in (run / "store.zarr" / EVENTS).rglob("*") if f.is_file())
    return {"halos": n_halos, "events": n_events, "bytes": n_events * BYTES_PER_EVENT, "build": t_build,
            "wall": wall, "workers": workers, "read_rate": read_rate, "opening": opening, "stored_bytes": stored}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events (a smoke run, ~20 s)")
    parser.add_argument("--events", type=int, default=None, help="events for the kernel benchmark")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers of the stage run")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic store")
    args = parser.parse_args()
    n_kernel = args.events or (4_000_000 if args.quick else 20_000_000)
    scale = 0.1 if args.quick else 1.0

    k = bench_kernel(n_kernel)
    print(f"binning kernel, {k['events']:.3g} events, 128x128, 0.5-7 keV (one core):")
    print(f"  xraymass bin_events      {k['kernel'] / 1e6:8.1f} Mevents/s   (numba, compiled before timing)")
    print(f"  bin_events_numpy         {k['numpy'] / 1e6:8.1f} Mevents/s   kernel / numpy reference = "
          f"{k['kernel'] / k['numpy']:.1f}")
    print(f"  numpy.histogram2d        {k['histogram2d'] / 1e6:8.1f} Mevents/s   kernel / histogram2d = "
          f"{k['kernel'] / k['histogram2d']:.1f}")
    print(f"  bandwidth bound          {k['bound'] / 1e6:8.1f} Mevents/s   ({BYTES_PER_EVENT} B/event at "
          f"{k['bandwidth'] / 1e9:.2f} GB/s copy)   kernel / bound = {k['kernel'] / k['bound']:.2f}")

    workdir = Path(tempfile.mkdtemp(prefix="bench_stamps_"))
    try:
        codecs = bench_codecs(workdir, n_kernel // 2)
        s = bench_stage(workdir, 60, scale, args.workers)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"event arrays' codec, one halo of {n_kernel // 2:.3g} events (chunks of 2^20 in one shard), one process:")
    for c in codecs:
        print(f"  {c['codec']:<26} {c['bytes_per_event']:5.2f} B/event   read {c['read'] / 1e6:7.1f} Mevents/s   "
              f"bin_projections from the store {c['from_store'] / 1e6:7.1f} Mevents/s = "
              f"{c['from_store'] / c['kernel']:.2f} of the kernel ({c['kernel'] / 1e6:.1f})")
    print(f"whole stage, demo-sized synthetic store: {s['halos']} clusters x 3 projections, "
          f"{s['events'] / 1e6:.1f} M events ({s['bytes'] / 1e9:.2f} GB as float32), store built in {s['build']:.1f} s")
    print(f"  bin_projections from the store as the stage reads it, one process: {s['read_rate'] / 1e6:.1f} Mevents/s (CRC-32C checks included), "
          f"{s['read_rate'] / k['kernel']:.2f} of the kernel's rate; store {s['stored_bytes'] / s['events']:.2f} B/event; "
          f"opening a halo's group and arrays {s['opening'] * 1e3:.1f} ms of it per halo")
    print(f"  xraymass stamps, LocalCluster {s['workers']} workers: wall {s['wall']:.1f} s "
          f"({s['events'] / s['wall'] / 1e6:.1f} Mevents/s, Python start and cluster start-up included)")
    if args.keep:
        print(f"  store kept in {workdir}")


if __name__ == "__main__":
    main()
