"""The mocks stage's halo work through mpi4py.futures (MPICommExecutor) instead of xraymass's queue.

    mpirun -np 2 python -m mpi4py benchmarks/mocks_futures.py CONFIG

For benchmarks/bench_mocks.py's comparison of the two queues on the same tasks: the same plan
(xraymass.mocks.stage.plan_work), the same work (HaloObserver: blocks, detections, whole halos)
and the same release of a halo's detection after its last block, but the library's executor, where
rank 0 only hands out tasks. Prints one line: 'futures: wall <s> s, busy seconds per rank [...]'.
The store it writes is not finished (no effective config); it is for timing only.
"""
from __future__ import annotations

import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, wait

OBSERVER = None


def _work(job: tuple[str, dict]) -> dict:
    global OBSERVER
    from mpi4py import MPI

    from xraymass.config import load_config
    from xraymass.mocks import stage

    if OBSERVER is None:  # (no collective here: xraymass.context.get_context's would deadlock the executor)
        cfg = load_config(job[0], [])
        stage.quiet_libraries()
        OBSERVER = stage.HaloObserver(cfg, _physics(cfg), ranks=MPI.COMM_WORLD.Get_size(),
                                      rank=MPI.COMM_WORLD.Get_rank())
    return OBSERVER(job[1])


def _physics(cfg):
    from xraymass.mocks.physics import resolve_physics

    return resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)


def main(config: str) -> int:
    from mpi4py import MPI
    from mpi4py.futures import MPICommExecutor

    from xraymass.config import load_config
    from xraymass.mocks import stage

    comm = MPI.COMM_WORLD
    with MPICommExecutor(comm, root=0) as executor:
        if executor is None:  # a worker: served tasks until the root left the block
            return 0
        cfg = load_config(config, [])
        _physics(cfg)
        plan = stage.plan_work(cfg, None)
        start = time.perf_counter()
        busy = [0.0] * comm.Get_size()
        # as many tasks in flight as there are workers, the rest kept here, so that a released detection
        # goes out next (the executor's own queue is first in, first out)
        ready, running, slots = deque(plan.tasks), {}, max(comm.Get_size() - 1, 1)
        while ready or running:
            while ready and len(running) < slots:
                task = ready.popleft()
                running[executor.submit(_work, (config, task))] = task
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                task, result = running.pop(future), future.result()
                busy[result["rank"]] += result["seconds"]
                ready.extendleft(reversed(plan.releaser(task)))
        print(f"futures: wall {time.perf_counter() - start:.2f} s, busy seconds per rank "
              f"{[round(b, 1) for b in busy]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
