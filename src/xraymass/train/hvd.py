"""Horovod behind one small object, with a single-process fallback.

`start_workers()` returns `Workers`: rank, size, local rank, `is_root`, and the few collective
operations training needs (gradient averaging through a tape, broadcast of the initial state, mean
of a metric, gathering predictions). Horovod is used only when a launcher (srun, mpirun,
horovodrun) started more than one process; one process never imports it, so the same code runs
without Horovod installed. Each rank is pinned to the GPU of its local rank.

Only `horovod.tensorflow` (tape, broadcast, allreduce, allgather) is used, not the Keras
callbacks of `horovod.tensorflow.keras`, which import Keras 3's backend.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..context import launched_size
from ..errors import InputError


@dataclass
class Workers:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    hvd: Any = None

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def gradient_tape(self, tape):
        """A tape whose gradients are averaged over the ranks."""
        return tape if self.hvd is None else self.hvd.DistributedGradientTape(tape)

    def broadcast_variables(self, variables) -> None:
        """Give every rank rank 0's values (initial weights, optimizer state, RNG state)."""
        if self.hvd is not None:
            self.hvd.broadcast_variables(variables, root_rank=0)

    def mean(self, value: float) -> float:
        """The mean of a scalar over the ranks."""
        if self.hvd is None:
            return float(value)
        import tensorflow as tf

        return float(self.hvd.allreduce(tf.constant(value, tf.float64), op=self.hvd.Average).numpy())

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on any rank."""
        if self.hvd is None:
            return bool(flag)
        import tensorflow as tf

        return bool(self.hvd.allreduce(tf.constant(int(flag), tf.int32), op=self.hvd.Max).numpy())

    def gather(self, array):
        """Concatenate every rank's rows (rank order) on every rank; arrays may differ in length."""
        if self.hvd is None:
            return array
        import numpy as np
        import tensorflow as tf

        return self.hvd.allgather(tf.convert_to_tensor(np.asarray(array))).numpy()

    def gather_strings(self, text: str) -> list[str]:
        if self.hvd is None:
            return [text]
        return list(self.hvd.allgather_object(text))


def start_workers() -> Workers:
    """Initialise Horovod when several ranks were launched; pin each rank's GPU by local rank."""
    import tensorflow as tf

    if launched_size() > 1:
        try:
            import horovod.tensorflow as hvd
        except ImportError as err:
            raise InputError(f"{launched_size()} ranks were launched but Horovod is not importable ({err}); "
                             "install horovod or run one task") from None
        hvd.init()
        workers = Workers(hvd.rank(), hvd.size(), hvd.local_rank(), hvd)
    else:
        workers = Workers()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        gpu = gpus[workers.local_rank % len(gpus)]
        tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpu, "GPU")
    return workers
