"""Train a U-Net to segment lesions from the command line.

Usage:
    python -m mednotes.train --dataset brain-lesions --model unet --epochs 5 --size 64 \\
        --n-train 200 --n-val 40 --batch-size 16 --lr 3e-3 --out runs/demo

Writes ``checkpoint.pt`` (last epoch), ``checkpoint-best.pt`` (lowest validation loss) and
``history.png`` into ``--out``. Under ``torchrun --nproc_per_node=N -m mednotes.train ...``
the same command trains with DistributedDataParallel; only rank 0 prints and writes.

The loss is cross-entropy plus soft Dice on the lesion class; the metric is the lesion Dice
of the thresholded prediction (argmax), averaged over validation images.

Explained in: Training a segmentation network.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from torch.utils.data import Dataset, TensorDataset

from mednotes.train.lesion_objectives import dice_ce, lesion_dice
from mednotes.train.schedule import SCHEDULES

DATASETS = ("brain-lesions", "toy")
MODELS = ("unet",)
_VAL_SEED_OFFSET = 1_000_003  # validation images come from a seed far from the training one


def toy_squares(n: int, size: int = 64, seed: int = 0) -> Dataset:
    """Bright squares on a noisy background: an easy segmentation set for smoke tests.

    Yields ``(image float32 (1, size, size), mask int64 (size, size))`` with 1 inside a square.

    Example:
        >>> image, mask = toy_squares(2, size=16)[0]
        >>> image.shape, mask.dtype, 0 < int(mask.sum()) < 16 * 16
        (torch.Size([1, 16, 16]), torch.int64, True)
    """
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, size, size, dtype=torch.int64)
    for i in range(n):
        side = int(torch.randint(max(2, size // 8), max(3, size // 3) + 1, (1,), generator=g))
        top, left = torch.randint(0, size - side + 1, (2,), generator=g).tolist()
        masks[i, top:top + side, left:left + side] = 1
    images = masks.float() + 0.3 * torch.randn(n, size, size, generator=g)
    return TensorDataset(images.unsqueeze(1), masks)


def _datasets(args, parser) -> tuple[Dataset, Dataset]:
    if args.dataset == "toy":
        return (toy_squares(args.n_train, args.size, args.seed),
                toy_squares(args.n_val, args.size, args.seed + _VAL_SEED_OFFSET))
    try:
        from mednotes.data import brain_lesions
    except ImportError:
        parser.error("--dataset brain-lesions needs mednotes.data.brain_lesions, which this "
                     "installation does not have; try --dataset toy")
    return (brain_lesions(args.n_train, size=args.size, dim=2, seed=args.seed),
            brain_lesions(args.n_val, size=args.size, dim=2, seed=args.seed + _VAL_SEED_OFFSET))


def parser() -> argparse.ArgumentParser:
    """The command line's arguments (``python -m mednotes.train --help``)."""
    p = argparse.ArgumentParser(prog="python -m mednotes.train",
                                description="Train a U-Net to segment lesions.")
    p.add_argument("--dataset", choices=DATASETS, default="brain-lesions")
    p.add_argument("--model", choices=MODELS, default="unet")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--n-val", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=16, help="per process")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "sgd"))
    p.add_argument("--schedule", default="onecycle", choices=SCHEDULES,
                   help="learning-rate schedule; --lr is its peak")
    p.add_argument("--base-channels", type=int, default=16)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--amp", choices=("auto", "on", "off"), default="auto")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from mednotes import seed_everything
    from mednotes.nets import UNet
    from mednotes.train import fit

    p = parser()
    args = p.parse_args(argv)
    for name in ("epochs", "size", "n_train", "n_val", "batch_size", "base_channels", "depth"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.size % 2**args.depth:
        p.error(f"--size must be divisible by 2**depth = {2**args.depth} (--depth "
                f"{args.depth}), got {args.size}")
    train_data, val_data = _datasets(args, p)
    seed_everything(args.seed)
    model = UNet(1, 2, dim=2, base_channels=args.base_channels, depth=args.depth)
    history = fit(model, dice_ce, train_data, val_data, epochs=args.epochs, lr=args.lr,
                  batch_size=args.batch_size, metrics={"dice": lesion_dice},
                  device=args.device, amp={"auto": "auto", "on": True, "off": False}[args.amp],
                  optimizer=args.optimizer, schedule=args.schedule,
                  num_workers=args.num_workers, seed=args.seed,
                  checkpoint=args.out / "checkpoint.pt", resume=args.resume,
                  progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        import matplotlib
        import matplotlib.pyplot

        matplotlib.use("Agg")
        fig = history.plot(title=f"U-Net on {args.dataset} ({args.size}x{args.size})")
        fig.savefig(args.out / "history.png", dpi=120)
        matplotlib.pyplot.close(fig)
        best = history.best("dice")
        print(f"best validation Dice {best['dice']:.3f} at epoch {best['epoch']}; "
              f"wrote {args.out / 'checkpoint.pt'}, {args.out / 'checkpoint-best.pt'} "
              f"and {args.out / 'history.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
