"""mednotes.pooling against independent references: torch.nn.functional's pooling, kornia's
BlurPool/MaxBlurPool, scipy.ndimage for the 3-D blur and the sub-pixel roll, scipy.stats for
the binomial weights, numpy's FFT, and measures on inputs whose answer is known in closed
form; under torch.autocast against torch's own dtypes and a float64 reference; on CUDA
against the CPU. Every bad input is checked for a clear error."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import mednotes.layers.conv
import mednotes.pooling
from conftest import DEVICES
from mednotes.pooling import (
    PADDING_MODES,
    AvgPool2d,
    AvgPool3d,
    BlurPool2d,
    BlurPool3d,
    MaxBlurPool2d,
    MaxBlurPool3d,
    MaxPool2d,
    MaxPool3d,
    avg_pool2d,
    avg_pool3d,
    binomial_kernel,
    blur_pool2d,
    blur_pool3d,
    frequency_axis,
    max_blur_pool2d,
    max_blur_pool3d,
    max_pool2d,
    max_pool3d,
    radial_profile,
    shift_consistency,
    shift_equivariance_error,
    spectrum,
    subpixel_roll,
)

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread():
    """These tensors are tiny: threads only add synchronisation, which on a busy shared CPU
    can make a test ten times slower. Restored afterwards for the other test files."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rand(*shape, seed=0, dtype=torch.float64, device="cpu", grad=False):
    """Deterministic normal noise; continuous values, so max pooling never meets a tie."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    return x.requires_grad_(grad)


def close(actual, expected, dtype, what=""):
    expected = expected.to(actual.device)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    torch.testing.assert_close(actual, expected, rtol=TOL[dtype], atol=TOL[dtype], msg=what)


def compare_with_reference(ours, theirs, x, configs, dtype):
    """Forward values, input gradients and the error/no-error decision, config by config.

    torch raises RuntimeError where we raise ValueError; both must refuse the same configs.
    """
    upstream = None
    checked = 0
    for kwargs in configs:
        what = f"{ours.__name__}(x of {tuple(x.shape)}, **{kwargs})"
        try:
            expected = theirs(x, **kwargs)
        except RuntimeError:
            with pytest.raises(ValueError):
                ours(x, **kwargs)
            continue
        a = x.detach().clone().requires_grad_(True)
        b = x.detach().clone().requires_grad_(True)
        actual = ours(a, **kwargs)
        expected = theirs(b, **kwargs)
        close(actual, expected, dtype, what)
        upstream = rand(*expected.shape, seed=1, dtype=dtype, device=x.device)
        actual.backward(upstream)
        expected.backward(upstream)
        close(a.grad, b.grad, dtype, what + " grad")
        checked += 1
    assert checked > len(configs) // 2  # most configs are valid: the grid really ran


def grid(dims, kernels, strides, paddings, dilations, ceil_modes, extra=None):
    """A deterministic grid of pooling arguments, mixing ints and per-dim tuples."""
    configs = []
    for k, s, p, d, c in itertools.product(kernels, strides, paddings, dilations, ceil_modes):
        if p > k // 2:
            continue  # tested separately: both refuse it
        kwargs = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": c}
        if d is not None:
            kwargs["dilation"] = d
        for key, value in (extra or {}).items():
            kwargs[key] = value
        configs.append(kwargs)
    # a few anisotropic windows, as tuples
    aniso = {2: [((2, 3), (1, 2), (1, 0)), ((3, 1), None, (0, 0))],
             3: [((2, 3, 1), (1, 2, 1), (1, 1, 0)), ((1, 2, 3), None, (0, 1, 0))]}[dims]
    for k, s, p in aniso:
        for c in ceil_modes:
            kwargs = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": c}
            kwargs.update(extra or {})
            configs.append(kwargs)
    return configs


# ------------------------------------------------------------------- max / avg vs torch


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(7, 8), (6, 6), (3, 5)])
def test_max_pool2d_matches_torch(device, dtype, size):
    x = rand(2, 3, *size, dtype=dtype, device=device)
    configs = grid(2, [1, 2, 3, 4], [None, 1, 2, 3], [0, 1, 2], [1, 2], [False, True])
    compare_with_reference(max_pool2d, F.max_pool2d, x, configs, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(7, 8), (6, 6), (3, 5)])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_torch(device, dtype, size, count_include_pad):
    x = rand(2, 3, *size, dtype=dtype, device=device)
    configs = grid(2, [1, 2, 3, 4], [None, 1, 2, 3], [0, 1, 2], [None], [False, True],
                   extra={"count_include_pad": count_include_pad})
    compare_with_reference(avg_pool2d, F.avg_pool2d, x, configs, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pool3d_matches_torch(device, dtype):
    x = rand(1, 2, 5, 6, 7, dtype=dtype, device=device)
    configs = grid(3, [1, 2, 3], [None, 2], [0, 1], [1, 2], [False, True])
    compare_with_reference(max_pool3d, F.max_pool3d, x, configs, dtype)
    for include in (True, False):
        configs = grid(3, [1, 2, 3], [None, 2], [0, 1], [None], [False, True],
                       extra={"count_include_pad": include})
        compare_with_reference(avg_pool3d, F.avg_pool3d, x, configs, dtype)


def test_ceil_mode_divisor_follows_torch():
    # A 2x2 window over the last row/column of a 5x5 input in ceil mode covers 1 pixel, and
    # torch divides by 1 (not 4); with padding the padded zeros are counted, nothing beyond.
    x = torch.ones(1, 1, 5, 5)
    assert avg_pool2d(x, 2, ceil_mode=True).flatten().tolist() == [1.0] * 9
    y = avg_pool2d(torch.ones(1, 1, 6, 6), 3, stride=2, padding=1, ceil_mode=True)
    torch.testing.assert_close(y[0, 0, -1], torch.tensor([1 / 3, 0.5, 0.5, 0.25]))


def test_ceil_mode_keeps_overhanging_window_like_torch():
    # In ceil mode torch keeps a window that starts inside but overhangs the end, even when
    # the input is smaller than the window, and drops one that would start in the padding.
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    assert max_pool2d(x, 4, ceil_mode=True).item() == F.max_pool2d(x, 4, ceil_mode=True).item()
    assert avg_pool2d(x, 4, ceil_mode=True).item() == F.avg_pool2d(x, 4, ceil_mode=True).item()
    assert max_pool2d(x, 2, stride=2, dilation=3, ceil_mode=True).item() == 0.0
    z = torch.zeros(1, 1, 5, 5)
    assert max_pool2d(z, 2, stride=2, padding=1, ceil_mode=True).shape[-1] == 3
    with pytest.raises(ValueError, match="even with ceil_mode"):
        max_pool2d(x, 6, stride=2, ceil_mode=True)


def test_max_pool_ties_send_gradient_to_first_maximum_like_torch():
    x = torch.ones(1, 1, 4, 4, requires_grad=True)
    y = torch.ones(1, 1, 4, 4, requires_grad=True)
    max_pool2d(x, 3, stride=1).sum().backward()
    F.max_pool2d(y, 3, stride=1).sum().backward()
    assert torch.equal(x.grad, y.grad)


def test_nan_propagates_and_all_padding_window_gives_minus_inf_like_torch():
    x = torch.tensor([[[[float("nan"), 1.0], [2.0, 1.0]]]])
    assert torch.isnan(max_pool2d(x, 2)).all()
    # kernel 2 with dilation 5 and padding 1 on a length-4 input: taps -1 and 4, both padding
    z = torch.zeros(1, 1, 4, 4)
    torch.testing.assert_close(
        max_pool2d(z, 2, padding=1, dilation=5), F.max_pool2d(z, 2, padding=1, dilation=5)
    )


@pytest.mark.parametrize(
    "ours, theirs, shape",
    [(max_pool2d, F.max_pool2d, (3, 6, 7)), (avg_pool2d, F.avg_pool2d, (3, 6, 7)),
     (max_pool3d, F.max_pool3d, (2, 4, 5, 6)), (avg_pool3d, F.avg_pool3d, (2, 4, 5, 6))],
)
def test_unbatched_and_empty_batch_like_torch(ours, theirs, shape):
    x = rand(*shape)
    close(ours(x, 2, padding=1), theirs(x, 2, padding=1), torch.float64, "unbatched")
    empty = x.new_zeros(0, *shape)
    assert ours(empty, 2).shape == theirs(empty, 2).shape


def test_gradcheck_float64():
    # small inputs: gradcheck runs the op twice per input element
    x = rand(1, 1, 5, 6, grad=True)
    v = rand(1, 1, 3, 4, 4, grad=True)
    assert torch.autograd.gradcheck(
        lambda t: max_pool2d(t, 3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True), (x,)
    )
    assert torch.autograd.gradcheck(
        lambda t: avg_pool2d(t, (3, 2), stride=2, padding=1, ceil_mode=True), (x,)
    )
    assert torch.autograd.gradcheck(
        lambda t: avg_pool2d(t, 3, padding=1, count_include_pad=False), (x,)
    )
    assert torch.autograd.gradcheck(lambda t: max_pool3d(t, 2, stride=1), (v,))
    assert torch.autograd.gradcheck(lambda t: avg_pool3d(t, 3, 2, 1, ceil_mode=True), (v,))
    assert torch.autograd.gradcheck(lambda t: blur_pool2d(t, 4, 3), (x,))
    assert torch.autograd.gradcheck(lambda t: max_blur_pool2d(t, 3, 2), (x,))
    assert torch.autograd.gradcheck(lambda t: blur_pool3d(t, 3, 2), (v,))
    assert torch.autograd.gradcheck(lambda t: max_blur_pool3d(t, 3, 2), (v,))


@pytest.mark.parametrize("device", DEVICES)
def test_modules_match_torch_modules(device):
    x = rand(2, 3, 9, 8, device=device)
    v = rand(1, 2, 5, 6, 7, device=device)
    pairs = [
        (MaxPool2d(3, 2, 1, dilation=1, ceil_mode=True), nn.MaxPool2d(3, 2, 1, ceil_mode=True), x),
        (AvgPool2d(3, 2, 1, True, False), nn.AvgPool2d(3, 2, 1, True, False), x),
        (MaxPool3d(2, dilation=2), nn.MaxPool3d(2, dilation=2), v),
        (AvgPool3d((1, 2, 3), padding=(0, 1, 1)), nn.AvgPool3d((1, 2, 3), padding=(0, 1, 1)), v),
    ]
    for ours, theirs, inp in pairs:
        close(ours(inp), theirs(inp), torch.float64, repr(ours))
    assert repr(MaxPool2d(2)) == (
        "MaxPool2d(kernel_size=2, stride=None, padding=0, dilation=1, ceil_mode=False)"
    )
    assert "count_include_pad=False" in repr(pairs[1][0])
    assert list(MaxPool2d(2).state_dict()) == []


# ---------------------------------------------------------------- BlurPool vs kornia


@pytest.fixture(scope="module")
def kornia_filters():
    return pytest.importorskip("kornia.filters")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_blur_pool2d_matches_kornia(kornia_filters, device, dtype):
    for (h, w), channels, k, s in itertools.product(
        [(7, 8), (6, 6), (9, 5), (2, 3)], [1, 3], [1, 2, 3, 4, 5], [1, 2, 3, 4]
    ):
        what = f"blur_pool2d({h}x{w}, C={channels}, k={k}, stride={s})"
        x = rand(2, channels, h, w, seed=h * w + k, dtype=dtype, device=device)
        a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ours, theirs = blur_pool2d(a, k, s), kornia_filters.blur_pool2d(b, k, s)
        close(ours, theirs, dtype, what)
        upstream = rand(*theirs.shape, seed=7, dtype=dtype, device=device)
        ours.backward(upstream)
        theirs.backward(upstream)
        close(a.grad, b.grad, dtype, what + " grad")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_blur_pool2d_matches_kornia(kornia_filters, device, dtype):
    for (h, w), channels, k, s, m in itertools.product(
        [(7, 8), (6, 6), (9, 5)], [1, 3], [3, 4, 5], [2, 4], [1, 2, 3]
    ):
        what = f"max_blur_pool2d({h}x{w}, C={channels}, k={k}, stride={s}, max_pool_size={m})"
        x = rand(2, channels, h, w, seed=h + w + k, dtype=dtype, device=device)
        a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ours = max_blur_pool2d(a, k, s, max_pool_size=m)
        theirs = kornia_filters.max_blur_pool2d(b, k, s, max_pool_size=m)
        close(ours, theirs, dtype, what)
        upstream = rand(*theirs.shape, seed=5, dtype=dtype, device=device)
        ours.backward(upstream)
        theirs.backward(upstream)
        close(a.grad, b.grad, dtype, what + " grad")
    # ceil_mode is accepted and changes nothing (stride-1 max pool), as in kornia
    x = rand(1, 2, 7, 7, device=device, dtype=dtype)
    close(max_blur_pool2d(x, ceil_mode=True), max_blur_pool2d(x), dtype, "ceil_mode")


@pytest.mark.parametrize("device", DEVICES)
def test_blur_modules_match_kornia_modules(kornia_filters, device):
    x = rand(2, 3, 11, 10, device=device, dtype=torch.float32)
    for k, s in [(3, 2), (5, 2), (3, 4), (4, 2)]:
        ours = BlurPool2d(k, s).to(device)
        close(ours(x), kornia_filters.BlurPool2D(k, s).to(device)(x), torch.float32, repr(ours))
        ours = MaxBlurPool2d(k, s).to(device)
        theirs = kornia_filters.MaxBlurPool2D(k, s).to(device)
        close(ours(x), theirs(x), torch.float32, repr(ours))
    module = BlurPool2d(5)
    # the filter moves with the module but stays out of the state dict, as in kornia
    assert list(module.state_dict()) == []
    assert module.double().kernel.dtype == torch.float64
    torch.testing.assert_close(module.kernel.float(), kornia_filters.BlurPool2D(5).kernel)
    assert repr(MaxBlurPool2d(3)) == (
        "MaxBlurPool2d(kernel_size=3, stride=2, padding_mode='zeros', max_pool_size=2)"
    )


def test_binomial_kernel_rows_are_pascal():
    from scipy.special import comb

    for k in range(1, 9):
        row = binomial_kernel(k, dims=1, dtype=torch.float64)
        expected = torch.tensor([comb(k - 1, i, exact=True) for i in range(k)], dtype=torch.float64)
        torch.testing.assert_close(row, expected / expected.sum(), rtol=0, atol=0)
    cube = binomial_kernel((2, 3, 4), dims=3, dtype=torch.float64)
    assert cube.shape == (2, 3, 4) and cube.sum().item() == 1.0
    torch.testing.assert_close(
        cube, torch.einsum("i,j,k->ijk", *(binomial_kernel(k, 1, torch.float64) for k in (2, 3, 4)))
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_every_binomial_size_has_finite_weights_summing_to_one(dtype):
    # C(k-1, i) / 2**(k-1) is the Binomial(k - 1, 1/2) probability of i, which scipy.stats
    # computes its own way (no big integers). 2**1024 overflows a float64, which is what
    # once made kernel_size=1025 all zeros; every size must now be a proper filter.
    unit = torch.finfo(dtype).eps / 2  # unit roundoff: each weight is rounded once
    for k in [*range(1, 41), 64, 255, 1024, 1025, 1077, 4097]:
        row = binomial_kernel(k, dims=1, dtype=dtype)
        assert row.dtype == dtype and row.shape == (k,)
        assert torch.isfinite(row).all() and (row >= 0).all(), k
        weights = row.double()
        # rounding each weight moves the sum by at most unit * 1; tails below the dtype's
        # range round to 0 and carry far less than that
        assert abs(weights.sum().item() - 1.0) <= 2 * unit, (k, weights.sum().item())
        torch.testing.assert_close(weights, weights.flip(0), rtol=0, atol=0)  # symmetric
        if dtype == torch.float64:
            pmf = torch.from_numpy(scipy.stats.binom.pmf(np.arange(k), k - 1, 0.5))
            normal = pmf > 1e-300  # scipy's and the exact value differ below float64's range
            torch.testing.assert_close(weights[normal], pmf[normal], rtol=1e-9, atol=0)
    square = binomial_kernel((1025, 3), dims=2, dtype=torch.float64)
    assert torch.isfinite(square).all() and square.sum().item() == pytest.approx(1.0, abs=1e-12)


def test_blur_pool_with_a_huge_kernel_is_the_exact_binomial_blur():
    # A 1025-tap filter on an 8×8 image of ones with zero padding: each output pixel is the
    # product over both axes of the filter mass that falls on the image, from scipy.stats.
    k, size = 1025, 8
    out = blur_pool2d(torch.ones(1, 1, size, size, dtype=torch.float64), k, stride=1)
    pmf = scipy.stats.binom.pmf(np.arange(k), k - 1, 0.5)
    before = (k - 1) // 2  # tap j of output i falls on input pixel i + j - before
    mass = np.array([pmf[before - i:before - i + size].sum() for i in range(size)])
    np.testing.assert_allclose(out[0, 0].numpy(), np.outer(mass, mass), rtol=1e-9)
    assert out.min().item() > 0.01  # not the all-zero output of an overflowed filter


def test_binomial_kernel_device_and_dtype_arguments():
    default = binomial_kernel(3)
    assert default.dtype == torch.float32 and default.device.type == "cpu"
    meta = binomial_kernel(5, 3, dtype=torch.bfloat16, device="meta")
    assert meta.device.type == "meta" and meta.dtype == torch.bfloat16 and meta.shape == (5,) * 3
    # a fresh tensor each call: editing one cannot corrupt the filter later calls get
    binomial_kernel(3).mul_(0)
    assert binomial_kernel(3).sum().item() == 1.0


def test_padding_modes_are_the_layers_ones():
    assert PADDING_MODES is mednotes.layers.conv.PADDING_MODES
    assert PADDING_MODES == ("zeros", "reflect", "replicate", "circular")


# ------------------------------------------------------------------- 3-D BlurPool


def scipy_blur_subsample(volume, k, s, mode):
    """The 3-D binomial blur as three 1-D correlations (separability), then subsampling."""
    row = binomial_kernel(k, dims=1, dtype=torch.float64).numpy()
    scipy_mode = {"zeros": "constant", "reflect": "mirror", "replicate": "nearest",
                  "circular": "wrap"}[mode]
    out = volume.detach().cpu().numpy()
    for axis in (-3, -2, -1):
        # our filter starts (k - 1) // 2 before the pixel; scipy centres at k // 2
        out = scipy.ndimage.correlate1d(out, row, axis=axis, mode=scipy_mode,
                                        origin=(k - 1) // 2 - k // 2)
    return torch.from_numpy(np.ascontiguousarray(out[..., ::s, ::s, ::s]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_blur_pool3d_is_three_1d_binomial_passes(device, mode):
    v = rand(2, 2, 7, 6, 9, device=device)
    for k, s in [(3, 2), (4, 2), (5, 3), (2, 1)]:
        close(blur_pool3d(v, k, s, padding_mode=mode), scipy_blur_subsample(v, k, s, mode),
              torch.float64, f"blur_pool3d k={k} s={s} {mode}")
    dense = F.max_pool3d(v, 2, stride=1)
    close(max_blur_pool3d(v, 3, 2, padding_mode=mode), scipy_blur_subsample(dense, 3, 2, mode),
          torch.float64, f"max_blur_pool3d {mode}")
    close(MaxBlurPool3d(3, 2, padding_mode=mode).to(device)(v),
          max_blur_pool3d(v, 3, 2, padding_mode=mode), torch.float64, "MaxBlurPool3d")
    close(BlurPool3d(5, 3, padding_mode=mode).to(device)(v),
          blur_pool3d(v, 5, 3, padding_mode=mode), torch.float64, "BlurPool3d")


@pytest.mark.parametrize("mode", ["zeros", "replicate", "circular"])
def test_blur_pool2d_padding_modes_match_scipy(mode):
    x = rand(1, 2, 8, 7)
    for k, s in [(3, 2), (4, 2), (5, 1)]:
        row = binomial_kernel(k, dims=1, dtype=torch.float64).numpy()
        out = x.numpy()
        for axis in (-2, -1):
            out = scipy.ndimage.correlate1d(
                out, row, axis=axis, origin=(k - 1) // 2 - k // 2,
                mode={"zeros": "constant", "replicate": "nearest", "circular": "wrap"}[mode],
            )
        close(blur_pool2d(x, k, s, padding_mode=mode), torch.from_numpy(out[..., ::s, ::s]),
              torch.float64, f"k={k} s={s} {mode}")


def test_3d_ops_agree_with_2d_on_volumes_constant_along_depth():
    x = rand(2, 3, 9, 8)
    volume = x.unsqueeze(2).expand(2, 3, 7, 9, 8).contiguous()
    # replicate padding keeps the depth axis constant everywhere...
    three = blur_pool3d(volume, 3, 2, padding_mode="replicate")
    for depth in range(three.shape[2]):
        close(three[:, :, depth], blur_pool2d(x, 3, 2, padding_mode="replicate"), torch.float64, "")
    # ...zero padding only where the depth window lies inside the volume
    three = blur_pool3d(volume, 3, 2)
    for depth in (1, 2):
        close(three[:, :, depth], blur_pool2d(x, 3, 2), torch.float64, f"depth {depth}")
    three = max_blur_pool3d(volume, 3, 2, max_pool_size=(1, 2, 2))
    close(three[:, :, 1], max_blur_pool2d(x, 3, 2), torch.float64, "max_blur_pool3d")


# --------------------------------------------------------------------------- spectra


@pytest.mark.parametrize("height, width", [(16, 16), (9, 12), (15, 7)])
def test_spectrum_of_sinusoid_has_two_symmetric_peaks(height, width):
    fy, fx = 2, 3
    rows = torch.arange(height, dtype=torch.float64)[:, None]
    cols = torch.arange(width, dtype=torch.float64)[None, :]
    image = torch.cos(2 * math.pi * (fy * rows / height + fx * cols / width))
    s = spectrum(image)
    cy, cx = height // 2, width // 2
    expected = math.log1p(height * width / 2)  # |FFT| of a unit cosine: N/2 in each peak
    peaks = {(cy + fy, cx + fx), (cy - fy, cx - fx)}
    assert set(map(tuple, (s > 1).nonzero().tolist())) == peaks
    for p in peaks:
        assert s[p].item() == pytest.approx(expected, rel=1e-12)
    mask = torch.ones_like(s, dtype=torch.bool)
    for p in peaks:
        mask[p] = False
    assert s[mask].max().item() < 1e-10
    reference = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(image.numpy()))))
    np.testing.assert_allclose(s.numpy(), reference, rtol=1e-12, atol=1e-12)


def test_spectrum_of_constant_image_is_dc_only_and_keeps_shape_and_kind():
    image = torch.full((2, 3, 6, 5), 2.0)
    s = spectrum(image)
    assert s.shape == image.shape
    torch.testing.assert_close(s[..., 3, 2], torch.full((2, 3), math.log1p(2.0 * 30)))
    s[..., 3, 2] = 0
    assert s.abs().max().item() < 1e-6
    as_numpy = spectrum(np.full((6, 5), 2.0))
    assert isinstance(as_numpy, np.ndarray) and as_numpy.shape == (6, 5)
    assert as_numpy[3, 2] == pytest.approx(math.log1p(60.0))
    assert spectrum(torch.full((4, 4), 3, dtype=torch.uint8)).dtype == torch.float32
    assert spectrum(torch.ones(3, 4, 4, dtype=torch.float64)).dtype == torch.float64


def test_frequency_axis_and_radial_profile():
    for n in (1, 4, 7, 8):
        np.testing.assert_allclose(
            frequency_axis(n, torch.float64).numpy(), np.fft.fftshift(np.fft.fftfreq(n))
        )
    # Rings of a 4x4 grid by hand: centre (2, 2); radius in cycles/pixel times 4, rounded.
    ring_of = torch.tensor([[3, 2, 2, 2], [2, 1, 1, 1], [2, 1, 0, 1], [2, 1, 1, 1]])
    values = torch.arange(16.0).reshape(4, 4)
    freqs, profile = radial_profile(values)
    torch.testing.assert_close(freqs, torch.tensor([0.0, 0.25, 0.5]))
    expected = torch.stack([values[ring_of == r].mean() for r in range(3)])
    torch.testing.assert_close(profile, expected)
    # a sinusoid of 5 cycles per image peaks in ring 5, per image of a stack
    n = 32
    cols = torch.arange(n, dtype=torch.float64)
    stack = torch.stack([torch.cos(2 * math.pi * f * cols / n).expand(n, n) for f in (5, 9)])
    freqs, profile = radial_profile(spectrum(stack[None]))
    assert profile.shape == (1, 2, 17) and profile.argmax(-1).tolist() == [[5, 9]]
    assert freqs[5].item() == 5 / n
    f_np, p_np = radial_profile(np.ones((6, 10)))
    assert isinstance(p_np, np.ndarray) and p_np.shape == (4,) and np.allclose(p_np, 1.0)
    assert np.allclose(f_np, np.arange(4) / 6)


# ------------------------------------------------------------------ sub-pixel roll


def scipy_roll(array, shift, axis):
    """Fourier shift along one axis with scipy.ndimage.fourier_shift (complex FFT; the real
    part of the result, which is where the Nyquist bin's imaginary part goes)."""
    shifts = [0.0] * array.ndim
    shifts[axis] = shift
    spectrum_ = np.fft.fft(array, axis=axis)
    return np.fft.ifft(scipy.ndimage.fourier_shift(spectrum_, shifts), axis=axis).real


@pytest.mark.parametrize("device", DEVICES)
def test_subpixel_roll_matches_scipy_fourier_shift_and_torch_roll(device):
    x = rand(2, 3, 8, 9, seed=4)
    for shifts, dims in [(0.5, 2), (-1.25, 3), ((2.7, -0.3), (2, 3)), ((0.5, 0.5), (-2, -1)),
                         (7.5, 3), (-13.25, 2)]:
        got = subpixel_roll(x.to(device), shifts, dims).cpu()
        expected = x.numpy()
        pairs = zip(dims, shifts) if isinstance(dims, tuple) else [(dims, shifts)]
        for dim, t in pairs:
            expected = scipy_roll(expected, t, dim % 4)
        torch.testing.assert_close(got, torch.from_numpy(expected), rtol=0, atol=1e-12)
    # a whole shift is torch.roll exactly, also written as a float
    for shift in (3, -5, 4.0, 17):
        rolled = subpixel_roll(x.to(device), shift, 3).cpu()
        assert torch.equal(rolled, torch.roll(x, int(shift), 3))
    # along an odd length (no Nyquist bin, whose sine part is dropped) a fractional shift
    # and its opposite undo each other: band-limited, nothing lost ...
    back = subpixel_roll(subpixel_roll(x.to(device), 0.3, 3), -0.3, 3).cpu()
    torch.testing.assert_close(back, x, rtol=0, atol=1e-12)
    # ... and a sinusoid below Nyquist moves exactly by the fraction
    n = torch.arange(16.0, dtype=torch.float64, device=device)
    wave = torch.sin(2 * math.pi * 3 * n / 16)
    torch.testing.assert_close(subpixel_roll(wave, 0.4, 0),
                               torch.sin(2 * math.pi * 3 * (n - 0.4) / 16), rtol=0, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_subpixel_roll_gradient_is_the_opposite_roll(device):
    # <roll_t(x), u> = <x, roll_{-t}(u)>: the gradient of the first for x is roll_{-t}(u),
    # computed here with scipy, independently of our FFTs
    x = rand(1, 2, 6, 10, seed=5, device=device, grad=True)
    upstream = rand(1, 2, 6, 10, seed=6)
    subpixel_roll(x, (1.5, -0.75), (2, 3)).backward(upstream.to(device))
    expected = scipy_roll(scipy_roll(upstream.numpy(), -1.5, 2), 0.75, 3)
    torch.testing.assert_close(x.grad.cpu(), torch.from_numpy(expected), rtol=0, atol=1e-12)
    small = rand(1, 1, 3, 5, grad=True)
    assert torch.autograd.gradcheck(lambda t: subpixel_roll(t, 0.3, 3), (small,))


@pytest.mark.parametrize("device", DEVICES)
def test_subpixel_roll_keeps_the_dtype(device):
    x = rand(1, 1, 8, 8, seed=2, device=device)
    for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.float64):
        y = subpixel_roll(x.to(dtype), 0.5, 3)
        assert y.dtype == dtype and y.device == x.device
        unit = 1e-13 if dtype == torch.float64 else torch.finfo(dtype).eps
        torch.testing.assert_close(y.double(), subpixel_roll(x.to(dtype).double(), 0.5, 3),
                                   rtol=4 * unit, atol=4 * unit * x.abs().max().item())


# ------------------------------------------------------------------ shift measures


def subsample(v):
    return v[..., ::2]


def test_identity_is_equivariant_for_every_integer_shift():
    x = rand(2, 3, 9, 10)
    for shift in [0, 1, -4, (3, -2), (9, 11)]:
        assert shift_equivariance_error(lambda v: v, x, shift) == 0.0
    for shift in [0, 1, (3, -2), (-8, 9)]:
        assert shift_equivariance_error(nn.Identity(), x, shift, mode="crop") == 0.0


def test_subsampling_even_index_content():
    # Content on even indices only: a shift by 2 moves it by one output pixel (error 0);
    # an odd shift moves it onto the odd indices that the subsampling throws away, so the
    # output is all zeros and the relative error is exactly 1.
    x = torch.zeros(2, 1, 32, dtype=torch.float64)
    x[..., ::2] = rand(2, 1, 16)
    for shift, expected in [(2, 0.0), (-6, 0.0), (1, 1.0), (3, 1.0), (-1, 1.0)]:
        assert shift_equivariance_error(subsample, x, shift) == pytest.approx(expected, abs=1e-12)
    assert shift_equivariance_error(subsample, x, 4, mode="crop") == 0.0


def test_sinusoid_below_and_above_nyquist_after_subsampling():
    # cos(2 pi f n / 64) subsampled by 2: below the new Nyquist limit (f < 16) the output is
    # the same sinusoid, shifted by half a pixel for an odd input shift (error 0); above it,
    # the sinusoid aliases to 32 - f and the shifted copy comes out with the opposite sign
    # (error exactly 2). Even shifts are exact integer shifts of the output either way.
    n = torch.arange(64, dtype=torch.float64)
    for f, odd_error in [(3, 0.0), (13, 0.0), (19, 2.0), (29, 2.0)]:
        x = torch.cos(2 * math.pi * f * n / 64 + 0.3).reshape(1, 1, 64)
        for shift in (1, 3, -5):
            error = shift_equivariance_error(subsample, x, shift)
            assert error == pytest.approx(odd_error, abs=1e-9), (f, shift)
        assert shift_equivariance_error(subsample, x, 2) == pytest.approx(0.0, abs=1e-12)


def test_blur_pool_error_follows_binomial_frequency_response():
    # Two sinusoids, f_low = 5 and f_high = 23 cycles over 64 pixels, along the width. The
    # [1, 2, 1] / 4 filter scales frequency f by H(f) = cos(pi f / 64)^2 (zero phase with
    # circular padding). After subsampling, the low one shifts correctly by half a pixel and
    # the aliased high one flips sign, so the error is 2 H(f_high) / sqrt(H(f_low)^2 +
    # H(f_high)^2); plain subsampling (H = 1) gives 2 / sqrt(2).
    n = torch.arange(64, dtype=torch.float64)
    signal = torch.cos(2 * math.pi * 5 * n / 64) + torch.cos(2 * math.pi * 23 * n / 64)
    x = signal.expand(1, 2, 8, 64).contiguous()
    response = [math.cos(math.pi * f / 64) ** 2 for f in (5, 23)]
    expected = 2 * response[1] / math.hypot(*response)
    blur = BlurPool2d(3, 2, padding_mode="circular")
    assert shift_equivariance_error(blur, x, (0, 1)) == pytest.approx(expected, rel=1e-9)
    plain = shift_equivariance_error(lambda v: v[..., ::2, ::2], x, (0, 1))
    assert plain == pytest.approx(math.sqrt(2), rel=1e-12)
    assert shift_equivariance_error(lambda v: max_pool2d(v, 2), x, (0, 1)) > 2 * expected


def test_exact_integer_shifts_of_strided_ops():
    x = rand(2, 3, 16, 16)
    assert shift_equivariance_error(lambda v: max_pool2d(v, 2), x, (4, -2)) == 0.0
    assert shift_equivariance_error(lambda v: avg_pool2d(v, 4), x, 8) < 1e-15
    assert shift_equivariance_error(lambda v: avg_pool2d(v, 4), x, (4, 4), stride=4) < 1e-15
    # valid (unpadded) stride-1 ops and zero-padded BlurPool in crop mode, borders dropped
    assert shift_equivariance_error(lambda v: avg_pool2d(v, 3, 1), x, (3, -2), mode="crop") == 0
    assert shift_equivariance_error(blur_pool2d, x, (2, -4), mode="crop", margin=1) == 0.0
    assert shift_equivariance_error(blur_pool2d, x, (2, -4), mode="crop") > 0.01
    assert shift_equivariance_error(lambda v: max_pool3d(v, 2), rand(1, 1, 8, 8, 8), 2) == 0.0


def test_zero_outputs_give_zero_not_nan():
    x = rand(1, 1, 8, 8)
    assert shift_equivariance_error(lambda v: v * 0, x, 1) == 0.0
    # reference all zero, shifted output not: infinitely far, said as inf rather than NaN
    assert shift_equivariance_error(lambda v: v - x, x, 1) == float("inf")


# -------------------------------------------------------------- shift consistency


def parity_classifier(v):
    """Class 0 when pixel (0, 0) of channel 0 is positive, else class 1."""
    return torch.stack([v[:, 0, 0, 0], -v[:, 0, 0, 0]], dim=1)


def checkerboards(count, size=8):
    i = torch.arange(size)
    board = (-1.0) ** (i[:, None] + i[None, :])
    return board.expand(count, 1, size, size).contiguous()


def documented_draw(seed, trials, count, limits):
    g = torch.Generator().manual_seed(seed)
    draws = [torch.randint(0, m + 1, (trials, count, 2), generator=g) for m in limits]
    return torch.stack(draws, -1)


@pytest.mark.parametrize("mode", ["circular", "crop"])
def test_parity_model_gives_the_fraction_of_equal_parities(mode):
    # On a checkerboard both a roll by (dy, dx) and a crop at (dy, dx) put (-1)^(dy + dx) at
    # pixel (0, 0), so the prediction is the parity of dy + dx.
    count, trials, max_shift, seed = 50, 3, 3, 11
    images = checkerboards(count)
    offsets = documented_draw(seed, trials, count, (max_shift, max_shift))
    parity = offsets.sum(-1) % 2  # (trials, N, 2)
    expected = (parity[..., 0] == parity[..., 1]).double().mean().item()
    result = shift_consistency(parity_classifier, images, max_shift, seed=seed, trials=trials,
                               mode=mode, batch_size=16)
    assert result == expected
    assert 0.3 < result < 0.7  # neither always nor never: the draw really varies
    assert shift_consistency(parity_classifier, images, 0, mode=mode) == 1.0
    # per-dim limits: shifts along the height only
    offsets = documented_draw(seed, 1, count, (3, 0))
    expected = (offsets[..., 0, 0] % 2 == offsets[..., 1, 0] % 2).double().mean().item()
    assert shift_consistency(parity_classifier, images, (3, 0), seed=seed, mode=mode) == expected


@pytest.mark.parametrize("device", DEVICES)
def test_global_average_pooling_classifier_is_perfectly_consistent(device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Dropout(0.5),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).double()
    model.to(device).train()
    images = rand(20, 3, 12, 12)  # on the CPU: moved batch by batch to the model's device
    assert shift_consistency(model, images, 6, trials=2, batch_size=7) == 1.0
    assert model.training  # restored after evaluation in eval mode
    assert shift_consistency(model.eval(), images, 6, seed=1) == 1.0
    assert not model.training


def test_shift_consistency_is_deterministic_and_batch_independent():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.Flatten(), nn.LazyLinear(3))
    images = rand(30, 1, 10, 10, dtype=torch.float32)
    model(images[:1])
    runs = [shift_consistency(model, images, 4, seed=5, trials=2, batch_size=b) for b in (1, 8, 64)]
    assert runs[0] == runs[1] == runs[2]
    assert runs[0] < 1.0  # position-dependent model: some predictions change
    crop = shift_consistency(nn.Sequential(nn.Flatten(), nn.LazyLinear(3)), images, 4, mode="crop")
    assert 0.0 <= crop <= 1.0


