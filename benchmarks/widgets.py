"""Time every explorer from a control change to its new picture; the goal is a median under 50 ms.

Usage:
    python benchmarks/widgets.py [--only NAME ...] [--no-baseline]

Each explorer of :mod:`mednotes.widgets` is built with the inputs its chapter uses, or with
small stand-ins where the chapter's inputs come out of a training run (listed in ``CASES``:
untrained networks of the chapter's architecture and size, synthetic training histories).
Then its controls are moved programmatically, the way a reader moves them: setting
``control.value`` runs the explorer's observers synchronously, so the time of that one
statement is the time from the change to the new ``picture.value`` (the PNG bytes of the
Image widget). Each move is checked to have changed the picture.

The moves are a reader's session: each slider swept through its range and back, each menu
visited and left. Where the explorer has few states (a handful of layers, depths, sizes), the
way back revisits states already shown; the table gives the median over all moves and the
median over the first visits of each state ("new"), so that a frame cache cannot hide a slow
first drawing.

The baseline is the old way of redrawing, timed in the same run on the same explorer: the same
moves again with every fast path switched off (``mednotes.widgets._figure.full_redraws``),
each picture a full matplotlib draw and PNG encoding (``figure_png``). The ratio is
baseline median / fast median.

Timings on a shared machine are noisy: the script prints the load average and how busy the
CPUs were just before it started; repeat a run made while they were high. Exit status 1 if any
explorer's median is 50 ms or more.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from conv import _busy_before_run  # benchmarks/ is on sys.path when run as a script

GOAL_MS = 50.0


# ------------------------------------------------------------------------ the explorers


def _ct():
    from mednotes.data import ct_slice, window

    return window(ct_slice()[0], "soft tissue")  # 128x128 in [0, 1], as chapters 1 and 3


def window_case():
    """First look: the CT slice in HU."""
    from mednotes.data import ct_slice
    from mednotes.widgets import window_explorer

    box = window_explorer(ct_slice()[0])
    center, width, picture = box.children
    moves = _sweep(center, [-600, -300, 0, 40, 100, 300, 500, 800]) + _sweep(
        width, [100, 350, 800, 1500, 2500, 400])
    return picture, moves


def correlation_case():
    """Convolution: a 12x12 crop of the CT slice, as the chapter."""
    from mednotes.widgets import correlation_explorer

    box = correlation_explorer(_ct()[40:52, 48:60], "edge (vertical)")
    (_, position), picker, picture = box.children[0].children, box.children[1], box.children[2]
    moves = _sweep(position, list(range(1, 30, 2)))
    moves += _sweep(picker, ["blur (box)", "sharpen", "edge (vertical)"])
    moves += _sweep(position, [40, 60, 99])
    return picture, moves


def downsampling_case():
    """Pooling: the 128x128 CT slice (cropped to 120x120 by the explorer)."""
    from mednotes.widgets import downsampling_explorer

    box = downsampling_explorer(_ct())
    factor, shift, picture = box.children
    moves = _sweep(shift, [1, 2, 3, 4, 5, 6, 7])
    moves += _sweep(factor, [3, 4]) + _sweep(shift, [3, 1, 0]) + _sweep(factor, [2])
    return picture, moves


def activation_case():
    """Layers: the default layer (64 units, 256 inputs), as the chapter."""
    from mednotes.widgets import activation_explorer

    box = activation_explorer()
    bias, scale, picker, slope, _, picture = box.children
    moves = _sweep(bias, [-0.5, -1.0, -1.5, -2.0, -2.5, -3.0, -3.5, -4.0])
    moves += _sweep(scale, [0.5, 1.5, 2.0])
    moves += _sweep(picker, ["leaky_relu"]) + _sweep(slope, [0.0, 0.05, 0.2, 0.3])
    moves += _sweep(picker, ["elu", "relu"]) + _sweep(bias, [-1.0, 0.5, 1.5])
    return picture, moves


def batch_size_case():
    """Layers: a pool of Conv3d(1, 8, 3) outputs on 256 random 16^3 cubes (the chapter convolves
    brain cubes of the same size)."""
    from mednotes.layers import Conv3d
    from mednotes.widgets import batch_size_explorer

    torch.manual_seed(0)
    cubes = torch.nn.functional.avg_pool3d(torch.rand(256, 1, 18, 18, 18), 3, 1)
    with torch.no_grad():
        pool = Conv3d(1, 8, 3, padding=1)(cubes)
    box = batch_size_explorer(pool)
    slider, _, picture = box.children
    return picture, _sweep(slider, [2, 4, 8, 16, 32, 16, 8, 4, 2, 1])


def overlap_case():
    """Losses: the default 48x48 lesion mask on a brain slice of the same size."""
    from mednotes.data import brain_lesions
    from mednotes.widgets import overlap_explorer
    from mednotes.widgets.overlap import default_target

    image = brain_lesions(1, size=48, seed=2)[0][0][0]
    box = overlap_explorer(default_target(48), image)
    right, down, grow, soft, _, picture = box.children
    moves = _sweep(right, [1, 2, 3, 4, 6, 8, 12, 16, 8, 0])
    moves += _sweep(down, [2, 4, -3]) + _sweep(grow, [-2, 2, 4]) + _sweep(soft, [0.5, 2.0])
    moves += _sweep(right, [-2, -6, 3])
    return picture, moves


def schedule_case():
    """Training: synthetic histories shaped like the chapter's runs (3 schedules, peak lr 0.01
    with 3 seeds and 0.03 with 1 seed, 6 epochs of 8 steps)."""
    from mednotes.train import History
    from mednotes.widgets.schedules import lr_curve, schedule_explorer

    steps, epochs, runs = 8, 6, {}
    rng = np.random.default_rng(0)
    for schedule in ("constant", "cosine", "onecycle"):
        for lr, seeds in ((0.01, 3), (0.03, 1)):
            curve = lr_curve(schedule, lr, steps * epochs)
            runs[schedule, lr] = [History([
                {"epoch": e + 1, "train_loss": float(np.exp(-0.3 * e) + 0.05 * rng.random()),
                 "dice": float(0.8 * (1 - np.exp(-0.5 * e)) + 0.05 * rng.random()),
                 "lr": float(curve[(e + 1) * steps - 1])} for e in range(epochs)])
                for _ in range(seeds)]
    box = schedule_explorer(runs, steps)
    buttons, slider, _, picture = box.children
    moves = _sweep(slider, [0.03, 0.01]) + _sweep(buttons, ["cosine"]) + _sweep(slider, [0.03])
    moves += _sweep(buttons, ["onecycle", "constant", "cosine"]) + _sweep(slider, [0.01])
    return picture, moves


def unet_case():
    """U-Net: an untrained UNet(1, 2, base_channels=8, depth=3) on a 48x48 brain slice (the
    chapter's network after training)."""
    from mednotes.data import brain_lesions
    from mednotes.nets import UNet
    from mednotes.widgets import unet_feature_explorer

    torch.manual_seed(0)
    net = UNet(1, 2, base_channels=8, depth=3)
    image = brain_lesions(1, size=48, seed=2)[0][0]
    box = unet_feature_explorer(net, image, level="encoder 1")
    menu, slider, _, picture = box.children
    moves = _sweep(slider, [1, 2, 3, 5, 8, 13, 15])
    moves += _sweep(menu, ["bottleneck", "decoder 2", "decoder 0", "encoder 0"])
    moves += _sweep(slider, [3, 4, 6, 7])
    return picture, moves


def gradient_case():
    """ResNets: gradient_profiles() as the chapter computes them (32 patches, depths 8, 20, 56,
    plain and residual, batch norm and none)."""
    from mednotes.widgets import gradient_profile_explorer
    from mednotes.widgets.gradients import gradient_profiles

    box = gradient_profile_explorer(gradient_profiles())
    depth, shortcuts, batch_norm, _, picture = box.children
    moves = _sweep(shortcuts, [True, False]) + _sweep(depth, [20, 8]) + _sweep(shortcuts, [True])
    moves += _sweep(batch_norm, [False]) + _sweep(depth, [20, 56]) + _sweep(shortcuts, [False])
    moves += _sweep(batch_norm, [True])
    return picture, moves


def vessel_case():
    """Ophthalmology: a 64x64 fundus image; as maps, a noisy blurred mask (for the U-Net) and a
    vesselness-like ridge response (for Frangi), both stand-ins for the trained models."""
    from scipy import ndimage

    from mednotes.data import retinal_vessels
    from mednotes.widgets import vessel_threshold_explorer

    image, mask = retinal_vessels(1, size=64, seed=2)[0]
    rng = np.random.default_rng(0)
    unet = np.clip(ndimage.gaussian_filter(mask.numpy().astype(float), 1.0) * 1.6
                   + 0.15 * rng.standard_normal(mask.shape), 0, 1)
    frangi = np.clip(-ndimage.gaussian_laplace(image[1].numpy().astype(float), 1.5), 0, None)
    maps = {"U-Net": torch.from_numpy(unet), "Frangi": torch.from_numpy(frangi)}
    box = vessel_threshold_explorer(image[1], mask, maps, {"U-Net": 0.5})
    method, slider, _, picture = box.children

    def option(k):  # the slider's options follow the method: pick the k-th when moving
        return lambda: slider.options[k][1]

    moves = _sweep(slider, [option(k) for k in range(2, 40, 4)]) + _sweep(method, ["Frangi"])
    moves += _sweep(slider, [option(k) for k in range(1, 41, 5)]) + _sweep(method, ["U-Net"])
    return picture, moves


def sliding_window_case():
    """Neuroradiology: a 40x40 brain slice, windows of 16, an untrained UNet(1, 2,
    base_channels=8, depth=2) reading channel 1 (the chapter's trained network)."""
    from mednotes.data import brain_lesions
    from mednotes.nets import UNet
    from mednotes.widgets import sliding_window_explorer
    from mednotes.widgets.sliding_window import sliding_window_frames

    torch.manual_seed(0)
    net = UNet(1, 2, base_channels=8, depth=2).eval()
    image = brain_lesions(1, size=40, seed=2)[0][0][0]
    box = sliding_window_explorer(sliding_window_frames(image, net, roi_size=16, channel=1))
    slider, toggle, _, picture = box.children
    moves = _sweep(slider, [0.25, 0.5, 0.75]) + _sweep(toggle, ["gaussian"])
    moves += _sweep(slider, [0.5, 0.25, 0.0]) + _sweep(toggle, ["constant"])
    return picture, moves


def grad_cam_case():
    """Trust: the chapter's detector (untrained) on 4 lesion slices of 32x32, three blocks."""
    from torch import nn

    from mednotes.data import brain_lesions
    from mednotes.widgets.gradcam import grad_cam_explorer, grad_cam_layers

    torch.manual_seed(0)
    width = 8
    net = nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * width, 2)).eval()
    data = brain_lesions(4, size=32, seed=1)
    view = torch.stack([data[i][0] for i in range(4)])
    layers = {"block 1": net[1], "block 2": net[4], "block 3": net[7]}
    box = grad_cam_explorer(view, grad_cam_layers(net, view, 1, layers), layer="block 3")
    layer, image, _, picture = box.children
    moves = _sweep(image, [1, 2, 3]) + _sweep(layer, ["block 2", "block 1"])
    moves += _sweep(image, [2, 1, 0]) + _sweep(layer, ["block 3"])
    return picture, moves


