"""Train a U-Net to segment lesions from the command line.

Usage:
    python -m mednotes.train --out runs/demo

``--help`` lists every option with its default. The defaults are a recipe that runs on a
laptop CPU in under two minutes (on a 2-core CPU: 96-105 s, and a best validation Dice of
0.82 ± 0.03 over seeds 0-2):

- Training images are lesion-rich (``--train-lesions rich``): lesions cover 2% of the pixels,
  1 to 8 per image, and every image has some, so that every step sees many lesions
  (foreground oversampling, as nnU-Net samples its patches). The validation images keep the
  dataset's defaults (1% lesion pixels, 20% of the images without any lesion): held-out data
  as the task really is.
- The loss is cross-entropy plus the soft Dice of the lesion class computed per image
  (:class:`mednotes.losses.DiceCELoss` with ``include_background=False, batch=False``), so a
  small lesion counts as much as a large one.
- The learning rate follows a one-cycle schedule whose peak is ``--lr``.

The run prints the device, the data, one line per epoch (losses, Dice, false alarms, seconds)
and a closing line that says what the Dice means, next to what predicting no lesion anywhere
scores. The validation Dice (:func:`lesion_dice`) is the mean over the validation images that
have a lesion of the per-image Dice of the predicted lesion mask (argmax), computed by
:func:`mednotes.metrics.dice_score` and averaged over the whole validation set: 0 for a model
that finds no lesion, 1 for a perfect one. On an image without lesion the Dice is undefined
(MONAI's ``ignore_empty=True``), so those images are left out of it and scored apart by
:func:`false_alarm`: the share of them where the model marks any lesion pixel.

Writes ``checkpoint.pt`` (last epoch), ``checkpoint-best.pt`` (the epoch with the highest
validation Dice, the one the closing line reports) and ``history.png`` into ``--out``. A
folder that already holds them is refused unless ``--resume`` (continue that run) or
``--force`` (replace it) is given. Under ``torchrun --nproc_per_node=N -m mednotes.train ...``
the same command trains with DistributedDataParallel; only rank 0 prints and writes.

Every argument is checked before training starts; a bad one is a usage error (exit status 2,
one line saying what to change).

Explained in: Training a segmentation network.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset, TensorDataset

from mednotes._checks import check_device, check_int, check_number
from mednotes.train.distributed import _env_int
from mednotes.train.schedule import SCHEDULES

DATASETS = ("brain-lesions", "toy")
MODELS = ("unet",)
LOSSES = ("dice-ce", "dice", "ce")
OUTPUTS = ("checkpoint.pt", "checkpoint-best.pt", "history.png")
_VAL_SEED_OFFSET = 1_000_003  # validation images come from a seed far from the training one
#: brain_lesions settings of the training images for each --train-lesions choice.
TRAIN_LESIONS = {
    "rich": {"prevalence": 0.02, "max_lesions": 8, "empty_fraction": 0.0},
    "default": {},  # the dataset's defaults, like the validation images
}


def _argmax_classes(logits: torch.Tensor) -> torch.Tensor:
    """``logits.argmax(1)``, fast for two classes.

    On a CPU, ``argmax`` over the channel dimension of ``(N, 2, H, W)`` logits reads with a
    stride of ``H * W`` and takes about 40 ms for 32 images of 128 x 128, a tenth of a
    validation pass; comparing the two channels takes under 1 ms. The result is the same,
    ties and NaN included: argmax takes the first of equal values and counts NaN as the
    largest.
    """
    if logits.shape[1] != 2:
        return logits.argmax(1)
    background, lesion = logits[:, 0], logits[:, 1]
    return ((lesion > background) | (lesion.isnan() & ~background.isnan())).long()


def lesion_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image, the Dice of the predicted lesion mask (argmax == 1); NaN without a lesion.

    :func:`mednotes.metrics.dice_score` on class 1 with ``ignore_empty=True``: an image whose
    ground truth has no lesion gives NaN, and :func:`~mednotes.train.fit` leaves it out of
    the mean over the validation set.

    Args:
        logits: ``(N, 2, *spatial)``, background and lesion.
        target: ``(N, *spatial)`` class indices, 1 = lesion.

    Returns:
        ``(N,)`` float32.

    Example:
        >>> target = torch.tensor([[[0, 1, 1, 0]], [[0, 0, 0, 0]]])     # image 2: no lesion
        >>> guess = torch.tensor([[[0, 1, 0, 0]], [[0, 0, 0, 0]]])
        >>> logits = torch.nn.functional.one_hot(guess, 2).permute(0, 3, 1, 2).float()
        >>> lesion_dice(logits, target)
        tensor([0.6667,    nan])
    """
    from mednotes.metrics import dice_score

    return dice_score(_argmax_classes(logits), target, include_background=False,
                      num_classes=2)[:, 0]


