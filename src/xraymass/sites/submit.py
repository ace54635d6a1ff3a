"""`xraymass submit`: the whole chain as SLURM jobs linked by afterok dependencies.

    xraymass submit --site perlmutter --config pipeline/paper.yaml

One job per stage, each waiting for the previous one to succeed:
halos -> mocks -> stamps -> train (an array, one task per fold) -> evaluate. The halo catalogue is
its own short first job, so the mocks job starts from a finished catalogue and a failure there is
cheap to see. The site's sbatch options go on the sbatch command line (they override the job
scripts' #SBATCH lines), as separate argv elements that were checked on load, never through a shell.

Resume: stages whose outputs in the run's store are complete are left out (halos `complete`;
every halo's events complete; stamps `complete`; every fold's predictions complete;
results/evaluate.json written). The chain starts at the first unfinished stage; a train array
resubmits only the folds without complete predictions. `--from-stage` starts the chain at a
given stage whatever the store says (each stage still skips its own finished work).
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import ConfigError, XraymassError
from ..store import is_complete, open_store
from .config_schema import STAGES
from .site import Site, load_site, repository_home

SCRIPTS = {
    "halos": "make_halos.sh",
    "mocks": "make_mocks.sh",
    "stamps": "make_stamps.sh",
    "train": "train_fold.sh",
    "evaluate": "evaluate.sh",
}
EVALUATED = Path("results") / "evaluate.json"  # the evaluate stage's part of results/summary.json


@dataclass(frozen=True)
class Step:
    stage: str
    array: str = ""  # sbatch --array spec (train only)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", default="local", help="a folder of site_configs/ (default: local)")
    parser.add_argument("--dry-run", action="store_true", help="print the sbatch commands; submit nothing")
    parser.add_argument("--from-stage", choices=STAGES, default=None,
                        help="start the chain at this stage even if the store says it is complete")
    parser.add_argument("--hold", action="store_true", help="submit held jobs (start them with scontrol release)")


def run(cfg: Config, args: argparse.Namespace) -> int:
    home = repository_home()
    site = load_site(args.site, home)
    steps = plan_chain(cfg, args.from_stage)
    if not steps:
        print(f"xraymass submit: nothing to do, every stage of {cfg.run_dir} is complete")
        return 0
    config_path = Path(args.config).resolve()
    exports = job_exports(config_path, site, home)
    if not args.dry_run:
        check_container_image(site, home)
        Path("logs").mkdir(exist_ok=True)
    submit_chain(steps, site, home, exports, args)
    return 0


# --- what is left to do -------------------------------------------------------------------

def plan_chain(cfg: Config, from_stage: str | None = None) -> list[Step]:
    """The stages to submit, in order: from `from_stage`, or from the first unfinished one."""
    n_folds = cfg.stamps["n_folds"]
    if from_stage is not None:
        start, missing_folds = STAGES.index(from_stage), list(range(n_folds))
    else:
        done, missing_folds = completed_stages(cfg, n_folds)
        start = next((i for i, stage in enumerate(STAGES) if stage not in done), len(STAGES))
        if start != STAGES.index("train"):
            missing_folds = list(range(n_folds))
    return [Step(stage, array_spec(missing_folds) if stage == "train" else "") for stage in STAGES[start:]]


def completed_stages(cfg: Config, n_folds: int) -> tuple[set[str], list[int]]:
    """(stages whose outputs are complete, folds without complete predictions)."""
    all_folds = list(range(n_folds))
    if not (cfg.store_path / "zarr.json").is_file():
        return set(), all_folds
    root = open_store(cfg.store_path, "r")
    done: set[str] = set()
    if _complete(root, "halos"):
        done.add("halos")
        halo_ids = root["halos"]["halo_id"][:] if "halo_id" in root["halos"] else []
        if len(halo_ids) and all(_complete(root, f"events/h{int(h):08d}") for h in halo_ids):
            done.add("mocks")
    if _complete(root, "stamps"):
        done.add("stamps")
    missing = [k for k in all_folds if not _complete(root, f"predictions/fold_{k:02d}")]
    if not missing:
        done.add("train")
    if (cfg.run_dir / EVALUATED).is_file():
        done.add("evaluate")
    return done, missing


def _complete(root, name: str) -> bool:
    """Whether the group `name` exists and carries complete = true (docs/store.md)."""
    try:
        return is_complete(root[name])
    except KeyError:
        return False


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

def job_exports(config_path: Path, site: Site, home: Path) -> str:
    """sbatch --export value: the whole environment plus the config, the site and the repository."""
    values = {"XRAYMASS_CONFIG": str(config_path), "XRAYMASS_SITE": site.name, "XRAYMASS_HOME": str(home)}
    for name, value in values.items():
        if "," in value or any(c.isspace() for c in value):
            raise ConfigError(f"{name}={value!r}: the job environment cannot carry a comma (sbatch --export) "
                              f"or white space (the job scripts' command line); move or rename it")
    return "ALL," + ",".join(f"{k}={v}" for k, v in values.items())


def sbatch_command(step: Step, site: Site, home: Path, exports: str, overrides: list[str],
                   dependency: str = "", hold: bool = False) -> list[str]:
    """The argv of one stage's sbatch: site options, exports, dependency, array, script, --set overrides."""
    argv = ["sbatch", "--parsable", *site.sbatch_argv(step.stage), f"--export={exports}"]
    if dependency:
        argv.append(f"--dependency=afterok:{dependency}")
    if step.array:
        argv.append(f"--array={step.array}")
    if hold:
        argv.append("--hold")
    argv.append(str(home / "jobs" / SCRIPTS[step.stage]))
    for item in overrides:
        argv += ["--set", item]
    return argv


def check_container_image(site: Site, home: Path) -> None:
    software = site.cfg.software
    if software["mode"] != "container":
        return
    image = Path(os.environ.get("XRAYMASS_IMAGE") or home / software["container"])
    if not image.is_file():
        raise ConfigError(f"site {site.name}: container image {image} not found; build it with "
                          f"'apptainer build {software['container']} containers/xraymass.def' (docs/container.md) "
                          f"or set XRAYMASS_IMAGE")


def submit_chain(steps: list[Step], site: Site, home: Path, exports: str, args: argparse.Namespace) -> list[str]:
    """Submit (or, with --dry-run, print) each step after the previous one; print and return the job ids."""
    ids: list[str] = []
    for step in steps:
        argv = sbatch_command(step, site, home, exports, args.overrides, ids[-1] if ids else "", args.hold)
        if args.dry_run:
            print(shlex.join(argv))
            ids.append(f"<{step.stage}>")
            continue
        ids.append(run_sbatch(argv, step.stage, ids))
        what = f" array {step.array}" if step.array else ""
        print(f"{step.stage:<9} {ids[-1]}{what}", flush=True)
    return ids


def run_sbatch(argv: list[str], stage: str, submitted: list[str]) -> str:
    """Run one sbatch --parsable; return the job id or raise one line naming the stage and SLURM's answer."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise XraymassError("sbatch not found: run on a SLURM login node (or start the local cluster: "
                            "site_configs/local/slurm.sh start)") from None
    job = out.stdout.strip().split(";")[0]
    if out.returncode != 0 or not job.isdigit():
        reason = (out.stderr.strip().splitlines() or ["no output"])[-1].removeprefix("sbatch: error: ")
        already = f"; already submitted: {' '.join(submitted)} (scancel them)" if submitted else ""
        raise XraymassError(f"sbatch of the {stage} job failed: {reason}{already}")
    return job
