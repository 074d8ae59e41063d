"""Train a U-Net to segment lesions from the command line.

Usage:
    python -m mednotes.train --dataset brain-lesions --model unet --epochs 5 --size 64 \\
        --n-train 200 --n-val 40 --batch-size 16 --lr 3e-3 --out runs/demo

Writes ``checkpoint.pt`` (last epoch), ``checkpoint-best.pt`` (lowest validation loss) and
``history.png`` into ``--out``. A folder that already holds them is refused unless ``--resume``
(continue that run) or ``--force`` (replace it) is given. Under
``torchrun --nproc_per_node=N -m mednotes.train ...`` the same command trains with
DistributedDataParallel; only rank 0 prints and writes.

The loss is cross-entropy plus soft Dice on the lesion class; the metric is the lesion Dice
of the thresholded prediction (argmax), averaged over validation images.

Every argument is checked before training starts; a bad one is a usage error (exit status 2,
one line saying what to change).

Explained in: Training a segmentation network.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from torch.utils.data import Dataset

from mednotes._checks import check_device, check_int, check_number
from mednotes.train.distributed import _env_int
from mednotes.train.lesion_objectives import dice_ce, lesion_dice
from mednotes.train.schedule import SCHEDULES

DATASETS = ("brain-lesions", "toy")
MODELS = ("unet",)
OUTPUTS = ("checkpoint.pt", "checkpoint-best.pt", "history.png")
_VAL_SEED_OFFSET = 1_000_003  # validation images come from a seed far from the training one


def _datasets(args) -> tuple[Dataset, Dataset]:
    from mednotes.data import brain_lesions, toy_squares

    if args.dataset == "toy":
        return (toy_squares(args.n_train, args.size, args.seed),
                toy_squares(args.n_val, args.size, args.seed + _VAL_SEED_OFFSET))
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
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue from --out/checkpoint.pt (start afresh if it is missing)")
    again.add_argument("--force", action="store_true",
                       help="replace the checkpoints and plot of an earlier run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _check(args, p: argparse.ArgumentParser) -> None:
    """Every number and name that argparse cannot check alone; a usage error for a bad one."""
    from mednotes._runtime import _pick

    try:
        for name in ("epochs", "size", "n_train", "n_val", "batch_size", "base_channels",
                     "depth"):
            check_int(f"--{name.replace('_', '-')}", getattr(args, name), 1)
        check_number("--lr", args.lr, 0, open_low=True)
        check_int("--num-workers", args.num_workers, 0)
        check_int("--seed", args.seed, 0, 2**32 - 1)
        if args.device is not None:  # a device torch knows, and that this machine has
            _pick(str(check_device("--device", args.device)), "--device")
    except (TypeError, ValueError) as error:
        p.error(str(error))
    if args.size % 2**args.depth:
        p.error(f"--size must be divisible by 2**depth = {2**args.depth} (--depth "
                f"{args.depth}), got {args.size}")
    if args.size < 2**(args.depth + 1):
        p.error(f"--size {args.size} is too small for --depth {args.depth}: the bottleneck "
                f"would be 1x1 pixel, where BatchNorm fails on a batch of one; use --size >= "
                f"{2**(args.depth + 1)} or a smaller --depth")


def _check_out(args, p: argparse.ArgumentParser) -> None:
    """--out must not hold an earlier run unless --resume or --force says what to do."""
    out = args.out
    if out.exists() and not out.is_dir():
        p.error(f"--out {out} is a file; --out names the folder to write the run into")
    earlier = [name for name in OUTPUTS if (out / name).exists()]
    if earlier and not (args.resume or args.force):
        p.error(f"--out {out} already holds {', '.join(earlier)} from an earlier run; pass "
                "--resume to continue it or --force to replace it")
    if args.resume and (out / "checkpoint.pt").exists():
        from mednotes.train import load_checkpoint

        try:
            load_checkpoint(out / "checkpoint.pt")
        except ValueError as error:
            p.error(f"--resume: {error}")


def _make_out(out: Path, p: argparse.ArgumentParser) -> None:
    """Create --out and prove that it can be written to, before any training."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        p.error(f"--out {out}: cannot create or write into this folder "
                f"({error.strerror or error})")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from mednotes import seed_everything
    from mednotes.nets import UNet
    from mednotes.train import fit

    p = parser()
    args = p.parse_args(argv)
    _check(args, p)
    _check_out(args, p)
    try:
        train_data, val_data = _datasets(args)
    except (TypeError, ValueError) as error:
        p.error(f"--dataset {args.dataset} cannot be built from --size, --n-train and "
                f"--n-val: {error}")
    _make_out(args.out, p)
    seed_everything(args.seed)
    model = UNet(1, 2, dim=2, base_channels=args.base_channels, depth=args.depth)
    history = fit(model, dice_ce, train_data, val_data, epochs=args.epochs, lr=args.lr,
                  batch_size=args.batch_size, metrics={"dice": lesion_dice},
                  device=args.device, amp={"auto": "auto", "on": True, "off": False}[args.amp],
                  optimizer=args.optimizer, schedule=args.schedule,
                  num_workers=args.num_workers, seed=args.seed,
                  checkpoint=args.out / "checkpoint.pt", resume=args.resume,
                  overwrite=args.force, progress=not args.quiet)
    if _env_int("RANK", 0) == 0:
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
