"""fit(): the one training loop of the book, from a laptop CPU to several GPUs."""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Subset
from tqdm.auto import tqdm

from mednotes._checks import is_int
from mednotes._runtime import device as pick_device
from mednotes._runtime import seed_everything
from mednotes.train import distributed
from mednotes.train.checkpoint import load_checkpoint, save_checkpoint
from mednotes.train.history import CORE_KEYS, History
from mednotes.train.schedule import SCHEDULES, lr_factor

OPTIMIZERS = ("adam", "adamw", "sgd")
_POSTFIX_EVERY_S = 0.5  # how often the bar's running loss is refreshed (each refresh syncs)

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor | float]


def fit(model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        train_data: Dataset, val_data: Dataset | None = None, *, epochs: int, lr: float,
        batch_size: int, metrics: Mapping[str, Metric] | None = None,
        device: str | torch.device | None = None, amp: bool | str = "auto",
        optimizer: str = "adam", weight_decay: float = 0.0, schedule: str = "constant",
        num_workers: int = 0, seed: int = 0, checkpoint: str | os.PathLike | None = None,
        resume: bool = False, progress: bool = True, val_batch_size: int | None = None) -> History:
    """Train ``model`` in place on ``train_data``, validating after every epoch.

    Each epoch shuffles the training data, takes one optimizer step per batch, then (with
    ``val_data``) computes the validation loss and ``metrics``. The model ends on ``device``.

    Args:
        model: the network; it outputs logits.
        loss_fn: ``loss_fn(logits, target)`` -> a scalar tensor, the mean over the batch
            (e.g. ``torch.nn.CrossEntropyLoss()``).
        train_data: a map-style torch Dataset yielding ``(input, target)`` pairs.
        val_data: the same for validation, or None.
        epochs: total number of epochs. With ``resume=True`` training continues from the
            checkpoint's epoch up to this number.
        lr: learning rate, > 0 (the peak rate when ``schedule`` varies it).
        batch_size: samples per step *per process*; under torchrun with N processes a step
            sees ``N * batch_size`` samples (DistributedDataParallel averages the gradients).
        metrics: name -> ``metric(logits, target)`` returning a scalar (tensor or float).
            Computed on ``val_data`` (required with metrics) and averaged over validation
            batches weighted by batch size (and over processes).
        device: ``"cpu"``, ``"cuda"``, ... or a torch.device; None picks
            :func:`mednotes.device`. Under torchrun, CUDA processes use ``cuda:LOCAL_RANK``.
        amp: automatic mixed precision. ``"auto"``: on for CUDA (float16 autocast with a
            GradScaler), off elsewhere. ``True``: float16 + GradScaler on CUDA, bfloat16
            autocast on CPU (no scaler needed: bfloat16 has float32's range); other devices
            raise ValueError. ``False``: float32 throughout.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9).
        weight_decay: L2 penalty (decoupled for adamw), >= 0.
        schedule: how the learning rate moves over the ``epochs``, step by step:
            ``"constant"``, ``"cosine"`` (decay towards 0) or ``"onecycle"`` (warm up over
            the first 20% of the steps, then decay); see
            :func:`mednotes.train.schedule.lr_factor`. It depends only on the step number,
            so a resumed run follows the same curve.
        num_workers: DataLoader worker processes.
        seed: makes the run repeatable: fit calls :func:`mednotes.seed_everything` at the start
            of every epoch with a seed derived from (seed, epoch, rank), and the shuffling
            depends only on (seed, epoch). A resumed run therefore repeats a straight one.
        checkpoint: file to save (atomically) after every epoch: model, optimizer, GradScaler,
            epoch and history. With ``val_data`` the epoch with the lowest validation loss is
            also kept in ``<stem>-best<suffix>`` beside it. Only rank 0 writes.
        resume: continue from ``checkpoint`` if that file exists (weights, optimizer state,
            history); start afresh if it does not, so the same
            call works before and after a crash.
        progress: show a tqdm bar per epoch with the running loss and, at the end of the
            epoch, the validation numbers. Only rank 0 shows it; False prints nothing.
        val_batch_size: batch size for validation (default: ``batch_size``).

    Returns:
        the :class:`History` of all epochs (those before a resume included). The model is
        left in eval mode, ready for inference.

    Raises:
        ValueError: for a bad argument (the message names it).
        FloatingPointError: when the training loss is not finite after an epoch.

    Distributed: run the same script with ``torchrun --nproc_per_node=N script.py``. fit
    reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, joins the process group (gloo on CPU, nccl
    on CUDA) unless one exists, shards the training data with a DistributedSampler, wraps the
    model in DistributedDataParallel, sums validation numbers over processes, and destroys
    the group at the end if it created it.

    Explained in: Training a segmentation network.

    Example:
        >>> from torch.utils.data import TensorDataset
        >>> x = torch.linspace(-1, 1, 32).reshape(32, 1); y = 3 * x
        >>> net = nn.Linear(1, 1)
        >>> history = fit(net, nn.MSELoss(), TensorDataset(x, y), TensorDataset(x, y),
        ...               epochs=20, lr=0.1, batch_size=8, device="cpu", progress=False,
        ...               metrics={"mae": lambda p, t: (p - t).abs().mean()})
        >>> history[-1]["val_loss"] < 0.01, len(history)
        (True, 20)
    """
    _check_arguments(model, loss_fn, train_data, val_data, epochs=epochs, lr=lr,
                     batch_size=batch_size, metrics=metrics, amp=amp, optimizer=optimizer,
                     weight_decay=weight_decay, schedule=schedule, num_workers=num_workers,
                     checkpoint=checkpoint, resume=resume, val_batch_size=val_batch_size)
    device = _resolve_device(device)
    use_amp, amp_dtype = _amp_settings(amp, device)
    context = distributed.setup(device)
    try:
        return _fit(model, loss_fn, train_data, val_data, context=context, device=device,
                    use_amp=use_amp, amp_dtype=amp_dtype, epochs=epochs, lr=lr,
                    batch_size=batch_size, metrics=dict(metrics or {}), optimizer=optimizer,
                    weight_decay=weight_decay, schedule=schedule, num_workers=num_workers,
                    seed=seed,
                    checkpoint=Path(checkpoint) if checkpoint is not None else None,
                    resume=resume, progress=progress,
                    val_batch_size=val_batch_size or batch_size)
    finally:
        distributed.teardown(context)


