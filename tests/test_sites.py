"""Site configs, safe sbatch options, and `xraymass submit` (the afterok chain, resume) on the real local SLURM."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, xraymass
from xraymass.errors import ConfigError
from xraymass.stages import CHAIN as STAGES
from xraymass.stages import stage as declared
from xraymass.sites.options import check_options
from xraymass.sites.launch import generated_files_of
from xraymass.sites.site import load_site, site_names
from xraymass.chain.submit import SCRIPTS, Step, array_spec, job_exports, sbatch_command, warning_seconds

REAL_SITES = ("perlmutter", "frontier", "alps", "juwels-booster", "vista", "lumi")
REQUIRED = ("local", "generic", *REAL_SITES)
SITES = sorted(set(REQUIRED) | set(site_names(REPO)))  # every folder of site_configs/ is checked


@pytest.fixture
def account(monkeypatch):
    monkeypatch.setenv("XRAYMASS_ACCOUNT", "abc123")


def copy_home(tmp_path: Path) -> Path:  # noqa: E302
    """A repository copy with the real jobs/ and site_configs/, for sites edited by a test."""
    home = tmp_path / "home"
    shutil.copytree(REPO / "jobs", home / "jobs")
    shutil.copytree(REPO / "site_configs", home / "site_configs", ignore=shutil.ignore_patterns("slurm.sh"))
    return home


def edit_site(home: Path, site: str, section: str, key: str, value) -> None:
    path = home / "site_configs" / site / "site.yaml"
    data = yaml.safe_load(path.read_text())
    data.setdefault(section, {})[key] = value
    path.write_text(yaml.safe_dump(data))


# --- every site loads and is consistent ---------------------------------------------------

def test_all_required_sites_exist():
    assert set(REQUIRED) <= set(site_names(REPO))


def check_site(home: Path, name: str) -> None:
    """The static checks of one site (docs/sites.md "How the site configs are checked"): site.yaml loads and
    cites its sources, every stage has a time limit and gives every resource its job script's header asks for,
    env.sh (and the EDF file) are what site.yaml generates, and env.sh sourced as a job does it exports the
    launch line of site.yaml."""
    site = load_site(name, home)
    assert site.cfg.site["name"] == name
    for stage in STAGES:
        argv = site.sbatch_argv(stage)
        assert any(a.startswith("--time=") for a in argv), f"{name}: {stage} has no time limit"
        assert all(a.startswith("--") and " " not in a for a in argv)
    if name != "local":
        assert re.search(r"https://[A-Za-z0-9.-]+\.[a-z]{2,}/", (site.directory / "site.yaml").read_text()), \
            f"{name}: site.yaml cites no documentation page"
    for path, text in generated_files_of(name, home).items():
        assert path.is_file() and path.read_text() == text, \
            f"{path} is not what {name}/site.yaml generates: run python -m xraymass.sites.launch {name}"
    check_env_sh(site, home)
    check_headers(site, home)


def check_env_sh(site, home: Path) -> None:
    """env.sh parses, and sourced under `set -euo pipefail` per stage it exports the launch line of site.yaml."""
    assert subprocess.run(["bash", "-n", str(site.env_sh)]).returncode == 0
    software, mpi = site.cfg.software, site.cfg.mpi
    for stage in STAGES:
        probe = (
            'module() { echo "module $*" >&2; }\n'  # Lmod/Tcl modules are absent here: record the loads
            "set -euo pipefail\n"
            f'XRAYMASS_STAGE={stage} source "{site.env_sh}"\n'
            'printf "%s\\n" "$XRAYMASS_LAUNCH" "$XRAYMASS_EXEC"\n')
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "XRAYMASS_HOME": str(home),
               "XRAYMASS_ACCOUNT": "abc123", "SLURM_CPUS_PER_TASK": "7"}
        out = subprocess.run(["bash", "-c", probe], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        launch, exec_prefix = (out.stdout.splitlines() + ["", ""])[:2]
        loaded = [line.split(" ", 2)[2] for line in out.stderr.splitlines() if line.startswith("module load ")]
        assert " ".join(loaded).split() == software["modules"]
        words = launch.split()
        srun = getattr(site.cfg, f"slurm_{stage}")["srun"]
        if mpi["launcher"] == "ibrun":
            assert words == ["ibrun"]
        else:
            assert words[:3] == ["srun", f"--mpi={mpi['srun_mpi']}", "--cpus-per-task=7"]
            assert all(f"--{k}={v}" in words for k, v in srun.items())
        exec_words = exec_prefix.split()
        if getattr(site.cfg, f"slurm_{stage}")["gpu_select"] == "rocr_localid":
            assert exec_words[0] == str(home / "jobs" / "select_gpu.sh")
            exec_words = exec_words[1:]
        if software["step_env"]:
            assert exec_words[0] == "env"
            exec_words = exec_words[1 + len(software["step_env"]):]
        if software["mode"] != "container":
            assert exec_words == []
            continue
        runtime = software["runtime"]
        if runtime == "container-engine":
            assert f"--environment={site.directory / 'xraymass.toml'}" in words and exec_words == []
            continue
        image = software["container"] if runtime in ("podman-hpc", "shifter") else str(home / software["container"])
        if runtime in ("apptainer", "singularity"):
            assert exec_words[:2] == [runtime, "exec"] and exec_words[-1] == image
            assert {"nvidia": "--nv", "amd": "--rocm"}[software["gpu"]] in exec_words
            binds = exec_words[exec_words.index("--bind") + 1].split(",")
            assert binds == [str(home), *(b.replace("${XRAYMASS_ACCOUNT}", "abc123") for b in software["binds"])]
        elif runtime == "podman-hpc":
            assert exec_words[:3] == ["podman-hpc", "run", "--rm"] and exec_words[-1] == image
            assert ("--gpu" in exec_words) == (software["gpu"] == "nvidia")
            for b in software["binds"]:
                assert f"--volume={b}:{b}" in exec_words
        elif runtime == "shifter":
            assert exec_words[0] == "shifter" and f"--image={image}" in exec_words


def check_headers(site, home: Path) -> None:
    """Every resource a job script's #SBATCH header asks for is given again by the site (the command line wins over
    the header; a header --ntasks would otherwise cap a site's --ntasks-per-node), and no header uses an option the
    site refuses (a header line cannot be removed from the command line)."""
    refused = set(site.cfg.slurm["unsupported"])
    for stage in STAGES:
        script = home / "jobs" / SCRIPTS[stage]
        for option in sbatch_header(script):
            assert option not in refused, f"{script.name} asks for --{option}, which {site.name} refuses"
            if option in RESOURCE_OPTIONS:
                assert option in site.options[stage], \
                    f"{site.name}: slurm_{stage} does not set --{option} ({script.name} does)"


@pytest.mark.parametrize("name", SITES)
def test_site_passes_the_static_checks(name, account):
    check_site(REPO, name)


def test_real_sites_name_their_account(account):
    for name in REAL_SITES:
        site = load_site(name, REPO)
        assert site.sbatch_argv("halos")[0] == "--account=abc123"
    assert load_site("perlmutter", REPO).sbatch_argv("train")[0] == "--account=abc123_g"  # NERSC's GPU allocation


def test_generated_files_keep_variables_as_variables(monkeypatch):
    """${XRAYMASS_ACCOUNT} in site.yaml stays a variable in env.sh: the value of the shell that wrote it never does."""
    monkeypatch.setenv("XRAYMASS_ACCOUNT", "someone_else")
    text = generated_files_of("lumi", REPO)[REPO / "site_configs" / "lumi" / "env.sh"]
    assert "/scratch/${XRAYMASS_ACCOUNT}" in text and "someone_else" not in text
    import os as _os
    assert _os.environ["XRAYMASS_ACCOUNT"] == "someone_else"


def test_warning_time_scales_with_the_time_limit():
    assert warning_seconds(12 * 3600) == 600
    assert warning_seconds(30 * 60) == 180
    assert warning_seconds(10 * 60) == 60
    assert warning_seconds(60) == 30
    site = load_site("local", REPO)
    argv = sbatch_command(Step("train", "0-9"), site, REPO, "ALL", [])
    assert "--signal=B:USR1@600" in argv  # local train: 4 h
    assert not any(a.startswith("--signal") for a in sbatch_command(Step("halos"), site, REPO, "ALL", []))


@pytest.mark.parametrize("name", SITES)
def test_site_files_and_job_scripts_exist(name, account):
    """Every file a site's jobs reference exists: the stage scripts, env.sh, and a well-formed jobqueue block."""
    site = load_site(name, REPO)
    for stage in STAGES:
        script = REPO / "jobs" / SCRIPTS[stage]
        assert script.is_file(), f"{script} missing"
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    jobqueue = site.directory / site.cfg.dask["jobqueue"]
    if name == "local" and not jobqueue.is_file():
        pytest.skip("the local site runs Dask in-process (dask.cluster: local)")
    block = yaml.safe_load(jobqueue.read_text())["jobqueue"]["slurm"]
    assert block["cores"] >= 1 and block["processes"] >= 1
    extra = {d.split("=", 1)[0][2:]: d.split("=", 1)[1] for d in block.get("job-extra-directives", [])}
    check_options(extra, jobqueue, "job-extra-directives")
    for line in block.get("job-script-prologue", []):
        sourced = line.removeprefix("source ").replace("$XRAYMASS_HOME", str(REPO))
        assert Path(sourced) == site.env_sh