def false_alarm(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image without lesion, 1 if any pixel is predicted lesion, else 0; NaN with a lesion.

    It is ``1 -`` :func:`mednotes.metrics.dice_score` with ``ignore_empty=False`` (MONAI's
    rule: 1 when both masks are empty, 0 for any false positive), kept to the lesion-free
    images, so its mean over the validation set is the share of them with a false lesion.

    Args:
        logits: ``(N, 2, *spatial)``, background and lesion.
        target: ``(N, *spatial)`` class indices, 1 = lesion.

    Returns:
        ``(N,)`` float32.

    Example:
        >>> target = torch.zeros(3, 1, 4, dtype=torch.long); target[0, 0, 1] = 1
        >>> guess = torch.zeros(3, 1, 4, dtype=torch.long); guess[1, 0, 3] = 1
        >>> logits = torch.nn.functional.one_hot(guess, 2).permute(0, 3, 1, 2).float()
        >>> false_alarm(logits, target)             # image 1 has a lesion: not counted here
        tensor([nan, 1., 0.])
    """
    from mednotes.metrics import dice_score

    dice = dice_score(_argmax_classes(logits), target, include_background=False,
                      ignore_empty=False, num_classes=2)[:, 0]
    lesion_free = (target == 1).flatten(1).sum(1) == 0
    return (1 - dice).where(lesion_free, torch.nan)


class RandomPatches(Dataset):
    """Training images cut, on the fly, into random square patches of side ``patch``.

    Item ``i`` is a random ``patch x patch`` crop of image ``i // per_image``, drawn anew
    each time from torch's global generator (which :func:`~mednotes.train.fit` seeds every
    epoch, so runs repeat). Patches cost a fraction of a whole image per step while the
    lesions keep their size in pixels; the network, fully convolutional, is then validated
    on whole images (nnU-Net trains on patches the same way).

    Args:
        data: ``(image (C, H, W), mask (H, W))`` pairs as tensors.
        patch: the side of a patch, at most ``min(H, W)``.
        per_image: patches per image and epoch.

    Example:
        >>> data = TensorDataset(torch.zeros(3, 1, 8, 8), torch.zeros(3, 8, 8, dtype=torch.long))
        >>> patches = RandomPatches(data, patch=4, per_image=2)
        >>> len(patches), patches[5][0].shape, patches[5][1].shape
        (6, torch.Size([1, 4, 4]), torch.Size([4, 4]))
    """

    def __init__(self, data: TensorDataset, patch: int, per_image: int = 1):
        self.images, self.masks = data.tensors
        side = min(self.masks.shape[-2:])
        self.patch = check_int("patch", patch, 1, side)
        self.per_image = check_int("per_image", per_image, 1)

    def __len__(self) -> int:
        return len(self.images) * self.per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.images[index // self.per_image], self.masks[index // self.per_image]
        height, width = mask.shape[-2:]
        top = int(torch.randint(height - self.patch + 1, ()))
        left = int(torch.randint(width - self.patch + 1, ()))
        rows, cols = slice(top, top + self.patch), slice(left, left + self.patch)
        return image[:, rows, cols], mask[rows, cols]


def _tensors(dataset: Dataset) -> TensorDataset:
    """Every item made once, so that epochs do not pay for generating them again."""
    images, masks = zip(*(dataset[i] for i in range(len(dataset))))
    return TensorDataset(torch.stack(images), torch.stack(masks))


def _datasets(args) -> tuple[TensorDataset, TensorDataset]:
    from mednotes.data import brain_lesions, toy_squares

    if args.dataset == "toy":
        return (toy_squares(args.n_train, args.size, args.seed),
                toy_squares(args.n_val, args.size, args.seed + _VAL_SEED_OFFSET))
    train = brain_lesions(args.n_train, size=args.size, dim=2, seed=args.seed,
                          **TRAIN_LESIONS[args.train_lesions])
    val = brain_lesions(args.n_val, size=args.size, dim=2, seed=args.seed + _VAL_SEED_OFFSET)
    return _tensors(train), _tensors(val)


def _loss(args):
    from mednotes.losses import CrossEntropyLoss, DiceCELoss, DiceLoss

    if args.loss == "ce":
        return CrossEntropyLoss()
    dice = {"include_background": False, "batch": args.batch_dice}
    return DiceCELoss(**dice) if args.loss == "dice-ce" else DiceLoss(**dice)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each option's help, and the description's own line breaks."""