# ------------------------------------------------------------------------ devices


@pytest.mark.parametrize("device", DEVICES)
def test_measures_run_on_device(device):
    x = rand(1, 2, 16, 16, device=device)
    assert spectrum(x).device.type == device
    freqs, profile = radial_profile(spectrum(x))
    assert profile.device.type == device and profile.shape == (1, 2, 9)
    assert shift_equivariance_error(lambda v: blur_pool2d(v, padding_mode="circular"), x, 2) < 1e-12
    assert shift_equivariance_error(lambda v: v[..., ::2, ::2], x, (1, 0)) > 0.1


# ------------------------------------------------------------- autocast, half precision

# Unit roundoffs: rounding a real v to the nearest bfloat16 (8 significant bits) moves it by at
# most U_BF16 * |v|, to the nearest float32 by at most U_F32 * |v|.
U_BF16, U_F32 = 2.0**-8, 2.0**-24


def kornia_filters_or_skip():
    return pytest.importorskip("kornia.filters")


def conv_blur3d(t, stride=2):
    """BlurPool3d(3) written as what it is: a depthwise F.conv3d with [1, 2, 1] / 4 per axis."""
    row = torch.tensor([0.25, 0.5, 0.25], device=t.device)
    weight = torch.einsum("i,j,k->ijk", row, row, row)
    weight = weight.to(torch.float64 if t.dtype == torch.float64 else torch.float32)
    weight = weight.expand(t.shape[1], 1, 3, 3, 3)
    return F.conv3d(t, weight, stride=stride, padding=1, groups=t.shape[1])


