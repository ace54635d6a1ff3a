"""The distributed context under plain python and under MPI launchers."""
from __future__ import annotations

import numpy as np
import pytest

from xraymass.context import get_context, launched_size
from xraymass.errors import InputError

from conftest import mpirun

# every rank reports through a gather, and rank 0 prints: no interleaved output
PRINT_CONTEXT = ("from xraymass.context import get_context; c = get_context(); "
                 "rows = c.gather(f'ctx {c.rank} {c.size} {c.local_rank} {c.local_size} {c.bcast(c.rank)}')\n"
                 "if c.is_root: print(chr(10).join(rows))")


def test_serial_fallback(monkeypatch):
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS", "HOROVOD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert launched_size() == 1
    ctx = get_context()
    assert (ctx.rank, ctx.size, ctx.local_rank, ctx.local_size, ctx.is_root) == (0, 1, 0, 1, True)
    assert ctx.bcast(5) == 5 and ctx.gather(3) == [3] and ctx.allgather(1) == [1]
    ctx.barrier()
    rows = np.arange(3)
    assert ctx.mean(2) == 2.0 and ctx.any(True) and not ctx.any(False)
    assert ctx.allgather_rows(rows) is rows and ctx.gather_strings("w") == ["w"]
    assert ctx.gradient_tape("tape") == "tape"
    with pytest.raises(InputError, match=r"needs at least 2 MPI ranks, got 1"):
        ctx.require_ranks(2)


@pytest.mark.mpi
def test_two_ranks_under_mpirun():
    out = mpirun(2, "-c", PRINT_CONTEXT, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = sorted(line for line in out.stdout.splitlines() if line.startswith("ctx"))
    assert lines == ["ctx 0 2 0 2 0", "ctx 1 2 1 2 0"]


@pytest.mark.mpi
def test_an_exception_on_one_rank_aborts_the_job():
    code = ("from xraymass.context import get_context; c = get_context(); "
            "import time\nif c.rank == 1: raise SystemExit('rank 1 failed')\nc.barrier()")
    out = mpirun(2, "-c", code, timeout=120)
    assert out.returncode != 0
    assert "rank 1 failed" in out.stderr