def test_job_scripts_share_one_shape():
    """Every job script of the chain: #SBATCH header with its job name and log, `set -euo pipefail`, the stage set,
    jobs/stage.sh sourced (the one place of the defaults and the site's environment), `set -x`, and one launch line
    that runs the command its declaration gives (xraymass.stages) with the config and "$@"."""
    common = (REPO / "jobs" / "stage.sh").read_text()
    assert ': "${XRAYMASS_CONFIG:=pipeline/demo.yaml}"' in common
    assert 'source "$XRAYMASS_HOME/site_configs/$XRAYMASS_SITE/env.sh"' in common
    for stage in STAGES:
        script = REPO / "jobs" / SCRIPTS[stage]
        text = script.read_text()
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert f"#SBATCH --job-name=xraymass-{stage}\n" in text, script
        assert re.search(r"^#SBATCH --output=logs/%x-(%j|%A_%a)\.out$", text, re.M), script
        assert lines[:3] == ["set -euo pipefail", f"export XRAYMASS_STAGE={stage}",
                             'source "${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR}/jobs/stage.sh"'], script
        launch = [line for line in lines if line.startswith("$XRAYMASS_LAUNCH")]
        assert len(launch) == 1, script
        assert lines[lines.index(launch[0]) - 1].startswith("set -x"), script
        assert launch[0].startswith(f"$XRAYMASS_LAUNCH $XRAYMASS_EXEC {declared(stage).command()} "), script
        assert '--config "$XRAYMASS_CONFIG" "$@"' in launch[0], script
        assert "pipeline/demo.yaml" not in text and "env.sh" not in "\n".join(lines), script


