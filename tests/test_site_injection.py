"""Site files are data, never code: `$(...)`, backquotes, `;` and newlines put into every string value
of every site file (site.yaml, jobqueue.yaml, env.sh of every folder of site_configs/, found by walking
the files, so keys added later are covered) are refused in one line naming the file, and the sentinel
file that the injected command would create never appears."""
from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from xraymass.errors import ConfigError
from xraymass.sites.site import load_site
from xraymass.sitevalues import string_values
from xraymass.stamps.workers import load_jobqueue

from conftest import REPO, xraymass

SITES = sorted(p.parent.name for p in (REPO / "site_configs").glob("*/site.yaml"))
PAYLOADS = {"substitution": "$(touch {s})", "backquotes": "`touch {s}`", "separator": "; touch {s}",
            "newline": "\ntouch {s}"}
ENV = {"XRAYMASS_ACCOUNT": "proj123", "XRAYMASS_EXEC": "apptainer exec x.sif", "XRAYMASS_IMAGE": "x.sif"}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A copy of the repository's jobs/ and site_configs/; the environment a login node would have."""
    home = tmp_path / "home"
    shutil.copytree(REPO / "site_configs", home / "site_configs")
    shutil.copytree(REPO / "jobs", home / "jobs")
    for name, value in {**ENV, "XRAYMASS_HOME": str(home)}.items():
        monkeypatch.setenv(name, value)
    return home


def set_path(data, keys: list[str], value) -> None:
    for key in keys[:-1]:
        data = data[int(key)] if isinstance(data, list) else data[key]
    data[int(keys[-1]) if isinstance(data, list) else keys[-1]] = value


def yaml_variants(path: Path, sentinel: Path):
    """(key, text) of the file with each payload appended to each of its string values in turn."""
    data = yaml.safe_load(path.read_text())
    for key, value in string_values(data):
        for payload in PAYLOADS.values():
            changed = copy.deepcopy(data)
            set_path(changed, key.split("."), value + payload.format(s=sentinel))
            yield key, yaml.safe_dump(changed, sort_keys=False)


def env_values(text: str) -> list[tuple[int, str]]:
    """(line index, value) of every value of an env file: export VALUEs, source and module arguments."""
    found = []
    for i, line in enumerate(text.splitlines()):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "export":
            found += [(i, m.group(1)) for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*=(\"[^\"]*\"|\S*)", line)]
        elif words[0] in ("source", ".", "module"):
            found += [(i, w) for w in words[1:]]
    return found


def env_variants(path: Path, sentinel: Path):
    text = path.read_text()
    lines = text.splitlines()
    for i, value in env_values(text):
        for payload in PAYLOADS.values():
            injected = payload.format(s=sentinel)
            new = value[:-1] + injected + '"' if value.endswith('"') and len(value) > 1 else value + injected
            changed = list(lines)
            changed[i] = lines[i].replace(value, new, 1)
            yield f"line {i + 1}", "\n".join(changed) + "\n"


def assert_refused_in_one_line(err: ConfigError, path: Path, sentinel: Path) -> None:
    message = str(err)
    assert "\n" not in message and str(path) in message, message
    assert not sentinel.exists()


@pytest.mark.parametrize("site", SITES)
def test_every_value_of_site_yaml_and_env_sh(site, home, tmp_path):
    sentinel = tmp_path / "sentinel"
    load_site(site, home)  # as shipped: accepted, so each refusal below is the injected value's
    n = 0
    for name, variants in (("site.yaml", yaml_variants), ("env.sh", env_variants)):
        path = home / "site_configs" / site / name
        original = path.read_text()
        for key, text in variants(path, sentinel):
            path.write_text(text)
            with pytest.raises(ConfigError) as err:
                load_site(site, home)
            assert_refused_in_one_line(err.value, path, sentinel)
            n += 1
        path.write_text(original)
    assert n >= 4 * 6, n  # every site has at least a name, a description, a venv or image, an export or two