# name, ours, torch's (or kornia's) counterpart, spatial dims, kind, taps per output: "pool"
# ops are ours from scratch; "conv" ops end in torch's convolution, as their counterparts do.
AMP_CASES = [
    ("max_pool2d", lambda t: max_pool2d(t, 3, 1, 1), lambda t: F.max_pool2d(t, 3, 1, 1),
     2, "pool", 9),
    ("avg_pool2d", lambda t: avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
     lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), 2, "pool", 9),
    ("AvgPool2d", AvgPool2d(3, 1), nn.AvgPool2d(3, 1), 2, "pool", 9),
    ("max_pool3d", lambda t: max_pool3d(t, 2, 1), lambda t: F.max_pool3d(t, 2, 1), 3, "pool", 8),
    ("avg_pool3d", lambda t: avg_pool3d(t, 3, 2, 1), lambda t: F.avg_pool3d(t, 3, 2, 1),
     3, "pool", 27),
    ("MaxPool3d", MaxPool3d(3, 2, 1), nn.MaxPool3d(3, 2, 1), 3, "pool", 27),
    ("blur_pool2d", lambda t: blur_pool2d(t, 3),
     lambda t: kornia_filters_or_skip().blur_pool2d(t, 3), 2, "conv", 9),
    ("blur_pool2d k=4", lambda t: blur_pool2d(t, 4),
     lambda t: kornia_filters_or_skip().blur_pool2d(t, 4), 2, "conv", 16),
    ("max_blur_pool2d", lambda t: max_blur_pool2d(t, 3),
     lambda t: kornia_filters_or_skip().max_blur_pool2d(t, 3), 2, "conv", 9),
    ("BlurPool2d", BlurPool2d(5), lambda t: kornia_filters_or_skip().BlurPool2D(5)(t),
     2, "conv", 25),
    ("blur_pool3d", lambda t: blur_pool3d(t, 3), conv_blur3d, 3, "conv", 27),
    ("max_blur_pool3d", lambda t: max_blur_pool3d(t, 3),
     lambda t: conv_blur3d(F.max_pool3d(t, 2, 1)), 3, "conv", 27),
]
AMP_IDS = [case[0] for case in AMP_CASES]


