"""`xraymass submit`: the whole chain as SLURM jobs linked by afterok dependencies, checked first.

    xraymass submit --site perlmutter --config pipeline/paper.yaml
    xraymass submit --site perlmutter --config pipeline/paper.yaml --check     # sbatch --test-only only
    xraymass submit --site perlmutter --config pipeline/paper.yaml --dry-run   # print the lines

One job per stage, each waiting for the previous one to succeed:
halos -> mocks -> stamps -> train (an array, one task per fold) -> evaluate. The site's sbatch options
go on the sbatch command line (they override the job scripts' #SBATCH lines), as separate argv
elements that were checked on load, never through a shell.

Nothing is stranded: every line is first run with `sbatch --test-only` (SLURM's own check of
partition, account, QOS, memory, GPUs and time), and nothing is submitted unless all pass; each
dependant carries --kill-on-invalid-dep=yes, so SLURM cancels the rest of a chain whose stage failed;
when a submission fails half-way, the jobs it submitted are cancelled; a chain of the same run still
queued is reused (or, with --replace, cancelled and submitted anew) instead of doubled. sbatch's
whole message is shown. The train stage's warning before its time limit (--signal=B:USR1@N) is a
tenth of the limit, between 1 and 10 minutes.

Resume: stages whose outputs in the run's store are complete are left out: each stage of the
chain says what that means (xraymass.stages, Stage.complete; the checks are in xraymass.layout). The chain starts at the first unfinished stage; a train array
resubmits only the folds without complete predictions. `--from-stage` starts the chain at a
given stage whatever the store says (each stage still skips its own finished work).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .. import layout
from ..config import Config
from ..errors import ConfigError, XraymassError
from ..sites.site import Site, load_site, repository_home
from ..stages import CHAIN as STAGES
from ..stages import chain, stage as stage_of
from ..store import open_store

SCRIPTS = {s.name: s.job for s in chain()}  # stage: its job script in jobs/ (xraymass.stages)
QUEUED = {"PD", "R", "CF", "RQ", "RS", "S", "RH", "RF", "SI", "SO"}  # squeue states of a job still in the queue


@dataclass(frozen=True)
class Step:
    stage: str
    array: str = ""  # sbatch --array spec (train only)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", default="local", help="a folder of site_configs/ (default: local)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the sbatch commands and the chain's cost estimate (docs/costs.md); submit nothing")
    parser.add_argument("--train-rate", type=float, default=None, metavar="IMAGES_PER_S",
                        help="training images/s per rank for the cost estimate (needed for GPU-hours: no GPU rate "
                             "has been measured)")
    parser.add_argument("--from-stage", choices=STAGES, default=None,
                        help="start the chain at this stage even if the store says it is complete")
    parser.add_argument("--hold", action="store_true", help="submit held jobs (start them with scontrol release)")
    parser.add_argument("--check", action="store_true",
                        help="run every line with sbatch --test-only and report; submit nothing")
    parser.add_argument("--replace", action="store_true",
                        help="cancel a chain of this run that is still queued and submit a new one")
    parser.add_argument("--site-set", dest="site_overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one site config value (repeatable), e.g. --site-set dask.n_workers=8 or "
                             "--site-set 'slurm_train.options={ntasks: 1, time: \"02:00:00\"}' (a whole mapping)")


def run(cfg: Config, args: argparse.Namespace) -> int:
    home = repository_home()
    site = load_site(args.site, home, getattr(args, "site_overrides", []))
    steps = plan_chain(cfg, args.from_stage)
    if not steps:
        print(f"xraymass submit: nothing to do, every stage of {cfg.run_dir} is complete")
        return 0
    config_path = Path(args.config).resolve()
    exports = job_exports(config_path, site, home)
    if not (args.dry_run or getattr(args, "check", False)):
        check_container_image(site, home)
        Path("logs").mkdir(exist_ok=True)
        if reuse_queued_chain(run_key(cfg), getattr(args, "replace", False)):
            return 0
    submit_chain(steps, site, home, exports, args, run_key(cfg))
    if args.dry_run:
        from ..costs import estimate

        print("\n".join(f"# {line}" for line in estimate(cfg, site, getattr(args, "train_rate", None)).lines))
    return 0


def run_key(cfg: Config) -> str:
    """A short name of the run (its directory), carried by every job of its chains as --comment."""
    return hashlib.sha1(str(cfg.run_dir.resolve()).encode()).hexdigest()[:12]


# --- what is left to do -------------------------------------------------------------------

def plan_chain(cfg: Config, from_stage: str | None = None) -> list[Step]:
    """The stages to submit, in order: from `from_stage`, or from the first unfinished one."""
    n_folds, members = cfg.stamps["n_folds"], cfg.train["members"]
    all_tasks = list(range(n_folds * members))  # task t: fold t // members, member t % members
    if from_stage is not None:
        start, missing_tasks = STAGES.index(from_stage), all_tasks
    else:
        done, missing_tasks = completed_stages(cfg, n_folds, members)
        start = next((i for i, stage in enumerate(STAGES) if stage not in done), len(STAGES))
        if start == len(STAGES) or not stage_of(STAGES[start]).array:  # only an array resumes part-way
            missing_tasks = all_tasks
    return [Step(stage, array_spec(missing_tasks) if stage_of(stage).array else "") for stage in STAGES[start:]]


def completed_stages(cfg: Config, n_folds: int, members: int = 1) -> tuple[set[str], list[int]]:
    """(stages whose outputs are complete, array tasks (fold x member, xraymass.train.members) without complete
    predictions; with one member, the folds): each stage of the chain is asked (xraymass.stages: Stage.is_complete)."""
    all_tasks = list(range(n_folds * members))
    if not (cfg.store_path / "zarr.json").is_file():
        return set(), all_tasks
    root = open_store(cfg.store_path, "r")
    done = {s.name for s in chain() if s.is_complete(root, cfg)}
    return done, layout.missing_tasks(root, n_folds, members)


def array_spec(indices: list[int]) -> str:
    """Compact sbatch --array spec: [0..9] -> '0-9', [1, 2, 3, 7] -> '1-3,7'."""
    parts, i = [], 0
    while i < len(indices):
        j = i
        while j + 1 < len(indices) and indices[j + 1] == indices[j] + 1:
            j += 1
        parts.append(str(indices[i]) if i == j else f"{indices[i]}-{indices[j]}")
        i = j + 1
    return ",".join(parts)


# --- the sbatch command lines -------------------------------------------------------------

def job_environment(config_path: Path, site: Site, home: Path) -> dict[str, str]:
    """What every job is told: its config, its site, the repository (and the account, for paths named after it)."""
    values = {"XRAYMASS_CONFIG": str(config_path), "XRAYMASS_SITE": site.name, "XRAYMASS_HOME": str(home)}
    if os.environ.get("XRAYMASS_ACCOUNT"):
        values["XRAYMASS_ACCOUNT"] = os.environ["XRAYMASS_ACCOUNT"]
    for name, value in values.items():
        if "," in value or any(c.isspace() for c in value):
            raise ConfigError(f"{name}={value!r}: the job environment cannot carry a comma (sbatch --export) "
                              f"or white space (the job scripts' command line); move or rename it")
    return values


def job_exports(config_path: Path, site: Site, home: Path) -> str:
    """sbatch --export value: the whole environment plus the config, the site and the repository."""
    return "ALL," + ",".join(f"{k}={v}" for k, v in job_environment(config_path, site, home).items())


def warning_seconds(time_limit_s: int) -> int:
    """Seconds of warning (SIGUSR1) before a time limit: a tenth of it, at least 1 and at most 10 minutes
    (never more than half the limit)."""
    return int(min(600, max(60, time_limit_s // 10), max(time_limit_s // 2, 1)))


def sbatch_command(step: Step, site: Site, home: Path, exports: str, overrides: list[str],
                   dependency: str = "", hold: bool = False, comment: str = "",
                   site_overrides: list[str] = ()) -> list[str]:
    """The argv of one stage's sbatch: site options, warning signal, exports, dependency (killed with its
    dependency when that fails), array, script, --set overrides."""
    argv = ["sbatch", "--parsable", *site.sbatch_argv(step.stage)]
    limit = site.time_limit_s(step.stage)
    if stage_of(step.stage).signalled and limit:
        argv.append(f"--signal=B:USR1@{warning_seconds(limit)}")
    if site.cfg.slurm["export"]:
        argv.append(f"--export={exports}")
    if comment:
        argv.append(f"--comment=xraymass:{comment}:{step.stage}")
    if dependency:
        argv += [f"--dependency=afterok:{dependency}", "--kill-on-invalid-dep=yes"]
    if step.array:
        argv.append(f"--array={step.array}")
    if hold:
        argv.append("--hold")
    argv.append(str(home / "jobs" / SCRIPTS[step.stage]))
    for item in overrides:
        argv += ["--set", item]
    if step.stage == "stamps":
        for item in site_overrides:
            argv += ["--site-set", item]
    return argv


def preflight_command(argv: list[str]) -> list[str]:
    """The same line for sbatch --test-only: no dependency (its job does not exist yet), nothing submitted."""
    return ["sbatch", "--test-only", *(a for a in argv[1:] if a != "--parsable"
                                        and not a.startswith(("--dependency=", "--kill-on-invalid-dep")))]


def sbatch_environment(exports: str, site: Site) -> dict[str, str] | None:
    """The environment sbatch runs in: where the site takes no --export, the job variables go through it."""
    if site.cfg.slurm["export"]:
        return None
    extra = dict(item.split("=", 1) for item in exports.split(",")[1:])
    return {**os.environ, **extra}


def check_container_image(site: Site, home: Path) -> None:
    """A container site's image file must exist before anything is submitted (podman-hpc and Shifter name
    an image their own store holds: podman-hpc images, shifterimg images)."""
    software = site.cfg.software
    if software["mode"] != "container" or software["runtime"] in ("podman-hpc", "shifter"):
        return
    image = Path(os.environ.get("XRAYMASS_IMAGE") or home / software["container"])
    if not image.is_file():
        how = ("enroot import (docs/container.md)" if software["runtime"] == "container-engine" else
               f"'apptainer build {software['container']} containers/xraymass.def' (docs/container.md)")
        raise ConfigError(f"site {site.name}: container image {image} not found; build it with {how} "
                          f"or set XRAYMASS_IMAGE")


def submit_chain(steps: list[Step], site: Site, home: Path, exports: str, args: argparse.Namespace,
                 key: str = "", preflight: bool = True) -> list[str]:
    """Check every line with sbatch --test-only, then submit each step after the previous one; print and return
    the job ids. --dry-run prints the lines; --check stops after the test. A failed submission cancels the
    jobs this call submitted before it raises."""
    dry_run, check = getattr(args, "dry_run", False), getattr(args, "check", False)
    site_overrides = getattr(args, "site_overrides", [])
    lines = []
    for step in steps:
        dependency = f"<{lines[-1][0].stage}>" if lines else ""
        lines.append((step, sbatch_command(step, site, home, exports, args.overrides, dependency, args.hold, key,
                                           site_overrides)))
    if dry_run:
        from ..sites.launch import launch_line

        for step, argv in lines:
            print(shlex.join(argv))
            print(f"#   {step.stage} runs: {launch_line(site, step.stage)}")
        return [f"<{step.stage}>" for step, _ in lines]
    env = sbatch_environment(exports, site)
    if preflight or check:
        preflight_chain(lines, env, report=check)
    if check:
        return []
    ids: list[str] = []
    for step, argv in lines:
        if ids:
            argv = [a.replace(f"afterok:<{previous.stage}>", f"afterok:{ids[-1]}") for a in argv]
        try:
            ids.append(run_sbatch(argv, step.stage, ids, env))
        except XraymassError:
            cancel(ids, env)
            raise
        previous = step
        what = f" array {step.array}" if step.array else ""
        print(f"{step.stage:<9} {ids[-1]}{what}", flush=True)
    return ids


def preflight_chain(lines: list[tuple[Step, list[str]]], env: dict | None, report: bool = False) -> None:
    """sbatch --test-only of every line; raise with SLURM's whole answer for each refused stage."""
    refused = []
    for step, argv in lines:
        out = _sbatch(preflight_command(argv), env)
        answer = " ".join(out.stderr.split()) or " ".join(out.stdout.split()) or "no output"
        if out.returncode != 0:
            refused.append(f"{step.stage}: {answer}")
        elif report:
            print(f"{step.stage:<9} ok: {answer.removeprefix('sbatch: ')}", flush=True)
    if refused:
        raise XraymassError("sbatch --test-only refused the chain, nothing submitted: " + "; ".join(refused))