RESOURCE_OPTIONS = {"partition", "qos", "constraint", "nodes", "ntasks", "ntasks-per-node", "cpus-per-task", "mem",
                    "mem-per-cpu", "mem-per-gpu", "gres", "gpus", "gpus-per-node", "gpus-per-task", "time"}


def sbatch_header(script: Path) -> dict[str, str]:
    """The long options of a job script's #SBATCH lines: {'ntasks': '2', 'requeue': ''}."""
    lines = re.findall(r"^#SBATCH --([a-z-]+)(?:=(\S*))?", script.read_text(), re.M)
    return {name: value for name, value in lines}


def test_unsupported_options_are_refused(tmp_path, account):
    home = copy_home(tmp_path)
    edit_site(home, "vista", "slurm_stamps", "options", {"mem": "4G", "time": "01:00:00"})
    with pytest.raises(ConfigError, match=r"'slurm_stamps\.options\.mem': this site refuses --mem"):
        load_site("vista", home)


def test_site_name_and_unset_placeholder_are_refused(monkeypatch):
    monkeypatch.delenv("XRAYMASS_ACCOUNT", raising=False)
    with pytest.raises(ConfigError, match=r"slurm\.account' uses \$\{XRAYMASS_ACCOUNT\}, which is not set"):
        load_site("perlmutter", REPO)
    with pytest.raises(ConfigError, match="a site is the name of a folder"):
        load_site("../etc", REPO)
    with pytest.raises(ConfigError, match="sites here: .*perlmutter"):
        load_site("nowhere", REPO)