def amp_input(spatial, dtype, device, seed=0):
    """Random values that bfloat16 holds exactly, so that every dtype sees the same numbers
    and the float64 reference is computed from the very inputs the op rounds nothing of."""
    shape = (2, 3, 12, 11) if spatial == 2 else (1, 2, 6, 7, 8)
    return rand(*shape, seed=seed).to(torch.bfloat16).to(device=device, dtype=dtype)


def run_op(fn, x, upstream=None):
    """Output and input gradient of fn at a copy of x (upstream: a fixed random one)."""
    leaf = x.detach().clone().requires_grad_(True)
    y = fn(leaf)
    if upstream is None:
        upstream = rand(*y.shape, seed=3).to(torch.bfloat16).to(y.device)
    y.backward(upstream.to(y.dtype))
    return y.detach(), leaf.grad, upstream


def float64_reference(fn, x, upstream):
    """fn's output and input gradient in float64 at the same values, and their scales: the
    output at |x| and the gradient for |upstream|, i.e. the sums of |terms| that bound how
    far any rounding of the same sums can drift."""
    x64 = x.detach().double()
    y, grad, _ = run_op(fn, x64, upstream.double())
    scale, _, _ = run_op(fn, x64.abs(), upstream.double())
    _, grad_scale, _ = run_op(fn, x64, upstream.double().abs())
    return y, grad, scale, grad_scale


