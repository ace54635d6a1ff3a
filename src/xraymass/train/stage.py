"""`xraymass train --fold K`: train cross-validation fold K of the paper's CNN (see docs/train.md).

One process, or one Horovod rank per GPU under srun/mpirun/horovodrun. A fold whose predictions
are complete is skipped; a fold with checkpoints resumes from the latest. SIGUSR1 (SLURM's
warning before the time limit) stops after the current epoch's checkpoint with exit status 75
(REQUEUED); the batch script (jobs/train_fold.sh), on the host, requeues the job. The step itself
never calls scontrol: inside a container it has neither the host's slurm.conf nor munge.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys

from ..config import Config
from ..errors import InputError

REQUEUED = 75  # exit status of a run stopped to be requeued (EX_TEMPFAIL); jobs/train_fold.sh requeues on it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fold", type=int, metavar="K",
                        help="test fold K (0 .. stamps.n_folds-1); default: from $SLURM_ARRAY_TASK_ID")
    parser.add_argument("--member", type=int, metavar="M", default=None,
                        help="ensemble member M (0 .. train.members-1) of fold K; default 0 with --fold")
    parser.add_argument("--task", type=int, metavar="T", default=None,
                        help="array task T: fold T // train.members, member T %% train.members "
                             "(default: $SLURM_ARRAY_TASK_ID)")


def run(cfg: Config, args: argparse.Namespace) -> int:
    from . import data, fit, outputs
    from .members import member_name

    stop = fit.StopRequest().install()  # first: a SIGUSR1 during the checks below must not kill the step
    stamps = data.open_stamps(cfg.store_path)
    data.check_made_with(cfg.store_path, cfg, "train")
    fold, member = fold_to_train(args.fold, cfg.train["members"], getattr(args, "member", None),
                                 getattr(args, "task", None), stamps.n_folds)
    split = data.select_fold(stamps, fold)
    fold_dir = cfg.run_dir / "train" / member_name(split.fold, member)
    what = f"fold {split.fold}" + (f" member {member}" if member else "")
    if outputs.fold_is_complete(cfg.store_path, fold_dir, split.fold, member):
        print(f"[train] {what}: complete, skipped", file=sys.stderr)
        return 0
    data.check_values(stamps, split)
    workers = start(cfg, fold_dir)
    result = fit.train_fold(stamps, split, workers, fold_dir, cfg.model, cfg.train, cfg.run["seed"], stop, member)
    if result.interrupted:
        return requeue(workers, split.fold, len(result.history))
    report_weights(result.model, workers)
    rows, pred = result.predict(split.test)
    validation = result.predict(split.validation)
    if workers.is_root:
        write_outputs(cfg, stamps, split, fold_dir, result, rows, pred, workers.size, validation, member)
    return 0


def fold_to_train(fold: int | None, members: int = 1, member: int | None = None,
                  task: int | None = None, n_folds: int | None = None) -> tuple[int, int]:
    """(fold, member) to train: --fold K [--member M], else array task T (--task or $SLURM_ARRAY_TASK_ID) as
    fold T // members, member T % members (members.py)."""
    from .members import task_to_fold_member

    if member is not None and not 0 <= member < members:
        raise InputError(f"--member {member} is out of range: train.members = {members} (members 0-{members - 1})")
    if fold is not None:
        return fold, member or 0
    if member is not None:
        raise InputError(f"--member {member} needs --fold K (or give the array task alone: --task T)")
    if task is None:
        env = os.environ.get("SLURM_ARRAY_TASK_ID", "")
        if not env.isdigit():
            raise InputError("which fold? give --fold K, or run as a SLURM array task (sbatch --array=0-9 jobs/train_fold.sh)")
        task = int(env)
    return task_to_fold_member(task, members, n_folds)


def start(cfg: Config, fold_dir):
    from ..provenance import write_effective_config
    from . import outputs
    from .hvd import start_workers

    workers = start_workers()
    if workers.is_root:
        fold_dir.mkdir(parents=True, exist_ok=True)
        write_effective_config(fold_dir, cfg, "train", ranks=workers.size,
                               physics_data=outputs.stamps_physics_data(cfg.store_path))
        print(f"[train] {workers.size} rank(s); outputs in {fold_dir}", file=sys.stderr, flush=True)
    return workers


def report_weights(model, workers) -> None:
    """Each rank prints a digest of its final weights: the same on every rank after averaged updates."""
    digest = hashlib.sha256(b"".join(w.numpy().tobytes() for w in model.weights)).hexdigest()[:16]
    print(f"[train] rank {workers.rank}/{workers.size} final weights sha256 {digest}", file=sys.stderr, flush=True)
    if len(set(workers.gather_strings(digest))) != 1:
        raise RuntimeError("the ranks ended with different weights: gradients were not averaged")


def write_outputs(cfg, stamps, split, fold_dir, result, rows, pred, ranks: int, validation=None, member: int = 0) -> None:
    from . import outputs

    from ..store import file_sha256

    outputs.save_model(result.model, fold_dir / "model.keras")
    table = outputs.prediction_table(stamps, rows, pred)
    outputs.write_predictions_csv(fold_dir / "predictions.csv", table)
    validation_table = None if validation is None else outputs.prediction_table(stamps, *validation)
    outputs.write_predictions_group(cfg.store_path, split, table, result.kept_epoch, result.converged, ranks,
                                    rule=result.rule, model_sha256=file_sha256(fold_dir / "model.keras"),
                                    validation=validation_table, member=member, seed=result.seed)
    print(f"[train] fold {split.fold}: kept epoch {result.kept_epoch} (rule {result.rule}: {result.reason}); "
          f"{len(rows)} test predictions written", file=sys.stderr, flush=True)


def requeue(workers, fold: int, epoch: int) -> int:
    """After a SIGUSR1 stop: exit REQUEUED, for the batch script on the host to requeue the job (or, outside
    SLURM, tell the user to run the same command)."""
    job = os.environ.get("SLURM_JOB_ID")
    if workers.is_root:
        print(f"[train] fold {fold}: stopped after the checkpoint of epoch {epoch}; "
              + (f"requeueing job {job} (exit {REQUEUED}: the batch script requeues it)" if job
                 else "run the same command to resume"), file=sys.stderr, flush=True)
    return REQUEUED
