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


@pytest.fixture
def write_config(tmp_path):
    """Write a science config: pipeline/demo.yaml updated with {section: {key: value}}; return its path."""

    def write(updates: dict | None = None, name: str = "test.yaml", base: str = "demo.yaml") -> Path:
        data = yaml.safe_load((REPO / "pipeline" / base).read_text())
        data.setdefault("run", {})["directory"] = str(tmp_path / "run")
        for section, values in (updates or {}).items():
            data.setdefault(section, {}).update(values)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


def xraymass(*args: str, env: dict | None = None, cwd: Path = REPO, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the `xraymass` command in a subprocess, as a user would."""
    return subprocess.run([PYTHON, "-m", "xraymass", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