def assert_within(actual, reference, bound, what):
    error = (actual.double() - reference).abs()
    excess = (error - bound).max().item()
    assert (error <= bound).all(), (
        f"{what}: error up to {error.max().item():.3g}, over its bound by up to {excess:.3g}"
    )


def rounded_once(reference, scale):
    """Bound for a result accumulated in float32 and rounded to bfloat16 once at the end: the
    float32 sum drifts by at most ~taps * U_F32 * scale (64 covers every op here), then one
    rounding adds U_BF16 * |result|. Any second bfloat16 rounding on the way exceeds it."""
    return U_BF16 * reference.abs() + 64 * U_F32 * scale


def float32_result(scale):
    """Bound for a float32 result: ~taps * U_F32 * scale; bfloat16 arithmetic is ~10^5 off."""
    return 64 * U_F32 * scale


def bfloat16_arithmetic(reference, scale, taps):
    """Bound for a sum of `taps` products computed in bfloat16 (torch's convolutions under
    autocast, and its bfloat16 pooling backward): each of up to `taps` roundings moves the
    result by at most U_BF16 times the sum of |terms|."""
    return (taps + 1) * U_BF16 * scale + U_BF16 * reference.abs()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("name, ours, theirs, spatial, kind, taps", AMP_CASES, ids=AMP_IDS)
def test_autocast_output_dtypes_are_torchs(device, dtype, name, ours, theirs, spatial, kind, taps):
    # The dtype table of mednotes.pooling's docstring, measured: whatever torch's counterpart
    # returns in the same autocast context (bfloat16 for a float32 input of a convolution,
    # float32 for a bfloat16 volume in CPU max_pool3d/avg_pool3d, ...), ours returns too;
    # and the gradient has the input's dtype, as autograd gives it.
    x = amp_input(spatial, dtype, device)
    for module in (ours, theirs):
        if isinstance(module, nn.Module):
            module.to(device)
    with torch.autocast(device, dtype=torch.bfloat16):
        y, grad, upstream = run_op(ours, x)
        expected, expected_grad, _ = run_op(theirs, x, upstream)
    assert y.dtype == expected.dtype, f"{name}({dtype}): {y.dtype}, torch gives {expected.dtype}"
    assert grad.dtype == expected_grad.dtype == dtype
    assert y.shape == expected.shape


def test_autocast_dtype_table_in_the_docstring_is_what_torch_does():
    # The table a reader sees, checked against torch itself (CPU autocast to bfloat16).
    x = amp_input(2, torch.float32, "cpu")
    v = amp_input(3, torch.float32, "cpu")
    table = {
        "max_pool2d": (F.max_pool2d, x), "avg_pool2d": (F.avg_pool2d, x),
        "max_pool3d": (F.max_pool3d, v), "avg_pool3d": (F.avg_pool3d, v),
    }
    seen = {}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for name, (fn, inp) in table.items():
            seen[name] = [fn(inp.to(d), 2).dtype for d in (torch.float32, torch.bfloat16)]
        weight = torch.ones(3, 1, 3, 3)
        seen["conv"] = [F.conv2d(x.to(d), weight, groups=3).dtype
                        for d in (torch.float32, torch.bfloat16)]
    f32, bf16 = torch.float32, torch.bfloat16
    assert seen == {"max_pool2d": [f32, bf16], "avg_pool2d": [f32, bf16],
                    "max_pool3d": [f32, f32], "avg_pool3d": [f32, f32], "conv": [bf16, bf16]}
    doc = mednotes.pooling.__doc__
    assert "``max_pool3d``, ``avg_pool3d``                 float32        float32" in doc


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name, ours, theirs, spatial, kind, taps", AMP_CASES, ids=AMP_IDS)
def test_autocast_values_within_amp_tolerance(device, dtype, name, ours, theirs, spatial, kind,
                                              taps):
    # Both ours and torch's counterpart against float64 on the same values, forward and
    # input gradient. The bounds follow where torch computes (see the helpers):
    # - a float32 result (2-D pools of float32; CPU max/avg_pool3d of bfloat16, which
    #   autocast runs in float32): float32_result, which bfloat16 arithmetic fails by far;
    # - a bfloat16 forward result: torch's pooling kernels and its bfloat16 convolutions
    #   (oneDNN, cuDNN) accumulate in float32 and round once, and so does ours: rounded_once,
    #   which a pure-bfloat16 computation fails (next test) and a filter 1% off fails too;
    # - a bfloat16 gradient: ours again rounds once; torch's backward kernels (max/avg pool,
    #   convolution) may round along the way, so they, and our blur (which is torch's
    #   convolution), get bfloat16_arithmetic: the filter's taps times bfloat16's eps × scale.
    x = amp_input(spatial, dtype, device)
    for module in (ours, theirs):
        if isinstance(module, nn.Module):
            module.to(device)
    with torch.autocast(device, dtype=torch.bfloat16):
        y, grad, upstream = run_op(ours, x)
        expected, expected_grad, _ = run_op(theirs, x, upstream)
    ref, ref_grad, scale, grad_scale = float64_reference(theirs, x, upstream)

    def forward_bound(result):
        return float32_result(scale) if result.dtype == torch.float32 else rounded_once(ref, scale)

    def backward_bound(result, mine):
        if kind == "conv" or (result.dtype != torch.float32 and not mine):
            return bfloat16_arithmetic(ref_grad, grad_scale, taps)
        if result.dtype == torch.float32:
            return float32_result(grad_scale)
        return rounded_once(ref_grad, grad_scale)

    if name.lower().startswith("max_pool") or name.startswith("MaxPool"):
        assert torch.equal(y.double(), ref), f"{name}: a maximum is exact in any dtype"
    assert_within(y, ref, forward_bound(y), f"{name} forward")
    assert_within(expected, ref, forward_bound(expected), f"torch's {name} forward")
    assert_within(grad, ref_grad, backward_bound(grad, True), f"{name} gradient")
    assert_within(expected_grad, ref_grad, backward_bound(expected_grad, False),
                  f"torch's {name} gradient")


