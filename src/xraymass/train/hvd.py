"""Horovod behind the one distributed context (xraymass.context.DistContext), with a single-process fallback.

`start_workers()` returns the context: rank, size, local rank, `is_root`, and the few collective
operations training needs (gradient averaging through a tape, broadcast of the initial state, mean
of a metric, gathering predictions), which the context runs through Horovod. Horovod is used only when a launcher (srun, mpirun,
horovodrun) started more than one process; one process never imports it, so the same code runs
without Horovod installed. Each rank is pinned to the GPU of its local rank.

Only `horovod.tensorflow` (tape, broadcast, allreduce, allgather) is used, not the Keras
callbacks of `horovod.tensorflow.keras`, which import Keras 3's backend.
"""
from __future__ import annotations

from ..context import DistContext, launched_size
from ..errors import InputError


# The training ranks are the one distributed context of xraymass, with Horovod in it.
Workers = DistContext


def start_workers() -> DistContext:
    """Initialise Horovod when several ranks were launched; pin each rank's GPU by local rank."""
    import tensorflow as tf

    if launched_size() > 1:
        try:
            import horovod.tensorflow as hvd
        except ImportError as err:
            raise InputError(f"{launched_size()} ranks were launched but Horovod is not importable ({err}); "
                             "install horovod or run one task") from None
        hvd.init()
        workers = DistContext(hvd.rank(), hvd.size(), hvd.local_rank(), hvd.local_size(), hvd=hvd)
    else:
        workers = DistContext()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        gpu = gpus[workers.local_rank % len(gpus)]
        tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpu, "GPU")
    return workers
