"""fit(): the one training loop of the book, from a laptop CPU to several GPUs.

Read top to bottom: :func:`fit` checks its arguments (:func:`_check_arguments`) and the files
it will write (:func:`_claim_checkpoint`), then :func:`_fit` builds the optimizer and the
loaders, restores a checkpoint when resuming, and runs the epochs (:func:`_run_epoch`), each a
training pass (:class:`_Step` per batch) and a validation pass (:func:`_evaluate`).

Distributed: run the same script with ``torchrun --nproc_per_node=N script.py``. fit reads
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (a CUDA process uses ``cuda:LOCAL_RANK``), joins the
process group (gloo on CPU, nccl on CUDA) unless one exists, shards the training data with a
DistributedSampler, wraps the model in DistributedDataParallel, sums validation numbers over
processes, and destroys the group at the end if it created it. Only rank 0 prints and writes
(the progress bars, the checkpoints); ``batch_size`` is per process, so a step sees
``N * batch_size`` samples.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Subset
from tqdm.auto import tqdm

from mednotes._checks import (
    check_bool,
    check_choice,
    check_device,
    check_int,
    check_number,
    check_positive_int,
    describe,
)
from mednotes._runtime import _pick as pick_device
from mednotes._runtime import deterministic_kernels, seed_everything
from mednotes.train import distributed
from mednotes.train.checkpoint import _apply, _read, _serialize, _state, _write_atomically
from mednotes.train.history import CORE_KEYS, History
from mednotes.train.schedule import SCHEDULES, lr_factor

OPTIMIZERS = ("adam", "adamw", "sgd")
_POSTFIX_EVERY_S = 0.5  # how often the bar's running loss is refreshed (each refresh syncs)
# torch's losses warn, and then broadcast, when the target's size differs from the output's.
_BROADCAST_WARNING = r"Using a target size .* that is different to the input size"

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor | float]


def fit(model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        train_data: Dataset, val_data: Dataset | None = None, *, epochs: int, lr: float,
        batch_size: int, metrics: Mapping[str, Metric] | None = None,
        device: str | torch.device | None = None, amp: bool | str = "auto",
        optimizer: str = "adam", weight_decay: float = 0.0, schedule: str = "constant",
        num_workers: int = 0, seed: int = 0, deterministic: bool = False,
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        overwrite: bool = False, progress: bool = True,
        val_batch_size: int | None = None, best: str = "val_loss") -> History:
    """Train ``model`` in place on ``train_data``, validating after every epoch.

    Each epoch shuffles the training data, takes one optimizer step per batch, then validates.
    The model ends on ``device``, in eval mode. Under ``torchrun`` it trains with
    DistributedDataParallel (see the module's docstring).

    Args:
        model: the network; it outputs logits.
        loss_fn: ``loss_fn(logits, target)`` -> a scalar tensor, the mean over the batch.
            A floating-point target must have the output's shape (fit refuses, on the first
            batch, one that would be broadcast); integer targets are class indices.
        train_data: a map-style torch Dataset yielding ``(input, target)`` pairs.
        val_data: the same for validation, or None.
        epochs: total number of epochs (with ``resume=True``, up to this number).
        lr: learning rate, > 0 (the peak rate when ``schedule`` varies it).
        batch_size: samples per step *per process* (N processes: ``N * batch_size``).
        metrics: name -> ``metric(logits, target)``, computed on ``val_data`` after every
            epoch. It returns either the batch's mean, a scalar (tensor or float), which fit
            weights by the batch size; or one value per sample, a tensor of shape ``(N,)``
            (or ``(N, C)``, each row first averaged over its non-NaN values, like
            :func:`mednotes.metrics.mean_score`), where NaN means "undefined for this
            sample" (e.g. the Dice of an image with an empty ground truth): fit then takes
            the mean over all the defined values of the whole validation set (and all
            processes), NaN when none is defined. A batch of one reads a 1-element tensor as
            per sample.
        device: ``"cpu"``, ``"cuda"``, ... or a torch.device; None: :func:`mednotes.device`.
        amp: ``"auto"``, True or False: mixed precision, on for CUDA under ``"auto"``. True
            means float16 with a GradScaler on CUDA, bfloat16 autocast on CPU.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9).
        weight_decay: L2 penalty (decoupled for adamw), >= 0.
        schedule: ``"constant"``, ``"cosine"`` or ``"onecycle"``, step by step; see
            :func:`mednotes.train.schedule.lr_factor`. A resumed run follows the same curve.
        num_workers: DataLoader worker processes, >= 0.
        seed: an int in ``[0, 2**32)``. Each epoch seeds python, numpy and torch from
            (seed, epoch, rank), so a resumed run repeats a straight one.
        deterministic: deterministic kernels during the run (slower on CUDA; see
            :func:`mednotes.seed_everything`); the global settings are restored afterwards.
        checkpoint: file saved atomically after every epoch, with everything needed to resume;
            with ``val_data`` the best epoch by ``best`` also goes to ``<stem>-best<suffix>``.
        resume: continue from ``checkpoint`` when it exists, else start afresh.
        overwrite: replace an existing ``checkpoint`` (and its ``-best`` file). Without
            ``resume`` or ``overwrite``, fit refuses to start when either exists.
        progress: a tqdm bar per epoch (rank 0 only); False prints nothing.
        val_batch_size: batch size for validation (default: ``batch_size``).
        best: the validation column that picks the best epoch for the ``-best`` checkpoint:
            ``"val_loss"`` (lowest wins) or a name in ``metrics`` (highest wins, unless the
            name contains ``"loss"``), the rule of :meth:`History.best`, so
            ``history.best(best)`` names the epoch in the file. Ties go to the earliest
            epoch and NaN never wins; while every epoch so far is NaN the file holds the
            latest one.

    Returns:
        the :class:`History` of all epochs (a resumed run's earlier ones included).

    Raises:
        TypeError: for an argument of the wrong type (the message names it).
        ValueError: for a bad value, checked before any training (the message names it).
        FileExistsError: when ``checkpoint`` exists and neither resume nor overwrite is True.
        FloatingPointError: when the training loss is not finite after an epoch.

    Explained in: Training a segmentation network.

    Example:
        >>> from torch.utils.data import TensorDataset
        >>> x = torch.linspace(-1, 1, 32).reshape(32, 1); y = 3 * x; net = nn.Linear(1, 1)
        >>> history = fit(net, nn.MSELoss(), TensorDataset(x, y), TensorDataset(x, y),
        ...               epochs=20, lr=0.1, batch_size=8, device="cpu", progress=False,
        ...               metrics={"mae": lambda p, t: (p - t).abs().mean()})
        >>> history[-1]["val_loss"] < 0.01, len(history)
        (True, 20)

        A per-sample metric: NaN where it is undefined, left out of the mean.

        >>> y = torch.tensor([[1.0], [2.0], [0.0], [4.0]])
        >>> relative = lambda p, t: ((p - t).abs() / t).where(t != 0, torch.nan).flatten()
        >>> history = fit(nn.Linear(1, 1), nn.MSELoss(), TensorDataset(y, y),
        ...               TensorDataset(y, y), epochs=1, lr=0.1, batch_size=2,
        ...               device="cpu", progress=False, metrics={"rel": relative})
        >>> math.isfinite(history[-1]["rel"])     # 3 of the 4 samples define it
        True
    """
    plan = _check_arguments(
        model, loss_fn, train_data, val_data, epochs=epochs, lr=lr, batch_size=batch_size,
        metrics=metrics, device=device, amp=amp, optimizer=optimizer,
        weight_decay=weight_decay, schedule=schedule, num_workers=num_workers, seed=seed,
        deterministic=deterministic, checkpoint=checkpoint, resume=resume,
        overwrite=overwrite, progress=progress, val_batch_size=val_batch_size, best=best)
    saved = _claim_checkpoint(plan, with_best=val_data is not None)
    context = distributed.setup(plan.device)
    try:
        with deterministic_kernels(plan.deterministic):
            return _fit(model, loss_fn, train_data, val_data, plan, saved, context)
    finally:
        distributed.teardown(context)


@dataclass(frozen=True)
class _Plan:
    """fit()'s settings, checked."""

    epochs: int
    lr: float
    batch_size: int
    val_batch_size: int
    metrics: dict[str, Metric]
    device: torch.device
    use_amp: bool
    amp_dtype: torch.dtype | None  # float16 or bfloat16 when use_amp
    optimizer: str
    weight_decay: float
    schedule: str
    num_workers: int
    seed: int
    deterministic: bool
    checkpoint: Path | None
    resume: bool
    overwrite: bool
    progress: bool
    best: str  # the column that picks the -best checkpoint


def _fit(model, loss_fn, train_data, val_data, plan: _Plan, saved: dict[str, Any] | None,
         context) -> History:
    device, use_amp, amp_dtype = plan.device, plan.use_amp, plan.amp_dtype
    seed_everything(plan.seed)
    model.to(device)
    net = model
    if context.distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = _make_optimizer(plan.optimizer, model.parameters(), plan.lr, plan.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and amp_dtype == torch.float16)
    history, start = _restore(saved, plan.checkpoint, model, opt, scaler)
    loaders = _Loaders(train_data, val_data, plan, context, device)
    total_steps = plan.epochs * len(loaders.train)
    step = _Step(net, loss_fn, opt, scaler, device, use_amp, amp_dtype,
                 lambda i: plan.lr * lr_factor(plan.schedule, i, total_steps))
    for epoch in range(start + 1, plan.epochs + 1):
        record = _run_epoch(epoch, step, loaders, model, loss_fn, plan, context)
        history.append(record)
        if plan.checkpoint is not None and context.is_main:
            _save(plan.checkpoint, model, opt, scaler, epoch, history, plan.best)
    if context.distributed:
        torch.distributed.barrier()  # nobody reads the checkpoint before rank 0 has written it
    model.eval()
    return history


def _restore(saved, path, model, opt, scaler) -> tuple[History, int]:
    """The history and epoch to continue from: those of ``saved``, or a fresh start."""
    if saved is None:
        return History(), 0
    _apply(saved, model, opt, path)  # checks every key and shape before copying anything
    if scaler.is_enabled() and saved["extra"].get("scaler"):
        scaler.load_state_dict(saved["extra"]["scaler"])
    return saved["history"] or History(), saved["epoch"]


class _Loaders:
    """The training and validation DataLoaders, and the generator that shuffles."""

    def __init__(self, train_data, val_data, plan: _Plan, context, device: torch.device):
        # One generator drives shuffling and worker seeds; it is re-seeded every epoch.
        self.generator = torch.Generator()
        if context.distributed:
            self.sampler = DistributedSampler(train_data, num_replicas=context.world_size,
                                              rank=context.rank, shuffle=True, seed=plan.seed)
        else:
            self.sampler = RandomSampler(train_data, generator=self.generator)
        pin = device.type == "cuda"
        self.train = DataLoader(train_data, batch_size=plan.batch_size, sampler=self.sampler,
                                num_workers=plan.num_workers, pin_memory=pin,
                                generator=self.generator)
        self.val = None
        if val_data is not None:
            # Unpadded shards (rank, rank + N, ...), so every sample counts exactly once.
            shard = (Subset(val_data, range(context.rank, len(val_data), context.world_size))
                     if context.distributed else val_data)
            self.val = DataLoader(shard, batch_size=plan.val_batch_size, shuffle=False,
                                  num_workers=plan.num_workers, pin_memory=pin)

    def start_epoch(self, seed: int, epoch: int, distributed_run: bool) -> None:
        self.generator.manual_seed(_epoch_seed(seed, epoch, 0))
        if distributed_run:
            self.sampler.set_epoch(epoch)


def _run_epoch(epoch: int, step: _Step, loaders: _Loaders, model, loss_fn, plan: _Plan,
               context) -> dict[str, float]:
    """Train one epoch, then validate; the epoch's record for the History."""
    began = time.perf_counter()
    seed_everything(_epoch_seed(plan.seed, epoch, context.rank))  # generators only
    loaders.start_epoch(plan.seed, epoch, context.distributed)
    batches = len(loaders.train)
    with tqdm(total=batches, desc=f"epoch {epoch}/{plan.epochs}", unit="batch",
              disable=not (plan.progress and context.is_main), dynamic_ncols=True,
              leave=True) as bar:
        record = {"epoch": epoch, "train_loss": _train_epoch(step, loaders.train, bar, context,
                                                             first=(epoch - 1) * batches)}
        if not math.isfinite(record["train_loss"]):
            raise FloatingPointError(
                f"the training loss is {record['train_loss']} after epoch {epoch}; try a "
                f"smaller lr (now {step.opt.param_groups[0]['lr']:g}) or check the data")
        if loaders.val is not None:
            record.update(_evaluate(model, loss_fn, loaders.val, plan.metrics, step.device,
                                    step.use_amp, step.amp_dtype, context))
        record["seconds"] = time.perf_counter() - began
        record["lr"] = step.opt.param_groups[0]["lr"]
        bar.set_postfix({k: _short(v) for k, v in record.items()
                         if k not in ("epoch", "seconds", "lr")})
    return record


def _save(path: Path, model, opt, scaler, epoch: int, history: History, best: str) -> None:
    """The epoch's checkpoint, and the best one when this epoch is the best by ``best``.

    fit checked before training that these files are its own to replace. Both files hold the
    same state, so it is serialized (and proven to load back) once.
    """
    data = _serialize(_state(model, opt, epoch, history, {"scaler": scaler.state_dict()}))
    _write_atomically(path, data)
    if "val_loss" in history[-1] and _best_epoch(history, best) == epoch:
        _write_atomically(_best_path(path), data)


def _best_epoch(history: History, best: str) -> int:
    """The best epoch by column ``best``; the latest one while the column is all NaN."""
    values = history[best]
    if all(math.isnan(v) for v in values):
        return history[-1]["epoch"]
    return history.best(best)["epoch"]


def _best_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-best{path.suffix}")


class _Step:
    """One optimizer step on one batch, with or without mixed precision."""

    def __init__(self, net, loss_fn, opt, scaler, device, use_amp, amp_dtype, lr_at):
        self.net, self.loss_fn, self.opt, self.scaler = net, loss_fn, opt, scaler
        self.device, self.use_amp, self.amp_dtype = device, use_amp, amp_dtype
        self.lr_at = lr_at  # global step number -> learning rate
        self.checked = False  # the first batch's shapes are checked once

    def __call__(self, inputs, target, number: int) -> torch.Tensor:
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(number)
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            output = self.net(inputs)
            loss = _loss(self.loss_fn, output, target, check=not self.checked)
        self.checked = True
        _check_scalar(loss, "loss_fn")
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return loss.detach()


def _loss(loss_fn, output, target, check: bool):
    """``loss_fn(output, target)``; with ``check``, refuse a target it would broadcast.

    Broadcasting an output of shape (N, 1) against a target of shape (N,) compares every
    prediction with every sample's target: the loss is wrong, yet training runs. Checked
    once per loader, since turning warnings into errors every step would cost time and make
    the user's own once-only warnings repeat.
    """
    if not check:
        return loss_fn(output, target)
    shapes = (f"output shape {_shape(output)} and target shape {_shape(target)}")
    if (isinstance(output, torch.Tensor) and isinstance(target, torch.Tensor)
            and target.is_floating_point() and output.shape != target.shape):
        raise ValueError(f"{shapes} differ: a floating-point target must have the model "
                         "output's shape, else loss_fn broadcasts them and compares "
                         "predictions with the wrong targets; reshape the targets in the "
                         "dataset (class-index targets must be integers)")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=_BROADCAST_WARNING, category=UserWarning)
        try:
            return loss_fn(output, target)
        except UserWarning as warning:
            raise ValueError(f"{shapes} differ and loss_fn would broadcast them, comparing "
                             f"predictions with the wrong targets ({warning})") from None


