"""The Apptainer recipe: parsed with spython; a pinned base, the one install script, the runtime environment."""
from __future__ import annotations

import re

import pytest
from spython.main.parse.parsers import SingularityParser

from conftest import REPO

RECIPE = REPO / "containers" / "xraymass.def"
INSTALL = REPO / "containers" / "install.sh"


@pytest.fixture(scope="module")
def recipe():
    return SingularityParser(str(RECIPE)).recipe["spython-base"]


def test_base_image_is_pinned(recipe):
    base = recipe.fromHeader
    digest = re.fullmatch(r"[\w./-]+@sha256:[0-9a-f]{64}", base)
    tag = re.fullmatch(r"[\w./-]+:([\w.-]+)", base)
    assert digest or (tag and re.search(r"\d+\.\d+\.\d+", tag.group(1))), f"base {base!r} is not pinned"
    assert "latest" not in base
    assert re.search(r"^Bootstrap:\s*docker$", RECIPE.read_text(), re.M)


def test_recipe_installs_through_the_install_script_only(recipe):
    post = "\n".join(recipe.install)
    assert re.search(r"^bash /opt/xraymass/containers/install\.sh /opt/xraymass/venv --gpu$", post, re.M)
    assert not re.search(r"pip[0-9.]*\s+install|apt-get\s+install|conda\s+install", post)
    assert INSTALL.is_file() and "--gpu) gpu=1" in INSTALL.read_text()
    assert "HOROVOD_GPU_OPERATIONS=NCCL" in INSTALL.read_text()
    assert 'tensorflow[and-cuda]' in INSTALL.read_text()


def test_recipe_copies_what_the_install_needs(recipe):
    copied = {line.split()[0]: line.split()[1] for line in recipe.files}
    for needed in ("pyproject.toml", "setup.cfg", "README.md", "src", "containers", "jobs", "pipeline", "site_configs"):
        assert (REPO / needed).exists(), needed
        assert copied.get(needed) == f"/opt/xraymass/{needed}", needed


def test_recipe_environment(recipe):
    environ = dict(line.split("=", 1) for line in recipe.environ)
    assert environ["TF_USE_LEGACY_KERAS"] == "1"
    assert environ["PATH"].startswith("/opt/xraymass/venv/bin:")
    assert "XRAYMASS_HOME" not in environ  # the job's own repository (bound in) must win
    assert recipe.cmd == 'exec python -m xraymass "$@"'
    assert any("horovodrun --check-build" in line for line in recipe.install)


def test_container_docs_give_each_container_sites_launch_line():
    docs = (REPO / "docs" / "container.md").read_text()
    for site in ("perlmutter", "frontier", "alps", "juwels-booster", "vista", "lumi"):
        env_sh = (REPO / "site_configs" / site / "env.sh").read_text()
        runtime_flag = re.search(r'XRAYMASS_EXEC="(\w+) exec (--\w+)', env_sh)
        mpi = re.search(r"XRAYMASS_SRUN_MPI=(\w+)", env_sh).group(1)
        assert runtime_flag, site
        line = rf"^\| {site} \|.*`srun --mpi={mpi} {runtime_flag.group(1)} exec {runtime_flag.group(2)} "
        assert re.search(line, docs, re.M), f"docs/container.md has no launch line for {site}"
