"""The mocks stage's dynamic work queue: real MPI ranks, every task once, an error aborts the job."""
from __future__ import annotations

import json
import subprocess
import sys
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


FOLLOW_ON = """
    import json, time
    from xraymass.context import get_context
    from xraymass.mocks.workqueue import run_queue

    ctx = get_context()
    log = []
    def work(task):
        time.sleep(0.02 * (1 + len(task) % 3))
        return [ctx.rank, time.time()]
    def on_result(task, result):
        log.append([task, *result])
        kind, group, part = task.split(":")
        parts = [t for t, *_ in log if t.startswith(f"part:{group}:")]
        if kind == "part" and len(parts) == 3:   # the group's last part: its merge is ready
            return [f"merge:{group}:all"]
        return None
    tasks = [f"part:{g}:{p}" for g in range(6) for p in range(3)] if ctx.is_root else None
    run_queue(ctx, tasks, work, on_result=on_result)
    if ctx.is_root:
        print("RESULT", json.dumps(log))
"""


def _check_follow_on(log: list) -> set:
    names = [task for task, *_ in log]
    assert sorted(names) == sorted([f"part:{g}:{p}" for g in range(6) for p in range(3)]
                                   + [f"merge:{g}:all" for g in range(6)])
    finished = {task: t for task, _, t in log}
    for g in range(6):  # a merge runs only after its group's three parts have finished
        merge_index = names.index(f"merge:{g}:all")
        assert all(names.index(f"part:{g}:{p}") < merge_index for p in range(3))
        assert all(finished[f"part:{g}:{p}"] <= finished[f"merge:{g}:all"] for p in range(3))
    return {rank for _, rank, _ in log}


def test_follow_on_tasks_run_after_what_they_wait_for_in_one_process(tmp_path, monkeypatch):
    script = tmp_path / "follow_on.py"
    script.write_text(textwrap.dedent(FOLLOW_ON))
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE", raising=False)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert _check_follow_on(json.loads(out.stdout.split("RESULT", 1)[1])) == {0}


@pytest.mark.mpi
def test_follow_on_tasks_wait_for_their_parts_across_ranks(tmp_path):
    out = _mpirun(tmp_path, FOLLOW_ON)
    assert out.returncode == 0, out.stderr
    assert _check_follow_on(json.loads(out.stdout.split("RESULT", 1)[1])) == {0, 1}


def test_simulate_halos_releases_a_detection_after_its_blocks():
    from xraymass.mocks.workqueue import simulate_halos

    # one halo of four 1 s blocks and a 2 s detection on 2 ranks: 2 s of blocks, then the detection
    assert simulate_halos([([1.0] * 4, 2.0)], 2) == {"makespan_s": 4.0, "efficiency": 0.75}
    # whole halos are single tasks: the same as the dynamic queue
    costs = [4.0, 3.0, 3.0, 2.0, 2.0, 2.0]
    assert simulate_halos([([c], 0.0) for c in costs], 2) == simulate(costs, 2, "dynamic")
    # a dedicated master (mpi4py.futures): one rank of two works
    assert simulate_halos([([c], 0.0) for c in costs], 2, workers=1)["efficiency"] == 0.5
    # splitting the largest halo lets it share the ranks
    split = simulate_halos([([4.0] * 4, 1.0), ([1.0], 0.0), ([1.0], 0.0)], 4)
    whole = simulate_halos([([17.0], 0.0), ([1.0], 0.0), ([1.0], 0.0)], 4)
    assert split["makespan_s"] == 5.0 and whole["makespan_s"] == 17.0