def parser() -> argparse.ArgumentParser:
    """The command line's arguments (``python -m mednotes.train --help``)."""
    p = argparse.ArgumentParser(
        prog="python -m mednotes.train", formatter_class=_Formatter,
        description="Train a U-Net to segment lesions; the defaults take under two minutes "
                    "on a 2-core CPU\nand reach a validation Dice of about 0.8 on "
                    "brain-lesions.",
        epilog="The Dice printed is the mean over the validation images that have a lesion "
               "of the per-image Dice of the\npredicted lesion mask: 0 when no lesion is "
               "found, 1 for a perfect segmentation. Lesion-free validation\nimages are "
               "counted apart, as false alarms. checkpoint-best.pt holds the epoch with the "
               "best Dice.")
    p.add_argument("--dataset", choices=DATASETS, default="brain-lesions",
                   help="brain MR slices with synthetic lesions, or bright squares on noise "
                        "(a smoke test)")
    p.add_argument("--model", choices=MODELS, default="unet", help="the network")
    p.add_argument("--epochs", type=int, default=12, help="epochs to train (with --resume, "
                   "up to this many in all)")
    p.add_argument("--size", type=int, default=128, help="image side in pixels")
    p.add_argument("--patch", type=int, default=64,
                   help="train on random square patches of this side, cut anew each epoch "
                        "(validation sees whole images); 0 or >= --size: whole images")
    p.add_argument("--patches-per-image", type=int, default=2,
                   help="patches cut from each training image per epoch")
    p.add_argument("--n-train", type=int, default=300, help="training images")
    p.add_argument("--n-val", type=int, default=40, help="validation images")
    p.add_argument("--train-lesions", choices=tuple(TRAIN_LESIONS), default="rich",
                   help="brain-lesions training images: 'rich' = lesions on 2%% of the pixels, "
                        "1-8 per image, none without (foreground oversampling); 'default' = "
                        "like the validation images (1%%, 1-4, 20%% without)")
    p.add_argument("--loss", choices=LOSSES, default="dice-ce",
                   help="cross-entropy + soft Dice of the lesion, soft Dice alone, or "
                        "cross-entropy alone")
    p.add_argument("--batch-dice", action="store_true",
                   help="pool the Dice over the batch (MONAI batch=True) instead of per image")
    p.add_argument("--batch-size", type=int, default=4, help="images per step, per process")
    p.add_argument("--lr", type=float, default=5e-3, help="learning rate (the schedule's peak)")
    p.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "sgd"),
                   help="the optimizer")
    p.add_argument("--schedule", default="onecycle", choices=SCHEDULES,
                   help="learning-rate schedule, step by step")
    p.add_argument("--base-channels", type=int, default=8,
                   help="U-Net channels at the first level (doubled at each level down)")
    p.add_argument("--depth", type=int, default=3, help="U-Net down-steps")
    p.add_argument("--device", default=None,
                   help="cpu, cuda, mps; None: the best available (or $MEDNOTES_DEVICE)")
    p.add_argument("--amp", choices=("auto", "on", "off"), default="auto",
                   help="mixed precision; auto: on for CUDA (float16), off elsewhere")
    p.add_argument("--channels-last", action="store_true",
                   help="keep the weights, and so every convolution, in channels-last order "
                        "(on a 2-core CPU with bfloat16 instructions, 1.25-1.3x the patches/s "
                        "with --amp on --batch-size 16)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--seed", type=int, default=0, help="seeds the data, the weights and "
                   "the shuffling")
    p.add_argument("--out", type=Path, default=Path("runs/demo"),
                   help="folder for the checkpoints and the plot")
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
                     "depth", "patches_per_image"):
            check_int(f"--{name.replace('_', '-')}", getattr(args, name), 1)
        check_int("--patch", args.patch, 0)
        check_number("--lr", args.lr, 0, open_low=True)
        check_int("--num-workers", args.num_workers, 0)
        check_int("--seed", args.seed, 0, 2**32 - 1)
        if args.device is not None:  # a device torch knows, and that this machine has
            _pick(str(check_device("--device", args.device)), "--device")
    except (TypeError, ValueError) as error:
        p.error(str(error))
    for name in ("--size", "--patch") if _patch(args) else ("--size",):
        side = args.size if name == "--size" else args.patch
        if side % 2**args.depth:
            p.error(f"{name} must be divisible by 2**depth = {2**args.depth} (--depth "
                    f"{args.depth}), got {side}")
        if side < 2**(args.depth + 1):
            p.error(f"{name} {side} is too small for --depth {args.depth}: the bottleneck "
                    f"would be 1x1 pixel, where BatchNorm fails on a batch of one; use {name} "
                    f">= {2**(args.depth + 1)} or a smaller --depth")
    if args.batch_dice and args.loss == "ce":
        p.error("--batch-dice concerns the Dice part of the loss, and --loss ce has none")


