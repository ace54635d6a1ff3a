"""Train one fold: `train_fold(..., cfg.model, cfg.train, ...)` (a FoldTraining), checkpointing every epoch and resuming exactly.

Each epoch: one pass over this rank's share of the training clusters (gradients averaged over the
ranks), predictions on the validation fold, the criteria of the stopping rule, one history row, one
checkpoint. `train.rule` (stopping.py) says when training stops and which epoch's model is kept:
"paper", the first epoch that meets the paper's criteria (else the last); "patience", the eligible
epoch of lowest validation loss within `patience` epochs of the first eligible one (else a
fallback). The kept epoch's checkpoint is pinned (never pruned) and its weights are restored
before the test predictions, so the saved model and the predictions are the kept epoch's.

Determinism: the weights are initialised from a seed of (run.seed, train.seed, fold), and for ensemble
member m >= 1 of (that seed, m) (members.py); epoch e's
cluster order, shuffle buffer and dropout masks come from (that seed, e) alone; with
`train.deterministic` TensorFlow's op determinism is on. A checkpoint holds the weights, the Adam
state (moments and step count), the epoch and the history, so training resumed after epoch e
repeats, bit for bit, the run that was never stopped (same machine type, same number of ranks).
"""
from __future__ import annotations

import csv
import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from ..progress import Progress
from ..store import write_text_atomic
from . import data, stopping
from ..context import DistContext

HISTORY_FIELDS = ("epoch", "loss", "val_loss", "max_abs_delta", "median_delta", "slope", "span_ratio",
                  "max_abs_delta_ok", "median_ok", "slope_ok", "span_ok", "met", "eligible", "kept")


@dataclass
class FitResult:
    model: object
    history: list[dict]
    kept_epoch: int | None = None
    converged: bool = False
    reason: str = ""
    rule: str = "paper"
    interrupted: bool = False
    resumed_from: int = 0
    seed: int | None = None  # the fold's (member's) seed of weights, order and dropout
    predict: object = field(default=None, repr=False)


