"""A small trained run for the `xraymass predict` tests: the hand-made event store of the stamps tests
(tests/stamps_events.py), stamped by `xraymass stamps` at 32x32 pixels into 3 folds, and every fold trained
for 2 epochs by `xraymass train`; all through the commands a user runs."""
from __future__ import annotations

from pathlib import Path

import yaml

from conftest import REPO, xraymass
from stamps_events import build_event_store

N_FOLDS = 3


def run_config(run_dir: Path, path: Path, **sections) -> Path:
    data = yaml.safe_load((REPO / "pipeline" / "demo.yaml").read_text())
    data["run"]["directory"] = str(run_dir)
    data["stamps"].update(npix=32, n_folds=N_FOLDS)
    data["train"].update(max_epochs=2, max_abs_delta=0.0)
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def build_trained_run(base: Path, **sections) -> dict:
    """Events (6 halos x 3 projections), stamps and N_FOLDS trained folds; returns paths and the events' info."""
    run_dir = base / "run"
    info = build_event_store(run_dir / "store.zarr", n_halos=6, events_per_projection=3000)
    config = run_config(run_dir, base / "config.yaml", **sections)
    out = xraymass("stamps", "--config", str(config), "--site-set", "dask.n_workers=1")
    assert out.returncode == 0, out.stderr
    for fold in range(N_FOLDS):
        out = xraymass("train", "--config", str(config), "--fold", str(fold))
        assert out.returncode == 0, out.stderr
    return {"run_dir": run_dir, "config": config, "info": info}
