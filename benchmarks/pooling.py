"""Time mednotes.pooling against torch.nn.functional (and kornia for BlurPool) in one run.

Usage:
    python benchmarks/pooling.py [--device cpu|cuda] [--quick]

Prints one row per op on a (8, 64, 128, 128) batch (and a (2, 16, 32, 64, 64) volume for the
3-D ops): the reference time, our time, and their ratio (ours / reference; below 1 is
faster). Forward only, under torch.no_grad. Ops are timed in short blocks of back-to-back
calls, ours and the reference alternating round by round so that a busy moment of the
machine hits both alike; each time is the median over rounds, after a warm-up call.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from mednotes.pooling import (
    avg_pool2d,
    avg_pool3d,
    blur_pool2d,
    max_blur_pool2d,
    max_pool2d,
    max_pool3d,
)


def timed(fn: Callable[[], torch.Tensor], device: torch.device, calls: int) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / calls


def compare(
    ours: Callable[[], torch.Tensor],
    reference: Callable[[], torch.Tensor],
    device: torch.device,
    rounds: int,
) -> tuple[float, float]:
    ours(), reference()  # warm-up: allocator, kernels, lazy initialisation
    calls = 10 if device.type == "cuda" else 1
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
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, a smaller batch")
    args = parser.parse_args()
    device = torch.device(args.device)
    batch = 2 if args.quick else 8
    rounds = 3 if args.quick else 7
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 64, 128, 128, generator=g).to(device)
    v = torch.randn(2, 16, 32, 64, 64, generator=g).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(f"device: {device} ({name or 'cpu'}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads, x {tuple(x.shape)}, v {tuple(v.shape)}")
    print(f"{'op':<34}{'reference ms':>14}{'ours ms':>10}{'ratio':>8}")
    with torch.no_grad():
        for label, ours, reference in cases(x, v):
            mine, theirs = compare(ours, reference, device, rounds)
            print(f"{label:<34}{theirs * 1e3:>14.2f}{mine * 1e3:>10.2f}{mine / theirs:>8.2f}")


if __name__ == "__main__":
    main()