class StopRequest:
    """Set by SIGUSR1 (SLURM's warning before the time limit): stop after the current epoch's checkpoint."""

    def __init__(self):
        self.requested = False

    def install(self) -> "StopRequest":
        signal.signal(signal.SIGUSR1, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        print("[train] SIGUSR1: stopping after this epoch's checkpoint", file=sys.stderr, flush=True)


def fold_seed(run_seed: int, train_seed: int, fold: int) -> int:
    return int(np.random.SeedSequence([run_seed, train_seed, fold]).generate_state(1)[0] >> 1)


def per_rank_batch_and_lr(batch_size: int, learning_rate: float, workers: DistContext,
                          scale_lr_with_ranks: bool) -> tuple[int, float]:
    """(batch per rank, learning rate). Default: global batch = batch_size split over the ranks, the
    learning rate as configured (the single-GPU run); scaled: batch_size per rank, lr x ranks."""
    if scale_lr_with_ranks:
        return batch_size, learning_rate * workers.size
    if batch_size % workers.size:
        raise ConfigError(f"train.batch_size={batch_size} does not split evenly over {workers.size} ranks; "
                          "choose a multiple of the ranks or set train.scale_lr_with_ranks=true")
    return batch_size // workers.size, learning_rate


def train_fold(stamps: data.Stamps, split: data.FoldSplit, workers: DistContext, fold_dir: Path, model_cfg,
               train_cfg, run_seed: int, stop: StopRequest, member: int = 0) -> FitResult:
    """Train fold `split.fold` (ensemble member `member`) to the end its stopping rule decides (or to a requested
    stop).

    Parameters
    ----------
    stamps, split : data.Stamps, data.FoldSplit
        The stamps and this fold's train / validation / test clusters.
    workers : DistContext
        The ranks (Horovod when several).
    fold_dir : Path
        ``<run_dir>/train/fold_KK``: checkpoints, history.csv, tb/.
    model_cfg, train_cfg : Mapping
        The `model` and `train` sections (xraymass.train.config_schema).
    run_seed : int
        `run.seed`.
    stop : StopRequest
        Set by SIGUSR1: stop after the current epoch's checkpoint.
    member : int
        Ensemble member (xraymass.train.members): 0 is the paper's network; m >= 1 trains from its own seed.
    """
    return FoldTraining(stamps, split, workers, fold_dir, model_cfg, train_cfg, run_seed, stop, member).run()


class FoldTraining:
    """One fold's training in three steps: `setup()` (model, optimizer, last checkpoint), `epoch()` (one
    pass, validation criteria, history row, checkpoint) and `finish(decision)` (the kept epoch's weights);
    `run()` calls them, deciding once per epoch whether training stops (stopping.decide)."""

    def __init__(self, stamps: data.Stamps, split: data.FoldSplit, workers: DistContext, fold_dir: Path, model_cfg,
                 train_cfg, run_seed: int, stop: StopRequest, member: int = 0):
        self.stamps, self.split, self.workers, self.fold_dir = stamps, split, workers, Path(fold_dir)
        self.model_cfg, self.cfg, self.stop = model_cfg, dict(train_cfg), stop
        from .members import member_seed

        self.base = member_seed(fold_seed(run_seed, self.cfg["seed"], split.fold), member)
        self.history: list[dict] = []

    def run(self) -> FitResult:
        """setup, epochs until the stopping rule decides (or a stop is requested), finish."""
        self.setup()
        decision = self.decide()
        while decision is None:
            self.epoch()
            stop_now = self.workers.any(self.stop.requested)  # a collective: every rank, every epoch
            decision = self.decide()
            if decision is None and stop_now:
                self.result.interrupted = True
                return self.result
        return self.finish(decision)

    def decide(self):
        """The stopping rule on the history so far: a decision, or None to go on."""
        c = self.cfg
        return stopping.decide(self.history, c["rule"], c["max_epochs"], c["patience"])

    def setup(self) -> None:
        """Seeds and determinism, batch and learning rate per rank, the model, the last checkpoint."""
        import tensorflow as tf

        c, stamps, split, workers = self.cfg, self.stamps, self.split, self.workers
        set_determinism(self.base, c["deterministic"])
        self.local_batch, lr = per_rank_batch_and_lr(c["batch_size"], c["learning_rate"], workers,
                                                     c["scale_lr_with_ranks"])
        if data.steps_per_epoch(len(split.train), stamps.block, self.local_batch, workers) == 0:
            raise InputError(f"fold {split.fold}: {len(split.train)} training clusters cannot fill one batch of "
                             f"{self.local_batch} on each of {workers.size} ranks; use fewer ranks or a smaller "
                             "train.batch_size")
        self.model, optimizer = model_and_optimizer(stamps, split, self.model_cfg, self.base, lr)
        self.state = Checkpoints(self.fold_dir / "checkpoints", self.model, optimizer, c["checkpoints_kept"],
                                 workers.is_root)
        self.history = self.state.restore()
        workers.broadcast_variables(self.model.variables + optimizer.variables)
        self.train_step, self.predict_step = make_steps(self.model, optimizer, workers)
        self.result = FitResult(self.model, self.history, resumed_from=len(self.history), predict=self.predict,
                                rule=c["rule"], seed=self.base)
        self.tb = tf.summary.create_file_writer(str(self.fold_dir / "tb")) if workers.is_root else None
        self.progress = Progress("train", c["max_epochs"], enabled=workers.is_root, unit="epoch")
        self.progress.update(len(self.history))
        if self.history and workers.is_root:
            print(f"[train] fold {split.fold}: resumed from the checkpoint of epoch {len(self.history)}",
                  file=sys.stderr, flush=True)

    def predict(self, blocks):
        """(rows, predictions) of the clusters `blocks`, gathered from every rank."""
        return predict_rows(self.predict_step, self.stamps, blocks, self.local_batch, self.workers)

    def epoch(self) -> None:
        """One epoch: train, validate, append the history row, checkpoint, log."""
        c, stamps, split, workers, history = self.cfg, self.stamps, self.split, self.workers, self.history
        epoch = len(history) + 1
        reset_dropout(self.model, data.epoch_seed(self.base, epoch))
        batches = data.training_batches(stamps, split.train, epoch, self.base, self.local_batch, c["shuffle_buffer"],
                                        workers)
        # each step's loss is read after the epoch: on a GPU, the next batch is gathered while a step runs
        losses = [self.train_step(x, y) for x, y in batches]
        loss = workers.mean(float(np.mean([step_loss.numpy() for step_loss in losses])))
        rows, pred = self.predict(split.validation)
        true = stamps.log_m500c[rows]
        crit = stopping.evaluate(true, pred, c["max_abs_delta"], c["max_abs_median"], c["min_slope"], c["slope_fit"],
                                 c["min_span"])
        history.append(history_row(epoch, loss, float(np.mean((pred - true) ** 2)), crit))
        self.state.save(epoch, history, stopping.pinned_epochs(history, c["rule"], c["max_epochs"], c["patience"]))
        if workers.is_root:
            write_history(self.fold_dir / "history.csv", history)
            log_epoch(self.tb, history[-1], split.fold, c["max_epochs"])
        self.progress.update()

    def finish(self, decision) -> FitResult:
        """Keep the decided epoch: restore its pinned checkpoint when it is an earlier one; mark it in the history."""
        result, history = self.result, self.history
        result.kept_epoch, result.converged, result.reason = decision.epoch, decision.converged, decision.reason
        if decision.epoch != len(history):  # the kept epoch is an earlier one: its pinned checkpoint
            self.state.restore_epoch(decision.epoch)
        for row in history:
            row["kept"] = row["epoch"] == result.kept_epoch
        if self.workers.is_root:
            write_history(self.fold_dir / "history.csv", history)
        return result


def model_and_optimizer(stamps: data.Stamps, split: data.FoldSplit, model_cfg: dict, seed: int, lr: float):
    """The paper's network for these stamps (output bias per `model.output_bias`) and its Adam optimizer."""
    import tensorflow as tf
    import tf_keras

    from .model import bfloat16_is_native, build_model

    if model_cfg.get("precision") == "mixed_bfloat16" and not bfloat16_is_native():
        print("[train] warning: model.precision=mixed_bfloat16 on a CPU without AVX-512 BF16 or AMX: TensorFlow "
              "emulates bfloat16, which trains slower than float32 (docs/train.md)", file=sys.stderr, flush=True)
    label_mean = float(np.mean(stamps.log_m500c[stamps.rows(split.train)]))
    settings = dict(model_cfg)  # a section is read-only
    bias = label_mean if settings.pop("output_bias") == "label_mean" else 0.0
    model = build_model(stamps.npix, output_bias=bias, seed=seed, channels=stamps.channels, **settings)
    model(tf.zeros((1, stamps.npix, stamps.npix, stamps.channels)), training=True)  # creates the dropout generators
    optimizer = tf_keras.optimizers.Adam(learning_rate=lr)
    if model_cfg.get("precision") == "mixed_float16":  # float16 gradients underflow without a loss scale
        optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def make_steps(model, optimizer, workers: DistContext):
    """(train_step(x, y) -> MSE loss, with gradients averaged over the ranks; predict_step(x) -> log M)."""
    import tensorflow as tf
    import tf_keras

    loss_fn = tf_keras.losses.MeanSquaredError()

    scaled = isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)

    @tf.function(reduce_retracing=True)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True)[:, 0])
            target = optimizer.get_scaled_loss(loss) if scaled else loss
        grads = workers.gradient_tape(tape).gradient(target, model.trainable_variables)
        if scaled:
            grads = optimizer.get_unscaled_gradients(grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(reduce_retracing=True)
    def predict_step(x):
        return model(x, training=False)[:, 0]

    return train_step, predict_step


def set_determinism(seed: int, deterministic: bool) -> None:
    import tensorflow as tf
    import tf_keras

    tf_keras.backend.experimental.enable_tf_random_generator()  # dropout from tf.random.Generator, resettable
    tf_keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def reset_dropout(model, seed: int) -> None:
    """Start every dropout layer's random stream of this epoch from `seed` (a function of the epoch)."""
    import tf_keras

    layers = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.Dropout)]
    for i, layer in enumerate(layers):
        generator = getattr(layer._random_generator, "_generator", None)
        if generator is None:
            raise RuntimeError("tf_keras Dropout has no tf.random.Generator: resumable dropout needs "
                               "tf_keras.backend.experimental.enable_tf_random_generator()")
        generator.reset_from_seed(seed + i)