def _fit(model, loss_fn, train_data, val_data, *, context, device, use_amp, amp_dtype,
         epochs, lr, batch_size, metrics, optimizer, weight_decay, schedule, num_workers,
         seed, checkpoint, resume, progress, val_batch_size) -> History:
    seed_everything(seed)
    model.to(device)
    net = model
    if context.distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = _make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and amp_dtype == torch.float16)

    history, start = History(), 0
    if resume and checkpoint.is_file():
        state = load_checkpoint(checkpoint, model, opt, map_location=device)
        start, history = state["epoch"], state["history"] or History()
        if scaler.is_enabled() and state["extra"].get("scaler"):
            scaler.load_state_dict(state["extra"]["scaler"])

    # One generator drives shuffling and worker seeds; it is re-seeded every epoch.
    generator = torch.Generator()
    if context.distributed:
        sampler = DistributedSampler(train_data, num_replicas=context.world_size,
                                     rank=context.rank, shuffle=True, seed=seed)
    else:
        sampler = RandomSampler(train_data, generator=generator)
    pin = device.type == "cuda"
    train_loader = DataLoader(train_data, batch_size=batch_size, sampler=sampler,
                              num_workers=num_workers, pin_memory=pin, generator=generator)
    val_loader = None
    if val_data is not None:
        # Unpadded shards (rank, rank + N, ...), so every sample counts exactly once.
        shard = (Subset(val_data, range(context.rank, len(val_data), context.world_size))
                 if context.distributed else val_data)
        val_loader = DataLoader(shard, batch_size=val_batch_size, shuffle=False,
                                num_workers=num_workers, pin_memory=pin)

    show = progress and context.is_main
    total_steps = epochs * len(train_loader)
    step = _Step(net, loss_fn, opt, scaler, device, use_amp, amp_dtype,
                 lambda i: lr * lr_factor(schedule, i, total_steps))
    for epoch in range(start + 1, epochs + 1):
        began = time.perf_counter()
        seed_everything(_epoch_seed(seed, epoch, context.rank))
        generator.manual_seed(_epoch_seed(seed, epoch, 0))
        if context.distributed:
            sampler.set_epoch(epoch)
        with tqdm(total=len(train_loader), desc=f"epoch {epoch}/{epochs}", unit="batch",
                  disable=not show, dynamic_ncols=True, leave=True) as bar:
            record = {"epoch": epoch,
                      "train_loss": _train_epoch(step, train_loader, bar, context,
                                                 first=(epoch - 1) * len(train_loader))}
            if not math.isfinite(record["train_loss"]):
                raise FloatingPointError(
                    f"the training loss is {record['train_loss']} after epoch {epoch}; "
                    f"try a smaller lr (now {opt.param_groups[0]['lr']:g}) or check the data")
            if val_loader is not None:
                record.update(_evaluate(model, loss_fn, val_loader, metrics, device, use_amp,
                                        amp_dtype, context))
            record["seconds"] = time.perf_counter() - began
            record["lr"] = opt.param_groups[0]["lr"]
            bar.set_postfix({k: _short(v) for k, v in record.items()
                             if k not in ("epoch", "seconds", "lr")})
        history.append(record)
        if checkpoint is not None and context.is_main:
            save_checkpoint(checkpoint, model, opt, epoch, history, scaler=scaler.state_dict())
            if "val_loss" in record and history.best("val_loss")["epoch"] == epoch:
                save_checkpoint(checkpoint.with_name(f"{checkpoint.stem}-best{checkpoint.suffix}"),
                                model, opt, epoch, history, scaler=scaler.state_dict())
    if context.distributed:
        torch.distributed.barrier()  # nobody reads the checkpoint before rank 0 has written it
    model.eval()
    return history