def test_the_amp_bounds_can_fail():
    # The bounds above are tight enough to catch the wrong precision: an average pool done
    # in bfloat16 step by step (sum along W, round; along H, round; divide, round) breaks
    # rounded_once, and the same in bfloat16 breaks float32_result by far.
    x = amp_input(2, torch.bfloat16, "cpu")
    ref = F.avg_pool2d(x.double(), 3, 1)
    scale = F.avg_pool2d(x.double().abs(), 3, 1)
    rows = x.unfold(3, 3, 1).sum(-1)  # bfloat16 in, bfloat16 out: rounded
    naive = rows.unfold(2, 3, 1).sum(-1) / 9
    assert naive.dtype == torch.bfloat16
    assert not bool(((naive.double() - ref).abs() <= rounded_once(ref, scale)).all())
    assert not bool(((naive.double() - ref).abs() <= float32_result(scale)).all())
    # ...while ours, on the same input, meets the tight one
    assert_within(avg_pool2d(x, 3, 1), ref, rounded_once(ref, scale), "avg_pool2d bfloat16")


@pytest.mark.parametrize("device", DEVICES)
def test_half_precision_without_autocast_keeps_the_dtype(device):
    # A bfloat16 or float16 activation may reach a pooling layer without autocast too (a
    # model cast with .half()); every op returns the input's dtype, rounded once. (torch's
    # CPU avg_pool3d has no bfloat16 kernel at all; ours still works.)
    for dtype in (torch.bfloat16, torch.float16):
        for spatial, fn in [(2, lambda t: avg_pool2d(t, 3, 2, 1)), (3, lambda t: avg_pool3d(t, 2)),
                            (2, lambda t: max_pool2d(t, 2)), (3, lambda t: max_pool3d(t, 2))]:
            x = amp_input(spatial, dtype, device)
            y = fn(x)
            ref = fn(x.double())
            scale = fn(x.double().abs())
            unit = torch.finfo(dtype).eps / 2
            assert y.dtype == dtype
            assert_within(y, ref, unit * ref.abs() + 64 * U_F32 * scale, f"{dtype}")
        x = amp_input(2, dtype, device)
        assert blur_pool2d(x).dtype == max_blur_pool2d(x).dtype == dtype
        assert blur_pool3d(amp_input(3, dtype, device)).dtype == dtype


# -------------------------------------------------------- devices: no host copies, no float64


class DeviceAudit(TorchDispatchMode):
    """Records every tensor any op makes, with the op's name and the devices of its inputs."""

    def __init__(self):
        super().__init__()
        self.made = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.device.type for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.made.append((str(func), t.device.type, t.dtype, inputs))
        return out


def audited(fn):
    """Run fn twice (the first call may fill a cache) and audit the second run."""
    fn()
    with DeviceAudit() as audit:
        fn()
    return audit.made


def test_forward_passes_make_nothing_on_the_host_and_no_float64():
    # The "meta" device stands in for a GPU: tensors there have no data, and any tensor made
    # on the CPU and copied over would show up as a CPU tensor or a CPU input of a meta op.
    # A forward pass must make every tensor on the input's device, in a float32 (or integer)
    # dtype for a float32 input: no host-to-device copy, no float64 on a device (MPS has none).
    x = torch.randn(2, 3, 9, 8, device="meta")
    v = torch.randn(1, 2, 6, 7, 8, device="meta")
    left_on_cpu, moved = BlurPool2d(3), MaxBlurPool3d(3).to("meta")
    calls = {
        "max_pool2d": lambda: max_pool2d(x, 3, 2, 1, ceil_mode=True),
        "avg_pool2d": lambda: avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        "avg_pool3d": lambda: avg_pool3d(v, 3, 2, 1, ceil_mode=True),
        "max_pool3d": lambda: max_pool3d(v, 2),
        "blur_pool2d": lambda: blur_pool2d(x, 4, padding_mode="reflect"),
        "blur_pool3d": lambda: blur_pool3d(v, 3),
        "max_blur_pool2d": lambda: max_blur_pool2d(x, 3),
        "max_blur_pool3d": lambda: max_blur_pool3d(v, 3),
        "BlurPool2d left on the CPU": lambda: left_on_cpu(x),
        "MaxBlurPool3d": lambda: moved(v),
        "spectrum": lambda: spectrum(x),
        "radial_profile": lambda: radial_profile(x),
        "subpixel_roll": lambda: subpixel_roll(x, (0.5, -1.25), (2, 3)),
    }
    for name, fn in calls.items():
        made = audited(fn)
        assert made, name
        for op, device, dtype, inputs in made:
            assert device == "meta" and inputs <= {"meta"}, f"{name}: {op} on {device} {inputs}"
            assert dtype != torch.float64, f"{name}: {op} made a float64 tensor"
            assert "_local_scalar_dense" not in op, f"{name}: .item() syncs"


def test_measures_make_no_float64_for_float32_input():
    # shift_equivariance_error and shift_consistency return python floats (one .item() at
    # the end is their point), but compute in the input's precision on its device.
    x = rand(1, 2, 16, 16, dtype=torch.float32)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    calls = {
        "circular": lambda: shift_equivariance_error(BlurPool2d(3, padding_mode="circular"), x, 1),
        "crop": lambda: shift_equivariance_error(blur_pool2d, x, 2, mode="crop", margin=1),
        "consistency": lambda: shift_consistency(model, x.expand(4, 2, 16, 16), 3, trials=2),
    }
    for name, fn in calls.items():
        for op, device, dtype, _ in audited(fn):
            assert dtype != torch.float64, f"{name}: {op} made a float64 tensor"


# -------------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_max_pool_ties_on_cuda_send_the_gradient_where_torch_does(dtype):
    # Constant images (every tap ties) and images with plateaus (a few levels only), with
    # overlapping windows, padding and ceil mode: the input gradient of our max pooling must
    # be the one torch's CUDA max pooling gives on the same device.
    def plateaus(*shape, seed):
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, 3, shape, generator=g).to(device="cuda", dtype=dtype)

    images = [torch.ones(2, 3, 9, 8, device="cuda", dtype=dtype), plateaus(2, 3, 9, 8, seed=0)]
    volumes = [torch.ones(1, 2, 5, 6, 7, device="cuda", dtype=dtype),
               plateaus(1, 2, 5, 6, 7, seed=1)]
    configs = [{"kernel_size": 3, "stride": 1}, {"kernel_size": 3, "stride": 2, "padding": 1},
               {"kernel_size": 2, "stride": 1, "ceil_mode": True},
               {"kernel_size": 3, "dilation": 2}]
    for (ours, theirs, inputs) in [(max_pool2d, F.max_pool2d, images),
                                   (max_pool3d, F.max_pool3d, volumes)]:
        for x, kwargs in itertools.product(inputs, configs):
            # small integers: every sum of them is exact even in bfloat16, so gradients can
            # only differ in where they go, not in how they were rounded on the way
            upstream = plateaus(*theirs(x, **kwargs).shape, seed=2) + 1
            got, grad, _ = run_op(functools.partial(ours, **kwargs), x, upstream)
            expected, expected_grad, _ = run_op(functools.partial(theirs, **kwargs), x, upstream)
            assert torch.equal(got, expected), (ours.__name__, kwargs)
            assert torch.equal(grad, expected_grad), (ours.__name__, kwargs, dtype)


def cpu_cuda_cases():
    """Every public op with arguments that exercise it, as (name, fn of one tensor, spatial)."""
    return [
        ("max_pool2d", lambda t: max_pool2d(t, 3, 2, 1, dilation=(1, 2), ceil_mode=True), 2),
        ("avg_pool2d", lambda t: avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
         2),
        ("max_pool3d", lambda t: max_pool3d(t, 2, 1), 3),
        ("avg_pool3d", lambda t: avg_pool3d(t, 3, 2, 1, ceil_mode=True), 3),
        ("MaxPool2d", MaxPool2d(2), 2), ("AvgPool2d", AvgPool2d(3, 1, 1), 2),
        ("MaxPool3d", MaxPool3d(3, 2, 1), 3), ("AvgPool3d", AvgPool3d(2), 3),
        ("blur_pool2d", lambda t: blur_pool2d(t, 4, 2, padding_mode="reflect"), 2),
        ("blur_pool3d", lambda t: blur_pool3d(t, 3, 2, padding_mode="circular"), 3),
        ("max_blur_pool2d", lambda t: max_blur_pool2d(t, 3, 2, padding_mode="replicate"), 2),
        ("max_blur_pool3d", lambda t: max_blur_pool3d(t, 3, 2), 3),
        ("BlurPool2d", BlurPool2d(5), 2), ("BlurPool3d", BlurPool3d(3), 3),
        ("MaxBlurPool2d", MaxBlurPool2d(3), 2), ("MaxBlurPool3d", MaxBlurPool3d(3), 3),
        ("spectrum", spectrum, 2),
        ("radial_profile", lambda t: radial_profile(t)[1], 2),
        ("subpixel_roll", lambda t: subpixel_roll(t, (0.5, -1.3), (2, 3)), 2),
    ]


