"""Time mednotes.conv's methods against torch.nn.functional.conv2d/conv3d in the same run.

Usage:
    python benchmarks/conv.py [--device cpu|cuda] [--quick]

Prints one row per shape: the native time and, for every method, its time and its ratio to
native (method time / native time; below 1 is faster than torch). Then it checks the two goals
of ``method="auto"``: never more than 1.1x slower than native on any shape, and at least 3x
faster than native for kernels of 11 and larger on a single-channel 512x512 image.

Methods are timed in blocks of back-to-back calls, the blocks interleaved round by round so
that a slow moment of the machine hits all methods alike; the reported time per call is the
median over rounds, after a warm-up call and a warm-up block. native, auto and fft are timed
together first, direct and im2col afterwards (their huge temporaries would disturb the fast
ones). Timings on a shared machine are noisy: the script prints how busy the CPUs were before
it started, and a run should be repeated when that is high.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mednotes.conv import choose_method, conv2d, conv3d

METHODS = ("auto", "direct", "im2col", "fft")
AUTO_SLOWDOWN_LIMIT = 1.1  # goal 1: auto <= 1.1x native everywhere
LARGE_KERNEL_SPEEDUP = 3.0  # goal 2: auto >= 3x faster than native for k >= 11 (1 channel, 512^2)
BLOCK_S = 0.05  # length of one timed block of back-to-back calls


@dataclass
class Case:
    group: str
    batch: int
    in_channels: int
    out_channels: int
    size: int
    kernel: int
    dims: int

    @property
    def label(self) -> str:
        spatial = "x".join([str(self.size)] * self.dims)
        return (
            f"{self.group:<10} N={self.batch} {self.in_channels}->{self.out_channels} "
            f"{spatial} k={self.kernel}"
        )


def cases(quick: bool) -> list[Case]:
    kernels = (3, 11, 31) if quick else (3, 5, 7, 11, 15, 21, 31)
    found = [Case("3x3 layer", 8, 64, 64, 128, 3, 2)]
    found += [Case("1ch image", 1, 1, 1, 512, k, 2) for k in kernels]
    found += [Case("3D", 1, 8, 8, 64, k, 3) for k in ((3,) if quick else (3, 7))]
    return found


def timed(fn: Callable[[], torch.Tensor], device: torch.device, calls: int = 1) -> float:
    """Seconds per call, averaged over a block of back-to-back calls."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / calls


def _time_group(
    calls: dict[str, Callable[[], torch.Tensor]],
    device: torch.device,
    rounds: int,
    budget_s: float,
    calls_made: dict[str, int],
) -> dict[str, list[float]]:
    """Seconds per call of each function, one value per round.

    Blocks of about BLOCK_S of back-to-back calls (like torch.utils.benchmark's
    blocked_autorange), interleaved across functions round by round so that a slow moment of
    the machine hits all of them alike. Slow functions get fewer rounds, to keep the whole run
    within a few minutes; native and auto always get the same number.
    """
    warm = {name: timed(fn, device) for name, fn in calls.items()}  # first calls set things up
    warm = {
        name: timed(fn, device, max(1, int(BLOCK_S / warm[name]))) for name, fn in calls.items()
    }
    block = {name: max(1, int(BLOCK_S / max(t, 1e-7))) for name, t in warm.items()}
    limit = {
        name: max(1, min(rounds, int(budget_s / max(t * block[name], 1e-7))))
        for name, t in warm.items()
    }
    if "native" in limit:
        limit["native"] = limit["auto"] = max(limit["native"], limit["auto"], 3)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(max(limit.values())):
        for name, fn in calls.items():
            if r < limit[name]:
                times[name].append(timed(fn, device, block[name]))
    calls_made.update({name: limit[name] * block[name] for name in calls})
    return times


