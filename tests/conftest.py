"""Shared fixtures: a real one-node SLURM cluster, run directories, small configs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SLURM_SH = REPO / "site_configs" / "local" / "slurm.sh"
PYTHON = sys.executable


@pytest.fixture(scope="session")
def slurm() -> dict[str, str]:
    """Start (or reuse) the local SLURM cluster; return the environment for its clients."""
    if shutil.which("slurmctld") is None:
        pytest.fail("slurm-wlm is not installed: run containers/install.sh")
    out = subprocess.run(["bash", str(SLURM_SH), "start"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    env = dict(os.environ)
    env["SLURM_CONF"] = subprocess.run(["bash", str(SLURM_SH), "env"], capture_output=True, text=True
                                       ).stdout.split("=", 1)[1].strip()
    env["XRAYMASS_HOME"] = str(REPO)
    return env


def sbatch_wait(env: dict, *args: str, cwd: Path = REPO, timeout: float = 900) -> subprocess.CompletedProcess:
    """Submit with `sbatch --wait` and return the finished process (stdout holds the job id line)."""
    return subprocess.run(["sbatch", "--wait", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def job_id(out: subprocess.CompletedProcess) -> str:
    return out.stdout.strip().split()[-1]


def science_config(path: Path, run_dir: Path, *updates: dict | None, base: str = "demo.yaml") -> Path:
    """Write a science config to `path`: pipeline/<base> with run.directory = run_dir, then each of `updates`
    ({section: {key: value}}) applied in order; return the path. Every test config is written here."""
    data = yaml.safe_load((REPO / "pipeline" / base).read_text())
    data.setdefault("run", {})["directory"] = str(run_dir)
    for update in updates:
        for section, values in (update or {}).items():
            data.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def write_config(tmp_path):
    """Write a science config: pipeline/demo.yaml updated with {section: {key: value}}, run directory tmp_path/run."""

    def write(updates: dict | None = None, name: str = "test.yaml", base: str = "demo.yaml") -> Path:
        return science_config(tmp_path / name, tmp_path / "run", updates, base=base)

    return write


def mpirun(n: int, *argv: str, cwd: Path = REPO, timeout: float = 300, env: dict | None = None
           ) -> subprocess.CompletedProcess:
    """`python -m mpi4py ARGV` on `n` ranks through mpirun (as root if need be, oversubscribed), with this
    source tree first on PYTHONPATH: the one way the tests start MPI ranks outside SLURM."""
    if shutil.which("mpirun") is None:
        pytest.fail("mpirun is not installed: run containers/install.sh")
    env = dict(os.environ if env is None else env, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(["mpirun", "-np", str(n), PYTHON, "-m", "mpi4py", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def xraymass(*args: str, env: dict | None = None, cwd: Path = REPO, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the `xraymass` command in a subprocess, as a user would."""
    return subprocess.run([PYTHON, "-m", "xraymass", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