def predict_rows(predict_step, stamps: data.Stamps, blocks: np.ndarray, batch: int,
                 workers: DistContext) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, predicted log M) for every image of `blocks`, shared out over the ranks, in row order."""
    rows, preds = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    for x, r in data.prediction_batches(stamps, blocks, batch, workers):
        preds.append(predict_step(x).numpy())
        rows.append(r)
    rows, preds = workers.allgather_rows(np.concatenate(rows)), workers.allgather_rows(np.concatenate(preds))
    order = np.argsort(rows, kind="stable")
    return rows[order], preds[order]


def history_row(epoch: int, loss: float, val_loss: float, crit: stopping.Criteria) -> dict:
    return {"epoch": epoch, "loss": loss, "val_loss": val_loss, "max_abs_delta": crit.max_abs_delta,
            "median_delta": crit.median_delta, "slope": crit.slope, "span_ratio": crit.span_ratio,
            "max_abs_delta_ok": crit.delta_ok, "median_ok": crit.median_ok, "slope_ok": crit.slope_ok,
            "span_ok": crit.span_ok, "met": crit.met, "eligible": crit.eligible, "kept": False}


def write_history(path: Path, history: list[dict]) -> None:
    from io import StringIO

    out = StringIO()
    writer = csv.DictWriter(out, HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (int(v) if isinstance(v, bool) else repr(v) if isinstance(v, float) else v)
                         for k, v in row.items()})
    write_text_atomic(path, out.getvalue())


def log_epoch(tb, row: dict, fold: int, max_epochs: int) -> None:
    import tensorflow as tf

    with tb.as_default():
        for key in ("loss", "val_loss", "max_abs_delta", "median_delta", "slope", "span_ratio"):
            tf.summary.scalar(key, row[key], step=row["epoch"])
        tf.summary.scalar("stopping_rule_met", float(row["met"]), step=row["epoch"])
    tb.flush()
    print(f"[train] fold {fold} epoch {row['epoch']}/{max_epochs}  loss {row['loss']:.4g}  val_loss "
          f"{row['val_loss']:.4g}  max|d| {row['max_abs_delta']:.3f}  median {row['median_delta']:+.4f}  "
          f"slope {row['slope']:.3f}  span {row['span_ratio']:.3f}  "
          f"{'ELIGIBLE' if row['eligible'] else 'MET (span short)' if row['met'] else 'not met'}", file=sys.stderr, flush=True)


class Checkpoints:
    """Per-epoch checkpoints: TensorFlow checkpoint (weights, Adam state, epoch) + the history as JSON.

    Only rank 0 writes; every rank restores the latest (and rank 0's state is broadcast after).
    A checkpoint directory that cannot be restored (corrupt or foreign index, checkpoint or history)
    is never silently ignored: it is moved aside (rank 0) and the run stops with one line; the next
    run starts the fold from epoch 1."""

    def __init__(self, directory: Path, model, optimizer, keep: int, writer: bool):
        import tensorflow as tf

        self.directory = Path(directory)
        self.writer = writer
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=self.epoch)
        self.pin = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=self.epoch)  # write/read, no counter
        try:
            self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory), max_to_keep=keep,
                                                      checkpoint_name="epoch")
        except Exception as err:  # a damaged 'checkpoint' index file is parsed here
            self._corrupt(f"its index is not readable ({type(err).__name__})")

    def restore(self) -> list[dict]:
        """The history up to the latest checkpoint, whose state is loaded; [] when there is none."""
        latest = self.manager.latest_checkpoint
        if latest is None:
            if any(self.directory.glob("epoch-*")) or any(self.directory.glob("history-*.json")):
                self._corrupt("checkpoint files are there but the index names none")
            return []
        try:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        except Exception as err:  # TensorFlow raises several kinds on a truncated or foreign checkpoint
            self._corrupt(f"{Path(latest).name} cannot be restored into this model ({type(err).__name__})")
        epoch = int(self.epoch.numpy())
        path = self.directory / f"history-{epoch:05d}.json"
        try:
            history = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            self._corrupt(f"{path.name} is missing or not JSON ({type(err).__name__})")
        if not (isinstance(history, list) and len(history) == epoch
                and all(isinstance(row, dict) and row.get("epoch") == i + 1 for i, row in enumerate(history))):
            self._corrupt(f"{path.name} does not hold the history of epochs 1-{epoch}")
        return history

    def _corrupt(self, what: str):
        """Move the directory aside (rank 0) and stop with one line: never a silent restart from epoch 0."""
        import time

        aside = self.directory.with_name(f"{self.directory.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        if self.writer and self.directory.exists():
            self.directory.rename(aside)
        raise InputError(f"{self.directory}: corrupt checkpoint ({what}); moved aside to {aside.name}; "
                         f"run the same command again to train this fold from epoch 1")

    def save(self, epoch: int, history: list[dict], pinned: set[int] = frozenset()) -> None:
        """Checkpoint `epoch` (the latest `keep` are kept); `pinned`: epochs whose checkpoints are also
        kept, under pinned/ (written before the latest checkpoint names this epoch), others removed."""
        if not self.writer:
            return
        pin_dir = self.directory / "pinned"
        if epoch in pinned:
            self.epoch.assign(epoch)
            self.pin.write(str(pin_dir / f"epoch-{epoch}"))
        write_text_atomic(self.directory / f"history-{epoch:05d}.json", json.dumps(history))
        self.epoch.assign(epoch)
        self.manager.save(checkpoint_number=epoch)
        kept = {Path(p).name for p in self.manager.checkpoints}
        for old in self.directory.glob("history-*.json"):
            if f"epoch-{int(old.stem.split('-')[1])}" not in kept:
                old.unlink()
        for old in pin_dir.glob("epoch-*"):
            if int(old.name.split(".")[0].split("-")[1]) not in pinned:
                old.unlink()

    def restore_epoch(self, epoch: int) -> None:
        """Load the state of `epoch` from its pinned checkpoint (every rank reads it)."""
        prefix = self.directory / "pinned" / f"epoch-{epoch}"
        if not Path(f"{prefix}.index").is_file():
            raise InputError(f"{self.directory}: the checkpoint of the kept epoch {epoch} is missing "
                             f"({prefix}.index); delete {self.directory} to train this fold again")
        self.pin.read(str(prefix)).assert_existing_objects_matched()
        if int(self.epoch.numpy()) != epoch:
            raise InputError(f"{prefix}: holds epoch {int(self.epoch.numpy())}, not the kept epoch {epoch}")