def stain_case():
    """Pathology: a 32x32 histology patch; two untrained ResNet(BasicBlock, (1, 1, 1, 1),
    base_channels=8) classifiers, the chapter's architecture."""
    from mednotes.data import histology_patches
    from mednotes.nets import BasicBlock, ResNet
    from mednotes.widgets import stain_explorer

    dataset = histology_patches(1, size=32, seed=2)
    patch = dataset[0][0]
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(ResNet(BasicBlock, (1, 1, 1, 1), num_classes=3, base_channels=8).eval())

    def predict(net):
        def run(x):
            with torch.no_grad():
                return net(x).softmax(1)
        return run

    box = stain_explorer(patch, {"no remedy": predict(nets[0]),
                                 "stain augmentation": predict(nets[1])}, dataset.classes)
    haematoxylin, eosin, _, picture = box.children
    moves = _sweep(haematoxylin, [1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 0.5, 0.75])
    moves += _sweep(eosin, [0.5, 1.5, 2.0, 1.0])
    return picture, moves


def _sweep(control, values) -> list:
    return [(control, value) for value in values]


CASES: dict[str, Callable] = {
    "window": window_case, "correlation": correlation_case, "downsampling": downsampling_case,
    "activation": activation_case, "batch_size": batch_size_case, "overlap": overlap_case,
    "schedule": schedule_case, "unet_feature": unet_case, "gradient_profile": gradient_case,
    "vessel_threshold": vessel_case, "sliding_window": sliding_window_case,
    "grad_cam": grad_cam_case, "stain": stain_case,
}


