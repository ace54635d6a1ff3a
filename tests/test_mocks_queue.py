"""The mocks stage's dynamic work queue: real MPI ranks, every task once, an error aborts the job."""
from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import mpirun
from xraymass.mocks.workqueue import simulate


def test_simulate_longest_first_against_a_static_split():
    costs = [4.0, 3.0, 3.0, 2.0, 2.0, 2.0]
    assert simulate(costs, 2, "dynamic") == {"makespan_s": 8.0, "efficiency": 1.0}
    assert simulate(costs, 2, "static_block") == {"makespan_s": 10.0, "efficiency": 0.8}
    assert simulate(costs, 2, "static_cyclic")["makespan_s"] == 9.0
    assert simulate(costs, 1, "dynamic")["makespan_s"] == sum(costs)
    smallest_first = simulate(costs, 2, "dynamic", priority=[-c for c in costs])
    assert smallest_first["makespan_s"] == 9.0
    with pytest.raises(ValueError):
        simulate(costs, 2, "round_robin")


def _mpirun(tmp_path: Path, body: str, n: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    script = tmp_path / "queue_script.py"
    script.write_text(textwrap.dedent(body))
    return mpirun(n, str(script), cwd=tmp_path, timeout=timeout)


@pytest.mark.mpi
def test_two_ranks_share_the_tasks_and_each_is_done_once(tmp_path):
    out = _mpirun(tmp_path, """
        import json, time
        from xraymass.context import get_context
        from xraymass.mocks.workqueue import run_queue

        ctx = get_context()
        done = []
        def work(task):
            time.sleep(0.05 * (1 + task % 3))
            return ctx.rank
        tasks = list(range(40, 0, -1)) if ctx.is_root else None
        run_queue(ctx, tasks, work, on_result=lambda task, rank: done.append((task, rank)))
        if ctx.is_root:
            print("RESULT", json.dumps(done))
    """)
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout.split("RESULT", 1)[1])
    tasks = [task for task, _ in done]
    assert sorted(tasks) == list(range(1, 41))
    ranks = {rank for _, rank in done}
    assert ranks == {0, 1}, f"both ranks must work, got {ranks}"


@pytest.mark.mpi
def test_an_exception_on_one_rank_aborts_the_job(tmp_path):
    out = _mpirun(tmp_path, """
        import time
        from xraymass.context import get_context
        from xraymass.mocks.workqueue import run_queue

        ctx = get_context()
        def work(task):
            if ctx.rank == 1:
                raise RuntimeError("halo failed on rank 1")
            time.sleep(0.2)
            return None
        run_queue(ctx, list(range(100)) if ctx.is_root else None, work)
        print("FINISHED")
    """, timeout=60)
    assert out.returncode != 0
    assert "halo failed on rank 1" in out.stderr
    assert "FINISHED" not in out.stdout