def _patch(args) -> int | None:
    """The side of the training patches, or None for whole images."""
    return args.patch if 0 < args.patch < args.size else None


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


def _device_line(args) -> str:
    from mednotes.train.loop import _amp_settings, _resolve_device

    device = _resolve_device(args.device)
    use_amp, dtype = _amp_settings({"auto": "auto", "on": True, "off": False}[args.amp], device)
    if device.type == "cuda":
        where = f"{device} ({torch.cuda.get_device_name(device)})"
    else:
        where = f"{device} ({torch.get_num_threads()} threads)"
    precision = ({torch.float16: "float16 autocast + GradScaler",
                  torch.bfloat16: "bfloat16 autocast"}[dtype] if use_amp else "float32")
    processes = _env_int("WORLD_SIZE", 1)
    world = f", {processes} processes (DDP)" if processes > 1 else ""
    return f"device: {where}, {precision}{world}"


def _lesion_count(data: TensorDataset) -> torch.Tensor:
    """Per item, how many of its pixels are lesion (class 1)."""
    return (data.tensors[1] == 1).flatten(1).sum(1)


def _data_line(args, train: TensorDataset, val: TensorDataset, seconds: float) -> str:
    side = f"{args.size}x{args.size}"
    share = (_lesion_count(train).sum() / train.tensors[1].numel()).item()
    with_lesion = int((_lesion_count(val) > 0).sum())
    if args.dataset == "toy":
        kind = "toy squares"
    else:
        kind = ("lesion-rich: none without lesion" if args.train_lesions == "rich"
                else "the dataset's defaults")
    patches = (f", cut into {args.patches_per_image} random {args.patch}x{args.patch} patches "
               "each per epoch" if _patch(args) else "")
    return (f"data: {args.dataset} {side}, made in {seconds:.1f} s; {len(train)} training "
            f"images ({kind}; lesion {share:.1%} of pixels){patches}, {len(val)} validation "
            f"images ({with_lesion} with a lesion, {len(val) - with_lesion} without)")


def _baselines(val: TensorDataset) -> tuple[float, float]:
    """The validation Dice of predicting no lesion anywhere, and of a perfect prediction."""
    target = val.tensors[1]

    def score(guess: torch.Tensor) -> float:
        logits = torch.nn.functional.one_hot(guess, 2).movedim(-1, 1).float()
        return lesion_dice(logits, target).nanmean().item()

    return score(torch.zeros_like(target)), score((target == 1).long())