# ------------------------------------------------------------------------------ timing


def _controls_state(controls) -> tuple:
    return tuple(_hashable(c.value) for c in controls)


def _hashable(value):
    return value if not isinstance(value, (list, dict)) else repr(value)


def play(picture, moves, controls) -> list[tuple[float, bool, bool, float]]:
    """Time each move: ``(ms, picture changed, first visit of this state, CPU ms)``.

    The CPU time is this thread's (the explorers' work runs in it, torch on one thread): on
    an idle machine it is the wall time; on a busy one it shows the work without the waits.
    """
    seen, results = {_controls_state(controls)}, []
    for control, value in moves:
        value = value() if callable(value) else value
        before = picture.value
        start, cpu = time.perf_counter(), time.thread_time()
        control.value = value
        elapsed = 1e3 * (time.perf_counter() - start)
        used = 1e3 * (time.thread_time() - cpu)
        state = _controls_state(controls)
        results.append((elapsed, picture.value != before, state not in seen, used))
        seen.add(state)
    return results


def run_case(name: str, baseline: bool) -> dict:
    from mednotes.widgets import _figure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = CASES[name]()
    picture, moves = built
    controls = _distinct_controls(moves)
    fast = play(picture, moves, controls)
    full = None
    if baseline and hasattr(_figure, "full_redraws"):
        # The same moves again, from where the first pass ended, each picture drawn in full.
        with _figure.full_redraws():
            full = play(picture, moves, controls)
    return {"name": name, "fast": fast, "full": full}


