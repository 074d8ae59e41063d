"""Train-step time and peak memory of mednotes.nets.UNet against MONAI's BasicUNet, same run.

Usage:
    python benchmarks/nets.py [--quick] [--cpu-only]
    MEDNOTES_QUICK=1 python benchmarks/nets.py

What is timed: one training step, that is forward, cross-entropy loss, backward and an Adam
step (``zero_grad(set_to_none=True)`` first), on random images and labels. The two networks
alternate round by round, so that a busy moment of the machine hits both alike; each time is
the fastest round, after two warm-up steps (allocator, oneDNN/cuDNN kernel choice, Adam's
state; the second is the memory measurement). The fastest, not the median: other processes
on a shared machine only ever add time, in bursts that move a median of a few rounds by half,
so the minimum is the better estimate of a network's own cost. On CUDA each round is a block
of 10 back-to-back steps between two synchronisations.

Equal widths. ``UNet(base_channels=f, depth=4, norm="batch")`` has levels of f, 2f, 4f, 8f and
16f channels. MONAI's ``BasicUNet`` always has four down-steps (five levels) and takes one
width per level plus one for its last decoder level, so the same widths are
``features=(f, 2f, 4f, 8f, 16f, f)`` (its default ``(32, 32, 64, 128, 256, 32)`` does not double
at the first step), with ``upsample="deconv"`` (2x2 transposed convolutions, as ours),
``act="relu"`` and ``norm="batch"`` as ours, and ``bias=False`` (ours has no bias before a
norm). One difference remains, by MONAI's design: its last up-step keeps 2f channels
(``halves=False``), so its last decoder convolutions read 3f channels where ours read 2f, and it
does a little more arithmetic at full resolution. The script prints both networks' parameters
and multiply-adds (from :func:`mednotes.nets.summary`) so that the difference is in view.

Peak memory is what one training step needs above the resting state (weights and Adam's
state, gradients freed): activations kept for the backward pass, gradients and temporaries.

- CUDA: ``torch.cuda.max_memory_allocated()`` during the step minus
  ``torch.cuda.memory_allocated()`` before it.
- CPU: torch's CPU tensors come from ``malloc`` and are invisible to ``tracemalloc``, and
  the resident set (``VmHWM``) mixes them with the allocator's retained pages, which moves
  the peak of small steps by a few MiB at random. So the step runs once under
  ``torch.profiler`` with ``profile_memory=True``, which records every allocation and free
  of torch's CPU allocator with its time; the running sum of those records, in time order,
  peaks at the step's peak, the same quantity as ``max_memory_allocated`` on CUDA.
  (Memory that a library allocates outside torch's allocator is not seen by either.) The
  profiler's overhead does not matter: this step is not timed.

Cases: 2D and 3D on the CPU, and on CUDA when present: float32, bfloat16 and float16 autocast
(float16 with a ``GradScaler``), each with and without channels-last memory format. Printed: the
times, peaks and the ratios mednotes / MONAI (below 1: mednotes is faster or leaner), then one
PASS/FAIL line for the goal: no slower than MONAI in any case, at no more memory. "No slower"
allows ``TIME_TOLERANCE`` (5%) for timing noise on a shared machine; the memory allows
``MEMORY_TOLERANCE`` (2%). The worst ratios are printed either way.

Every batch holds at least 2 images. With one small image torch's CPU convolution takes, by a
size heuristic, oneDNN for layers with many input channels and its im2col path
(``slow_conv3d``, with a buffer of ``C_in * 27`` times the voxels) for layers with few: at
1x32³ MONAI's last decoder convolution (24 input channels) gets oneDNN and ours (16) the
buffer, and that heuristic, not the networks, would decide the memory column.

``--quick`` (or ``MEDNOTES_QUICK=1``) uses small inputs and 7 rounds: about a minute on a
2-core CPU; small inputs say less about large ones. The full run uses larger inputs and 9
rounds (a few minutes).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mednotes.nets import UNet, count_parameters, summary

from conv import _busy_before_run as _busy  # benchmarks/ is on sys.path when run as a script

TIME_TOLERANCE = 1.05  # "no slower": time ratio at most this
MEMORY_TOLERANCE = 1.02  # "no more memory": memory ratio at most this
NETS = ("mednotes", "MONAI")


@dataclass
class Case:
    device: str
    dim: int
    batch: int
    size: int
    base: int  # f: widths f, 2f, 4f, 8f, 16f
    amp: torch.dtype | None = None
    channels_last: bool = False

    @property
    def label(self) -> str:
        spatial = "x".join([str(self.size)] * self.dim)
        precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp]
        layout = " cl" if self.channels_last else ""
        return (f"{self.device} {self.dim}D N={self.batch} {spatial} f={self.base} "
                f"{precision}{layout}")

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.batch, 1) + (self.size,) * self.dim


def cases(quick: bool, cuda: bool) -> list[Case]:
    if quick:
        found = [Case("cpu", 2, 2, 64, 16), Case("cpu", 3, 2, 32, 8)]
        gpu = [(2, 8, 128, 32), (3, 2, 64, 16)]
    else:
        found = [Case("cpu", 2, 8, 128, 16), Case("cpu", 3, 2, 64, 8)]
        gpu = [(2, 16, 256, 32), (3, 2, 96, 32)]
    if cuda:
        for dim, batch, size, base in gpu:
            for amp in (None, torch.bfloat16, torch.float16):
                for channels_last in (False, True):
                    found.append(Case("cuda", dim, batch, size, base, amp, channels_last))
    return found


def build(name: str, case: Case) -> nn.Module:
    f = case.base
    if name == "mednotes":
        return UNet(1, 2, dim=case.dim, base_channels=f, depth=4, norm="batch", up="transpose")
    from monai.networks.nets import BasicUNet

    return BasicUNet(spatial_dims=case.dim, in_channels=1, out_channels=2,
                     features=(f, 2 * f, 4 * f, 8 * f, 16 * f, f), act=("relu", {"inplace": True}),
                     norm="batch", bias=False, upsample="deconv")


def make_step(model: nn.Module, case: Case) -> tuple[Callable[[], None], Callable[[], None]]:
    """A training step on fixed random data, and a function that frees the gradients."""
    device = torch.device(case.device)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(case.shape, generator=generator).to(device)
    target = torch.randint(0, 2, (case.batch,) + case.shape[2:], generator=generator).to(device)
    memory_format = {2: torch.channels_last, 3: torch.channels_last_3d}[case.dim]
    model.to(device)
    if case.channels_last:
        model.to(memory_format=memory_format)
        x = x.contiguous(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda") if case.amp == torch.float16 else None

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=case.amp or torch.float32,
                            enabled=case.amp is not None):
            loss = F.cross_entropy(model(x), target)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    return step, lambda: optimizer.zero_grad(set_to_none=True)


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(step: Callable[[], None], device: str, calls: int) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / calls


# ---------------------------------------------------------------------------- peak memory

def _cpu_peak(step: Callable[[], None]) -> float:
    """Peak bytes allocated through torch's CPU allocator during the step, from the profiler's
    allocation records (see the module docstring)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        step()
    try:
        events = profiler.profiler.kineto_results.events()
    except AttributeError:  # the raw records moved in this torch version
        return float("nan")
    records = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    allocated = peak = 0
    for _, nbytes in records:  # frees are negative
        allocated += nbytes
        peak = max(peak, allocated)
    return float(peak)


