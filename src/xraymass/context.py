"""One distributed context: rank, size, local rank and local size, with a serial fallback.

The same code runs under `srun`, `mpirun`, `horovodrun` and plain `python`. MPI is used only
when a launcher started several ranks (its environment says so), so a plain `python` run never
initialises MPI. Side effects that must happen once are gated on `ctx.is_root`. Run MPI entry
points as `python -m mpi4py -m xraymass ...` so that an exception on one rank aborts the job.

The stages that work through MPI (mocks) get a context with `comm` (get_context); training gets
one with `hvd`, Horovod's TensorFlow binding (xraymass.train.hvd.start_workers), for the
collectives of training: averaged gradients, broadcast of the initial state, the mean of a metric
and the gathering of predictions. Each collective falls back to the one process's own value.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError

# Launcher variables that give the world size, in the order they are trusted.
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS", "HOROVOD_SIZE")


@dataclass
class DistContext:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    comm: Any = field(default=None, repr=False)
    hvd: Any = field(default=None, repr=False)  # horovod.tensorflow, when training on several ranks

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.comm is not None:
            self.comm.Barrier()

    def bcast(self, obj: Any) -> Any:
        return obj if self.comm is None else self.comm.bcast(obj, root=0)

    def gather(self, obj: Any) -> list | None:
        return [obj] if self.comm is None else self.comm.gather(obj, root=0)

    def allgather(self, obj: Any) -> list:
        return [obj] if self.comm is None else self.comm.allgather(obj)

    # --- training's collectives (Horovod) ---------------------------------------------------

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

    def allgather_rows(self, array):
        """Concatenate every rank's rows (rank order) on every rank; arrays may differ in length."""
        if self.hvd is None:
            return array
        import numpy as np
        import tensorflow as tf

        return self.hvd.allgather(tf.convert_to_tensor(np.asarray(array))).numpy()

    def gather_strings(self, text: str) -> list[str]:
        """Every rank's string, in rank order, on every rank."""
        if self.hvd is None:
            return [text]
        return list(self.hvd.allgather_object(text))

    def require_ranks(self, minimum: int) -> None:
        """Fail fast when a stage needs several ranks and the launcher gave fewer."""
        if self.size < minimum:
            raise InputError(f"this stage needs at least {minimum} MPI ranks, got {self.size}; "
                             "launch it with srun -n N or mpirun -np N")


def launched_size() -> int:
    """World size announced by the launcher's environment, 1 when there is none."""
    for var in _SIZE_VARS:
        value = os.environ.get(var)
        if value and value.isdigit():
            return int(value)
    return 1


def get_context(use_mpi: bool | None = None) -> DistContext:
    """The context of this process. use_mpi: None = when a launcher started several ranks."""
    if use_mpi is None:
        use_mpi = launched_size() > 1
    if not use_mpi:
        return DistContext()
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    node = world.Split_type(MPI.COMM_TYPE_SHARED)
    return DistContext(world.Get_rank(), world.Get_size(), node.Get_rank(), node.Get_size(), world)