def _shape(value) -> str:
    return str(tuple(value.shape)) if hasattr(value, "shape") else describe(value)


def _train_epoch(step: _Step, loader, bar, context, first: int) -> float:
    step.net.train()
    totals = torch.zeros(2, device=step.device)  # sum of loss * batch size, number of samples
    refreshed = time.monotonic()
    for i, batch in enumerate(loader):
        inputs, target = _to_device(batch, step.device)
        n = len(inputs)
        totals[0] += step(inputs, target, first + i).float() * n
        totals[1] += n
        bar.update()
        if not bar.disable and (time.monotonic() - refreshed > _POSTFIX_EVERY_S
                                or i == len(loader) - 1):
            bar.set_postfix(loss=_short((totals[0] / totals[1]).item()), refresh=False)
            refreshed = time.monotonic()
    distributed.all_reduce_sum(totals, context)
    return (totals[0] / totals[1]).item()


@torch.no_grad()
def _evaluate(model, loss_fn, loader, metrics, device, use_amp, amp_dtype,
              context) -> dict[str, float]:
    """Validation loss and metrics: batch-size-weighted means over all samples and processes.

    Runs the plain module, not its DDP wrapper, so that shards of unequal size need no
    collective call until the final sum.
    """
    model.eval()
    # (sum, count) for the loss and for each metric: sums of per-sample values, or of batch
    # means times batch sizes, and how many samples they cover (NaN samples not counted).
    totals = torch.zeros(len(metrics) + 1, 2, device=device)
    for i, batch in enumerate(loader):
        inputs, target = _to_device(batch, device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            logits = model(inputs)
        logits = logits.float()
        n = len(inputs)
        loss = _check_scalar(_loss(loss_fn, logits, target, check=i == 0), "loss_fn")
        sums = [torch.stack([loss.detach().float() * n, torch.tensor(float(n), device=device)])]
        for name, metric in metrics.items():
            sums.append(_metric_sum(metric(logits, target), n, f"metrics[{name!r}]", device))
        totals += torch.stack(sums)
    distributed.all_reduce_sum(totals, context)
    means = [s / c if c > 0 else math.nan for s, c in totals.tolist()]
    return dict(zip(["val_loss", *metrics], means))


def _metric_sum(value, n: int, name: str, device: torch.device) -> torch.Tensor:
    """``(sum, count)`` of one batch's metric: a batch mean counts ``n`` times; per-sample
    values (shape ``(n,)`` or ``(n, C)``) count once each, NaN ones not at all."""
    what = (f"{name} must return a scalar tensor or float (the batch mean), or a tensor of "
            "one value per sample")
    try:
        tensor = None if isinstance(value, (bool, str)) else torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        tensor = None
    if tensor is None:
        raise TypeError(f"{what}, got {describe(value)}")
    if tensor.is_complex():
        raise TypeError(f"{what}, real numbers; got dtype {tensor.dtype}")
    value = tensor.detach().to(device, torch.float32)
    if value.dim() in (1, 2) and value.shape[0] == n:
        per_sample = value.nanmean(1) if value.dim() == 2 else value
        defined = ~per_sample.isnan()
        return torch.stack([per_sample.where(defined, 0.0).sum(), defined.sum().float()])
    if value.numel() != 1:
        raise ValueError(f"{name} must return a scalar (the batch mean) or one value per "
                         f"sample, shape ({n},) or ({n}, C) for this batch of {n}; got shape "
                         f"{tuple(value.shape)}")
    return torch.stack([value.reshape(()) * n, torch.tensor(float(n), device=device)])


def _to_device(batch, device: torch.device):
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        items = f" with {len(batch)} items" if isinstance(batch, (list, tuple)) else ""
        raise ValueError("the datasets must yield (input, target) pairs; got a batch of "
                         f"type {type(batch).__name__}{items}")
    return [part.to(device, non_blocking=True) if isinstance(part, torch.Tensor) else part
            for part in batch]


def _check_scalar(value, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must return a scalar tensor, got {describe(value)}")
    if value.numel() != 1:
        raise ValueError(f"{name} must return a scalar (the mean over the batch), "
                         f"got shape {tuple(value.shape)}")
    return value.reshape(())


def _short(value: float) -> str:
    return f"{value:.4g}"


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """A seed in [0, 2**32) that depends only on (seed, epoch, rank)."""
    digest = hashlib.blake2b(f"{seed}/{epoch}/{rank}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def _make_optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


def _resolve_device(device) -> torch.device:
    """``device`` checked and available here, with a CUDA index filled in."""
    chosen = check_device("device", device)
    chosen = pick_device(None if chosen is None else str(chosen), "device")
    if chosen.type == "cuda" and chosen.index is None:
        chosen = torch.device("cuda", distributed.local_rank() if distributed.launched()
                              else torch.cuda.current_device())
    return chosen


def _amp_settings(amp, device: torch.device) -> tuple[bool, torch.dtype | None]:
    if amp == "auto":
        amp = device.type == "cuda"
    if not amp:
        return False, None
    if device.type == "cuda":
        return True, torch.float16
    if device.type == "cpu":
        return True, torch.bfloat16
    raise ValueError(f"amp=True works on cuda (float16) and cpu (bfloat16), not on "
                     f"{device.type}; pass amp=False")


def _claim_checkpoint(plan: _Plan, with_best: bool) -> dict[str, Any] | None:
    """Make sure fit may write its checkpoint files; the state to resume from, if any.

    Without ``resume`` or ``overwrite`` an existing file is refused, so that a finished run
    or an unrelated file is never replaced by accident; with ``resume`` it must be a mednotes
    checkpoint, since fit will write over it. All before the first training step.
    """
    checkpoint, resume, overwrite = plan.checkpoint, plan.resume, plan.overwrite
    if checkpoint is None:
        return None
    targets = [checkpoint, _best_path(checkpoint)] if with_best else [checkpoint]
    for path in targets:
        if path.is_dir():
            raise ValueError(f"checkpoint: {str(path)!r} is a folder; checkpoint must name "
                             "a file")
    saved = None
    if resume:
        for path in targets:
            if path.exists():
                try:
                    state = _read(path)
                except ValueError as error:
                    raise ValueError(f"resume=True cannot continue from checkpoint: {error}; "
                                     "fit leaves it as it is, so pass another checkpoint "
                                     "path") from None
                saved = state if path == checkpoint else saved
    elif not overwrite:
        existing = [str(path) for path in targets if path.exists() or path.is_symlink()]
        if existing:
            raise FileExistsError(
                f"checkpoint: {' and '.join(map(repr, existing))} already "
                f"exist{'s' if len(existing) == 1 else ''}; pass resume=True to continue "
                "from it or overwrite=True to replace it")
    _check_writable(checkpoint.parent, "checkpoint")
    return saved


def _check_writable(folder: Path, name: str) -> None:
    """Create ``folder`` if needed and prove that a file can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"{name}: cannot write into the folder {str(folder)!r} "
                         f"({error.strerror or error})") from None


def _check_arguments(model, loss_fn, train_data, val_data, *, epochs, lr, batch_size, metrics,
                     device, amp, optimizer, weight_decay, schedule, num_workers, seed,
                     deterministic, checkpoint, resume, overwrite, progress,
                     val_batch_size, best) -> _Plan:
    """Every argument of fit, checked before any work; the settings as a :class:`_Plan`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {describe(model)}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {describe(loss_fn)}")
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is None and name == "val_data":
            continue
        if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
            raise TypeError(f"{name} must be a map-style Dataset (with __getitem__ and "
                            f"__len__), got {type(data).__name__}")
        if len(data) == 0:
            raise ValueError(f"{name} is empty")
    if not (isinstance(amp, bool) or (isinstance(amp, str) and amp == "auto")):
        raise TypeError(f"amp must be 'auto', True or False, got {describe(amp)}")
    device = _resolve_device(device)
    use_amp, amp_dtype = _amp_settings(amp, device)
    resume, overwrite = check_bool("resume", resume), check_bool("overwrite", overwrite)
    if checkpoint is not None:
        if not isinstance(checkpoint, (str, os.PathLike)):
            raise TypeError(f"checkpoint must be a path or None, got {describe(checkpoint)}")
        if not str(checkpoint).strip():
            raise ValueError("checkpoint must name a file, got an empty path")
        checkpoint = Path(checkpoint)
    for flag, value in (("resume", resume), ("overwrite", overwrite)):
        if value and checkpoint is None:
            raise ValueError(f"{flag}=True needs checkpoint=<path>")
    if resume and overwrite:
        raise ValueError("resume=True continues from the checkpoint and overwrite=True "
                         "replaces it; pass only one of them")
    batch_size = check_positive_int("batch_size", batch_size)
    if val_batch_size is not None:
        val_batch_size = check_positive_int("val_batch_size", val_batch_size)
    metrics = _check_metrics(metrics, val_data)
    if not isinstance(best, str):
        raise TypeError(f"best must be a column name (str), got {describe(best)}")
    if best not in ("val_loss", *metrics):
        raise ValueError(f"best must be 'val_loss' or one of the metrics "
                         f"{tuple(metrics)}, got {best!r}")
    return _Plan(
        epochs=check_positive_int("epochs", epochs),
        lr=check_number("lr", lr, 0, open_low=True),
        batch_size=batch_size,
        val_batch_size=val_batch_size or batch_size,
        metrics=metrics,
        device=device, use_amp=use_amp, amp_dtype=amp_dtype,
        optimizer=check_choice("optimizer", optimizer, OPTIMIZERS),
        weight_decay=check_number("weight_decay", weight_decay, 0),
        schedule=check_choice("schedule", schedule, SCHEDULES),
        num_workers=check_int("num_workers", num_workers, 0),
        seed=check_int("seed", seed, 0, 2**32 - 1),
        deterministic=check_bool("deterministic", deterministic),
        checkpoint=checkpoint, resume=resume, overwrite=overwrite,
        progress=check_bool("progress", progress),
        best=best,
    )


def _check_metrics(metrics, val_data) -> dict[str, Metric]:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict name -> callable, got {describe(metrics)}")
    if metrics and val_data is None:
        raise ValueError("metrics are computed on val_data, but val_data is None")
    for name, metric in metrics.items():
        if not isinstance(name, str) or name in CORE_KEYS:
            raise ValueError(f"metrics names must be str and not one of {CORE_KEYS}, "
                             f"got {name!r}")
        if not callable(metric):
            raise TypeError(f"metrics[{name!r}] must be callable, got {describe(metric)}")
    return dict(metrics)