@pytest.fixture
def no_tf32():
    """cuDNN may run float32 convolutions in TF32 (10-bit mantissa) on Ampere and later;
    CPU/CUDA parity in float32 is about our code, so compare true float32."""
    allowed = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = allowed


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cuda_and_cpu_agree_for_every_public_op(dtype, no_tf32):
    tol = {torch.float64: 1e-10, torch.float32: 2e-5}[dtype]
    for name, fn, spatial in cpu_cuda_cases():
        x = rand(*((2, 3, 10, 9) if spatial == 2 else (1, 2, 6, 7, 8)), seed=8, dtype=dtype)
        if isinstance(fn, nn.Module):
            fn.to("cpu")
        y_cpu, grad_cpu, upstream = run_op(fn, x, None)
        if isinstance(fn, nn.Module):
            fn.to("cuda")
        y_cuda, grad_cuda, _ = run_op(fn, x.cuda(), upstream.cuda())
        assert y_cuda.device.type == "cuda" and y_cuda.dtype == y_cpu.dtype, name
        torch.testing.assert_close(y_cuda.cpu(), y_cpu, rtol=tol, atol=tol, msg=name)
        torch.testing.assert_close(grad_cuda.cpu(), grad_cpu, rtol=tol, atol=tol, msg=name)
    # the measures that return numbers, and the filter made on the device
    x = rand(2, 3, 16, 16, seed=9, dtype=dtype)
    blur = BlurPool2d(3, padding_mode="circular")
    for args in [(blur, 1), (lambda v: max_pool2d(v, 2), (1, 2)),
                 (lambda v: avg_pool2d(v, 3, 1), (2, -3), "crop")]:
        cpu = shift_equivariance_error(args[0], x, *args[1:])
        cuda = shift_equivariance_error(args[0], x.cuda(), *args[1:])
        assert cuda == pytest.approx(cpu, rel=100 * tol, abs=100 * tol)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.Flatten(), nn.LazyLinear(3))
    model = model.to(dtype)
    model(x[:1])
    cpu = shift_consistency(model, x, 4, trials=3)
    cuda = shift_consistency(model.cuda(), x, 4, trials=3)
    assert cuda == cpu
    assert torch.equal(binomial_kernel(5, 3, dtype, device="cuda").cpu(),
                       binomial_kernel(5, 3, dtype))


