"""Time and peak memory to generate synthetic halos: one full-size (1e6 particles) and one demo-size.

    python benchmarks/bench_halos.py [--quick] [--particles N] [--repeat R]

Peak memory is the growth of the process's peak resident set (ru_maxrss) over the generation, measured
in a fresh subprocess per size so that one size's peak does not hide the next one's.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

LOG_M500C = 14.5
SEED = 20190507


def measure(particles: int, repeat: int) -> dict:
    """Generate halo 0..repeat-1 of mass 10^14.5 Msun with `particles` particles; time and memory."""
    import numpy as np

    from xraymass.halos.synthetic import Model

    model = Model(particles_per_halo=particles)
    Model(particles_per_halo=1000).gas(SEED, 0, 10**LOG_M500C, 0.0, "planck15")  # warm-up: imports, tables
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for halo_id in range(repeat):
        start = time.perf_counter()
        gas = model.gas(SEED, halo_id, 10**LOG_M500C, 0.0, "planck15")
        times.append(time.perf_counter() - start)
        del gas
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    payload_mib = particles * (3 + 3 + 6) * 8 / 2**20
    return {"particles": particles, "seconds_median": float(np.median(times)), "seconds_min": float(min(times)),
            "peak_rss_growth_mib": (peak_kib - base_kib) / 1024, "output_arrays_mib": payload_mib}


def run_child(particles: int, repeat: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(particles), "--repeat", str(repeat)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 2e5 particles instead of 1e6")
    parser.add_argument("--particles", type=int, default=1_000_000, help="full-size particle count")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.repeat)))
        return 0
    full = 200_000 if args.quick else args.particles
    repeat = 1 if args.quick else args.repeat
    rows = [run_child(20_000, max(repeat, 3)), run_child(full, repeat)]
    print(f"synthetic halo, M500c = 10^{LOG_M500C} Msun (median of {repeat}+ runs, one process per size)")
    for row in rows:
        print(f"  {row['particles']:>9,d} particles: {row['seconds_median']:7.3f} s, "
              f"peak RSS growth {row['peak_rss_growth_mib']:7.1f} MiB "
              f"(output arrays {row['output_arrays_mib']:.1f} MiB)")
    ratio = rows[1]["seconds_median"] / rows[0]["seconds_median"]
    print(f"  time ratio {rows[1]['particles'] // rows[0]['particles']}x particles: {ratio:.1f}x; "
          f"per 1e6 particles: {rows[1]['seconds_median'] / rows[1]['particles'] * 1e6:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