def bench_case(case: Case, device: torch.device, rounds: int, budget_s: float) -> dict:
    generator = torch.Generator().manual_seed(0)
    spatial = (case.size,) * case.dims
    x = torch.randn(case.batch, case.in_channels, *spatial, generator=generator).to(device)
    w = torch.randn(
        case.out_channels, case.in_channels, *((case.kernel,) * case.dims), generator=generator
    ).to(device)
    padding = case.kernel // 2  # keeps the image size, as a "same" layer would
    ours = conv2d if case.dims == 2 else conv3d
    native = F.conv2d if case.dims == 2 else F.conv3d
    calls: dict[str, Callable[[], torch.Tensor]] = {
        "native": lambda: native(x, w, None, 1, padding),
    }
    for method in METHODS:
        calls[method] = lambda m=method: ours(x, w, padding=padding, method=m)

    times: dict[str, list[float]] = {}
    calls_made: dict[str, int] = {}
    with torch.no_grad():
        # Two phases: native, auto and fft (the goals compare these) first, then the slow
        # teaching methods, whose multi-gigabyte allocations would otherwise disturb the memory
        # allocator and caches for the fast ones.
        for phase in (("native", "auto", "fft"), ("direct", "im2col")):
            group = {name: calls[name] for name in phase}
            times.update(_time_group(group, device, rounds, budget_s, calls_made))
    medians = {name: statistics.median(values) for name, values in times.items()}
    pad = ((padding, padding),) * case.dims
    chosen = choose_method(x, w, (1,) * case.dims, pad, (1,) * case.dims, 1)
    return {"case": case, "median": medians, "rounds": calls_made, "auto_choice": chosen}


def _busy_before_run(seconds: float = 1.0) -> float:
    """Fraction of the CPUs that other processes kept busy just now (Linux; nan elsewhere)."""
    def snapshot() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = snapshot()
        time.sleep(seconds)
        total1, idle1 = snapshot()
    except OSError:
        return float("nan")
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--quick", action="store_true", help="fewer shapes and rounds")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but torch.cuda.is_available() is False")
    device = torch.device(args.device)
    rounds, budget_s = (5, 0.5) if args.quick else (21, 1.5)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    print(f"torch {torch.__version__}, device {device} ({name}), "
          f"torch threads {torch.get_num_threads()}")
    print("time: ms per call, median over interleaved rounds of back-to-back blocks "
          "(n = calls timed); ratio = method time / native time\n")
    header = f"{'case':<36} {'native ms':>10}" + "".join(f" {m:>24}" for m in METHODS)
    print(header + "  auto picks")
    print("-" * (len(header) + 12))

    busy = _busy_before_run()
    results = []
    for case in cases(args.quick):
        result = bench_case(case, device, rounds, budget_s)
        results.append(result)
        med = result["median"]
        row = f"{case.label:<36} {med['native'] * 1e3:>10.2f}"
        for m in METHODS:
            cell = f"{med[m] * 1e3:.2f} ({med[m] / med['native']:.2f}x, n={result['rounds'][m]})"
            row += f" {cell:>24}"
        print(row + f"  {result['auto_choice']}", flush=True)

    print(f"\nCPU busy with other processes just before the run: {busy:.0%} (above ~10%, "
          "they compete for the cores and the timings get noisy)")
    worst = max(results, key=lambda r: r["median"]["auto"] / r["median"]["native"])
    worst_ratio = worst["median"]["auto"] / worst["median"]["native"]
    large = [r for r in results if r["case"].group == "1ch image" and r["case"].kernel >= 11]
    speedups = [r["median"]["native"] / r["median"]["auto"] for r in large]
    goal1 = worst_ratio <= AUTO_SLOWDOWN_LIMIT
    goal2 = bool(speedups) and min(speedups) >= LARGE_KERNEL_SPEEDUP
    print(f"auto <= {AUTO_SLOWDOWN_LIMIT}x native on every shape: {'PASS' if goal1 else 'FAIL'} "
          f"(worst {worst_ratio:.2f}x on {worst['case'].label.strip()})")
    print(f"auto >= {LARGE_KERNEL_SPEEDUP:.0f}x faster for k>=11 (1 channel, 512^2): "
          f"{'PASS' if goal2 else 'FAIL'} "
          f"(speedups {', '.join(f'{s:.1f}x' for s in speedups) or 'none measured'})")
    return 0 if goal1 and goal2 else 1


if __name__ == "__main__":
    sys.exit(main())
