"""The `xraymass` command: one subcommand per stage.

The subcommands are the stages of the registry (xraymass.stages): each lives in a module with
`run(cfg, args) -> int | None` and, optionally, `add_arguments(parser)`. Every stage takes `--config` and any number of `--set SECTION.KEY=VALUE`;
tools (`check`) take their own arguments and `run(args)`. Errors the user can act on
(XraymassError) are printed as one line with their status; any other error (a library's, on input
the project did not foresee) as one line with status 1. `--debug`, or XRAYMASS_DEBUG=1 in the
environment, shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__, stages
from .errors import NotBuiltError, XraymassError

DEFAULT_CONFIG = stages.DEFAULT_CONFIG

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
    for declared in stages.STAGES:
        name, help_ = declared.name, declared.help
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--config", default=DEFAULT_CONFIG, help=f"science config (default: {DEFAULT_CONFIG})")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override one config value (repeatable), e.g. --set train.max_epochs=20")
        p.add_argument("--debug", action="store_true", help=f"on an error, show the traceback (also: {DEBUG_VARIABLE}=1)")
        stage = stages.import_module(declared.module)
        if stage is not None and hasattr(stage, "add_arguments"):
            stage.add_arguments(p)
    for name, (module, help_) in TOOLS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--debug", action="store_true", help=f"on an error, show the traceback (also: {DEBUG_VARIABLE}=1)")
        importlib.import_module(module).add_arguments(p)
    return parser


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
    module = stages.stage(args.stage).module
    stage = stages.import_module(module)
    if stage is None:
        raise NotBuiltError(f"stage '{args.stage}' is not built in xraymass {__version__} ({module} is missing)")
    return stage.run(cfg, args)


if __name__ == "__main__":
    sys.exit(main())
