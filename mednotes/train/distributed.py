"""Running the same fit() on several processes with PyTorch's own DistributedDataParallel.

``torchrun --nproc_per_node=N script.py`` starts N copies of the script and gives each the
environment variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``. :func:`setup` reads them, joins the process group (gloo on CPU, nccl on CUDA)
and says which process this is; nothing else in mednotes needs to know.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among world_size processes, and whether fit()
    created the process group (and so must destroy it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    created: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 prints, plots and saves; the others only compute."""
        return self.rank == 0


def launched() -> bool:
    """True when started by torchrun (or an initialised process group) with 2+ processes."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    return _env_int("WORLD_SIZE", 1) > 1


def local_rank() -> int:
    """The index of this process on its machine (``LOCAL_RANK``), 0 when not distributed."""
    return _env_int("LOCAL_RANK", 0)


def _env_int(name: str, default: int) -> int:
    """The environment variable ``name`` (set by torchrun) as an int >= 0, or ``default``."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise ValueError(f"the environment variable {name} must be an int >= 0, got {text!r}")
    return int(text)


def setup(device: torch.device) -> Context:
    """Join the process group if torchrun asked for one; a single-process Context otherwise.

    Uses the group that already exists when the caller initialised one; otherwise creates it
    with ``init_method="env://"`` and the backend that fits ``device``: nccl for CUDA, gloo
    for everything else.
    """
    if not launched():
        return Context()
    created = False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                init_method="env://")
        created = True
    return Context(dist.get_rank(), dist.get_world_size(), local_rank(), created)


def teardown(context: Context) -> None:
    """Destroy the process group if :func:`setup` created it."""
    if context.created and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor, context: Context) -> torch.Tensor:
    """Sum a tensor over all processes (a no-op on one process)."""
    if context.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values