def _epoch_lines(history, alarms: bool) -> list[str]:
    head = f"{'epoch':>5}  {'train loss':>10}  {'val loss':>8}  {'Dice':>6}"
    head += f"  {'false alarms':>12}" if alarms else ""
    lines = [head + f"  {'seconds':>7}"]
    for r in history.records:
        line = f"{r['epoch']:5d}  {r['train_loss']:10.4f}  {r['val_loss']:8.4f}  {r['dice']:6.3f}"
        line += f"  {r.get('false_alarm', math.nan):12.0%}" if alarms else ""
        lines.append(line + f"  {r['seconds']:7.1f}")
    return lines


def _closing_lines(args, history, val: TensorDataset) -> list[str]:
    with_lesion = int((_lesion_count(val) > 0).sum())
    lesion_free = len(val) - with_lesion
    nothing, perfect = _baselines(val)
    if math.isnan(nothing):
        return [(f"validation Dice undefined: none of the {len(val)} validation images has a "
                 "lesion (raise --n-val); checkpoint-best.pt holds the last epoch")]
    best = history.best("dice")
    seconds = history["seconds"]
    timing = (f"{len(seconds)} epoch{'s' if len(seconds) > 1 else ''} in {sum(seconds):.1f} s "
              f"({sum(seconds) / len(seconds):.1f} s per epoch, validation included)")
    best_line = (f"best validation Dice {best['dice']:.3f} at epoch {best['epoch']} of "
                 f"{len(history)}, saved in {args.out / 'checkpoint-best.pt'} (last epoch: "
                 "checkpoint.pt; curves: history.png)")
    what = (f"Dice = mean over the {with_lesion} validation images with a lesion of "
            "2|P∩G| / (|P|+|G|), P the predicted and G the true lesion pixels: predicting no "
            f"lesion anywhere scores {nothing:.3f}, a perfect segmentation {perfect:.3f}")
    if lesion_free:
        alarms = round(best["false_alarm"] * lesion_free)
        what += (f"; the {lesion_free} lesion-free images are left out of it (Dice undefined) "
                 f"and counted apart: false lesion pixels on {alarms} of them at epoch "
                 f"{best['epoch']}")
    return [timing, best_line, what]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from mednotes import seed_everything
    from mednotes.nets import UNet
    from mednotes.train import fit

    p = parser()
    args = p.parse_args(argv)
    _check(args, p)
    _check_out(args, p)
    began = time.perf_counter()
    try:
        train_data, val_data = _datasets(args)
    except (TypeError, ValueError) as error:
        p.error(f"--dataset {args.dataset} cannot be built from --size, --n-train and "
                f"--n-val: {error}")
    made = time.perf_counter() - began
    _make_out(args.out, p)
    main_process = _env_int("RANK", 0) == 0
    alarms = bool((_lesion_count(val_data) == 0).any())  # lesion-free validation images
    metrics = {"dice": lesion_dice, **({"false_alarm": false_alarm} if alarms else {})}
    if main_process:
        print(_device_line(args))
        print(_data_line(args, train_data, val_data, made), flush=True)
    if _patch(args):
        train_data = RandomPatches(train_data, args.patch, args.patches_per_image)
    seed_everything(args.seed)
    model = UNet(1, 2, dim=2, base_channels=args.base_channels, depth=args.depth)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    history = fit(model, _loss(args), train_data, val_data, epochs=args.epochs, lr=args.lr,
                  batch_size=args.batch_size, metrics=metrics, best="dice",
                  device=args.device, amp={"auto": "auto", "on": True, "off": False}[args.amp],
                  optimizer=args.optimizer, schedule=args.schedule,
                  num_workers=args.num_workers, seed=args.seed,
                  checkpoint=args.out / "checkpoint.pt", resume=args.resume,
                  overwrite=args.force, progress=not args.quiet)
    if main_process:
        import matplotlib
        import matplotlib.pyplot

        matplotlib.use("Agg")
        fig = history.plot(title=f"U-Net on {args.dataset} ({args.size}x{args.size})")
        fig.savefig(args.out / "history.png", dpi=120)
        matplotlib.pyplot.close(fig)
        print("\n".join(_epoch_lines(history, alarms) + _closing_lines(args, history, val_data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
