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
    assert INSTALL.is_file()


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
    """docs/container.md shows, per site, the launch line its generated env.sh gives the train stage."""
    import os
    import subprocess

    docs = (REPO / "docs" / "container.md").read_text()
    for site in ("perlmutter", "frontier", "alps", "juwels-booster", "vista", "lumi", "generic"):
        env_sh = REPO / "site_configs" / site / "env.sh"
        probe = f'module() {{ :; }}; set -euo pipefail; XRAYMASS_STAGE=train source "{env_sh}"; ' \
                'echo "$XRAYMASS_LAUNCH $XRAYMASS_EXEC"'
        env = {"PATH": os.environ["PATH"], "XRAYMASS_HOME": "$H", "XRAYMASS_ACCOUNT": "A", "SLURM_CPUS_PER_TASK": "$C"}
        words = subprocess.run(["bash", "-c", probe], env=env, capture_output=True, text=True, check=True).stdout.split()
        row = re.search(rf"^\| {site} \|.*$", docs, re.M)
        assert row, f"docs/container.md has no launch line for {site}"
        launcher = " ".join(words[:3]) if words[0] == "srun" else words[0]
        assert f"`{launcher}" in row.group(0), (site, launcher)
        runtime = next((w for w in words if w in ("apptainer", "singularity", "podman-hpc", "shifter")), None)
        assert runtime is None or f"{runtime} " in row.group(0), (site, runtime)


CONTAINERFILE = REPO / "containers" / "Containerfile"


def containerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    return [tuple(line.split(None, 1)) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_oci_recipe_uses_the_same_install_and_base():
    steps = containerfile_instructions()
    args = {v.split("=", 1)[0]: v.split("=", 1)[1] for k, v in steps if k == "ARG" and "=" in v}
    assert args["BASE"].endswith(SingularityParser(str(RECIPE)).recipe["spython-base"].fromHeader)  # the same pin
    assert ("FROM", "${BASE}") in steps and args["INSTALL_FLAGS"] == "--gpu"
    run = " ".join(v for k, v in steps if k == "RUN")
    assert "bash /opt/xraymass/containers/install.sh /opt/xraymass/venv ${INSTALL_FLAGS}" in run
    assert not re.search(r"pip[0-9.]*\s+install|apt-get\s+install|conda\s+install", run)
    copied = " ".join(v for k, v in steps if k == "COPY")
    for needed in ("pyproject.toml", "setup.cfg", "README.md", "src", "containers", "jobs", "pipeline", "site_configs"):
        assert re.search(rf"(^|\s){needed}(\s|$)", copied), needed
    env = " ".join(v for k, v in steps if k == "ENV")
    assert "TF_USE_LEGACY_KERAS=1" in env and "PATH=/opt/xraymass/venv/bin:$PATH" in env
    assert "XRAYMASS_HOME" not in env
    assert not any(k == "ENTRYPOINT" for k, _ in steps)  # the jobs run `... IMAGE python -m xraymass ...`


def test_container_test_is_not_part_of_make_test():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^container-test:\n\tbash containers/container-test\.sh$", makefile, re.M)
    test_recipe = re.search(r"^test:.*\n((\t.*\n)*)", makefile, re.M).group(0)
    assert "container" not in test_recipe
    script = (REPO / "containers" / "container-test.sh").read_text()
    assert "debootstrap" in script and "--build-arg INSTALL_FLAGS=" in script and "xraymass train --fold 0" in script
