"""`xraymass check RUN`: verify a whole run directory, as the stages wrote it.

    xraymass check runs/demo

Each stage that writes into the run answers for its own outputs (`check_outputs(root, store_path,
run_dir)` in the module its declaration names, xraymass.stages): every group and its `complete` marker, every array against the record
its writer made (shape, dtype, CRC-32 as a whole or per chunk: a deleted or truncated chunk file is
found and the array named), the files beside the store (models, predictions tables, effective
configs). One line per stage (ok, or the number of problems) and one line per problem; the exit
status is 1 when there is any problem, 0 when the run is whole.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import yaml

from .errors import InputError, XraymassError
from .stages import STAGES
from .store import open_store

# stage: the module that declares its outputs and checks them (xraymass.stages: Stage.checks)
CHECKS = tuple((stage.name, stage.checks) for stage in STAGES if stage.checks)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="the run directory (e.g. runs/demo)")


def run(args: argparse.Namespace) -> int:
    run_dir = args.run_dir
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    problems = check_effective_configs(run_dir)
    store_path = run_dir / store_name(run_dir)
    root = open_store(store_path, "r")
    total = len(problems)
    if problems:
        print(f"{'configs':<9} {len(problems)} problem(s)")
        for problem in problems:
            print(f"  {problem}")
    for stage, module in CHECKS:
        try:
            summary, problems = importlib.import_module(module).check_outputs(root, store_path, run_dir)
        except XraymassError as err:
            summary, problems = "not checked", [str(err)]
        state = "ok" if not problems else f"{len(problems)} problem(s)"
        print(f"{stage:<9} {state:<14} {summary}")
        for problem in problems:
            print(f"  {problem}")
        total += len(problems)
    print(f"check: {run_dir} is whole" if not total else f"check: {total} problem(s) in {run_dir}")
    sys.stdout.flush()
    return 1 if total else 0


def store_name(run_dir: Path) -> str:
    """run.store of the run's effective configs (the first one found), else the default store.zarr."""
    for path in sorted(run_dir.glob("*.config.yaml")):
        try:
            return yaml.safe_load(path.read_text())["config"]["run"]["store"]
        except Exception:  # reported by check_effective_configs
            continue
    return "store.zarr"


def check_effective_configs(run_dir: Path) -> list[str]:
    """Every <stage>.config.yaml of the run (and of its folds) parses and holds config and provenance."""
    problems = []
    for path in sorted([*run_dir.glob("*.config.yaml"), *run_dir.glob("train/fold_*/train.config.yaml")]):
        try:
            doc = yaml.safe_load(path.read_text())
            if not isinstance(doc, dict) or not {"config", "provenance"} <= set(doc):
                problems.append(f"{path}: not an effective config (config and provenance)")
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            problems.append(f"{path}: not readable YAML ({type(err).__name__})")
    return problems
