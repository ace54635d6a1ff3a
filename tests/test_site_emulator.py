"""The site emulator: every site's sbatch lines against a SLURM configured like that site's machine.

One SLURM instance of its own (tests/site_emulator.py: own state folder and ports, never the shared
cluster) is reconfigured per site from its documented layout (tests/site_layouts.py); every stage's
exact `xraymass submit` line must pass `sbatch --test-only` there. A site whose line SLURM rejects
fails. On an emulated strict centre (other partitions, no default partition, short limits, an account
required, memory limited, another default MPI plugin) a chain that cannot run is refused before
anything is submitted, a half-failed submission cancels what it submitted, a chain whose middle stage
fails leaves nothing pending, and a queued chain is reused rather than doubled.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, xraymass
from site_emulator import Emulator
from site_layouts import STRICT, layout_for
from xraymass.errors import XraymassError
from xraymass.stages import CHAIN as STAGES
from xraymass.sites.launch import generated_files_of
from xraymass.sites.site import load_site, site_names
from xraymass.chain.submit import (Step, job_exports, sbatch_command, sbatch_environment, submit_chain,
                                   preflight_command)

pytestmark = pytest.mark.slurm
SITES = site_names(REPO)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    if shutil.which("slurmctld") is None:
        pytest.fail("slurm-wlm is not installed: run containers/install.sh")
    emu = Emulator(tmp_path_factory.mktemp("emulated-slurm"), free_port(), free_port())
    yield emu
    emu.stop()


@pytest.fixture
def account(monkeypatch):
    monkeypatch.setenv("XRAYMASS_ACCOUNT", "abc123")


def site_lines(site, home: Path, config: Path) -> list[tuple[str, list[str]]]:
    exports = job_exports(config, site, home)
    lines = []
    for stage in STAGES:
        step = Step(stage, "0-9" if stage == "train" else "")
        lines.append((stage, preflight_command(sbatch_command(step, site, home, exports, [], "1", comment="t"))))
    return lines, sbatch_environment(exports, site)


def check_site_on_emulator(emulator, name: str, home: Path, config: Path, cwd: Path) -> None:
    """Every stage's line of the site passes sbatch --test-only on the site's emulated machine."""
    site = load_site(name, home)
    emulator.load(layout_for(site))
    lines, env = site_lines(site, home, config)
    for stage, argv in lines:
        out = subprocess.run(argv, env={**(env or os.environ), "SLURM_CONF": str(emulator.conf)}, cwd=cwd,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "to start at" in out.stderr, \
            f"{name}: SLURM refuses the {stage} line {' '.join(argv)}: {out.stderr.strip()}"


@pytest.mark.parametrize("name", SITES)
def test_every_stage_line_passes_on_the_emulated_site(emulator, name, account, tmp_path, write_config):
    check_site_on_emulator(emulator, name, REPO, write_config(), tmp_path)


def test_a_line_the_site_cannot_run_is_rejected(emulator, account, tmp_path, write_config):
    """The emulator can fail: LUMI's standard-g asked for 16 GCDs per node, Frontier's batch for 3 hours."""
    for name, options in (("lumi", {"gpus-per-node": 16}), ("frontier", {"time": "03:00:00"})):
        home = copy_home(tmp_path / name)
        edit_options(home, name, "train", options)
        with pytest.raises(AssertionError, match=f"{name}: SLURM refuses the train line"):
            check_site_on_emulator(emulator, name, home, write_config(), tmp_path)


# --- a new site, added with the steps of docs/sites.md ---------------------------------------

def test_a_new_venv_site_passes_the_site_checks(emulator, tmp_path, write_config, monkeypatch):
    """docs/sites.md "Adding a site": copy generic, edit site.yaml (here: a virtual environment, no container),
    write env.sh from it; the site then loads, its env.sh matches, and its lines pass on its emulated machine."""
    import test_sites

    home = copy_home(tmp_path)
    new = home / "site_configs" / "mycluster"
    shutil.copytree(home / "site_configs" / "generic", new)
    data = yaml.safe_load((new / "site.yaml").read_text())
    data["site"] = {"name": "mycluster", "description": "a university cluster, software in a venv"}
    data["software"] = {"mode": "venv", "venv": ".venv"}
    data["mpi"] = {"srun_mpi": "pmix", "library": "openmpi", "container_model": "none"}
    for stage in STAGES:
        data[f"slurm_{stage}"]["options"]["partition"] = "compute"
    (new / "site.yaml").write_text("# My cluster: https://hpc.example.edu/docs/slurm\n" + yaml.safe_dump(data))
    monkeypatch.setenv("XRAYMASS_HOME", str(home))
    for path, text in generated_files_of("mycluster", home).items():
        path.write_text(text)
    test_sites.check_site(home, "mycluster")
    check_site_on_emulator(emulator, "mycluster", home, write_config(), tmp_path)


# --- a strict centre: nothing stranded ----------------------------------------------------------

def copy_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(REPO / "jobs", home / "jobs")
    shutil.copytree(REPO / "site_configs", home / "site_configs", ignore=shutil.ignore_patterns("slurm.sh"))
    (home / ".venv").symlink_to(REPO / ".venv")
    return home


def edit_options(home: Path, site: str, stage: str, options: dict) -> None:
    path = home / "site_configs" / site / "site.yaml"
    data = yaml.safe_load(path.read_text())
    data[f"slurm_{stage}"]["options"].update(options)
    path.write_text(yaml.safe_dump(data))


def strict_site(home: Path, train_mem: str = "4G") -> None:
    """site_configs/strict/: the local site's software on the strict centre's partitions and account."""
    src = yaml.safe_load((home / "site_configs" / "local" / "site.yaml").read_text())
    src["site"] = {"name": "strict", "description": "emulated strict centre"}
    src["slurm"] = {"account": "${XRAYMASS_ACCOUNT}"}
    src["mpi"]["srun_mpi"] = "pmix"
    for stage in STAGES:
        src[f"slurm_{stage}"]["options"].update(partition="short", time="00:15:00", mem="1G")
        src[f"slurm_{stage}"]["options"].pop("mem-per-cpu", None)
    src["slurm_train"]["options"]["mem"] = train_mem
    (home / "site_configs" / "strict").mkdir()
    (home / "site_configs" / "strict" / "site.yaml").write_text(yaml.safe_dump(src))
    for path, text in generated_files_of("strict", home).items():
        path.write_text(text)


def strict_env(emulator, home: Path) -> dict[str, str]:
    return {**emulator.env, "XRAYMASS_HOME": str(home), "XRAYMASS_ACCOUNT": "abc123"}


def my_jobs(env: dict) -> list[str]:
    out = subprocess.run(["squeue", "--me", "-h", "-o", "%i %t %r"], env=env, capture_output=True, text=True)
    return out.stdout.split("\n")[:-1]


def test_a_chain_whose_train_stage_cannot_run_is_refused_before_submission(emulator, tmp_path, write_config):
    emulator.load(STRICT)
    home = copy_home(tmp_path)
    strict_site(home, train_mem="64G")  # more than the node has
    env = strict_env(emulator, home)
    out = xraymass("submit", "--site", "strict", "--config", str(write_config()), env=env, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "nothing submitted" in out.stderr and "train:" in out.stderr
    assert "Requested node configuration is not available" in out.stderr or "emory" in out.stderr, out.stderr
    assert out.stdout == "" and my_jobs(env) == []
    # no account: the site's own message, naming --account, reaches the user whole
    del env["XRAYMASS_ACCOUNT"]
    (home / "site_configs" / "strict" / "site.yaml").write_text(
        (home / "site_configs" / "strict" / "site.yaml").read_text().replace("${XRAYMASS_ACCOUNT}", "''"))
    out = xraymass("submit", "--site", "strict", "--config", str(write_config()), "--check", env=env, cwd=tmp_path)
    assert out.returncode == 1 and "--account=<project>" in out.stderr, out.stderr
    assert my_jobs(env) == []


def test_check_mode_reports_each_stage(emulator, tmp_path, write_config):
    emulator.load(STRICT)
    home = copy_home(tmp_path)
    strict_site(home)
    env = strict_env(emulator, home)
    out = xraymass("submit", "--site", "strict", "--config", str(write_config()), "--check", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [line.split()[:2] for line in out.stdout.splitlines()] == [[s, "ok:"] for s in STAGES]
    assert my_jobs(env) == []


def test_a_half_failed_submission_cancels_what_it_submitted(emulator, tmp_path, write_config, monkeypatch):
    """sbatch refuses the stamps job after halos and mocks were submitted: both are cancelled."""
    emulator.load(STRICT)
    home = copy_home(tmp_path)
    strict_site(home)
    (home / "jobs" / "make_stamps.sh").unlink()
    env = strict_env(emulator, home)
    monkeypatch.setenv("SLURM_CONF", str(emulator.conf))
    monkeypatch.setenv("XRAYMASS_ACCOUNT", "abc123")
    site = load_site("strict", home)
    import argparse
    args = argparse.Namespace(overrides=[], dry_run=False, hold=True)
    with pytest.raises(XraymassError, match=r"sbatch of the stamps job failed: .*cancelled the jobs already submitted"):
        submit_chain([Step(s) for s in STAGES], site, home, job_exports(write_config(), site, home), args,
                     preflight=False)
    assert my_jobs(env) == []


def test_resubmission_reuses_or_replaces_the_queued_chain(emulator, tmp_path, write_config):
    emulator.load(STRICT)
    home = copy_home(tmp_path)
    strict_site(home)
    env = strict_env(emulator, home)
    config = str(write_config())
    first = xraymass("submit", "--site", "strict", "--config", config, "--hold", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    ids = [line.split()[1] for line in first.stdout.splitlines()]
    again = xraymass("submit", "--site", "strict", "--config", config, "--hold", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "already queued; nothing submitted" in again.stdout, again.stderr
    assert len(my_jobs(env)) == len(STAGES)
    replaced = xraymass("submit", "--site", "strict", "--config", config, "--hold", "--replace", env=env, cwd=tmp_path)
    assert replaced.returncode == 0 and "cancelled the queued chain" in replaced.stdout, replaced.stderr
    queued = {line.split()[0].split("_")[0] for line in my_jobs(env)}
    assert len(queued) == len(STAGES) and not queued & set(ids)
    subprocess.run(["scancel", *queued], env=env)


@pytest.mark.slow
def test_a_chain_whose_middle_stage_fails_leaves_nothing_pending(emulator, tmp_path, write_config):
    """The mocks job fails (real physics data asked, none present): SLURM cancels stamps, train and evaluate
    (--kill-on-invalid-dep=yes) instead of leaving them pending for ever."""
    emulator.load(STRICT)
    home = copy_home(tmp_path)
    strict_site(home)
    env = strict_env(emulator, home)
    config = write_config({"synthetic": {"n_halos": 6, "particles_per_halo": 2000}, "physics": {"data": "real"},
                           "stamps": {"n_folds": 3}})
    out = xraymass("submit", "--site", "strict", "--config", str(config), env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ids = dict(line.split()[:2] for line in out.stdout.splitlines())
    deadline = time.monotonic() + 240
    while my_jobs(env) and time.monotonic() < deadline:
        time.sleep(1)
    left = my_jobs(env)
    subprocess.run(["scancel", *ids.values()], env=env)
    assert left == [], f"jobs left in the queue: {left}"
    states = {}
    for stage, job in ids.items():
        show = subprocess.run(["scontrol", "-o", "show", "job", job], env=env, capture_output=True, text=True).stdout
        states[stage] = next((w.split("=", 1)[1] for w in show.split() if w.startswith("JobState=")), "GONE")
    assert states["halos"] == "COMPLETED" and states["mocks"] == "FAILED", (states, tmp_path)
    assert all(states[s] in ("CANCELLED", "GONE") for s in ("stamps", "train", "evaluate")), states
