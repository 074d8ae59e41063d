"""mednotes.inference against MONAI's sliding_window_inference, compute_importance_map and
dense_patch_slices: 2D and 3D, both blending modes, several overlaps, sizes the windows do not
divide and inputs smaller than the window; forward and backward (the input's and the network's
gradients); CPU bfloat16 autocast; CPU and, when present, CUDA. Plus properties that need no
reference (no overlap = tiles side by side; one window = the network itself) and bad input."""

from __future__ import annotations

import itertools

import pytest
import torch
from conftest import DEVICES
from torch import nn

from mednotes.inference import (
    blend_weights,
    count_windows,
    importance_map,
    sliding_window_inference,
    window_starts,
)

monai_inferers = pytest.importorskip("monai.inferers")
monai_data_utils = pytest.importorskip("monai.data.utils")

CASES = [  # (spatial size, roi): divisible, not divisible, smaller than the window on an axis
    ((32, 32), (16, 16)),
    ((37, 50), (16, 12)),
    ((10, 29), (16, 8)),
    ((20, 23, 17), (8, 8, 8)),
    ((5, 18, 13), (8, 8, 4)),
]
OVERLAPS = [0.0, 0.25, 0.5, 0.8]
#: (overlap, sw_batch_size) pairs for the forward-and-backward comparison (each costs windows)
RUNS = [(0.0, 1), (0.25, 4), (0.6, 3)]


def small_net(dim: int, seed: int = 0) -> nn.Module:
    """conv → ReLU → conv: a nonlinear predictor whose output keeps the window's size."""
    conv = nn.Conv2d if dim == 2 else nn.Conv3d
    torch.manual_seed(seed)
    return nn.Sequential(conv(2, 4, 3, padding=1), nn.ReLU(), conv(4, 3, 3, padding=1))


def run_both(x, roi, net, **options):
    """Output, input gradient and parameter gradients of ours and MONAI's on the same data."""
    results = []
    for which in ("ours", "monai"):
        x_ = x.detach().clone().requires_grad_(True)
        net.zero_grad()
        if which == "ours":
            out = sliding_window_inference(x_, roi, net, **options)
        else:
            sw = options.pop("sw_batch_size", 1)
            out = monai_inferers.sliding_window_inference(x_, roi, sw, net, **options)
            options["sw_batch_size"] = sw
        torch.manual_seed(1)
        probe = torch.randn(out.shape, device=out.device)   # a loss that weighs every voxel
        (out.float() * probe).sum().backward()
        results.append((out.detach(), x_.grad, [p.grad.clone() for p in net.parameters()]))
    return results


@pytest.mark.parametrize("size, roi", CASES)
@pytest.mark.parametrize("mode", ["constant", "gaussian"])
@pytest.mark.parametrize("device", DEVICES)
def test_forward_and_backward_match_monai(size, roi, mode, device):
    dim = len(size)
    net = small_net(dim).to(device)
    x = torch.randn(2, 2, *size, device=device)
    for overlap, sw_batch_size in RUNS:
        ours, monai = run_both(x, roi, net, overlap=overlap, mode=mode,
                               sw_batch_size=sw_batch_size)
        what = f"overlap={overlap}, sw_batch_size={sw_batch_size}"
        assert ours[0].shape == (2, 3, *size)
        torch.testing.assert_close(ours[0], monai[0], rtol=1e-5, atol=1e-6, msg=what)
        torch.testing.assert_close(ours[1], monai[1], rtol=1e-5, atol=1e-6, msg=what)
        for a, b in zip(ours[2], monai[2]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=what)


