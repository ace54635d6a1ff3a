"""The launch line of a site, written from its site.yaml alone: env.sh (and, at CSCS, the EDF file).

    python -m xraymass.sites.launch [SITE ...]            # (re)write site_configs/<site>/env.sh
    python -m xraymass.sites.launch --check [SITE ...]    # exit 1 when a written file differs

site.yaml is the one source of a site: its modules, container runtime, binds, MPI plugin, binding and
environment. The job scripts (jobs/*.sh) run before any Python, so they source a shell file; that
file is generated here from site.yaml and never edited by hand (tests/test_sites.py fails when
the two disagree). Every job script runs

    $XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass <stage> ...

with XRAYMASS_STAGE set before env.sh is sourced: XRAYMASS_LAUNCH starts the tasks (srun with the
site's --mpi plugin, --cpus-per-task of the job, the stage's binding; or TACC's ibrun), and
XRAYMASS_EXEC is what each task runs the command in (the step's own variables, the per-task GPU
selection, the container command). Every value placed here was checked when the site was loaded.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from ..stages import CHAIN as STAGES
from ..stages import stage as stage_of
from .options import to_argv
from .site import Site, load_site, repository_home, site_names

HEADER = ("# GENERATED from site_configs/{name}/site.yaml by `python -m xraymass.sites.launch {name}`: do not edit;\n"
          "# edit site.yaml and run that command. Sourced by every job script (jobs/*.sh) after\n"
          "# `set -euo pipefail`, with XRAYMASS_STAGE set; the jobs run\n"
          "#   $XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass <stage> ...\n")
EDF_NAME = "xraymass.toml"
# variables a podman-hpc container must be handed explicitly (podman does not pass the environment)
PODMAN_ENV = ("XRAYMASS_CONFIG", "XRAYMASS_SITE", "XRAYMASS_HOME", "XRAYMASS_STAGE", "XRAYMASS_ACCOUNT", "OMP_NUM_THREADS",
              "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_PROCID", "SLURM_LOCALID",
              "SLURM_NTASKS", "SLURM_NODEID", "SLURM_CPUS_PER_TASK", "SLURM_SUBMIT_DIR", "TMPDIR")


def env_sh(site: Site) -> str:
    """The text of site_configs/<site>/env.sh."""
    sw, mpi, name = site.cfg.software, site.cfg.mpi, site.name
    lines = [HEADER.format(name=name)]
    if site.cfg.site["description"]:
        lines.append(f"# {site.cfg.site['description']}\n")
    for folder in sw["module_use"]:
        lines.append(f"module use {folder}\n")
    if sw["modules"]:
        lines.append(f"module load {' '.join(sw['modules'])}\n")
    if sw["mode"] == "venv":
        lines.append(f'source "$XRAYMASS_HOME/{sw["venv"]}/bin/activate"\n')
    for key, value in sw["env"].items():
        lines.append(f"export {key}={value}\n")
    if sw["miopen_cache"]:
        lines.append('# MIOpen kernel cache in node-local /tmp, one per job\n'
                     'export MIOPEN_USER_DB_PATH=/tmp/${USER:-xraymass}-miopen-${SLURM_JOB_ID:-0}\n'
                     'export MIOPEN_CUSTOM_CACHE_DIR=$MIOPEN_USER_DB_PATH\n')
    lines.append("export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n")
    if sw["mode"] == "container":
        image = sw["container"] if sw["container"].startswith("/") or sw["runtime"] in ("podman-hpc", "shifter") \
            else f"$XRAYMASS_HOME/{sw['container']}"
        lines.append(f"export XRAYMASS_IMAGE=${{XRAYMASS_IMAGE:-{image}}}\n")
    lines.append(f"export XRAYMASS_SRUN_MPI={mpi['srun_mpi']}\n")
    lines.append(_stage_case(site))
    lines.append(f'export XRAYMASS_LAUNCH="{launch_prefix(site)} $stage_launch"\n')
    lines.append(f'export XRAYMASS_EXEC="${{stage_exec}}{exec_prefix(site)}"\n')
    lines.append("unset stage_launch stage_exec\n")
    return "".join(lines)


def launch_line(site: Site, stage: str) -> str:
    """The line the stage's job script runs, as env.sh builds it ($VARIABLES of the job left as they are),
    with the modules it loads first: what `xraymass submit --dry-run` shows beside each sbatch line."""
    sw = site.cfg.software
    srun = [] if site.cfg.mpi["launcher"] == "ibrun" else to_argv(site.srun[stage]) if site.srun else []
    select = ["$XRAYMASS_HOME/jobs/select_gpu.sh"] if getattr(site.cfg, f"slurm_{stage}")["gpu_select"] == \
        "rocr_localid" else []
    words = [launch_prefix(site).replace("${SLURM_CPUS_PER_TASK:-1}", "$SLURM_CPUS_PER_TASK"), *srun, *select,
             exec_prefix(site), stage_of(stage).command()]
    before = [f"module use {f}" for f in sw["module_use"]] + ([f"module load {' '.join(sw['modules'])}"]
                                                              if sw["modules"] else [])
    return "; ".join([*before, " ".join(w for w in words if w)])


def _stage_case(site: Site) -> str:
    """Per-stage binding and GPU selection: a `case` on $XRAYMASS_STAGE."""
    arms = []
    for stage in STAGES:
        srun = to_argv(site.srun[stage]) if site.srun else []
        select = getattr(site.cfg, f"slurm_{stage}")["gpu_select"]
        if site.cfg.mpi["launcher"] == "ibrun":
            srun = []
        launch = " ".join(srun)
        exec_ = "$XRAYMASS_HOME/jobs/select_gpu.sh " if select == "rocr_localid" else ""
        if launch or exec_:
            arms.append(f"  {stage}) stage_launch=\"{launch}\" stage_exec=\"{exec_}\" ;;\n")
    return ('stage_launch="" stage_exec=""\n'
            + (f"case ${{XRAYMASS_STAGE:-}} in\n{''.join(arms)}esac\n" if arms else ""))


def launch_prefix(site: Site) -> str:
    """What starts the tasks: srun --mpi=<plugin> --cpus-per-task=<the job's> [--environment=<EDF>], or ibrun."""
    mpi, sw = site.cfg.mpi, site.cfg.software
    if mpi["launcher"] == "ibrun":
        return "ibrun"
    words = ["srun", f"--mpi={mpi['srun_mpi']}", "--cpus-per-task=${SLURM_CPUS_PER_TASK:-1}"]
    if sw["mode"] == "container" and sw["runtime"] == "container-engine":
        words.append(f"--environment=$XRAYMASS_HOME/site_configs/{site.name}/{EDF_NAME}")
    return " ".join(words)