@pytest.mark.parametrize("site", SITES)
def test_every_value_of_jobqueue_yaml(site, home, tmp_path):
    import dask.config

    sentinel = tmp_path / "sentinel"
    path = home / "site_configs" / site / "jobqueue.yaml"
    saved = copy.deepcopy(dask.config.config)
    try:
        load_jobqueue(path)  # as shipped: accepted
        original, n = path.read_text(), 0
        for key, text in yaml_variants(path, sentinel):
            path.write_text(text)
            with pytest.raises(ConfigError) as err:
                load_jobqueue(path)
            assert_refused_in_one_line(err.value, path, sentinel)
            n += 1
        path.write_text(original)
    finally:
        dask.config.config.clear()
        dask.config.config.update(saved)
    assert n >= 4 * 3, n


@pytest.mark.parametrize("key", ["local-directory", "log-directory", "name", "memory", "account", "queue"])
def test_values_that_the_shipped_files_leave_null_are_refused_too(key, home, tmp_path):
    sentinel = tmp_path / "sentinel"
    path = home / "site_configs" / "local" / "jobqueue.yaml"
    data = yaml.safe_load(path.read_text())
    for payload in PAYLOADS.values():
        data["jobqueue"]["slurm"][key] = "/tmp" + payload.format(s=sentinel)
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(ConfigError) as err:
            load_jobqueue(path)
        assert_refused_in_one_line(err.value, path, sentinel)


def test_overrides_and_the_account_variable(home, tmp_path, monkeypatch):
    sentinel = tmp_path / "sentinel"
    for payload in PAYLOADS.values():
        with pytest.raises(ConfigError) as err:
            load_site("local", home, overrides=[f"site.description={payload.format(s=sentinel)!r}"])
        assert "\n" not in str(err.value) and not sentinel.exists()
        monkeypatch.setenv("XRAYMASS_ACCOUNT", payload.format(s=sentinel))
        with pytest.raises(ConfigError) as err:
            load_site("perlmutter", home)
        assert "\n" not in str(err.value) and not sentinel.exists()


def test_stamps_refuses_an_injected_jobqueue_value_before_any_worker_job(home, tmp_path, write_config):
    """Through the real stage and Dask's SLURMCluster path: refused in one line, nothing submitted or run."""
    from stamps_events import build_event_store

    sentinel = tmp_path / "sentinel"
    site = home / "site_configs" / "local"
    text = (site / "site.yaml").read_text().replace("cluster: local", "cluster: slurm")
    (site / "site.yaml").write_text(text)
    jobqueue = site / "jobqueue.yaml"
    jobqueue.write_text(jobqueue.read_text().replace("local-directory: null", f"local-directory: /tmp$(touch {sentinel})"))
    config = write_config({"stamps": {"npix": 16}})
    build_event_store(tmp_path / "run" / "store.zarr", n_halos=2)
    out = xraymass("stamps", "--config", str(config), env=dict(os.environ))
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if not line.startswith("[")]
    assert len(lines) == 1 and "local-directory" in lines[0] and str(jobqueue) in lines[0], out.stderr
    assert not sentinel.exists()


def test_submit_refuses_an_injected_env_file_in_one_line(home, tmp_path, write_config):
    sentinel = tmp_path / "sentinel"
    env_sh = home / "site_configs" / "local" / "env.sh"
    shipped = env_sh.read_text()
    assert "export XRAYMASS_SRUN_MPI=pmix\n" in shipped
    env_sh.write_text(shipped.replace("export XRAYMASS_SRUN_MPI=pmix\n", f'export XRAYMASS_SRUN_MPI="`touch {sentinel}`"\n'))
    out = xraymass("submit", "--config", str(write_config()), "--site", "local", "--dry-run", env=dict(os.environ))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert str(env_sh) in out.stderr and "line" in out.stderr
    assert not sentinel.exists()
    # and sourcing the shipped file, as the job scripts do, runs nothing unexpected
    clean = REPO / "site_configs" / "local" / "env.sh"
    result = subprocess.run(["bash", "-c", f'XRAYMASS_HOME={REPO} source {clean} && echo "$XRAYMASS_SRUN_MPI"'],
                            capture_output=True, text=True)
    assert result.stdout.strip() == "pmix"