# --- injection: site values never reach a shell -------------------------------------------

@pytest.mark.parametrize("section,key,value,message", [
    ("slurm_mocks", "options", {"partition": "gpu; rm -rf ~"},
     r"'slurm_mocks\.options\.partition' = 'gpu; rm -rf ~' is not allowed"),
    ("slurm_train", "options", {"time": "01:00:00 --wrap=id"}, r"'slurm_train\.options\.time' .* is not allowed"),
    ("slurm_train", "options", {"wrap": "touch pwned"}, r"sbatch option 'slurm_train\.options\.wrap' is not allowed"),
    ("slurm_train", "options", {"output": "/etc/passwd"},
     r"sbatch option 'slurm_train\.options\.output' is not allowed"),
    ("slurm_halos", "options", {"qos": "$(touch pwned)"},
     r"'slurm_halos\.options\.qos' = '\$\(touch pwned\)' is not allowed"),
    ("slurm_halos", "options", {"partition": "-x"}, r"'slurm_halos\.options\.partition' = '-x' is not allowed"),
    ("software", "binds", ["/scratch,/etc --nv"], r"'software\.binds' entry '/scratch,/etc --nv' is not allowed"),
    ("software", "modules", ["apptainer; curl x | sh"], r"'software\.modules' entry .* is not a module name"),
])
def test_injection_attempts_are_refused(tmp_path, account, section, key, value, message):
    home = copy_home(tmp_path)
    edit_site(home, "perlmutter", section, key, value)
    with pytest.raises(ConfigError, match=message) as err:
        load_site("perlmutter", home)
    assert "\n" not in str(err.value)


def test_injection_through_the_account_variable_is_refused(monkeypatch):
    monkeypatch.setenv("XRAYMASS_ACCOUNT", "m1234 --wrap=id")
    with pytest.raises(ConfigError, match=r"account' = 'm1234 --wrap=id(_g)?' is not allowed"):
        load_site("perlmutter", REPO)