def _sbatch(argv: list[str], env: dict | None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    except FileNotFoundError:
        raise XraymassError("sbatch not found: run on a SLURM login node (or start the local cluster: "
                            "site_configs/local/slurm.sh start)") from None


def run_sbatch(argv: list[str], stage: str, submitted: list[str], env: dict | None = None) -> str:
    """Run one sbatch --parsable; return the job id or raise one line naming the stage and SLURM's whole answer."""
    out = _sbatch(argv, env)
    job = out.stdout.strip().split(";")[0]
    if out.returncode != 0 or not job.isdigit():
        reason = " ".join(out.stderr.split()).replace("sbatch: error: ", "") or "no output"
        cancelled = f"; cancelled the jobs already submitted: {' '.join(submitted)}" if submitted else ""
        raise XraymassError(f"sbatch of the {stage} job failed: {reason}{cancelled}")
    return job


def cancel(jobs: list[str], env: dict | None = None) -> None:
    if jobs:
        subprocess.run(["scancel", *jobs], capture_output=True, env=env, timeout=120)


def queued_chain(key: str) -> list[tuple[str, str, str, str]]:
    """(job id, state, stage, reason) of this user's queued jobs whose comment names the run `key`."""
    try:
        out = subprocess.run(["squeue", "--me", "-h", "-o", "%A|%t|%k|%r"], capture_output=True, text=True,
                             timeout=120)
    except FileNotFoundError:
        return []
    jobs = []
    for line in out.stdout.splitlines():
        job, state, comment, reason = (line.split("|") + ["", "", ""])[:4]
        if comment.startswith(f"xraymass:{key}:") and state in QUEUED:
            jobs.append((job, state, comment.rsplit(":", 1)[1], reason))
    return list(dict.fromkeys(jobs))


def reuse_queued_chain(key: str, replace: bool) -> bool:
    """True when a chain of this run is still queued and is kept (nothing to submit); a chain that can never
    run (DependencyNeverSatisfied) or, with --replace, any queued chain is cancelled first."""
    jobs = queued_chain(key)
    if not jobs:
        return False
    ids = sorted({job for job, *_ in jobs}, key=int)
    stuck = any(reason == "DependencyNeverSatisfied" for *_, reason in jobs)
    if replace or stuck:
        cancel(ids)
        why = "it can never run (DependencyNeverSatisfied)" if stuck and not replace else "--replace"
        print(f"xraymass submit: cancelled the queued chain of this run ({why}): {' '.join(ids)}", flush=True)
        return False
    for job, state, stage, _ in jobs:
        print(f"{stage:<9} {job} already queued ({state})")
    print("xraymass submit: this run's chain is already queued; nothing submitted (--replace submits a new one)")
    return True