def _cuda_peak(step: Callable[[], None]) -> float:
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return float(torch.cuda.max_memory_allocated() - before)


def peak_memory(step: Callable[[], None], free_grads: Callable[[], None], device: str) -> float:
    free_grads()
    peak = (_cuda_peak if device == "cuda" else _cpu_peak)(step)
    free_grads()
    return peak


# --------------------------------------------------------------------------------- a case

def bench_case(case: Case, rounds: int) -> dict[str, dict[str, float]]:
    torch.manual_seed(0)
    models = {name: build(name, case) for name in NETS}
    info = {}
    for name, model in models.items():
        s = summary(model, case.shape, verbose=False)
        info[name] = {"params": count_parameters(model), "macs": s.total_macs}
    steps = {name: make_step(model, case) for name, model in models.items()}
    for name in NETS:  # warm-up, each network on its own; the memory steps warm up further
        steps[name][0]()
    for name in NETS:
        info[name]["memory"] = peak_memory(*steps[name], case.device)
    calls = 1 if case.device == "cpu" else 10
    times: dict[str, list[float]] = {name: [] for name in NETS}
    for r in range(rounds):
        order = NETS if r % 2 == 0 else NETS[::-1]  # neither always runs first
        for name in order:
            times[name].append(timed(steps[name][0], case.device, calls))
    for name in NETS:
        info[name]["time"] = min(times[name])
    del models, steps
    if case.device == "cuda":
        torch.cuda.empty_cache()
    return info


