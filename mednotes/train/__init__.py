"""Training: the fit loop, its history, safe checkpoints, and torchrun/DDP scaling.

- :func:`fit` trains a model in place and returns a :class:`History`; progress bars, mixed
  precision on GPUs, per-epoch checkpoints with resume (and a ``-best`` one, chosen by the
  validation column ``best``), and DistributedDataParallel under ``torchrun`` all come with
  it. A metric returns the batch's mean, or one value per sample with NaN where it is
  undefined (the Dice of an image without lesion): fit averages those over the whole
  validation set.
- :class:`History` holds one record per epoch, plots itself and round-trips through plain
  dicts.
- :func:`save_checkpoint` / :func:`load_checkpoint` write atomically, never replace a file
  without ``overwrite=True``, load with ``torch.load(..., weights_only=True)`` and change
  nothing when a checkpoint does not fit the model.
- ``python -m mednotes.train --help`` trains a U-Net from the command line; it refuses to
  write over an earlier run unless given ``--resume`` or ``--force``.

Explained in: Training a segmentation network.

Example:
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> from mednotes.train import fit
    >>> x = torch.randn(16, 3); y = x.sum(1, keepdim=True)
    >>> history = fit(torch.nn.Linear(3, 1), torch.nn.MSELoss(), TensorDataset(x, y),
    ...               epochs=2, lr=0.05, batch_size=4, device="cpu", progress=False)
    >>> history["epoch"]
    [1, 2]
"""

from mednotes.train.checkpoint import load_checkpoint, save_checkpoint
from mednotes.train.history import History
from mednotes.train.loop import OPTIMIZERS, fit

__all__ = ["OPTIMIZERS", "History", "fit", "load_checkpoint", "save_checkpoint"]