def exec_prefix(site: Site) -> str:
    """What each task runs the command in: the step's variables, then the container command."""
    sw = site.cfg.software
    words = []
    if sw["step_env"]:
        words += ["env", *(f"{k}={v}" for k, v in sw["step_env"].items())]
    if sw["mode"] == "container":
        runtime, binds = sw["runtime"], sw["binds"]
        if runtime in ("apptainer", "singularity"):
            gpu = {"nvidia": ["--nv"], "amd": ["--rocm"], "none": []}[sw["gpu"]]
            words += [runtime, "exec", *gpu, *sw["runtime_flags"], "--bind", ",".join(["$XRAYMASS_HOME", *binds]),
                      "$XRAYMASS_IMAGE"]
        elif runtime == "podman-hpc":
            gpu = ["--gpu"] if sw["gpu"] == "nvidia" else []
            volumes = [f"--volume={b if ':' in b else f'{b}:{b}'}" for b in ["$XRAYMASS_HOME", *binds]]
            words += ["podman-hpc", "run", "--rm", *gpu, *sw["runtime_flags"],
                      *(f"--env={v}" for v in (*PODMAN_ENV, *sw["env"], *sw["step_env"])),
                      *volumes, "--volume=$PWD:$PWD", "--workdir=$PWD", "$XRAYMASS_IMAGE"]
        elif runtime == "shifter":
            volumes = [f"--volume={b if ':' in b else f'{b}:{b}'}" for b in binds]
            words += ["shifter", "--image=$XRAYMASS_IMAGE", *sw["runtime_flags"], *volumes]
        # container-engine: srun --environment=<EDF> (launch_prefix) enters the container; nothing here
    return " ".join(words)


def edf(site: Site) -> str:
    """CSCS Container Engine environment definition (TOML) of a container-engine site."""
    sw = site.cfg.software
    mounts = ["${XRAYMASS_HOME}:${XRAYMASS_HOME}", *(b if ":" in b else f"{b}:{b}" for b in sw["binds"])]
    image = sw["container"] if sw["container"].startswith("/") else "${XRAYMASS_HOME}/" + sw["container"]
    env = dict(sw["env"])
    lines = [f"# GENERATED from site_configs/{site.name}/site.yaml by `python -m xraymass.sites.launch {site.name}`: "
             "do not edit.\n",
             "# CSCS Container Engine environment definition: srun --environment=<this file>.\n",
             f'image = "{image}"\n',
             "mounts = [" + ", ".join(f'"{m}"' for m in mounts) + "]\n",
             'workdir = "${PWD}"\n']
    if env:
        lines.append("\n[env]\n" + "".join(f'{k} = "{v}"\n' for k, v in env.items()))
    return "".join(lines)


def generated_files(site: Site) -> dict[Path, str]:
    """{path: text} of every file generated from the site's site.yaml."""
    files = {site.env_sh: env_sh(site)}
    sw = site.cfg.software
    if sw["mode"] == "container" and sw["runtime"] == "container-engine":
        files[site.directory / EDF_NAME] = edf(site)
    return files


def generated_files_of(name: str, home: Path) -> dict[Path, str]:
    """generated_files of a site whose site.yaml may name ${VARIABLES} (e.g. ${XRAYMASS_ACCOUNT}): they stay
    variables in the written files, expanded when a job sources them, never the values of this shell."""
    text = "\n".join(line.split("#", 1)[0] for line in (home / "site_configs" / name / "site.yaml").read_text().splitlines())
    names = sorted(set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", text)))
    stand_ins = {var: f"xraymassvar{i}x" for i, var in enumerate(names)}
    saved = {var: os.environ.get(var) for var in names}
    try:
        os.environ.update(stand_ins)
        site = load_site(name, home, check_files=False)
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    files = generated_files(site)
    for var, stand_in in stand_ins.items():
        files = {path: body.replace(stand_in, f"${{{var}}}") for path, body in files.items()}
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xraymass.sites.launch", description=__doc__.split("\n")[0])
    parser.add_argument("sites", nargs="*", help="sites to write (default: every folder of site_configs/)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file differs")
    args = parser.parse_args(argv)
    home = repository_home()
    stale = []
    for name in args.sites or site_names(home):
        for path, text in generated_files_of(name, home).items():
            if path.is_file() and path.read_text() == text:
                continue
            if args.check:
                stale.append(str(path))
            else:
                path.write_text(text)
                print(f"wrote {path}")
    if stale:
        print(f"out of date (run python -m xraymass.sites.launch): {' '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