# ------------------------------------------------------------------------------- printing

def _mib(n: float) -> str:
    return "n/a" if math.isnan(n) else f"{n / 2**20:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small inputs, 7 rounds: about a minute on a 2-core CPU")
    parser.add_argument("--cpu-only", action="store_true", help="skip the CUDA cases")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("MEDNOTES_QUICK", "") not in ("", "0")
    try:
        import monai
    except ImportError:
        parser.error("MONAI is the reference here: pip install monai")
    cuda = torch.cuda.is_available() and not args.cpu_only
    if cuda:
        torch.backends.cudnn.benchmark = True  # as in training: both networks get tuned kernels
    rounds = 7 if quick else 9

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"torch {torch.__version__}, MONAI {monai.__version__}, {torch.get_num_threads()} "
          f"torch CPU threads, {os.cpu_count()} CPUs, load average {load[0]:.2f}"
          + (f", CUDA {torch.cuda.get_device_name()}" if cuda else ", no CUDA")
          + (", quick mode" if quick else ""))
    print(f"CPU busy with other processes just before the run: {_busy():.0%} (above ~10% they "
          "compete for the cores: CPU times and their ratios are then noise; rerun when idle)")
    print("step = forward + cross-entropy + backward + Adam; time: ms of the fastest of "
          f"{rounds} interleaved rounds; memory: peak MiB above the resting state; "
          "ratio = mednotes / MONAI\n")
    header = (f"{'case':<34}{'params m/M':>18}{'MACs ratio':>11}{'ms m':>9}{'ms M':>9}"
              f"{'time':>7}{'MiB m':>9}{'MiB M':>9}{'mem':>7}")
    print(header)
    print("-" * len(header))
    worst_time, worst_memory = (0.0, ""), (0.0, "")
    for case in cases(quick, cuda):
        info = bench_case(case, rounds)
        ours, theirs = info["mednotes"], info["MONAI"]
        time_ratio = ours["time"] / theirs["time"]
        memory_ratio = ours["memory"] / theirs["memory"] if theirs["memory"] > 0 else float("nan")
        worst_time = max(worst_time, (time_ratio, case.label))
        if not math.isnan(memory_ratio):
            worst_memory = max(worst_memory, (memory_ratio, case.label))
        params = f"{ours['params'] / 1e6:.2f}M/{theirs['params'] / 1e6:.2f}M"
        print(f"{case.label:<34}{params:>18}{ours['macs'] / theirs['macs']:>11.2f}"
              f"{ours['time'] * 1e3:>9.1f}{theirs['time'] * 1e3:>9.1f}{time_ratio:>7.2f}"
              f"{_mib(ours['memory']):>9}{_mib(theirs['memory']):>9}{memory_ratio:>7.2f}",
              flush=True)

    passed_time = worst_time[0] <= TIME_TOLERANCE
    passed_memory = worst_memory[0] <= MEMORY_TOLERANCE if worst_memory[1] else False
    print(f"\nworst time ratio {worst_time[0]:.2f} ({worst_time[1]}); worst memory ratio "
          f"{worst_memory[0]:.2f} ({worst_memory[1] or 'not measured'})")
    ok = passed_time and passed_memory
    print(f"no slower than MONAI in any case (time ratio <= {TIME_TOLERANCE}), at no more "
          f"memory (ratio <= {MEMORY_TOLERANCE}): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
