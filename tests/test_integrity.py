"""Nothing silently wrong: a catalogue of bad inputs and damaged stores, each refused in one line.

One small good run is made once per session through the real stages (halos, mocks, stamps, the three
folds of train, evaluate). Each case copies it, damages the copy (a config, a site file, a deleted or
truncated chunk file, a missing marker or record, a foreign or corrupt model or checkpoint), runs one
stage as a user would (`xraymass.cli.main`, in this process: the stages' imports are paid once) and
asserts: the exit status, a single line on stderr naming the file, key or array, no traceback, and
that no `complete` marker was added. A few cases run in a subprocess, as a user's shell does.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from xraymass import cli

from conftest import science_config, xraymass

SMALL = {
    "synthetic": {"n_halos": 3, "particles_per_halo": 2000},
    "mocks": {"exposure_ks": 5.0, "nbins": 100},
    "physics": {"data": "embedded"},
    "stamps": {"npix": 16, "n_folds": 3},
    "train": {"max_epochs": 1, "batch_size": 8},
}
HALO = "h00000001"  # the middle halo of the three


def write_config(path: Path, run_dir: Path, physics_cache: Path, updates: dict | None = None) -> Path:
    return science_config(path, run_dir, SMALL, updates, {"physics": {"cache_dir": str(physics_cache)}})


@pytest.fixture(scope="session")
def good_run(tmp_path_factory) -> Path:
    """A whole small run made through the real stages; the cases copy it and never change it."""
    base = tmp_path_factory.mktemp("integrity")
    config = write_config(base / "good.yaml", base / "run", base / "physics")
    for stage in ("halos", "mocks", "stamps"):
        out = xraymass(stage, "--config", str(config), timeout=600)
        assert out.returncode == 0, out.stderr
    for fold in range(3):
        assert cli.main(["train", "--config", str(config), "--fold", str(fold)]) == 0
    assert cli.main(["evaluate", "--config", str(config)]) == 0
    assert cli.main(["check", str(base / "run")]) == 0
    return base / "run"


@pytest.fixture
def run_copy(good_run, tmp_path) -> Callable:
    """copy(updates) -> (run directory, config): a copy of the good run and a config pointing at it."""

    def copy(updates: dict | None = None) -> tuple[Path, Path]:
        run = tmp_path / "run"
        if not run.exists():
            shutil.copytree(good_run, run, symlinks=True)
        return run, write_config(tmp_path / "cfg.yaml", run, good_run.parent / "physics", updates)

    return copy


def complete_markers(run: Path) -> set[str]:
    """Every group or array of the store whose zarr.json says complete: true."""
    found = set()
    for meta in (run / "store.zarr").rglob("zarr.json"):
        try:
            attrs = json.loads(meta.read_text()).get("attributes", {})
        except ValueError:
            continue
        if attrs.get("complete") is True:
            found.add(str(meta.parent.relative_to(run)))
    return found


def one_line_failure(capsys, argv: list[str], status: int | None = None) -> str:
    """Run the CLI; assert a non-zero status (or `status`), one line on stderr, no traceback; return it."""
    capsys.readouterr()
    rc = cli.main(argv)
    err = capsys.readouterr().err
    # progress lines of the stages ([stage] ...) and the libraries' own log lines (name : [LEVEL] ...) are not errors
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[")
             and not re.match(r"\w+ : \[(WARNING|INFO) *\]", line)]
    assert rc != 0, err
    if status is not None:
        assert rc == status, (rc, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


# --- the catalogue -----------------------------------------------------------------------

def remove(run: Path, *parts: str) -> None:
    for part in parts:
        path = run / part
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: max(len(data) // 2, 1)])


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def drop_attribute(run: Path, node: str, name: str) -> None:
    edit_json(run / "store.zarr" / node / "zarr.json", lambda doc: doc["attributes"].pop(name))


def without_fold(run: Path, fold: int) -> None:
    remove(run, f"store.zarr/predictions/fold_{fold:02d}")
    for name in ("model.keras", "predictions.csv"):
        (run / "train" / f"fold_{fold:02d}" / name).unlink()


def without_stamps(run: Path) -> None:
    remove(run, "store.zarr/stamps", "store.zarr/predictions")


@dataclass
class Case:
    name: str
    stage: list[str]                      # CLI arguments after the config
    damage: Callable[[Path], None] = lambda run: None
    updates: dict = field(default_factory=dict)  # config changes
    named: tuple[str, ...] = ()           # each must appear in the line (regular expressions)
    status: int | None = None
    config_text: Callable[[str], str] | bytes | None = None  # replaces the config file's text


EVENTS_GROUP = f"events/{HALO}"
EVENTS = f"store.zarr/{EVENTS_GROUP}"
CASES = [
    # configs: exit 2, the file and the key named
    Case("duplicate-section", ["halos"], config_text=lambda t: t + "train:\n  max_epochs: 3\n",
         named=(r"cfg\.yaml", r"'train' appears twice"), status=2),
    Case("duplicate-key", ["halos"], config_text=lambda t: t.replace("  max_epochs: 1\n", "  max_epochs: 1\n  max_epochs: 2\n"),
         named=(r"cfg\.yaml", r"'max_epochs' appears twice"), status=2),
    Case("not-utf8", ["halos"], config_text=b"run:\n  name: \xff\xfe\n", named=(r"cfg\.yaml", "UTF-8"), status=2),
    Case("binary-config", ["halos"], config_text=b"\x00\x01\x02\x89PNG\r\n\x1a\n\x00", named=(r"cfg\.yaml",), status=2),
    Case("empty-projections", ["mocks"], updates={"mocks": {"projections": []}}, named=(r"cfg\.yaml", r"mocks\.projections"), status=2),
    Case("projection-w", ["mocks"], updates={"mocks": {"projections": ["x", "w"]}}, named=(r"mocks\.projections", "'w'"), status=2),
    Case("projection-repeated", ["mocks"], updates={"mocks": {"projections": ["x", "x"]}}, named=(r"mocks\.projections", "repeats"), status=2),
    Case("mocks-band-reversed", ["mocks"], updates={"mocks": {"emin_kev": 8.0, "emax_kev": 2.0}},
         named=(r"mocks\.emin_kev", r"mocks\.emax_kev"), status=2),
    Case("stamps-band-reversed", ["stamps"], updates={"stamps": {"emin_kev": 7.0, "emax_kev": 0.5}},
         named=(r"stamps\.emin_kev", r"stamps\.emax_kev"), status=2),
    Case("stamps-band-outside-events", ["stamps"], updates={"stamps": {"emin_kev": 12.0, "emax_kev": 20.0}},
         named=(r"stamps\.emin_kev", r"mocks\.emax_kev"), status=2),
    Case("mass-range-empty", ["halos"], updates={"halos": {"log_m500c_min": 15.0, "log_m500c_max": 14.0}},
         named=(r"halos\.log_m500c_min", r"halos\.log_m500c_max"), status=2),
    Case("npix-too-small-for-pooling", ["train", "--fold", "0"], updates={"stamps": {"npix": 8}, "model": {"pool_size": 4}},
         named=(r"stamps\.npix", r"model\.pool_size"), status=2),
    Case("stamps-field-larger-than-events", ["stamps"], updates={"stamps": {"fov_arcmin": 30.0}},
         named=(r"stamps\.fov_arcmin", r"mocks\.fov_arcmin"), status=2),
    Case("mass-subset-reversed", ["evaluate"], updates={"evaluate": {"mass_subset": [14.5, 14.0]}},
         named=(r"evaluate\.mass_subset",), status=2),
    Case("declination-out-of-range", ["mocks"], updates={"mocks": {"sky_center_deg": [30.0, 95.0]}},
         named=(r"mocks\.sky_center_deg",), status=2),
    Case("exposure-too-short-for-soxs", ["mocks"], updates={"mocks": {"exposure_ks": 0.001}},
         named=(r"mocks\.exposure_ks",), status=2),
    Case("bad-override", ["halos", "--set", "train.max_epochs=[1"], named=(r"train\.max_epochs",), status=2),
    # settings that differ from those the upstream outputs were made with: exit 2, the keys named
    Case("mocks-vs-catalogue-synthetic", ["mocks"], updates={"synthetic": {"merger_fraction": 0.5}},
         named=(r"cfg\.yaml", r"synthetic\.merger_fraction", "halos"), status=2),
    Case("mocks-vs-catalogue-seed", ["mocks"], updates={"run": {"seed": 7}}, named=(r"run\.seed",), status=2),
    Case("halos-rerun-other-settings", ["halos"], updates={"synthetic": {"n_halos": 4}},
         named=(r"synthetic\.n_halos",), status=2),
    Case("mocks-resumed-other-exposure", ["mocks"], updates={"mocks": {"exposure_ks": 7.0}},
         named=(r"mocks\.exposure_ks", "events"), status=2),
    Case("stamps-vs-mocks", ["stamps"], updates={"mocks": {"nh_1e22": 0.1}}, damage=without_stamps,
         named=(r"mocks\.nh_1e22", "events"), status=2),
    Case("train-vs-stamps", ["train", "--fold", "0"], updates={"stamps": {"npix": 32}},
         named=(r"stamps\.npix", "stamps"), status=2),
    Case("evaluate-vs-stamps", ["evaluate"], updates={"stamps": {"n_folds": 4}}, named=(r"stamps\.n_folds",), status=2),
    Case("auto-physics-with-missing-arf", ["mocks", "--halos", "1"], updates={"physics": {"data": "auto", "arf": "nope.arf"}},
         damage=lambda run: remove(run, "store.zarr/events"), named=(r"physics\.arf", "nope.arf")),
    # damaged stores: the array or group named, nothing marked complete
    Case("events-chunk-deleted", ["stamps"], damage=lambda run: (without_stamps(run), remove(run, f"{EVENTS}/x/c.0")),
         named=(rf"events/{HALO}/x",)),
    Case("events-chunk-truncated", ["stamps"],
         damage=lambda run: (without_stamps(run), truncate(run / f"{EVENTS}/energy/c.0")), named=(rf"events/{HALO}/energy",)),
    Case("events-marker-missing", ["stamps"], damage=lambda run: (without_stamps(run), drop_attribute(run, EVENTS_GROUP, "complete")),
         named=(rf"events/{HALO}", "incomplete")),
    Case("events-record-missing", ["stamps"], damage=lambda run: (without_stamps(run), drop_attribute(run, EVENTS_GROUP + "/y", "record")),
         named=(rf"events/{HALO}/y", "no record")),
    Case("events-array-missing", ["stamps"], damage=lambda run: (without_stamps(run), remove(run, f"{EVENTS}/y")),
         named=(rf"events/{HALO}", "y")),
    Case("halos-chunk-deleted", ["mocks"], damage=lambda run: remove(run, "store.zarr/halos/n_gas/c/0"),
         named=(r"halos/n_gas",)),
    Case("halos-marker-missing", ["stamps"], damage=lambda run: (without_stamps(run), drop_attribute(run, "halos", "complete")),
         named=(r"halos",)),
    Case("stamps-images-chunk-deleted", ["train", "--fold", "0"],
         damage=lambda run: (without_fold(run, 0), remove(run, "store.zarr/stamps/images/c/1/0/0")),
         named=(r"stamps/images", "chunk 1")),
    Case("stamps-images-chunk-truncated", ["train", "--fold", "0"],
         damage=lambda run: (without_fold(run, 0), truncate(run / "store.zarr/stamps/images/c/2/0/0")),
         named=(r"stamps/images",)),
    Case("stamps-labels-chunk-deleted", ["train", "--fold", "0"],
         damage=lambda run: (without_fold(run, 0), remove(run, "store.zarr/stamps/log_m500c/c/0")),
         named=(r"stamps/log_m500c",)),
    Case("stamps-marker-missing", ["train", "--fold", "0"],
         damage=lambda run: (without_fold(run, 0), drop_attribute(run, "stamps", "complete")), named=(r"stamps", "not complete")),
    Case("predictions-chunk-deleted", ["evaluate"],
         damage=lambda run: (remove(run, "results"), remove(run, "store.zarr/predictions/fold_01/log_m500c_pred/c/0")),
         named=(r"predictions/fold_01/log_m500c_pred",)),
    Case("predictions-chunk-truncated", ["evaluate"],
         damage=lambda run: (remove(run, "results"), truncate(run / "store.zarr/predictions/fold_02/log_m500c_true/c/0")),
         named=(r"predictions/fold_02/log_m500c_true",)),
    Case("predictions-marker-missing", ["evaluate"],
         damage=lambda run: (remove(run, "results"), drop_attribute(run, "predictions/fold_00", "complete")),
         named=(r"fold_00",)),
    Case("predictions-record-missing", ["evaluate"],
         damage=lambda run: (remove(run, "results"), drop_attribute(run, "predictions/fold_00/log_m500c_true", "record")),
         named=(r"predictions/fold_00/log_m500c_true", "no record")),
    Case("model-truncated", ["train", "--fold", "0"], damage=lambda run: truncate(run / "train/fold_00/model.keras"),
         named=(r"fold_00/model\.keras",)),
    Case("model-foreign", ["train", "--fold", "0"],
         damage=lambda run: shutil.copy(run / "train/fold_01/model.keras", run / "train/fold_00/model.keras"),
         named=(r"fold_00/model\.keras",)),
    Case("model-corrupt-interpret", ["interpret"],
         damage=lambda run: (remove(run, "results"), *[(run / f"train/fold_{k:02d}/model.keras").write_bytes(b"PK\x03\x04 no model")
                                                       for k in range(3)]),
         named=(r"model\.keras",)),
    Case("checkpoint-index-corrupt", ["train", "--fold", "0"],
         damage=lambda run: (without_fold(run, 0), (run / "train/fold_00/checkpoints/checkpoint").write_text("model_checkpoint_path: {{{")),
         named=(r"fold_00/checkpoints", "corrupt checkpoint", "moved aside")),
    Case("checkpoint-index-empty", ["train", "--fold", "0"],
         damage=lambda run: (without_fold(run, 0), (run / "train/fold_00/checkpoints/checkpoint").write_text("")),
         named=(r"fold_00/checkpoints", "corrupt checkpoint")),
    Case("checkpoint-history-corrupt", ["train", "--fold", "0"],
         damage=lambda run: (without_fold(run, 0), (run / "train/fold_00/checkpoints/history-00001.json").write_text("[{")),
         named=(r"history-00001\.json", "moved aside")),
    Case("checkpoint-data-truncated", ["train", "--fold", "0"],
         damage=lambda run: (without_fold(run, 0), truncate(run / "train/fold_00/checkpoints/epoch-1.data-00000-of-00001")),
         named=(r"fold_00/checkpoints", "corrupt checkpoint")),
    Case("baseline-events-chunk-deleted", ["baseline"], damage=lambda run: remove(run, f"{EVENTS}/y/c.0"),
         named=(rf"events/{HALO}/y",)),
    Case("interpret-stamps-chunk-deleted", ["interpret"], damage=lambda run: remove(run, "store.zarr/stamps/images/c/0/0/0"),
         named=(r"stamps/images", "chunk 0")),
    Case("store-schema-version", ["stamps"], damage=lambda run: edit_json(
        run / "store.zarr/zarr.json", lambda doc: doc["attributes"].update(schema_version=1)), named=(r"schema version 1",)),
    Case("store-root-corrupt", ["train", "--fold", "0"], damage=lambda run: (run / "store.zarr/zarr.json").write_text("{"),
         named=(r"store\.zarr", "not readable")),
    Case("fold-out-of-range", ["train", "--fold", "7"], named=(r"--fold 7", "n_folds=3")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_nothing_is_marked_complete(case, run_copy, capsys, monkeypatch):
    run, config = run_copy(case.updates)
    if case.config_text is not None:
        text = case.config_text if isinstance(case.config_text, bytes) else case.config_text(config.read_text()).encode()
        config.write_bytes(text)
    case.damage(run)
    before = complete_markers(run)
    results = {p: p.stat().st_mtime_ns for p in (run / "results").glob("*")} if (run / "results").is_dir() else {}
    line = one_line_failure(capsys, [case.stage[0], "--config", str(config), *case.stage[1:]], case.status)
    for pattern in case.named:
        assert re.search(pattern, line), (pattern, line)
    assert complete_markers(run) <= before, "a stage marked something complete from bad input"
    assert {p: p.stat().st_mtime_ns for p in results if p.exists()} == results, "results were rewritten"
    if case.name.startswith("checkpoint-"):
        assert list((run / "train").glob("fold_00/checkpoints.corrupt-*")), "the corrupt checkpoint was not moved aside"


def test_enough_cases():
    assert len(CASES) >= 40


# --- the same, as a user's shell sees it ---------------------------------------------------

def test_a_library_error_is_one_line_and_debug_shows_the_traceback(run_copy):
    run, config = run_copy()
    truncate(run / "store.zarr/halos/halo_id/zarr.json")
    out = xraymass("stamps", "--config", str(config))
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "halos/halo_id: metadata not readable" in out.stderr and "Traceback" not in out.stderr
    out = xraymass("stamps", "--config", str(config), env=dict(os.environ, XRAYMASS_DEBUG="1"))
    assert out.returncode != 0 and "Traceback" in out.stderr
    out = xraymass("stamps", "--config", str(config), "--debug")
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_a_non_utf8_config_in_a_shell(tmp_path):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("run:\n  name: d\xe9mo\n".encode("latin-1"))
    out = xraymass("halos", "--config", str(config))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and str(config) in out.stderr, out.stderr


# --- xraymass check --------------------------------------------------------------------------

def test_check_passes_on_the_good_run(good_run, capsys):
    capsys.readouterr()
    assert cli.main(["check", str(good_run)]) == 0
    out = capsys.readouterr().out
    for stage in ("halos", "mocks", "stamps", "train", "evaluate"):
        assert re.search(rf"^{stage}\s+ok", out, re.M), out
    assert "is whole" in out


@pytest.mark.parametrize("chunk, array", [
    (f"{EVENTS}/energy/c.0", f"events/{HALO}/energy"),
    ("store.zarr/stamps/images/c/2/0/0", "stamps/images: chunk 2"),
    ("store.zarr/predictions/fold_01/log_m500c_pred/c/0", "predictions/fold_01/log_m500c_pred"),
    ("store.zarr/halos/r500c/c/0", "halos/r500c"),
])
def test_check_names_the_array_of_a_deleted_chunk(run_copy, capsys, chunk, array):
    run, _ = run_copy()
    (run / chunk).unlink()
    capsys.readouterr()
    assert cli.main(["check", str(run)]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(problems) == 1 and array in problems[0], out
    assert "1 problem(s)" in out.splitlines()[-1]


def test_check_names_a_missing_marker_and_a_missing_model(run_copy, capsys):
    run, _ = run_copy()
    drop_attribute(run, "stamps", "complete")
    (run / "train/fold_02/model.keras").unlink()
    capsys.readouterr()
    assert cli.main(["check", str(run)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"stamps: not complete", out) and re.search(r"fold_02/model\.keras: missing", out), out


# --- clean restarts ----------------------------------------------------------------------------

def test_a_rerun_of_mocks_removes_the_scratch_of_a_killed_run(run_copy, tmp_path, capsys):
    from xraymass.mocks.stage import scratch_prefix

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    run, config = run_copy({"mocks": {"scratch_dir": str(scratch)}})
    left = scratch / f"{scratch_prefix(str(scratch), run / 'store.zarr')}{HALO}-abc123"
    left.mkdir()
    (left / "photons.h5").write_bytes(b"half")
    other = scratch / f"xraymass-0123456789ab-{HALO}-zz"
    other.mkdir()  # another run's: never touched
    remove(run, EVENTS)
    capsys.readouterr()
    assert cli.main(["mocks", "--config", str(config)]) == 0
    assert "removed 1 scratch directories" in capsys.readouterr().err
    assert sorted(p.name for p in scratch.iterdir()) == [other.name]