# -------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: max_pool2d([[1.0]], 2), TypeError, "x must be a torch.Tensor, got list"),
        (lambda: max_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.int64), 2), TypeError,
         "x has dtype torch.int64"),
        (lambda: max_pool2d(torch.ones(4, 4), 2), ValueError,
         r"max_pool2d expects 4D input \(N, C, H, W\) or 3D \(C, H, W\) \(unbatched\), got 2D"),
        (lambda: avg_pool3d(torch.ones(1, 4, 4), 2), ValueError, "avg_pool3d expects 5"),
        (lambda: max_pool2d(torch.ones(1, 1, 3, 3), 4), ValueError,
         "x is 3×3 but the pooling window is 4×4"),
        (lambda: max_pool2d(torch.ones(1, 1, 3, 3), 2, dilation=3), ValueError,
         r"x is 3×3 but the pooling window is 4×4 \(kernel_size 2×2 with dilation 3×3\)"),
        (lambda: avg_pool2d(torch.ones(1, 1, 2, 9), 6, padding=1), ValueError,
         r"x is 2×9 \(4×11 with padding 1×1\) but the pooling window is 6×6"),
        (lambda: max_pool2d(torch.ones(1, 1, 4, 4), 0), ValueError,
         "kernel_size must be positive, got 0"),
        (lambda: max_pool2d(torch.ones(1, 1, 4, 4), 2, stride=-1), ValueError,
         "stride must be positive"),
        (lambda: avg_pool2d(torch.ones(1, 1, 4, 4), 2, padding=-1), ValueError,
         "padding must be at least 0"),
        (lambda: max_pool2d(torch.ones(1, 1, 8, 8), 3, padding=2), ValueError,
         r"padding must be at most half of kernel_size .* got padding=2 with kernel_size=3"),
        (lambda: max_pool3d(torch.ones(1, 1, 4, 4, 4), (2, 2)), ValueError,
         r"kernel_size must have 3 entries \(one per spatial dim\), got \(2, 2\)"),
        (lambda: max_pool2d(torch.ones(1, 1, 4, 4), 2.0), TypeError,
         "kernel_size must be an int or a tuple of ints, got float"),
        (lambda: max_pool2d(torch.ones(1, 1, 4, 4), 2, dilation=0), ValueError,
         "dilation must be positive"),
        (lambda: max_pool2d(torch.ones(1, 1, 4, 4), 2, ceil_mode=1), TypeError,
         "ceil_mode must be True or False, got int"),
        (lambda: avg_pool2d(torch.ones(1, 1, 4, 4), 2, count_include_pad="no"), TypeError,
         "count_include_pad must be True or False"),
        (lambda: max_pool2d(torch.ones(1, 0, 4, 4), 2), ValueError, "x is empty"),
        (lambda: MaxPool2d(3, padding=2), ValueError, "padding must be at most half"),
        (lambda: AvgPool3d(2, ceil_mode=None), TypeError, "ceil_mode must be True or False"),
        (lambda: blur_pool2d(torch.ones(4, 4)), ValueError, "blur_pool2d expects 4"),
        (lambda: blur_pool2d(torch.ones(1, 1, 4, 4), 0), ValueError,
         "kernel_size must be positive"),
        (lambda: blur_pool2d(torch.ones(1, 1, 4, 4), 3, stride=0), ValueError,
         "stride must be positive"),
        (lambda: blur_pool2d(torch.ones(1, 1, 4, 4), 3, stride=(1, 2, 3)), ValueError,
         "stride must have 2 entries"),
        (lambda: blur_pool2d(torch.ones(1, 1, 4, 4), padding_mode="mirror"), ValueError,
         "padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular'; got 'mirror'"),
        (lambda: blur_pool2d(torch.ones(1, 1, 2, 2), 5, padding_mode="reflect"), ValueError,
         "padding_mode='reflect' needs x larger than the padding"),
        (lambda: blur_pool3d(torch.ones(1, 4, 4)), ValueError, "blur_pool3d expects 5"),
        (lambda: max_blur_pool2d(torch.ones(1, 1, 1, 4)), ValueError,
         "x is 1×4 but the max pooling window of max_blur_pool2d is 2×2"),
        (lambda: max_blur_pool2d(torch.ones(1, 1, 4, 4), max_pool_size=0), ValueError,
         "max_pool_size must be positive"),
        (lambda: max_blur_pool2d(torch.ones(1, 1, 4, 4), ceil_mode="yes"), TypeError,
         "ceil_mode must be True or False"),
        (lambda: MaxBlurPool3d(3)(torch.ones(1, 1, 1, 4, 4)), ValueError,
         "x is 1×4×4 but the max pooling window of MaxBlurPool3d is 2×2×2"),
        (lambda: BlurPool2d(3, stride=0), ValueError, "stride must be positive"),
        (lambda: BlurPool2d(-1), ValueError, "kernel_size must be positive"),
        (lambda: MaxBlurPool2d(3, max_pool_size=(2, 2, 2)), ValueError,
         "max_pool_size must have 2 entries"),
        (lambda: binomial_kernel(3, dims=4), ValueError,
         "dims must be an int between 1 and 3, got 4"),
        (lambda: binomial_kernel(3, dtype=torch.int32), TypeError,
         "dtype=torch.int32 is not a floating dtype"),
        (lambda: spectrum([[1.0]]), TypeError, "image must be a torch.Tensor or numpy array"),
        (lambda: spectrum(torch.ones(4)), ValueError, r"image has 1 dims .* expected \(H, W\)"),
        (lambda: spectrum(torch.ones(1, 1, 1, 4, 4)), ValueError, "image has 5 dims"),
        (lambda: spectrum(torch.ones(4, 4, dtype=torch.complex64)), TypeError, "complex"),
        (lambda: frequency_axis(0), ValueError, "size must be a positive int, got 0"),
        (lambda: radial_profile(torch.ones(4)), ValueError, r"spec has 1 dims .* \(\.\.\., H, W\)"),
        (lambda: shift_equivariance_error(3, torch.ones(1, 1, 4, 4), 1), TypeError,
         "op must be callable"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(4, 4), 1), ValueError,
         r"x has 2 dims .* expected \(N, C, \*spatial\)"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4, 4), 1, mode="wrap"),
         ValueError, "mode must be one of 'circular', 'crop'; got 'wrap'"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4, 4), (1, 2, 3)),
         ValueError, "shift must have 2 entries"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4, 4), 1.5), TypeError,
         "shift must be an int or a tuple of ints, got float"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4, 4), 4, mode="crop"),
         ValueError, "shift 4 along spatial dim 0 leaves nothing to compare"),
        (lambda: shift_equivariance_error(subsample, torch.ones(1, 1, 8), 1, mode="crop"),
         ValueError, "mode='crop' needs shift to be a multiple of the stride"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4), 1, margin=1),
         ValueError, "margin=1 applies to mode='crop' only"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4), 1, mode="crop",
                                          margin=2), ValueError, "nothing left to compare"),
        (lambda: shift_equivariance_error(blur_pool2d, torch.ones(1, 1, 5, 5), 1), ValueError,
         "mode='circular' needs input size == stride \\* output size .* maps 5×5 to 3×3"),
        (lambda: shift_equivariance_error(lambda v: v.mean((2, 3)), torch.ones(1, 1, 4, 4), 1),
         ValueError, "op must return a tensor with the 4 dims .* use shift_consistency"),
        (lambda: shift_consistency(3, torch.ones(1, 1, 4, 4), 1), TypeError,
         "model must be callable"),
        (lambda: shift_consistency(parity_classifier, torch.ones(4, 4), 1), ValueError,
         "images has 2 dims"),
        (lambda: shift_consistency(parity_classifier, torch.ones(1, 1, 4, 4), -1), ValueError,
         "max_shift must be at least 0"),
        (lambda: shift_consistency(parity_classifier, torch.ones(1, 1, 4, 4), 1, trials=0),
         ValueError, "trials must be a positive int, got 0"),
        (lambda: shift_consistency(parity_classifier, torch.ones(1, 1, 4, 4), 1, batch_size=0),
         ValueError, "batch_size must be a positive int, got 0"),
        (lambda: shift_consistency(parity_classifier, torch.ones(1, 1, 4, 4), 1, seed=0.5),
         TypeError, "seed must be an int, got float"),
        (lambda: shift_consistency(parity_classifier, torch.ones(1, 1, 4, 4), 1, mode="pad"),
         ValueError, "mode must be one of 'circular', 'crop'"),
        (lambda: shift_consistency(parity_classifier, torch.ones(1, 1, 4, 4), 4, mode="crop"),
         ValueError, "mode='crop' needs max_shift smaller than the image"),
        (lambda: shift_consistency(nn.Identity(), torch.ones(2, 1, 4, 4), 1), ValueError,
         r"model output is \(2, 1, 4, 4\); expected logits \(batch, classes\)"),
        # every public op: wrong types, NaN/inf where an int is due, strings for flags,
        # integer and complex tensors, and the measures' own arguments
        (lambda: max_pool2d(torch.ones(1, 1, 4, 4), float("nan")), TypeError,
         "kernel_size must be an int or a tuple of ints, got float nan"),
        (lambda: max_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.complex64), 2), TypeError,
         "x has complex dtype"),
        (lambda: avg_pool3d(torch.ones(1, 1, 4, 4, 4), 2, padding=float("inf")), TypeError,
         "padding must be an int or a tuple of ints, got float inf"),
        (lambda: avg_pool2d(torch.ones(1, 1, 4, 4), 2, stride=True), TypeError,
         "stride must be an int or a tuple of ints, got bool"),
        (lambda: MaxPool2d(2, ceil_mode="False"), TypeError, "ceil_mode must be True or False"),
        (lambda: MaxPool3d(2, dilation="1"), TypeError, "dilation must be an int or a tuple"),
        (lambda: AvgPool2d(2)(torch.ones(1, 1, 4, 4, dtype=torch.int32)), TypeError,
         "x has dtype torch.int32"),
        (lambda: blur_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.int32)), TypeError,
         "x has dtype torch.int32"),
        (lambda: blur_pool2d(torch.ones(1, 1, 4, 4), 3, "2"), TypeError,
         "stride must be an int or a tuple of ints, got str"),
        (lambda: blur_pool3d(torch.ones(1, 1, 4, 4, 4), float("nan")), TypeError,
         "kernel_size must be an int or a tuple of ints, got float nan"),
        (lambda: max_blur_pool3d(torch.ones(1, 1, 4, 4, 4, dtype=torch.complex128)), TypeError,
         "x has complex dtype"),
        (lambda: max_blur_pool2d(torch.ones(1, 1, 4, 4), max_pool_size=float("inf")), TypeError,
         "max_pool_size must be an int or a tuple of ints, got float inf"),
        (lambda: BlurPool2d(3, stride=float("nan")), TypeError, "stride must be an int"),
        (lambda: BlurPool3d(3, padding_mode=None), ValueError, "padding_mode must be one of"),
        (lambda: MaxBlurPool2d(ceil_mode="no"), TypeError, "ceil_mode must be True or False"),
        (lambda: binomial_kernel(3, "2"), TypeError, "dims must be an int, got str"),
        (lambda: binomial_kernel(3, True), TypeError, "dims must be an int, got bool"),
        (lambda: binomial_kernel(2.5), TypeError, "kernel_size must be an int or a tuple"),
        (lambda: binomial_kernel(3, dtype="float32"), TypeError,
         "dtype must be a torch.dtype such as torch.float32, got str"),
        (lambda: binomial_kernel(3, device="gpu"), ValueError, "device='gpu' is not a device"),
        (lambda: binomial_kernel(3, device=0.5), TypeError, "device must be a device"),
        (lambda: spectrum(np.array([["a"]])), TypeError, "image has numpy dtype <U1"),
        (lambda: frequency_axis("4"), TypeError, "size must be an int, got str '4'"),
        (lambda: frequency_axis(float("nan")), TypeError, "size must be an int, got float nan"),
        (lambda: frequency_axis(4, torch.int64), TypeError,
         "dtype=torch.int64 is not a floating dtype"),
        (lambda: radial_profile(torch.zeros(0, 4)), ValueError,
         r"spec is empty: shape \(0, 4\) has H×W = 0×4"),
        (lambda: radial_profile(torch.zeros(4, 4, dtype=torch.int64)), TypeError,
         "spec has dtype torch.int64"),
        (lambda: radial_profile(np.zeros((4, 4), dtype=np.int64)), TypeError,
         r"spec has numpy dtype int64; expected a floating dtype \(convert with spec.astype"),
        (lambda: radial_profile(torch.zeros(4, 4, dtype=torch.complex64)), TypeError,
         "spec has complex dtype"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4, 4), 1, mode="crop",
                                          margin="1"), TypeError, "margin must be an int, got str"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4, 4), 1, mode="crop",
                                          margin=True),
         TypeError, "margin must be an int, got bool"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4), 1, mode="crop",
                                          margin=-1), ValueError, "margin must be an int >= 0"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4, dtype=torch.int64), 1),
         TypeError, "x has dtype torch.int64"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4), float("nan")),
         TypeError, "shift must be an int or a tuple of ints, got float nan"),
        (lambda: shift_equivariance_error(nn.Identity(), torch.ones(1, 1, 4), 1, stride=0),
         ValueError, "stride must be positive"),
        (lambda: shift_consistency(parity_classifier, torch.ones(1, 1, 4, 4), 1, trials=math.nan),
         TypeError, "trials must be an int, got float nan"),
        (lambda: shift_consistency(parity_classifier, torch.ones(1, 1, 4, 4), 1, seed=True),
         TypeError, "seed must be an int, got bool"),
        (lambda: shift_consistency(parity_classifier, torch.ones(1, 1, 4, 4), float("inf")),
         TypeError, "max_shift must be an int or a tuple of ints, got float inf"),
        (lambda: shift_consistency(parity_classifier, torch.ones(1, 1, 4, 4, dtype=torch.cfloat),
                                   1), TypeError, "images has complex dtype"),
        (lambda: subpixel_roll([1.0, 2.0], 0.5, 0), TypeError, "x must be a torch.Tensor"),
        (lambda: subpixel_roll(torch.ones(4, dtype=torch.int64), 0.5, 0), TypeError,
         "x has dtype torch.int64"),
        (lambda: subpixel_roll(torch.ones(4), float("nan"), 0), ValueError,
         "shifts must be finite, got nan"),
        (lambda: subpixel_roll(torch.ones(4), (0.5, float("inf")), (0, 0)), ValueError,
         "shifts must be finite, got inf"),
        (lambda: subpixel_roll(torch.ones(4), "1", 0), TypeError,
         "shifts must be a number or a sequence of numbers, got str '1'"),
        (lambda: subpixel_roll(torch.ones(4), True, 0), TypeError,
         "shifts must be a number or a sequence of numbers, got bool"),
        (lambda: subpixel_roll(torch.ones(4, 4), (0.5, "x"), (0, 1)), TypeError,
         "shifts must be a real number, got str 'x'"),
        (lambda: subpixel_roll(torch.ones(4, 4), 0.5, 2), ValueError,
         "dims holds 2, out of range for x with 2 dims"),
        (lambda: subpixel_roll(torch.ones(4, 4), 0.5, 1.0), TypeError,
         "dims must be an int or a tuple of ints, got float"),
        (lambda: subpixel_roll(torch.ones(4, 4), (0.5, 1), 1), ValueError,
         "shifts has 2 entries but dims has 1"),
        (lambda: subpixel_roll(torch.ones(4, 4), (0.5, 1), (1, -1)), ValueError,
         r"dims must not repeat a dim, got \(1, -1\)"),
        (lambda: subpixel_roll(torch.tensor(1.0), 0.5, 0), ValueError, "x is a 0-dim tensor"),
        (lambda: subpixel_roll(torch.ones(0, 4), 0.5, 1), ValueError, "x is empty"),
    ],
)
def test_bad_input_fails_early_with_a_clear_message(call, error, match):
    with pytest.raises(error, match=match):
        call()
