"""The `xraymass` command as a user runs it."""
from __future__ import annotations

from conftest import REPO, xraymass

STAGES = ["halos", "mocks", "stamps", "train", "evaluate", "baseline", "interpret", "submit", "demo"]


def test_help_lists_every_stage():
    out = xraymass("--help")
    assert out.returncode == 0, out.stderr
    for stage in STAGES:
        assert f"    {stage}" in out.stdout


def test_each_stage_has_help():
    for stage in STAGES:
        out = xraymass(stage, "--help")
        assert out.returncode == 0, (stage, out.stderr)
        assert "--config" in out.stdout and "--set" in out.stdout


def test_misspelt_key_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "pipeline" / "demo.yaml").read_text().replace("  max_epochs:", "  max_epoch:"))
    out = xraymass("halos", "--config", str(bad))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert str(bad) in lines[0] and "train.max_epoch" in lines[0]


def test_bad_override_is_exit_2():
    out = xraymass("halos", "--set", "train.max_epochs=zero")
    assert out.returncode == 2
    assert "train.max_epochs" in out.stderr and len(out.stderr.strip().splitlines()) == 1