@pytest.mark.parametrize("size, roi", [CASES[1], CASES[3]])
def test_sigma_scale_per_axis_matches_monai(size, roi):
    net = small_net(len(size))
    x = torch.randn(1, 2, *size)
    sigma = (0.1, 0.3) if len(size) == 2 else (0.1, 0.2, 0.3)
    overlap = (0.5, 0.25) if len(size) == 2 else (0.5, 0.25, 0.0)
    with torch.no_grad():
        ours = sliding_window_inference(x, roi, net, overlap=overlap, mode="gaussian",
                                        sigma_scale=sigma)
        monai = monai_inferers.sliding_window_inference(x, roi, 1, net, overlap=overlap,
                                                        mode="gaussian", sigma_scale=sigma)
    torch.testing.assert_close(ours, monai, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size, roi", [CASES[1], CASES[3]])
@pytest.mark.parametrize("mode", ["constant", "gaussian"])
def test_under_cpu_bfloat16_autocast_close_to_monai(size, roi, mode):
    """The windows' outputs are bfloat16; both blend them into a float32 result."""
    net = small_net(len(size))
    x = torch.randn(1, 2, *size)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, monai = run_both(x, roi, net, overlap=0.5, mode=mode, sw_batch_size=2)
    assert ours[0].dtype == torch.float32
    scale = monai[0].abs().max()
    torch.testing.assert_close(ours[0], monai[0], rtol=2e-2, atol=2e-2 * scale)
    torch.testing.assert_close(ours[1], monai[1], rtol=5e-2, atol=5e-2 * monai[1].abs().max())
    for a, b in zip(ours[2], monai[2]):
        torch.testing.assert_close(a, b, rtol=5e-2, atol=5e-2 * b.abs().max())
    with torch.no_grad():   # and the autocast result is close to the float32 one
        exact = sliding_window_inference(x, roi, net, overlap=0.5, mode=mode)
    torch.testing.assert_close(ours[0], exact, rtol=5e-2, atol=5e-2 * scale)


@pytest.mark.parametrize("device", DEVICES)
def test_no_overlap_constant_is_the_tiles_side_by_side(device):
    net = small_net(2).to(device)
    x = torch.randn(1, 2, 32, 48, device=device)
    with torch.no_grad():
        out = sliding_window_inference(x, 16, net, overlap=0.0)
        tiles = [[net(x[..., i:i + 16, j:j + 16]) for j in range(0, 48, 16)]
                 for i in range(0, 32, 16)]
    expected = torch.cat([torch.cat(row, -1) for row in tiles], -2)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


def test_one_window_as_large_as_the_image_is_the_network():
    net = small_net(3)
    x = torch.randn(2, 2, 8, 12, 10)
    with torch.no_grad():
        for mode in ("constant", "gaussian"):
            out = sliding_window_inference(x, (8, 12, 10), net, mode=mode, overlap=0.5)
            torch.testing.assert_close(out, net(x), rtol=1e-5, atol=1e-6)


def test_gradient_in_float64_passes_gradcheck():
    net = small_net(2).double()
    x = torch.randn(1, 2, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda v: sliding_window_inference(v, (4, 4), net, overlap=0.5, mode="gaussian"), (x,))


@pytest.mark.parametrize("size, roi", CASES)
@pytest.mark.parametrize("overlap", OVERLAPS)
def test_window_positions_match_monai(size, roi, overlap):
    padded = tuple(max(s, r) for s, r in zip(size, roi))
    interval = monai_inferers.utils._get_scan_interval(padded, roi, len(size), (overlap,) * len(size))
    slices = monai_data_utils.dense_patch_slices(padded, roi, interval)
    corners = sorted(tuple(s.start for s in window) for window in slices)
    starts = window_starts(size, roi, overlap)
    assert sorted(itertools.product(*starts)) == corners
    assert count_windows(size, roi, overlap) == len(slices)


@pytest.mark.parametrize("roi", [(5,), (16, 12), (8, 9, 4)])
@pytest.mark.parametrize("mode", ["constant", "gaussian"])
@pytest.mark.parametrize("sigma_scale", [0.125, 0.5, 0.02])
def test_importance_map_matches_monai(roi, mode, sigma_scale):
    ours = importance_map(roi, mode, sigma_scale)
    monai = monai_data_utils.compute_importance_map(roi, mode=mode, sigma_scale=sigma_scale)
    torch.testing.assert_close(ours, monai.float(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("size, roi", CASES)
@pytest.mark.parametrize("mode", ["constant", "gaussian"])
def test_blend_weights_is_the_sum_of_the_placed_maps(size, roi, mode):
    """An independent sum: MONAI's window slices and importance map, added up by hand."""
    padded = tuple(max(s, r) for s, r in zip(size, roi))
    interval = monai_inferers.utils._get_scan_interval(padded, roi, len(size), (0.5,) * len(size))
    weight = monai_data_utils.compute_importance_map(roi, mode=mode)
    total = torch.zeros(padded)
    for window in monai_data_utils.dense_patch_slices(padded, roi, interval):
        total[window] += weight
    crop = tuple(slice((p - s) // 2, (p - s) // 2 + s) for p, s in zip(padded, size))
    torch.testing.assert_close(blend_weights(size, roi, 0.5, mode), total[crop])


def test_hand_counted_windows():
    assert window_starts(10, 4, 0.0) == ([0, 4, 6],)
    assert window_starts(64, 32, 0.25) == ([0, 24, 32],)       # step int(32 · 0.75) = 24
    assert count_windows((64, 64, 64), (32, 32, 32), 0.5) == 27
    assert count_windows((100, 100), (32, 32), 0.0) == 16       # ceil(100 / 32) = 4 per axis
    assert window_starts((3, 40), (8, 40), 0.5) == ([0], [0])   # padded axis, whole axis


def test_progress_bar_counts_the_calls(capsys):
    net = small_net(2)
    with torch.no_grad():
        sliding_window_inference(torch.randn(1, 2, 32, 32), 16, net, overlap=0.5,
                                 sw_batch_size=4, progress=True)
    err = capsys.readouterr().err
    assert "sliding window" in err and "3/3" in err             # 9 windows, 4 per call


def test_bad_input_is_refused_with_the_argument_named():
    net = small_net(2)
    x = torch.randn(1, 2, 16, 16)
    run = sliding_window_inference
    with pytest.raises(TypeError, match="inputs must be a torch.Tensor"):
        run(x.numpy(), 8, net)
    with pytest.raises(TypeError, match="inputs has dtype torch.int64"):
        run(x.long(), 8, net)
    with pytest.raises(ValueError, match="inputs must be a batch"):
        run(x[0, 0], 8, net)
    with pytest.raises(ValueError, match="roi_size must have 2 entries"):
        run(x, (8, 8, 8), net)
    with pytest.raises(ValueError, match="roi_size must be positive"):
        run(x, (8, 0), net)
    with pytest.raises(TypeError, match="roi_size must hold ints"):
        run(x, (8.0, 8), net)
    with pytest.raises(TypeError, match="roi_size must be an int or a tuple"):
        run(x, "8", net)
    with pytest.raises(ValueError, match=r"overlap must be in \[0.0, 1.0\), got 1.0"):
        run(x, 8, net, overlap=1.0)
    with pytest.raises(ValueError, match="overlap must be in"):
        run(x, 8, net, overlap=-0.1)
    with pytest.raises(ValueError, match="overlap must be finite"):
        run(x, 8, net, overlap=float("nan"))
    with pytest.raises(ValueError, match="overlap must be one number or 2"):
        run(x, 8, net, overlap=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="mode must be one of 'constant', 'gaussian'"):
        run(x, 8, net, mode="linear")
    with pytest.raises(ValueError, match="sigma_scale must be > 0.0"):
        run(x, 8, net, mode="gaussian", sigma_scale=0)
    with pytest.raises(TypeError, match="sw_batch_size must be an int"):
        run(x, 8, net, sw_batch_size=2.0)
    with pytest.raises(ValueError, match="sw_batch_size must be a positive int"):
        run(x, 8, net, sw_batch_size=0)
    with pytest.raises(TypeError, match="progress must be True or False"):
        run(x, 8, net, progress=1)
    with pytest.raises(TypeError, match="predictor must be callable"):
        run(x, 8, "net")
    with pytest.raises(ValueError, match="predictor must return"):
        run(x, 8, lambda w: w[..., 1:-1, 1:-1])                 # shrinks the window
    with pytest.raises(TypeError, match="predictor must return a torch.Tensor"):
        run(x, 8, lambda w: (w,))
    with pytest.raises(ValueError, match="overlap must be in"):
        window_starts((16, 16), 8, overlap=1.5)
    with pytest.raises(ValueError, match="image_size must be positive"):
        count_windows((0, 16), 8)
    with pytest.raises(ValueError, match="mode must be one of"):
        importance_map((4, 4), "box")
    with pytest.raises(TypeError, match="dtype must be a floating"):
        importance_map((4, 4), dtype=torch.int32)