class _Step:
    """One optimizer step on one batch, with or without mixed precision."""

    def __init__(self, net, loss_fn, opt, scaler, device, use_amp, amp_dtype, lr_at):
        self.net, self.loss_fn, self.opt, self.scaler = net, loss_fn, opt, scaler
        self.device, self.use_amp, self.amp_dtype = device, use_amp, amp_dtype
        self.lr_at = lr_at  # global step number -> learning rate

    def __call__(self, inputs, target, number: int) -> torch.Tensor:
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(number)
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            loss = self.loss_fn(self.net(inputs), target)
        _check_scalar(loss, "loss_fn")
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return loss.detach()


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
    totals = torch.zeros(len(metrics) + 2, device=device)  # loss, metrics..., samples
    for batch in loader:
        inputs, target = _to_device(batch, device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            logits = model(inputs)
        logits = logits.float()
        n = len(inputs)
        values = [loss_fn(logits, target)]
        for name, metric in metrics.items():
            values.append(_check_scalar(
                torch.as_tensor(metric(logits, target), device=device), f"metrics[{name!r}]"))
        totals[:-1] += torch.stack([v.detach().float() for v in values]) * n
        totals[-1] += n
    distributed.all_reduce_sum(totals, context)
    means = (totals[:-1] / totals[-1]).tolist()
    return dict(zip(["val_loss", *metrics], means))


def _to_device(batch, device: torch.device):
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        items = f" with {len(batch)} items" if isinstance(batch, (list, tuple)) else ""
        raise ValueError("the datasets must yield (input, target) pairs; got a batch of "
                         f"type {type(batch).__name__}{items}")
    return [part.to(device, non_blocking=True) if isinstance(part, torch.Tensor) else part
            for part in batch]


def _check_scalar(value: torch.Tensor, name: str) -> torch.Tensor:
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
    if isinstance(device, torch.device):
        chosen = device
    elif device is None or isinstance(device, str):
        chosen = pick_device(device)
    else:
        raise TypeError(f"device must be None, a str or a torch.device, got "
                        f"{type(device).__name__}")
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


def _check_arguments(model, loss_fn, train_data, val_data, *, epochs, lr, batch_size, metrics,
                     amp, optimizer, weight_decay, schedule, num_workers, checkpoint, resume,
                     val_batch_size) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is None and name == "val_data":
            continue
        if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
            raise TypeError(f"{name} must be a map-style Dataset (with __getitem__ and "
                            f"__len__), got {type(data).__name__}")
        if len(data) == 0:
            raise ValueError(f"{name} is empty")
    if not is_int(epochs) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    if (isinstance(lr, bool) or not isinstance(lr, (int, float))
            or not math.isfinite(lr) or lr <= 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if val_batch_size is not None and (not is_int(val_batch_size) or val_batch_size < 1):
        raise ValueError(f"val_batch_size must be None or an int >= 1, got {val_batch_size!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    if (isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float))
            or not weight_decay >= 0):
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
    if not is_int(num_workers) or num_workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if not (amp == "auto" or isinstance(amp, bool)):
        raise ValueError(f"amp must be 'auto', True or False, got {amp!r}")
    if metrics is not None:
        if not isinstance(metrics, Mapping):
            raise TypeError(f"metrics must be a dict name -> callable, got "
                            f"{type(metrics).__name__}")
        if metrics and val_data is None:
            raise ValueError("metrics are computed on val_data, but val_data is None")
        for name, metric in metrics.items():
            if not isinstance(name, str) or name in CORE_KEYS:
                raise ValueError(f"metrics names must be str and not one of {CORE_KEYS}, "
                                 f"got {name!r}")
            if not callable(metric):
                raise TypeError(f"metrics[{name!r}] must be callable, got "
                                f"{type(metric).__name__}")
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a path or None, got {type(checkpoint).__name__}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path> to resume from")
