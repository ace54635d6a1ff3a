"""A dynamic work queue over MPI ranks: rank 0 hands out tasks in a fixed order, one at a time.

Halo costs span orders of magnitude, so a static split of the halo list leaves most ranks idle
while a few finish the largest clusters. Here every rank asks rank 0 for its next task when it is
free; tasks go out in the order given (the stage sorts them by estimated cost, largest first),
which is the longest-processing-time-first rule.

Rank 0 is a master that also works: a background thread on rank 0 answers the other ranks'
requests (polling, so that it does not spin a core) while rank 0's main thread takes tasks from
the same list. That needs MPI_THREAD_MULTIPLE; where the MPI library does not provide it, rank 0
only serves (a dedicated master) and the other ranks work.

Tasks may depend on others: on_result may return follow-on tasks (the detection of a halo whose
photon chunks are all done), which go to the front of the queue. A rank that asks while nothing is
ready but tasks are still running elsewhere waits for them; the queue ends when nothing is ready
and nothing is running.

`simulate` replays a schedule from known task costs, for the benchmark's comparison of the
dynamic queue with a static split.
"""
from __future__ import annotations

import heapq
import threading
from collections import deque
import time
from typing import Any, Callable, Sequence

from ..context import DistContext

TAG_REQUEST = 71
TAG_TASK = 72
POLL_S = 0.02
WAIT = "xraymass-queue-wait"  # take(): nothing ready yet, but tasks still running may release some


class _Dispenser:
    """The ready tasks, how many are running, and what came back, shared by rank 0's two threads."""

    def __init__(self, tasks: Sequence[Any], on_result: Callable[[Any, Any], Sequence[Any] | None] | None):
        self.ready, self.on_result = deque(tasks), on_result
        self.running = 0
        self.lock = threading.Lock()

    def take(self) -> Any:
        """The next ready task; WAIT while none is ready but some run; None when all are done."""
        with self.lock:
            if self.ready:
                self.running += 1
                return self.ready.popleft()
            return WAIT if self.running else None

    def report(self, task: Any, result: Any) -> None:
        with self.lock:
            self.running -= 1
            follow_on = self.on_result(task, result) if self.on_result is not None else None
            self.ready.extendleft(reversed(list(follow_on or ())))


def run_queue(ctx: DistContext, tasks: Sequence[Any], work: Callable[[Any], Any],
              on_result: Callable[[Any, Any], Sequence[Any] | None] | None = None) -> None:
    """Run work(task) for every task, on whichever rank is free, in the order of `tasks`.

    `tasks` need only be valid on rank 0; on_result(task, result) is called on rank 0 for every
    finished task (results travel to rank 0, so keep them small) and may return follow-on tasks,
    which run next. Returns when all tasks, follow-ons included, are done.
    """
    if ctx.comm is None or ctx.size == 1:
        dispenser = _Dispenser(tasks, on_result)
        while (task := dispenser.take()) is not None:
            dispenser.report(task, work(task))
        return
    if ctx.is_root:
        _serve_and_work(ctx, _Dispenser(tasks, on_result), work)
    else:
        _work_for_root(ctx, work)


def _serve_and_work(ctx: DistContext, dispenser: _Dispenser, work: Callable[[Any], Any]) -> None:
    from mpi4py import MPI

    if MPI.Query_thread() < MPI.THREAD_MULTIPLE:
        _serve(ctx.comm, dispenser, ctx.size - 1)
        return
    server = threading.Thread(target=_serve, args=(ctx.comm, dispenser, ctx.size - 1),
                              name="xraymass-queue", daemon=True)
    server.start()
    while (task := dispenser.take()) is not None:
        if task is WAIT:
            time.sleep(POLL_S)
            continue
        dispenser.report(task, work(task))
    server.join()


def _serve(comm, dispenser: _Dispenser, n_workers: int) -> None:
    """Answer requests until every worker has been told that there is nothing left."""
    from mpi4py import MPI

    status = MPI.Status()
    stopped, waiting = 0, deque()
    while stopped < n_workers:
        while waiting and (task := dispenser.take()) is not WAIT:  # ranks waiting for a follow-on task
            comm.send(task, dest=waiting.popleft(), tag=TAG_TASK)
            stopped += task is None
        if not comm.Iprobe(source=MPI.ANY_SOURCE, tag=TAG_REQUEST, status=status):
            time.sleep(POLL_S)
            continue
        source = status.Get_source()
        finished = comm.recv(source=source, tag=TAG_REQUEST)
        if finished is not None:
            dispenser.report(*finished)
        waiting.append(source)