def test_cli_refuses_injection_with_one_line(tmp_path, write_config):
    home = copy_home(tmp_path)
    edit_site(home, "local", "slurm_mocks", "options", {"partition": "debug`touch pwned`"})
    env = dict(os.environ, XRAYMASS_HOME=str(home))
    out = xraymass("submit", "--site", "local", "--config", str(write_config()), "--dry-run", env=env, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "slurm_mocks.options.partition" in out.stderr
    assert out.stdout == "" and not (tmp_path / "pwned").exists()


def test_values_reach_sbatch_as_single_argv_elements(tmp_path, account):
    home = copy_home(tmp_path)
    edit_site(home, "perlmutter", "slurm_train", "options", {"constraint": "gpu&hbm80g", "time": "1-00:00:00"})
    site = load_site("perlmutter", home)
    argv = sbatch_command(Step("train", "0-9"), site, home, "ALL,XRAYMASS_SITE=perlmutter", ["train.max_epochs=2"],
                          dependency="42")
    assert argv[:3] == ["sbatch", "--parsable", "--account=abc123"]
    assert "--kill-on-invalid-dep=yes" in argv
    assert "--constraint=gpu&hbm80g" in argv and "--time=1-00:00:00" in argv
    assert argv.index("--dependency=afterok:42") < argv.index(str(home / "jobs" / "train_fold.sh"))
    assert argv[argv.index(str(home / "jobs" / "train_fold.sh")):] == [str(home / "jobs" / "train_fold.sh"),
                                                                        "--set", "train.max_epochs=2"]


def test_exports_refuse_commas_and_whitespace(tmp_path, account):
    site = load_site("local", REPO)
    with pytest.raises(ConfigError, match="cannot carry"):
        job_exports(tmp_path / "a,b.yaml", site, REPO)
    with pytest.raises(ConfigError, match="cannot carry"):
        job_exports(tmp_path / "a b.yaml", site, REPO)
    assert job_exports(tmp_path / "c.yaml", site, REPO) == \
        f"ALL,XRAYMASS_CONFIG={tmp_path / 'c.yaml'},XRAYMASS_SITE=local,XRAYMASS_HOME={REPO},XRAYMASS_ACCOUNT=abc123"


def test_array_spec():
    assert array_spec(list(range(10))) == "0-9"
    assert array_spec([1, 2, 3, 7, 9, 10]) == "1-3,7,9-10"
    assert array_spec([4]) == "4"


# --- the local SLURM: every stage's sbatch line is accepted --------------------------------

@pytest.mark.slurm
@pytest.mark.parametrize("stage", STAGES)
def test_local_site_sbatch_test_only(slurm, stage, tmp_path, write_config):
    """The exact sbatch command of each stage (site options, exports, array, script) passes sbatch --test-only."""
    site = load_site("local", REPO)
    exports = job_exports(write_config(), site, REPO)
    step = Step(stage, "0-9" if stage == "train" else "")
    argv = sbatch_command(step, site, REPO, exports, [])
    argv[1] = "--test-only"
    out = subprocess.run(argv, env=slurm, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "to start at" in out.stderr


# --- xraymass submit ------------------------------------------------------------------------

def scontrol_job(env: dict, job: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "-o", "show", "job", job], env=env, capture_output=True, text=True, check=True)
    fields = {}
    for item in out.stdout.splitlines()[0].split():
        key, _, value = item.partition("=")
        fields.setdefault(key, value)
    return fields


@pytest.mark.slurm
def test_submit_chain_with_afterok_dependencies(slurm, tmp_path, write_config):
    """A held chain on the real local SLURM: five jobs, each waiting afterok on the previous, train an array 0-9."""
    config = write_config()
    out = xraymass("submit", "--site", "local", "--config", str(config), "--hold", env=slurm, cwd=tmp_path)
    lines = [line.split() for line in out.stdout.splitlines()]
    ids = {words[0]: words[1] for words in lines}
    try:
        assert out.returncode == 0, out.stderr
        assert list(ids) == list(STAGES)
        assert lines[STAGES.index("train")][2:] == ["array", "0-9"]
        assert (tmp_path / "logs").is_dir()
        for previous, stage in zip(STAGES, STAGES[1:]):
            job = scontrol_job(slurm, ids[stage])
            assert job["Dependency"].startswith(f"afterok:{ids[previous]}"), job["Dependency"]
            assert job["Command"] == str(REPO / "jobs" / SCRIPTS[stage])
            assert job["JobState"] == "PENDING"
        assert scontrol_job(slurm, ids["halos"])["Reason"] == "JobHeldUser"
        assert scontrol_job(slurm, ids["train"])["ArrayTaskId"] == "0-9"
    finally:
        if ids:
            subprocess.run(["scancel", *ids.values()], env=slurm)


@pytest.mark.slurm
def test_submit_reports_sbatch_failure_in_one_line(slurm, tmp_path, write_config):
    home = copy_home(tmp_path)
    edit_site(home, "local", "slurm_halos", "options", {"partition": "nosuchpartition", "time": "00:10:00"})
    env = dict(slurm, XRAYMASS_HOME=str(home))
    out = xraymass("submit", "--site", "local", "--config", str(write_config()), "--hold", env=env, cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1, out.stderr
    assert "sbatch --test-only refused the chain, nothing submitted: halos:" in out.stderr
    assert "invalid partition" in out.stderr.lower()  # SLURM's own reason, whole
    assert out.stdout == ""


def make_store(cfg_path: Path, *, halos=True, events=(True, True, True), stamps=True, folds=range(10), evaluated=False):
    """A run whose store holds the `complete` markers (xraymass.layout) of the given stages: the catalogue and the
    events through the production writers (tests/builders.py), the stamps and predictions as markers only."""
    import builders
    from xraymass import layout
    from xraymass.config import load_config
    from xraymass.store import COMPLETE, mark_complete, open_store

    cfg = load_config(cfg_path)
    root = open_store(cfg.store_path, "a")
    builders.catalogue(root, np.arange(len(events)), np.full(len(events), 14.0))
    if not halos:
        root[layout.HALOS].attrs[COMPLETE] = False
    for halo, done in enumerate(events):
        builders.events(root, halo, [(np.zeros(1),) * 3], {})
        if not done:
            root[layout.events_group(halo)].attrs[COMPLETE] = False
    if stamps:
        mark_complete(root.require_group(layout.STAMPS))
    for k in folds:
        mark_complete(root.require_group(layout.predictions_group(k)))
    if evaluated:
        (cfg.run_dir / layout.EVALUATED).parent.mkdir(parents=True, exist_ok=True)
        (cfg.run_dir / layout.EVALUATED).write_text("{}")


def dry_run(config: Path, *extra: str) -> list[list[str]]:
    out = xraymass("submit", "--site", "local", "--config", str(config), "--dry-run", *extra)
    assert out.returncode == 0, out.stderr
    return [shlex.split(line) for line in out.stdout.splitlines() if not line.startswith("#")]


def stage_of(argv: list[str]) -> str:
    script = next(a for a in argv if a.endswith(".sh"))
    return next(stage for stage, name in SCRIPTS.items() if script.endswith("/" + name))


def test_submit_dry_run_prints_the_whole_chain(write_config):
    config = write_config()
    commands = dry_run(config, "--set", "train.max_epochs=3")
    assert [stage_of(c) for c in commands] == list(STAGES)
    first, train = commands[0], commands[STAGES.index("train")]
    assert not any(a.startswith("--dependency") for a in first)
    assert "--ntasks=1" in first and "--time=00:30:00" in first
    assert f"--export=ALL,XRAYMASS_CONFIG={config},XRAYMASS_SITE=local,XRAYMASS_HOME={REPO}" in first
    assert "--array=0-9" in train and "--dependency=afterok:<stamps>" in train
    assert train[-2:] == ["--set", "train.max_epochs=3"]


def test_submit_resumes_a_partly_finished_run(write_config):
    config = write_config()
    make_store(config, folds=[k for k in range(10) if k not in (3, 7)])
    commands = dry_run(config)
    assert [stage_of(c) for c in commands] == ["train", "evaluate"]
    assert "--array=3,7" in commands[0] and not any(a.startswith("--dependency") for a in commands[0])
    assert "--dependency=afterok:<train>" in commands[1]


def test_submit_restarts_at_the_first_unfinished_stage(write_config):
    config = write_config()
    make_store(config, events=(True, False, True))
    commands = dry_run(config)
    assert [stage_of(c) for c in commands] == ["mocks", "stamps", "train", "evaluate"]
    assert "--array=0-9" in commands[2]


def test_submit_finished_run_and_from_stage(write_config):
    config = write_config()
    make_store(config, evaluated=True)
    out = xraymass("submit", "--site", "local", "--config", str(config), "--dry-run")
    assert out.returncode == 0 and out.stdout.startswith("xraymass submit: nothing to do")
    commands = dry_run(config, "--from-stage", "stamps")
    assert [stage_of(c) for c in commands] == ["stamps", "train", "evaluate"]
    assert "--array=0-9" in commands[1]


def test_submit_container_site_needs_its_image(tmp_path, write_config, account):
    env = dict(os.environ, XRAYMASS_ACCOUNT="abc123", XRAYMASS_IMAGE=str(tmp_path / "missing.sif"))
    out = xraymass("submit", "--site", "frontier", "--config", str(write_config()), env=env, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "container image" in out.stderr and "missing.sif" in out.stderr
    dry = xraymass("submit", "--site", "frontier", "--config", str(write_config()), "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "--gpus-per-task=1" in dry.stdout and "--account=abc123" in dry.stdout


@pytest.mark.parametrize("name", SITES)
def test_dry_run_shows_the_line_env_sh_runs(name, account, tmp_path):
    """The launch line `xraymass submit --dry-run` prints for each stage is the one the job scripts build from env.sh."""
    from xraymass.sites.launch import launch_line

    site = load_site(name, REPO)
    for stage in STAGES:
        probe = ('module() { :; }\nset -euo pipefail\n'
                 f'XRAYMASS_STAGE={stage} source "{site.env_sh}"\necho $XRAYMASS_LAUNCH $XRAYMASS_EXEC\n')
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "XRAYMASS_HOME": str(REPO),
               "XRAYMASS_ACCOUNT": "abc123", "XRAYMASS_IMAGE": "$XRAYMASS_IMAGE",
               "SLURM_CPUS_PER_TASK": "$SLURM_CPUS_PER_TASK"}
        out = subprocess.run(["bash", "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        built = out.stdout.strip().replace(str(tmp_path), "$PWD").replace(str(REPO), "$XRAYMASS_HOME")
        shown = launch_line(site, stage).split("; ")[-1].removesuffix(" " + declared(stage).command())
        assert built.split() == shown.split(), (name, stage)


@pytest.mark.parametrize("name", REAL_SITES)
def test_docs_list_every_option_with_its_source(name, account):
    """docs/sites.md has, per site, a row for every sbatch and srun option of its stages, with each value and a page."""
    docs = (REPO / "docs" / "sites.md").read_text()
    section = docs.split(f"#### {name}\n", 1)[1].split("\n#### ", 1)[0].split("\nPoints to check", 1)[0]
    rows = {row.split("|")[1].strip(): row for row in section.splitlines() if row.startswith("| `")}
    site = load_site(name, REPO)
    for stage in STAGES:
        for arg in site.sbatch_argv(stage)[1:]:
            key, _, value = arg.partition("=")
            assert f"`{key}`" in rows, f"docs/sites.md: no row for {key} of {name}"
            assert f"`{value}` (" in rows[f"`{key}`"] and "https://" in rows[f"`{key}`"], (name, arg)
        for key, value in site.srun[stage].items():
            assert any(f"`srun --{key}`" in r and f"`{value}` ({stage})" in r for r in section.splitlines()), (name, key)


def test_submit_site_set_overrides_the_site_for_this_submission(write_config):
    config = write_config()
    commands = dry_run(config, "--site-set", "dask.n_workers=1",
                       "--site-set", 'slurm_train.options={ntasks: 1, cpus-per-task: 2, mem: 4G, time: "00:20:00"}')
    train, stamps = commands[STAGES.index("train")], commands[STAGES.index("stamps")]
    assert "--time=00:20:00" in train and "--signal=B:USR1@120" in train  # the warning follows the new limit
    assert stamps[stamps.index("dask.n_workers=1") - 1] == "--site-set"  # the stamps job reads dask from the site
    assert not any("--site-set" in c for c in train)


@pytest.mark.parametrize("section,key,value,message", [
    ("site", "description", "ok\nrm -rf ~", r"'site\.description' must be one line"),
    ("software", "venv", '.venv"; touch pwned; "', r"'software\.venv' = .* is not allowed"),
    ("software", "env", {"A": "$(touch pwned)"}, r"'software\.env\.A' = .* is not allowed"),
    ("software", "step_env", {"X; touch pwned": "1"}, r"'software\.step_env' name .* is not allowed"),
    ("software", "runtime_flags", ["--nv; touch pwned"], r"'software\.runtime_flags' entry .* is not allowed"),
    ("software", "module_use", ["/appl $(id)"], r"'software\.module_use' entry .* is not allowed"),
    ("slurm_train", "srun", {"cpu-bind": "cores; id"}, r"'slurm_train\.srun\.cpu-bind' = .* is not allowed"),
    ("resources", "scratch_dir", "/tmp/$(id)x", r"'resources\.scratch_dir' = .* is not allowed"),
])
def test_values_written_into_env_sh_are_refused_when_not_plain(tmp_path, account, section, key, value, message):
    home = copy_home(tmp_path)
    edit_site(home, "lumi", section, key, value)
    with pytest.raises(ConfigError, match=message) as err:
        load_site("lumi", home)
    assert "\n" not in str(err.value)