def _distinct_controls(moves) -> list:
    found = []
    for control, _ in moves:
        if all(control is not c for c in found):
            found.append(control)
    return found


def report(result: dict) -> bool:
    fast = result["fast"]
    times = [t for t, _, _, _ in fast]
    new = [t for t, _, first, _ in fast if first]
    unchanged = sum(not changed for _, changed, _, _ in fast)
    median = statistics.median(times)
    new_median = statistics.median(new) if new else math.nan
    cpu = statistics.median(c for _, _, _, c in fast)
    full = result["full"]
    full_median = (statistics.median(t for t, changed, _, _ in full if changed) if full
                   else math.nan)
    ratio = full_median / median if full else math.nan
    ok = median < GOAL_MS and unchanged == 0
    print(f"{result['name']:<18}{len(times):>6}{len(new):>5}{median:>9.1f}{new_median:>9.1f}"
          f"{max(times):>9.1f}{cpu:>9.1f}{full_median:>11.1f}{ratio:>7.1f}  "
          f"{'PASS' if ok else 'FAIL'}"
          + (f" ({unchanged} moves left the picture unchanged)" if unchanged else ""))
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(CASES), help="explorers to time")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the full-redraw baseline (half the run time)")
    args = parser.parse_args()
    import matplotlib

    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    print(f"matplotlib {matplotlib.__version__}, torch {torch.__version__}, {os.cpu_count()} "
          f"CPUs, {torch.get_num_threads()} torch threads, load average {load[0]:.2f}")
    print(f"CPU busy with other processes just before the run: {_busy_before_run():.0%} "
          "(above ~10%, timings are inflated: rerun when the machine is idle)")
    print("ms from control change to new picture; moves: all changes, new: first visits of a "
          "state;\ncpu: median CPU ms of the explorer's thread (its work without waiting for "
          "busy cores);\nfull: median of the same explorer redrawn the old way (full draw + "
          "PNG), ratio = full / median\n")
    print(f"{'explorer':<18}{'moves':>6}{'new':>5}{'median':>9}{'new med':>9}{'max':>9}"
          f"{'cpu med':>9}{'full med':>11}{'ratio':>7}")
    names = args.only or list(CASES)
    failed = []
    for name in names:
        result = run_case(name, baseline=not args.no_baseline)
        if not report(result):
            failed.append(name)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    print(f"\nload average at the end: {load[0]:.2f}")
    if failed:
        print(f"{len(failed)} of {len(names)} explorers at or above {GOAL_MS:.0f} ms median: "
              + ", ".join(failed))
        return 1
    print(f"all {len(names)} explorers under {GOAL_MS:.0f} ms median")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