def _work_for_root(ctx: DistContext, work: Callable[[Any], Any]) -> None:
    finished = None
    while True:
        ctx.comm.send(finished, dest=0, tag=TAG_REQUEST)
        task = _recv_polling(ctx.comm)
        if task is None:
            return
        finished = (task, work(task))


def _recv_polling(comm) -> Any:
    """Receive the reply from rank 0 without spinning a core while rank 0 is busy."""
    while not comm.Iprobe(source=0, tag=TAG_TASK):
        time.sleep(POLL_S)
    return comm.recv(source=0, tag=TAG_TASK)


def simulate(costs: Sequence[float], n_ranks: int, policy: str,
             priority: Sequence[float] | None = None) -> dict[str, float]:
    """Makespan and efficiency of a schedule of tasks with the given costs (seconds).

    `costs` are in catalogue order. policy: 'dynamic' (this queue: tasks in order of decreasing
    `priority`, the estimated cost, default the cost itself; each to the first free rank),
    'static_block' (the catalogue cut into n_ranks contiguous blocks) or 'static_cyclic' (task i on
    rank i mod n_ranks). Efficiency = total work / (n_ranks x makespan).
    """
    if policy == "dynamic":
        free = [(0.0, r) for r in range(n_ranks)]
        heapq.heapify(free)
        order = sorted(range(len(costs)), key=lambda i: -(costs if priority is None else priority)[i])
        for cost in (costs[i] for i in order):
            t, r = heapq.heappop(free)
            heapq.heappush(free, (t + cost, r))
        loads = [t for t, _ in free]
    elif policy == "static_block":
        n = len(costs)
        bounds = [n * r // n_ranks for r in range(n_ranks + 1)]
        loads = [sum(costs[bounds[r]:bounds[r + 1]]) for r in range(n_ranks)]
    elif policy == "static_cyclic":
        loads = [sum(costs[r::n_ranks]) for r in range(n_ranks)]
    else:
        raise ValueError(f"unknown policy {policy!r}")
    makespan = max(loads)
    total = float(sum(costs))
    return {"makespan_s": makespan, "efficiency": total / (n_ranks * makespan) if makespan > 0 else 1.0}


def simulate_halos(halos: Sequence[tuple[Sequence[float], float]], n_ranks: int,
                   workers: int | None = None, useful_s: float | None = None) -> dict[str, float]:
    """Makespan and efficiency of the mocks stage's queue over halos cut into blocks.

    halos: per halo (its blocks' costs, its detection's cost), seconds; a halo of one block whose
    detection runs on the same rank is ([photons + detection], 0). Blocks go out largest first; a
    halo's detection is released when its last block finishes and goes to the front of the queue,
    as in run_queue with the stage's Releaser. `workers` ranks take tasks (default n_ranks; n_ranks - 1
    for a dedicated master such as mpi4py.futures' MPICommExecutor). Efficiency = useful_s (default:
    the total of the tasks; pass the uncut halos' cost to count the blocks' overheads as loss) /
    (n_ranks x makespan).
    """
    workers = n_ranks if workers is None else workers
    blocks = sorted(((cost, h) for h, (costs, _) in enumerate(halos) for cost in costs), key=lambda c: -c[0])
    ready = deque((cost, h, "block") for cost, h in blocks)
    left = [len(costs) for costs, _ in halos]
    running: list[tuple[float, int, int, str]] = []
    idle, now, serial = workers, 0.0, 0
    while ready or running:
        while idle and ready:
            cost, h, kind = ready.popleft()
            heapq.heappush(running, (now + cost, serial, h, kind))
            serial += 1
            idle -= 1
        now, _, h, kind = heapq.heappop(running)
        idle += 1
        if kind == "block":
            left[h] -= 1
            if left[h] == 0 and halos[h][1] > 0:
                ready.appendleft((halos[h][1], h, "detect"))
    total = float(sum(sum(costs) + detect for costs, detect in halos)) if useful_s is None else float(useful_s)
    return {"makespan_s": now, "efficiency": total / (n_ranks * now) if now > 0 else 1.0}
