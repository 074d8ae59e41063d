"""Time mednotes.pooling against torch.nn.functional (and kornia for BlurPool) in one run.

Usage:
    python benchmarks/pooling.py [--device cpu|cuda|mps] [--quick]
    MEDNOTES_QUICK=1 python benchmarks/pooling.py

Prints one row per op on a (8, 64, 128, 128) batch (and a (2, 16, 32, 64, 64) volume for the
3-D ops): the reference time, our time, and their ratio (ours / reference; below 1 is
faster). Forward only, under torch.no_grad. Ops are timed in short blocks of back-to-back
calls, ours and the reference alternating round by round so that a busy moment of the
machine hits both alike; each time is the median over rounds, after a warm-up call.

The device is ``mednotes.device()``'s choice (CUDA when present, then MPS, then the CPU;
``MEDNOTES_DEVICE`` overrides it) unless ``--device`` names one. ``--quick`` (or the
environment variable ``MEDNOTES_QUICK=1``) prints the same rows on a (2, 16, 64, 64) batch
and a (1, 8, 16, 32, 32) volume with 3 rounds: a check that the script and the ratios work,
done in seconds; the ratios of small inputs say less about large ones.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import mednotes
from mednotes.pooling import (
    avg_pool2d,
    avg_pool3d,
    blur_pool2d,
    max_blur_pool2d,
    max_pool2d,
    max_pool3d,
)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work: kernels run asynchronously, so a clock read without this
    would time the launch only."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def timed(fn: Callable[[], torch.Tensor], device: torch.device, calls: int) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / calls


def compare(
    ours: Callable[[], torch.Tensor],
    reference: Callable[[], torch.Tensor],
    device: torch.device,
    rounds: int,
) -> tuple[float, float]:
    ours(), reference()  # warm-up: allocator, kernels, lazy initialisation
    calls = 1 if device.type == "cpu" else 10
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    for _ in range(rounds):
        times["ours"].append(timed(ours, device, calls))
        times["reference"].append(timed(reference, device, calls))
    return statistics.median(times["ours"]), statistics.median(times["reference"])


def cases(x: torch.Tensor, v: torch.Tensor) -> list[tuple[str, Callable, Callable]]:
    found = [
        ("max_pool2d k=2", lambda: max_pool2d(x, 2), lambda: F.max_pool2d(x, 2)),
        ("max_pool2d k=3 s=2 p=1", lambda: max_pool2d(x, 3, 2, 1),
         lambda: F.max_pool2d(x, 3, 2, 1)),
        ("avg_pool2d k=2", lambda: avg_pool2d(x, 2), lambda: F.avg_pool2d(x, 2)),
        ("avg_pool2d k=3 s=1 p=1", lambda: avg_pool2d(x, 3, 1, 1),
         lambda: F.avg_pool2d(x, 3, 1, 1)),
        ("max_pool3d k=2", lambda: max_pool3d(v, 2), lambda: F.max_pool3d(v, 2)),
        ("avg_pool3d k=2", lambda: avg_pool3d(v, 2), lambda: F.avg_pool3d(v, 2)),
    ]
    try:
        import kornia.filters as kf
    except ImportError:
        print("kornia not installed: BlurPool rows skipped")
    else:
        found += [
            ("blur_pool2d k=3 (vs kornia)", lambda: blur_pool2d(x, 3),
             lambda: kf.blur_pool2d(x, 3)),
            ("max_blur_pool2d k=3 (vs kornia)", lambda: max_blur_pool2d(x, 3),
             lambda: kf.max_blur_pool2d(x, 3)),
        ]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, cuda:1 or mps (default: mednotes.device())")
    parser.add_argument("--quick", action="store_true",
                        help="small inputs, 3 rounds: seconds instead of minutes")
    args = parser.parse_args()
    device = mednotes.device(args.device)
    quick = args.quick or os.environ.get("MEDNOTES_QUICK", "") not in ("", "0")
    shape_2d, shape_3d = ((2, 16, 64, 64), (1, 8, 16, 32, 32)) if quick else (
        (8, 64, 128, 128), (2, 16, 32, 64, 64))
    rounds = 3 if quick else 7
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape_2d, generator=g).to(device)
    v = torch.randn(*shape_3d, generator=g).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(f"device: {device} ({name or device.type}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads, x {tuple(x.shape)}, v {tuple(v.shape)}"
          + (", quick mode" if quick else ""))
    print(f"{'op':<34}{'reference ms':>14}{'ours ms':>10}{'ratio':>8}")
    with torch.no_grad():
        for label, ours, reference in cases(x, v):
            mine, theirs = compare(ours, reference, device, rounds)
            print(f"{label:<34}{theirs * 1e3:>14.2f}{mine * 1e3:>10.2f}{mine / theirs:>8.2f}")


if __name__ == "__main__":
    main()
