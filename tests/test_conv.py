"""mednotes.conv against independent references: scipy.signal (signal view) and
torch.nn.functional (network view), plus the size arithmetic and every input check."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from torch import nn

from conftest import DEVICES
from mednotes.conv import (
    METHODS,
    ReceptiveField,
    choose_method,
    conv1d,
    conv2d,
    conv3d,
    conv_output_size,
    convnd,
    convolve,
    correlate,
    receptive_field,
)

# torch warns that padding="same" with an even kernel copies the input; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

TEACHING = ("direct", "im2col", "fft")
NATIVE = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
OURS = {1: conv1d, 2: conv2d, 3: conv3d}
TOL = {torch.float64: 1e-10, torch.float32: 2e-5, np.float64: 1e-10, np.float32: 2e-5}


def assert_close(actual, expected, dtype) -> None:
    """Max error relative to the output's scale (FFT rounding grows with the largest value)."""
    # scipy may hand back arrays with negative strides, which torch cannot wrap: copy first.
    actual, expected = (
        torch.as_tensor(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a
        for a in (actual, expected)
    )
    expected = expected.to(actual.device)
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    scale = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
    error = (actual.double() - expected.double()).abs().max().item() if expected.numel() else 0.0
    assert error <= TOL[dtype] * scale, f"max error {error:.3g} > {TOL[dtype]:g} * {scale:.3g}"


# ------------------------------------------------------------------- signal view vs scipy

SIGNAL_SHAPES = [
    ((9,), (3,)),  # odd kernel
    ((8,), (4,)),  # even kernel: scipy's "same" centring matters
    ((5,), (8,)),  # kernel longer than the image
    ((7, 9), (3, 3)),
    ((8, 6), (4, 2)),
    ((4, 5), (6, 7)),  # kernel larger in every dim: "valid" swaps roles, as scipy does
    ((6, 5), (2, 7)),  # larger in one dim only: "valid" raises, the others work
    ((6, 7, 5), (3, 2, 3)),
    ((3, 4, 3), (5, 4, 6)),
]


def _valid_ok(image_shape, kernel_shape) -> bool:
    pairs = list(zip(image_shape, kernel_shape))
    return all(k <= n for n, k in pairs) or all(n <= k for n, k in pairs)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("ours,theirs", [(correlate, scipy.signal.correlate),
                                         (convolve, scipy.signal.convolve)],
                         ids=["correlate", "convolve"])
@pytest.mark.parametrize("shapes", SIGNAL_SHAPES, ids=lambda s: f"{s[0]}*{s[1]}")
def test_signal_matches_scipy(shapes, ours, theirs, mode, method):
    rng = np.random.default_rng(0)
    image, kernel = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    if mode == "valid" and not _valid_ok(*shapes):
        with pytest.raises(ValueError):
            theirs(image, kernel, mode)
        with pytest.raises(ValueError, match="mode='valid'.*image.*kernel"):
            ours(image, kernel, mode, method=method)
        return
    out = ours(image, kernel, mode, method=method)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert_close(out, theirs(image, kernel, mode), np.float64)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("ours,theirs", [(correlate, scipy.signal.correlate),
                                         (convolve, scipy.signal.convolve)],
                         ids=["correlate", "convolve"])
def test_signal_kind_and_dtype(ours, theirs, mode, dtype, kind):
    rng = np.random.default_rng(1)
    image = rng.standard_normal((20, 17)).astype(dtype)
    kernel = rng.standard_normal((4, 5)).astype(dtype)
    expected = theirs(image.astype(np.float64), kernel.astype(np.float64), mode)
    if kind == "numpy":
        out = ours(image, kernel, mode)
        assert isinstance(out, np.ndarray) and out.dtype == np.dtype(dtype)
    else:
        out = ours(torch.from_numpy(image), torch.from_numpy(kernel), mode)
        assert isinstance(out, torch.Tensor) and out.dtype == getattr(torch, dtype)
    assert_close(out, expected, getattr(np, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_signal_large_kernel_matches_scipy(mode, dtype):
    # Large enough that "auto" takes the FFT path (checked below), so float32 FFT is covered.
    rng = np.random.default_rng(2)
    image = rng.standard_normal((300, 280)).astype(dtype)
    kernel = rng.standard_normal((31, 30)).astype(dtype)
    x, w = torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None]
    assert choose_method(x, w, (1, 1), ((0, 0), (0, 0)), (1, 1), 1) == "fft"
    expected = scipy.signal.correlate(image.astype(np.float64), kernel.astype(np.float64), mode)
    assert_close(correlate(image, kernel, mode), expected, dtype)


def test_convolve_is_correlate_with_flipped_kernel():
    rng = np.random.default_rng(3)
    image, kernel = rng.standard_normal((6, 7, 5)), rng.standard_normal((2, 3, 4))
    for mode in ("full", "same", "valid"):
        np.testing.assert_allclose(
            convolve(image, kernel, mode), correlate(image, kernel[::-1, ::-1, ::-1], mode)
        )


def test_signal_integers_promote_to_float64():
    out = correlate(np.arange(6), np.array([1, -1]), mode="full")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, scipy.signal.correlate(np.arange(6), np.array([1, -1])))
    out = convolve(torch.arange(6), torch.tensor([1, -1]), mode="same")
    assert out.dtype == torch.float64


def test_signal_mixed_float_dtypes_promote():
    image, kernel = np.ones(5, np.float32), np.ones(2, np.float64)
    assert correlate(image, kernel).dtype == np.float64
    assert correlate(torch.ones(5), torch.ones(2, dtype=torch.float64)).dtype == torch.float64


def test_signal_accepts_lists():
    np.testing.assert_allclose(
        correlate([1, 2, 3], [1, 1], "full"), scipy.signal.correlate([1, 2, 3], [1, 1])
    )


@pytest.mark.parametrize("device", DEVICES)
def test_signal_torch_keeps_device_and_gradient(device):
    g = torch.Generator().manual_seed(4)
    image = torch.randn(12, 10, generator=g, dtype=torch.float64).to(device).requires_grad_()
    kernel = torch.randn(3, 4, generator=g, dtype=torch.float64).to(device).requires_grad_()
    out = convolve(image, kernel, mode="same")
    assert out.device.type == device
    expected = scipy.signal.convolve(image.detach().cpu().numpy(), kernel.detach().cpu().numpy(),
                                     "same")
    assert_close(out.cpu(), torch.from_numpy(expected), torch.float64)
    out.sum().backward()
    assert image.grad is not None and kernel.grad is not None
    assert torch.autograd.gradcheck(
        lambda a, b: correlate(a, b, mode="full"), (image[:5, :4], kernel[:2, :3])
    )


# --------------------------------------------------------------- network view vs torch

# (N, C_in, C_out, spatial, kernel, keyword arguments)
CONFIGS_2D = [
    (2, 3, 4, (9, 11), (3, 3), {}),
    (1, 4, 6, (10, 9), (2, 3), {"stride": 2, "padding": 1, "groups": 2, "bias": True}),
    (2, 2, 3, (12, 12), (4, 4), {"padding": "same", "dilation": 2, "bias": True}),
    (1, 6, 6, (8, 13), (3, 5), {"stride": (2, 3), "padding": (2, 1), "dilation": (1, 2),
                                "groups": 3}),
    (3, 1, 2, (7, 7), (7, 7), {"padding": "valid"}),
    (1, 4, 4, (15, 10), (5, 4), {"padding": "same", "groups": 4, "bias": True}),  # depthwise
    (2, 2, 2, (16, 16), (1, 1), {"stride": 3}),
]
CONFIGS_3D = [
    (1, 2, 3, (6, 7, 5), (3, 3, 3), {"padding": 1, "bias": True}),
    (2, 4, 2, (8, 6, 7), (2, 3, 2), {"stride": (2, 1, 2), "groups": 2}),
    (1, 3, 3, (9, 9, 9), (3, 2, 3), {"padding": "same", "dilation": (2, 1, 1), "groups": 3}),
    (1, 1, 2, (7, 8, 6), (3, 3, 3), {"padding": (0, 1, 2), "dilation": 2, "stride": 2}),
]
CONFIGS_1D = [
    (2, 3, 2, (20,), (5,), {"padding": 2, "stride": 3, "bias": True}),
    (1, 4, 4, (11,), (4,), {"padding": "same", "dilation": 2, "groups": 2}),
]


def _random_configs(count: int, seed: int) -> list:
    """Random but reproducible 2-D layers: every parameter drawn, only valid ones kept."""
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < count:
        groups = int(rng.choice([1, 1, 2, 3]))
        c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
        kernel = tuple(int(k) for k in rng.integers(1, 6, size=2))
        dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
        if rng.random() < 0.25:
            stride, padding = 1, str(rng.choice(["same", "valid"]))
        else:
            stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
            padding = tuple(int(p) for p in rng.integers(0, 3, size=2))
        size = tuple(int(s) for s in rng.integers(5, 16, size=2))
        kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
                  "bias": bool(rng.random() < 0.5)}
        pad = (0, 0) if isinstance(padding, str) else padding
        if all(s + 2 * p >= d * (k - 1) + 1 for s, p, d, k in zip(size, pad, dilation, kernel)):
            found.append((int(rng.integers(1, 3)), c_in, c_out, size, kernel, kwargs))
    return found


