"""One install path: only containers/install.sh installs, and a second run is harmless."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

INSTALL = re.compile(r"pip[0-9.]*\s+install|apt-get\s+install")  # written so that it does not match itself


def test_installs_only_in_the_install_script():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    offenders = []
    for name in tracked:
        path = REPO / name
        if name == "containers/install.sh" or path.suffix == ".md" or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if INSTALL.search(text):
            offenders.append(name)
    assert offenders == []


def test_second_run_is_up_to_date():
    venv = Path(sys.prefix)
    out = subprocess.run(["bash", str(REPO / "containers" / "install.sh"), str(venv)], capture_output=True,
                         text=True, timeout=600, env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert f"up to date: {venv}" in out.stdout
