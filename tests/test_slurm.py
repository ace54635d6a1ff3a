"""The local SLURM cluster is real: jobs go through sbatch and srun starts MPI ranks."""
from __future__ import annotations

import subprocess

import pytest

from conftest import PYTHON, REPO, SLURM_SH, job_id, sbatch_wait

pytestmark = pytest.mark.slurm


def test_start_is_idempotent(slurm):
    out = subprocess.run(["bash", str(SLURM_SH), "start"], capture_output=True, text=True, env=slurm)
    assert out.returncode == 0 and "already running" in out.stdout
    status = subprocess.run(["bash", str(SLURM_SH), "status"], capture_output=True, text=True, env=slurm)
    assert status.returncode == 0 and "debug" in status.stdout


def test_a_job_script_from_jobs_runs_through_sbatch(slurm):
    # the real job script, with its site environment and srun line; --help keeps it stage-independent
    out = sbatch_wait(slurm, "--ntasks=1", "jobs/make_mocks.sh", "--help")
    assert out.returncode == 0, out.stderr
    log = REPO / "logs" / f"xraymass-mocks-{job_id(out)}.out"
    text = log.read_text()
    log.unlink()
    assert "usage: xraymass mocks" in text and "--config" in text


def test_two_mpi_ranks_through_srun(slurm, tmp_path):
    script = tmp_path / "ranks.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH --ntasks=2\n#SBATCH --output=" + str(tmp_path / "ranks-%j.out") + "\nset -euo pipefail\n"
        f"srun --mpi=pmix {PYTHON} -m mpi4py -c 'from xraymass.context import get_context; c = get_context(); "
        "print(\"ctx\", c.rank, c.size, c.local_size, c.allgather(c.rank))'\n")
    out = sbatch_wait(slurm, str(script))
    assert out.returncode == 0, out.stderr
    text = (tmp_path / f"ranks-{job_id(out)}.out").read_text()
    lines = sorted(line for line in text.splitlines() if line.startswith("ctx"))
    assert lines == ["ctx 0 2 2 [0, 1]", "ctx 1 2 2 [0, 1]"], text