def _layer(config, dtype, device, seed=0):
    n_batch, c_in, c_out, size, kernel, kwargs = config
    kwargs = dict(kwargs)
    groups = kwargs.get("groups", 1)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_batch, c_in, *size, generator=g, dtype=dtype)
    w = torch.randn(c_out, c_in // groups, *kernel, generator=g, dtype=dtype)
    b = torch.randn(c_out, generator=g, dtype=dtype) if kwargs.pop("bias", False) else None
    return x.to(device), w.to(device), None if b is None else b.to(device), kwargs


def _ids(configs, prefix):
    return [f"{prefix}{i}" for i in range(len(configs))]


ALL_CONFIGS = CONFIGS_1D + CONFIGS_2D + CONFIGS_3D + _random_configs(12, seed=5)
ALL_IDS = (_ids(CONFIGS_1D, "1d-") + _ids(CONFIGS_2D, "2d-") + _ids(CONFIGS_3D, "3d-")
           + _ids(range(12), "rand2d-"))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("config", ALL_CONFIGS, ids=ALL_IDS)
def test_network_matches_torch(config, method, dtype, device):
    x, w, b, kwargs = _layer(config, dtype, device)
    n = w.dim() - 2
    expected = NATIVE[n](x, w, b, **kwargs)
    out = OURS[n](x, w, b, method=method, **kwargs)
    assert out.dtype == dtype and out.device == x.device
    assert_close(out, expected, dtype)
    assert_close(convnd(x, w, b, method=method, **kwargs), expected, dtype)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("config", CONFIGS_1D + CONFIGS_2D[:3] + CONFIGS_3D[:2])
def test_network_unbatched_input(config, method):
    x, w, b, kwargs = _layer(config, torch.float64, "cpu")
    n = w.dim() - 2
    out = OURS[n](x[0], w, b, method=method, **kwargs)
    assert_close(out, NATIVE[n](x[0], w, b, **kwargs), torch.float64)


@pytest.mark.parametrize("method", METHODS)
def test_network_empty_batch(method):
    x, w, b, kwargs = _layer(CONFIGS_2D[1], torch.float32, "cpu")
    expected = F.conv2d(x[:0], w, b, **kwargs).shape
    assert conv2d(x[:0], w, b, method=method, **kwargs).shape == expected == (0, 6, 6, 5)


@pytest.mark.parametrize("method", TEACHING)
@pytest.mark.parametrize("config", [
    (1, 4, 2, (7, 6), (3, 2), {"stride": (2, 1), "padding": 1, "dilation": (1, 2), "groups": 2,
                               "bias": True}),
    (2, 2, 2, (5, 5), (2, 2), {"padding": "same", "bias": True}),
    (1, 2, 2, (5, 4, 5), (2, 2, 3), {"stride": 2, "padding": (1, 0, 1), "bias": True}),
    (1, 2, 2, (9,), (3,), {"dilation": 3, "groups": 2, "bias": True}),
], ids=["2d-strided-grouped", "2d-same", "3d", "1d-dilated"])
def test_gradcheck(config, method):
    x, w, b, kwargs = _layer(config, torch.float64, "cpu")
    inputs = tuple(t.requires_grad_() for t in (x, w, b))
    assert torch.autograd.gradcheck(
        lambda x_, w_, b_: convnd(x_, w_, b_, method=method, **kwargs), inputs
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", TEACHING)
def test_gradients_match_native(method, device):
    x, w, b, kwargs = _layer(CONFIGS_2D[3], torch.float32, device)
    grads = []
    for m in ("native", method):
        inputs = [t.clone().requires_grad_() for t in (x, w)]
        (convnd(*inputs, b, method=m, **kwargs) ** 2).sum().backward()
        grads.append([t.grad for t in inputs])
    for ours, theirs in zip(grads[1], grads[0]):
        assert_close(ours, theirs, torch.float32)


@pytest.mark.parametrize("size,kernel,channels", [
    ((512, 512), 21, 1),  # auto picks fft here ...
    ((128, 128), 3, 4),  # ... and native here
    ((40, 40, 40), 9, 1),
])
def test_auto_returns_native_result(size, kernel, channels):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1, channels, *size, generator=g)
    w = torch.randn(channels, channels, *(kernel,) * len(size), generator=g)
    expected = convnd(x, w, padding=kernel // 2, method="native")
    assert_close(convnd(x, w, padding=kernel // 2, method="auto"), expected, torch.float32)


def test_choose_method_rule():
    def pick(batch, channels, size, kernel, stride=1, dtype=torch.float32):
        n = len(size)
        x = torch.empty(batch, channels, *size, dtype=dtype)
        w = torch.empty(channels, channels, *(kernel,) * n, dtype=dtype)
        pads = ((kernel // 2, kernel // 2),) * n
        return choose_method(x, w, (stride,) * n, pads, (1,) * n, 1)

    for k in (11, 15, 21, 31):  # the large-kernel goal of benchmarks/conv.py
        assert pick(1, 1, (512, 512), k) == "fft"
    assert pick(1, 1, (512, 512), 31, stride=2) == "native"  # fft computes every position
    assert pick(1, 1, (512, 512), 31, dtype=torch.float16) == "native"
    assert pick(8, 64, (128, 128), 3) == "native"
    assert pick(1, 8, (64, 64, 64), 3) == "native"


# --------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 3])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
def test_conv_output_size_matches_torch(kernel, dilation, padding, stride):
    size = 13
    x, w = torch.zeros(1, 1, size, size + 4), torch.zeros(1, 1, kernel, kernel)
    out = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
    assert conv_output_size(size, kernel, stride, padding, dilation) == out.shape[2]
    assert conv_output_size((size, size + 4), kernel, stride, padding, dilation) == out.shape[2:]


def test_conv_output_size_tuples_and_strings():
    x, w = torch.zeros(1, 1, 9, 10, 11), torch.zeros(1, 1, 3, 2, 4)
    out = F.conv3d(x, w, stride=(1, 2, 3), padding=(0, 1, 2), dilation=(2, 1, 1))
    got = conv_output_size((9, 10, 11), (3, 2, 4), (1, 2, 3), (0, 1, 2), (2, 1, 1))
    assert got == tuple(out.shape[2:])
    assert conv_output_size(10, 4, padding="same", dilation=3) == 10
    assert conv_output_size((10, 9), 4, padding="valid") == (7, 6)


def test_receptive_field_stacks():
    assert [r.size for r in receptive_field([(3, 1)] * 3)] == [3, 5, 7]
    records = receptive_field([(3, 1), (2, 2), (3, 1)])
    assert [1] + [r.size for r in records] == [1, 3, 4, 8]
    assert [r.jump for r in records] == [1, 2, 2]
    # Dilations 1, 2, 4 (the context module of Yu & Koltun): 3, 7, 15.
    assert [r.size for r in receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)])] == [3, 7, 15]
    assert receptive_field([(7, 2), (3, 2)])[-1] == ReceptiveField("1", 3, 2, 1, 11, 4)


def test_receptive_field_of_a_module():
    class Blur(nn.Module):  # a layer that is not torch's but exposes the attributes
        kernel_size, stride = 3, 1

        def forward(self, x):
            return x

    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Sequential(nn.MaxPool2d(2), Blur()),
        nn.Conv2d(8, 8, 3, dilation=2),
        nn.AvgPool2d(3, stride=1),
        nn.AdaptiveAvgPool2d(1),  # no kernel_size: skipped
    )
    records = receptive_field(net)
    assert [r.layer for r in records] == ["0", "2.0", "2.1", "3", "4"]
    assert [r.size for r in records] == [3, 4, 8, 16, 20]
    assert [r.jump for r in records] == [1, 2, 2, 2, 2]


def test_receptive_field_per_axis():
    net = nn.Sequential(nn.Conv3d(1, 1, (1, 3, 3)), nn.Conv3d(1, 1, 3, stride=(1, 2, 2)),
                        nn.Conv3d(1, 1, 3))
    records = receptive_field(net)
    assert records[0].size == (1, 3, 3) and records[0].kernel == (1, 3, 3)
    assert records[-1].size == (5, 9, 9) and records[-1].jump == (1, 2, 2)


# --------------------------------------------------------------------------- bad input

_x = torch.zeros(1, 2, 6, 6)
_w = torch.zeros(4, 2, 3, 3)
BAD = [
    # signal view
    ("none", lambda: correlate(None, None), TypeError,
     "image must be a 1-D, 2-D or 3-D array or torch tensor, got NoneType"),
    ("numpy-scalar", lambda: correlate(np.float64(3), np.ones(1)), TypeError,
     "image must be .* got float64"),
    ("zero-dim-array", lambda: correlate(np.array(3.0), np.ones(1)), ValueError,
     "image must have 1, 2 or 3 dims, got 0"),
    ("zero-dim-tensor", lambda: correlate(torch.tensor(3.0), torch.ones(1)), ValueError,
     "image must have 1, 2 or 3 dims, got 0"),
    ("object-array", lambda: correlate(np.array([1, "a"], dtype=object), np.ones(1)), TypeError,
     "image must hold real numbers, got dtype object"),
    ("ragged", lambda: correlate([[1.0, 2.0], [3.0]], [1.0]), ValueError,
     "image is not a rectangular array of numbers"),
    ("string", lambda: correlate("abc", [1.0]), TypeError, "image must be .* got str"),
    ("string-array", lambda: correlate(np.array(["1", "2"]), np.ones(1)), TypeError,
     "image must hold real numbers, got dtype <U1"),
    ("complex-kernel", lambda: correlate(np.ones(3), np.ones(2) + 1j), TypeError,
     "kernel must hold real numbers, got complex numbers"),
    ("complex-tensor", lambda: correlate(torch.ones(3), torch.ones(2, dtype=torch.cfloat)),
     TypeError, "image and kernel must be real"),
    ("kernel-dims", lambda: correlate(np.zeros((4, 4)), np.zeros((2, 2, 2))), ValueError,
     "kernel has 3 dims, image has 2"),
    ("image-dims", lambda: correlate(np.zeros((2,) * 4), np.zeros((1,) * 4)), ValueError,
     "image must have 1, 2 or 3 dims, got 4"),
    ("image-empty", lambda: convolve(np.zeros((0, 3)), np.zeros((1, 1))), ValueError,
     r"image is empty: shape \(0, 3\)"),
    ("kernel-empty", lambda: convolve(np.zeros(3), np.zeros(0)), ValueError, "kernel is empty"),
    ("mode", lambda: correlate(np.zeros(3), np.zeros(2), mode="circular"), ValueError,
     "mode must be one of 'full', 'same', 'valid'; got 'circular'"),
    ("signal-method", lambda: correlate(np.zeros(3), np.zeros(2), method="winograd"), ValueError,
     "method must be one of 'auto', 'direct'"),
    ("signal-complex", lambda: correlate(np.zeros(3, complex), np.zeros(2)), TypeError,
     "image must hold real numbers, got complex numbers"),
    ("mixed-kinds", lambda: correlate(torch.zeros(3), np.zeros(2)), TypeError,
     "kernel is a ndarray but image is a torch.Tensor"),
    ("mixed-kinds-2", lambda: correlate(np.zeros(3), torch.zeros(2)), TypeError,
     "kernel is a Tensor but image is a numpy array"),
    ("signal-devices", lambda: correlate(torch.zeros(3), torch.zeros(2, device="meta")),
     ValueError, "kernel is on meta, image is on cpu"),
    ("valid-shapes", lambda: correlate(np.zeros((5, 3)), np.zeros((3, 5))), ValueError,
     r"mode='valid' needs one of image and kernel .* image has shape \(5, 3\), kernel \(3, 5\)"),
    # network view
    ("x-type", lambda: conv2d(np.zeros((1, 2, 6, 6)), _w), TypeError,
     "x must be a torch.Tensor, got ndarray"),
    ("weight-type", lambda: conv2d(_x, [[1.0]]), TypeError, "weight must be a torch.Tensor"),
    ("x-dims", lambda: conv2d(torch.zeros(1, 1, 2, 6, 6), _w), ValueError,
     r"conv2d expects 4D input \(N, C, H, W\) or 3D \(C, H, W\) \(unbatched\), got 5D input "
     r"of shape \(1, 1, 2, 6, 6\); a 5D batch has 3 spatial dims, and conv2d works on 2"),
    ("x-dims-3d", lambda: conv3d(_x[0, 0], torch.zeros(1, 1, 3, 3, 3)), ValueError,
     r"conv3d expects 5D input \(N, C, D, H, W\) or 4D \(C, D, H, W\) \(unbatched\), got 2D"),
    ("weight-dims", lambda: conv2d(_x, torch.zeros(4, 2, 3)), ValueError,
     "weight has 3 dims; conv2d expects 4"),
    ("convnd-dims", lambda: convnd(_x, torch.zeros(1, 1, 1, 1, 1, 1)), ValueError,
     "weight has 6 dims; expected 3 to 5"),
    ("x-complex", lambda: conv2d(_x.to(torch.complex64), _w), TypeError,
     "x has complex dtype"),
    ("weight-complex", lambda: conv2d(_x, _w.to(torch.complex64)), TypeError,
     "weight has complex dtype"),
    ("x-int", lambda: conv2d(_x.long(), _w), TypeError,
     "x has dtype torch.int64; expected a floating dtype"),
    ("dtypes", lambda: conv2d(_x, _w.double()), TypeError,
     "weight has dtype torch.float64, x has torch.float32"),
    ("devices", lambda: conv2d(_x, _w.to("meta")), ValueError, "weight is on meta, x is on cpu"),
    ("bias-device", lambda: conv2d(_x, _w, torch.zeros(4, device="meta")), ValueError,
     "bias is on meta"),
    ("bias-shape", lambda: conv2d(_x, _w, torch.zeros(3)), ValueError,
     r"bias has shape \(3,\); expected \(4,\)"),
    ("x-empty", lambda: conv2d(torch.zeros(1, 2, 0, 6), _w), ValueError, "x is empty"),
    ("stride-zero", lambda: conv2d(_x, _w, stride=0), ValueError, "stride must be positive, got 0"),
    ("stride-negative", lambda: conv2d(_x, _w, stride=(1, -2)), ValueError,
     "stride must be positive"),
    ("stride-length", lambda: conv2d(_x, _w, stride=(1, 1, 1)), ValueError,
     "stride must have 2 entries"),
    ("stride-type", lambda: conv2d(_x, _w, stride=1.5), TypeError, "stride must be an int"),
    ("dilation-zero", lambda: conv3d(torch.zeros(1, 1, 5, 5, 5), torch.zeros(1, 1, 2, 2, 2),
                                     dilation=(1, 0, 1)), ValueError, "dilation must be positive"),
    ("padding-negative", lambda: conv2d(_x, _w, padding=-1), ValueError,
     "padding must be at least 0, got -1"),
    ("padding-string", lambda: conv2d(_x, _w, padding="full"), ValueError,
     "padding must be one of 'same', 'valid'; got 'full'"),
    ("padding-same-stride", lambda: conv2d(_x, _w, stride=2, padding="same"), ValueError,
     "padding='same' needs stride 1"),
    ("method", lambda: conv2d(_x, _w, method="winograd"), ValueError,
     "method must be one of 'auto', 'direct', 'im2col', 'fft', 'native'; got 'winograd'"),
    ("groups-zero", lambda: conv2d(_x, _w, groups=0), ValueError, "groups must be positive"),
    ("groups-type", lambda: conv2d(_x, _w, groups=2.0), TypeError, "groups must be an int"),
    ("groups-in", lambda: conv2d(torch.zeros(1, 3, 6, 6), torch.zeros(4, 1, 3, 3), groups=2),
     ValueError, "x has 3 channels, not divisible by groups=2"),
    ("groups-out", lambda: conv2d(_x, torch.zeros(3, 1, 3, 3), groups=2), ValueError,
     "weight has 3 output channels, not divisible by groups=2"),
    ("in-channels", lambda: conv2d(_x, torch.zeros(4, 1, 3, 3)), ValueError,
     r"weight expects 1\*1=1 input channels \(weight.shape\[1\]\*groups\), x has 2"),
    ("too-small", lambda: conv2d(_x, _w, dilation=3), ValueError,
     "x is too small along spatial dim 0: size 6 .* kernel of size 3 with dilation 3 spans 7"),
    # arithmetic
    ("size-stride", lambda: conv_output_size(10, 3, stride=0), ValueError,
     "stride must be positive"),
    ("size-dilation", lambda: conv_output_size(10, 3, dilation=-1), ValueError,
     "dilation must be positive"),
    ("size-padding", lambda: conv_output_size(10, 3, padding=-2), ValueError,
     "padding must be at least 0"),
    ("size-empty", lambda: conv_output_size(4, 3, padding=0, dilation=2), ValueError,
     r"output would be empty: size=4 with padding=0 .* kernel_size=3 with dilation=2 spans \(5\)"),
    ("size-lengths", lambda: conv_output_size((4, 4), (3, 3, 3)), ValueError,
     "tuple arguments must have one common length"),
    ("size-same-stride", lambda: conv_output_size(8, 3, stride=2, padding="same"), ValueError,
     "padding='same' needs stride 1"),
    ("size-padding-string", lambda: conv_output_size(8, 3, padding="full"), ValueError,
     "padding must be an int, a tuple, 'same' or 'valid'"),
    ("rf-type", lambda: receptive_field(3), TypeError, "layers must be an nn.Module or a sequence"),
    ("rf-entry", lambda: receptive_field([(3, 1), (3,)]), ValueError,
     r"layers\[1\] must be \(kernel, stride\)"),
    ("rf-stride", lambda: receptive_field([(3, 1), (3, 0)]), ValueError,
     r"layers\[1\] stride must be positive"),
    ("rf-empty", lambda: receptive_field(nn.Sequential(nn.ReLU())), ValueError,
     "layers holds no layer"),
    ("rf-transposed", lambda: receptive_field(nn.Sequential(nn.ConvTranspose2d(1, 1, 2))),
     ValueError, "transposed convolution '0'"),
    ("rf-axes", lambda: receptive_field([((3, 3), 1), ((3, 3, 3), 1)]), ValueError,
     "has 3 axes, other layers have 2|has 2 axes, other layers have 3"),
]


@pytest.mark.parametrize("call,error,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------- mixed precision


def _amp(device):
    return torch.bfloat16 if device == "cpu" else torch.float16


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv_follows_autocast_like_torch(n, method, device):
    """Under autocast every method casts like F.convNd and agrees with it to one step of the
    autocast dtype, forward and backward."""
    amp = _amp(device)
    g = torch.Generator().manual_seed(n)
    x = torch.randn(2, 6, *(9,) * n, generator=g).to(device).requires_grad_()
    w = torch.randn(4, 3, *(3,) * n, generator=g).to(device).requires_grad_()
    b = torch.randn(4, generator=g).to(device).requires_grad_()
    refs = [t.detach().clone().requires_grad_() for t in (x, w, b)]
    with torch.autocast(device, dtype=amp):
        ours = OURS[n](x, w, b, padding=1, groups=2, method=method)
        theirs = NATIVE[n](*refs, padding=1, groups=2)
    assert ours.dtype == theirs.dtype == amp
    scale = theirs.double().abs().max().item()
    step = torch.finfo(amp).eps
    assert (ours.double() - theirs.double()).abs().max().item() <= step * scale
    weights = torch.randn(ours.shape, generator=g).to(device)
    (ours.float() * weights).sum().backward()
    (theirs.float() * weights).sum().backward()
    for name, mine, ref in zip("xwb", (x, w, b), refs, strict=True):
        assert mine.grad.dtype == ref.grad.dtype == torch.float32, name
        error = (mine.grad - ref.grad).abs().max().item()
        assert error <= 4 * step * ref.grad.abs().max().item(), (name, error)


@pytest.mark.parametrize("method", TEACHING)
def test_half_precision_inputs_are_accumulated_in_float32(method):
    """A 3x3 convolution over 64 channels sums 576 products. Accumulated in float32 and
    rounded once, the result is within half a bfloat16 step of the exact sum of the same
    (rounded) inputs; added up in bfloat16 it is not (checked below on the same data)."""
    g = torch.Generator().manual_seed(7)
    x = torch.rand(1, 64, 12, 12, generator=g).bfloat16()  # positive: errors do not cancel
    w = torch.rand(2, 64, 3, 3, generator=g).bfloat16()
    exact = F.conv2d(x.double(), w.double())
    ours = conv2d(x, w, method=method)
    assert ours.dtype == torch.bfloat16
    half_step = torch.finfo(torch.bfloat16).eps / 2
    assert ((ours.double() - exact).abs() / exact.abs()).max().item() <= half_step

    running = torch.zeros_like(exact, dtype=torch.bfloat16)  # the naive sum, term by term
    for c in range(64):
        for u in range(3):
            for v in range(3):
                running = running + (w[None, :, c, u, v, None, None]
                                     * x[:, c:c + 1, u:u + 10, v:v + 10])
    assert ((running.double() - exact).abs() / exact.abs()).max().item() > 4 * half_step


def test_numpy_signal_view_ignores_autocast():
    image, kernel = np.random.default_rng(0).random((9, 9)), np.ones((3, 3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = correlate(image, kernel)
        tensor_out = correlate(torch.from_numpy(image).float(), torch.ones(3, 3))
    assert inside.dtype == np.float64
    np.testing.assert_allclose(inside, scipy.signal.correlate(image, kernel, "valid"), rtol=1e-12)
    assert tensor_out.dtype == torch.bfloat16  # tensors follow autocast, as F.conv2d does


# ------------------------------------------------------------------ non-finite values


@pytest.mark.parametrize("method", ["fft", "auto", "direct", "im2col"])
def test_nan_and_inf_stay_local_as_with_torch(method):
    """One NaN and one inf pixel spoil only the outputs whose window covers them. An FFT
    would spread them over the whole output, so "fft" (and "auto" when it picks the FFT)
    computes by "direct" when the input is not finite."""
    x = torch.randn(1, 1, 128, 128, generator=torch.Generator().manual_seed(3))
    w = torch.randn(1, 1, 15, 15, generator=torch.Generator().manual_seed(4))
    assert choose_method(x, w, (1, 1), ((7, 7), (7, 7)), (1, 1), 1) == "fft"  # auto -> FFT
    x[0, 0, 10, 20] = float("nan")
    x[0, 0, 90, 100] = float("inf")
    ours = conv2d(x, w, padding=7, method=method)
    theirs = F.conv2d(x, w, padding=7)
    assert torch.equal(torch.isnan(ours), torch.isnan(theirs))
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    finite = torch.isfinite(theirs)
    assert 0.9 < finite.float().mean().item() < 1.0  # most outputs are untouched
    assert torch.allclose(ours[finite], theirs[finite], atol=1e-4)


def test_fft_of_finite_input_is_still_an_fft():
    """The fallback must not fire for ordinary input: the FFT result differs from the direct
    one in the last bits, which shows which of the two ran."""
    x = torch.randn(1, 1, 40, 40, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    w = torch.randn(1, 1, 9, 9, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    fft, direct = conv2d(x, w, method="fft"), conv2d(x, w, method="direct")
    assert torch.allclose(fft, direct, atol=1e-10) and not torch.equal(fft, direct)
