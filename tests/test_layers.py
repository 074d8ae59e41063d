"""mednotes.layers against torch.nn: convolutions, activations, normalisations, ConvNormAct.

Each from-scratch layer gets a torch twin with the same state dict; both see the same seeded
inputs, and outputs, gradients (input, weight, bias) and buffers must agree, on the CPU and on
CUDA when present. gradcheck in float64 checks our own backward passes, and every input error
is checked for a message that names the argument.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from conftest import DEVICES
from mednotes.conv import receptive_field
from mednotes.layers import (
    ELU,
    BatchNorm2d,
    BatchNorm3d,
    Conv2d,
    Conv3d,
    ConvNormAct,
    GroupNorm,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    LeakyReLU,
    ReLU,
    batch_norm,
    derivative,
    elu,
    elu_grad,
    group_norm,
    instance_norm,
    layer_norm,
    leaky_relu,
    leaky_relu_grad,
    relu,
    relu_grad,
)

# torch warns that padding="same" with an even kernel copies the input; expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run these tiny tensors on one thread: a second one only waits for its share of work,
    and on a busy 2-core machine that wait made each small convolution 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randn(*shape, seed, device="cpu", dtype=F64, scale=1.0, shift=0.0, grad=False):
    """Seeded normal values, drawn on the CPU so that every device sees the same numbers."""
    g = torch.Generator().manual_seed(seed)
    x = (shift + scale * torch.randn(*shape, generator=g, dtype=dtype)).to(device)
    return x.requires_grad_() if grad else x


def assert_close(actual, expected, tol=1e-9, what=""):
    assert actual is not None and expected is not None, f"{what}: one side is missing"
    assert actual.shape == expected.shape, f"{what}: {tuple(actual.shape)} != {expected.shape}"
    scale = max(1.0, expected.detach().abs().max().item()) if expected.numel() else 1.0
    error = (actual.detach().double() - expected.detach().double()).abs().max().item()
    assert error <= tol * scale, f"{what}: max error {error:.3g} > {tol:g} * {scale:.3g}"


def twin_step(ours, theirs, x, seed, tol=1e-9):
    """One forward and backward through both modules; compare outputs and all gradients."""
    xo, xt = x.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
    yo, yt = ours(xo), theirs(xt)
    assert_close(yo, yt, tol, "output")
    # A random weighting of the outputs: the plain sum has zero gradient through a norm.
    target = randn(*yt.shape, seed=seed, device=x.device, dtype=x.dtype)
    (yo * target).sum().backward()
    (yt * target).sum().backward()
    assert_close(xo.grad, xt.grad, tol, "input grad")
    for (name, p), (their_name, q) in zip(ours.named_parameters(), theirs.named_parameters(),
                                          strict=True):
        assert name == their_name, f"parameter {name} is paired with torch's {their_name}"
        assert_close(p.grad, q.grad, tol, f"{name} grad")


def assert_same_buffers(ours, theirs, tol=1e-12):
    for (name, a), (their_name, b) in zip(ours.named_buffers(), theirs.named_buffers(),
                                          strict=True):
        assert name == their_name, f"buffer {name} is paired with torch's {their_name}"
        if b.dtype == torch.long:
            assert torch.equal(a, b), f"{name}: {a} != {b}"
        else:
            assert_close(a, b, tol, name)


def check_gradients(module, *inputs):
    """gradcheck in float64 with respect to the inputs and every parameter."""
    names = [name for name, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]

    def run(*args):
        return functional_call(module, dict(zip(names, args[len(inputs):])), args[:len(inputs)])

    assert torch.autograd.gradcheck(run, (*inputs, *params), eps=1e-6, atol=1e-6)


# -------------------------------------------------------------------------- convolution

CONV_2D = [  # (in, out, kernel, keyword arguments, input spatial size)
    (3, 4, 3, {}, (9, 11)),
    (4, 6, (2, 3), {"stride": 2, "padding": 1, "groups": 2}, (10, 9)),
    (2, 3, 4, {"padding": "same", "dilation": 2, "bias": False}, (12, 12)),
    (6, 6, (3, 5), {"stride": (2, 3), "padding": (2, 1), "dilation": (1, 2), "groups": 3},
     (8, 13)),
    (4, 4, 5, {"padding": "same", "groups": 4, "padding_mode": "reflect"}, (11, 10)),
    (2, 2, 3, {"padding": (1, 2), "padding_mode": "circular", "bias": False}, (7, 8)),
    (1, 2, 3, {"padding": "valid", "padding_mode": "replicate", "stride": 2}, (9, 9)),
]
CONV_3D = [
    (2, 3, 3, {"padding": 1}, (6, 7, 5)),
    (4, 2, (2, 3, 2), {"stride": (2, 1, 2), "groups": 2, "bias": False}, (8, 6, 7)),
    (3, 3, 3, {"padding": "same", "dilation": (2, 1, 1), "groups": 3,
               "padding_mode": "replicate"}, (7, 6, 6)),
]


def conv_pair(dim, cfg, method="auto", device="cpu", dtype=F64):
    c_in, c_out, kernel, kwargs, _ = cfg
    cls, ref_cls = (Conv2d, nn.Conv2d) if dim == 2 else (Conv3d, nn.Conv3d)
    torch.manual_seed(dim)
    theirs = ref_cls(c_in, c_out, kernel, **kwargs, device=device, dtype=dtype)
    ours = cls(c_in, c_out, kernel, **kwargs, device=device, dtype=dtype, method=method)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["auto", "direct", "im2col", "fft"])
@pytest.mark.parametrize("dim,cfg", [(2, c) for c in CONV_2D] + [(3, c) for c in CONV_3D])
def test_conv_matches_torch(dim, cfg, method, device):
    ours, theirs = conv_pair(dim, cfg, method, device)
    x = randn(2, cfg[0], *cfg[4], seed=1, device=device)
    twin_step(ours, theirs, x, seed=2)
    assert_close(ours(x[0]), theirs(x[0]), 1e-9, "unbatched")


@pytest.mark.parametrize("device", DEVICES)
def test_conv_float32_and_state_dict_both_ways(device):
    cfg = CONV_2D[1]
    torch.manual_seed(0)
    ours = Conv2d(*cfg[:3], **cfg[3], device=device)
    theirs = nn.Conv2d(*cfg[:3], **cfg[3], device=device)
    assert set(ours.state_dict()) == set(theirs.state_dict()) == {"weight", "bias"}
    theirs.load_state_dict(ours.state_dict())  # ours -> torch this time
    x = randn(3, cfg[0], *cfg[4], seed=3, device=device, dtype=torch.float32)
    twin_step(ours, theirs, x, seed=4, tol=2e-5)


@pytest.mark.parametrize("dim,cfg", [(2, c) for c in CONV_2D] + [(3, c) for c in CONV_3D])
def test_conv_initialisation_and_repr_match_torch(dim, cfg):
    c_in, c_out, kernel, kwargs, _ = cfg
    cls, ref_cls = (Conv2d, nn.Conv2d) if dim == 2 else (Conv3d, nn.Conv3d)
    torch.manual_seed(7)
    theirs = ref_cls(c_in, c_out, kernel, **kwargs)
    torch.manual_seed(7)
    ours = cls(c_in, c_out, kernel, **kwargs)
    for name, p in theirs.named_parameters():  # same seed, same bits
        assert torch.equal(getattr(ours, name), p), name
    assert ours.extra_repr() == theirs.extra_repr()
    for attr in ("kernel_size", "stride", "dilation", "groups", "padding", "padding_mode"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert repr(cls(1, 2, 3, method="fft")).endswith("method='fft')")


def test_conv_gradcheck():
    conv = Conv2d(2, 3, 3, stride=2, padding=1, dtype=F64, method="direct")
    check_gradients(conv, randn(1, 2, 5, 6, seed=5, grad=True))
    conv = Conv2d(2, 2, 3, padding="same", groups=2, padding_mode="reflect", dtype=F64)
    check_gradients(conv, randn(1, 2, 5, 5, seed=6, grad=True))
    conv = Conv3d(2, 2, 2, dilation=(1, 2, 1), dtype=F64, method="im2col")
    check_gradients(conv, randn(1, 2, 3, 4, 3, seed=7, grad=True))


# -------------------------------------------------------------------------- activations

ACTS = [  # (ours, torch's, keyword arguments, our module, torch's module)
    (relu, F.relu, {}, ReLU, nn.ReLU),
    (leaky_relu, F.leaky_relu, {}, LeakyReLU, nn.LeakyReLU),
    (leaky_relu, F.leaky_relu, {"negative_slope": 0.2}, LeakyReLU, nn.LeakyReLU),
    (elu, F.elu, {}, ELU, nn.ELU),
    (elu, F.elu, {"alpha": 0.5}, ELU, nn.ELU),
]
ACT_IDS = ["relu", "leaky", "leaky0.2", "elu", "elu0.5"]
# Exact zeros (the kink), tiny and huge values: exp must not overflow into the gradient.
SPECIAL = [0.0, -0.0, 1e-8, -1e-8, 80.0, 1000.0, -80.0, -1000.0]


def act_input(device):
    x = randn(41, seed=8, device=device, scale=3.0)
    return torch.cat([x, torch.tensor(SPECIAL, dtype=F64, device=device)])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours,theirs,kwargs,module,ref_module", ACTS, ids=ACT_IDS)
def test_activation_matches_torch(ours, theirs, kwargs, module, ref_module, device):
    x = act_input(device)
    xo, xt = x.clone().requires_grad_(), x.clone().requires_grad_()
    yo, yt = ours(xo, **kwargs), theirs(xt, **kwargs)
    assert_close(yo, yt, 1e-15, "output")
    yo.backward(torch.ones_like(yo))
    yt.backward(torch.ones_like(yt))
    assert_close(xo.grad, xt.grad, 1e-15, "gradient (at 0 too: the same subgradient)")
    assert torch.isfinite(xo.grad).all()
    assert torch.equal(module(**kwargs)(x), ref_module(**kwargs)(x))
    assert module(**kwargs).extra_repr() == ref_module(**kwargs).extra_repr()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,grad,theirs,kwargs", [
    ("relu", relu_grad, F.relu, {}),
    ("leaky_relu", leaky_relu_grad, F.leaky_relu, {"negative_slope": 0.1}),
    ("elu", elu_grad, F.elu, {"alpha": 1.5}),
])
def test_derivatives_match_autograd(name, grad, theirs, kwargs, device):
    x = act_input(device).requires_grad_()
    (expected,) = torch.autograd.grad(theirs(x, **kwargs).sum(), x)
    assert_close(grad(x.detach(), **kwargs), expected, 1e-15, name)
    assert torch.equal(derivative(name, x.detach(), **kwargs), grad(x.detach(), **kwargs))


def test_relu_passes_nan_through_like_torch():
    x = torch.tensor([float("nan"), float("-inf"), float("inf")])
    assert torch.equal(relu(x).isnan(), F.relu(x).isnan())
    assert torch.equal(relu(x)[1:], F.relu(x)[1:])


@pytest.mark.parametrize("ours,theirs,kwargs,module,ref_module", ACTS, ids=ACT_IDS)
def test_activation_gradcheck_away_from_zero(ours, theirs, kwargs, module, ref_module):
    x = randn(12, seed=9)
    x = (x + 0.1 * torch.sign(x)).requires_grad_()  # finite differences must not cross the kink
    assert torch.autograd.gradcheck(lambda t: ours(t, **kwargs), (x,))


# ------------------------------------------------------------------------- batch norm

BN_CONFIGS = [
    {},
    {"momentum": None},
    {"momentum": 0.5, "eps": 1e-3},
    {"track_running_stats": False},
    {"affine": False},
    {"affine": False, "track_running_stats": False, "momentum": None},
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kwargs", BN_CONFIGS, ids=["default", "mNone", "m0.5", "untracked",
                                                  "noaffine", "bare"])
@pytest.mark.parametrize("dim", [2, 3])
def test_batchnorm_training_steps_match_torch(dim, kwargs, device):
    cls, ref_cls = (BatchNorm2d, nn.BatchNorm2d) if dim == 2 else (BatchNorm3d, nn.BatchNorm3d)
    channels, spatial = 3, (5, 4) if dim == 2 else (3, 4, 3)
    theirs = ref_cls(channels, **kwargs, device=device, dtype=F64)
    ours = cls(channels, **kwargs, device=device, dtype=F64)
    if theirs.affine:  # start γ, β away from 1, 0 so that a mix-up would show
        with torch.no_grad():
            theirs.weight.copy_(randn(channels, seed=10, shift=1.0))
            theirs.bias.copy_(randn(channels, seed=11))
    ours.load_state_dict(theirs.state_dict())
    optimisers = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
                  for m in (ours, theirs) if theirs.affine]

    for step in range(4):
        # Each batch from a different distribution: the running statistics have to move.
        x = randn(4, channels, *spatial, seed=20 + step, device=device, scale=1 + step,
                  shift=3 - 2 * step)
        twin_step(ours, theirs, x, seed=30 + step)
        for opt in optimisers:
            opt.step()
            opt.zero_grad()
        for name, p in theirs.named_parameters():
            assert_close(getattr(ours, name), p, 1e-12, f"step {step} {name}")
        assert_same_buffers(ours, theirs)
    if theirs.track_running_stats:
        assert ours.num_batches_tracked.item() == 4

    ours.eval()
    theirs.eval()
    x = randn(2, channels, *spatial, seed=40, device=device, shift=1.0)
    assert_close(ours(x), theirs(x), 1e-9, "eval output")
    fresh = ref_cls(channels, **kwargs, device=device, dtype=F64).eval()
    fresh.load_state_dict(ours.state_dict())  # ours -> torch
    assert_close(fresh(x), ours(x), 1e-12, "eval output after loading ours into torch")


@pytest.mark.parametrize("device", DEVICES)
def test_batch_norm_function_matches_torch(device):
    x = randn(3, 4, 5, seed=41, device=device, shift=2.0)
    weight, bias = randn(4, seed=42, device=device), randn(4, seed=43, device=device)
    for training in (True, False):
        stats = [randn(4, seed=44, device=device), randn(4, seed=45, device=device).exp()]
        ref = [s.clone() for s in stats]
        y = batch_norm(x, *stats, weight, bias, training=training, momentum=0.2, eps=1e-4)
        expected = F.batch_norm(x, *ref, weight, bias, training=training, momentum=0.2,
                                eps=1e-4)
        assert_close(y, expected, 1e-12, f"training={training}")
        for a, b in zip(stats, ref):
            assert_close(a, b, 1e-12, "running statistics")
    assert_close(batch_norm(x, training=True), F.batch_norm(x, None, None, training=True), 1e-12)


def test_batchnorm_batch_of_one_raises_like_torch():
    x = torch.randn(1, 3, 1, 1)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm2d(3)(x)
    bn = BatchNorm2d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel.*variance is 0"):
        bn(x)
    assert bn.num_batches_tracked.item() == 0, "a failed call must not count a batch"
    assert bn.eval()(x).shape == x.shape  # running statistics need no batch
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm2d(3, track_running_stats=False).eval()(x)  # batch statistics in eval too
    assert BatchNorm2d(3)(torch.randn(1, 3, 2, 1)).shape == (1, 3, 2, 1)  # 2 values suffice


def test_batchnorm_half_input_is_computed_in_float32():
    # Values near 100 with a spread of 10: in bfloat16 (8 bits of mantissa) the mean and the
    # centred values are off by up to a quarter, so statistics computed in bfloat16 are
    # visibly wrong, while statistics computed in float32 from the same rounded inputs leave
    # only the final rounding of the output: half a bfloat16 step of |y| <= 4.
    bn = BatchNorm2d(2)
    x = randn(4, 2, 3, 3, seed=46, dtype=torch.float32, shift=100.0, scale=10.0)
    x_half = x.to(torch.bfloat16)
    expected = F.batch_norm(x_half.double(), None, None, training=True, eps=bn.eps)
    y = bn(x_half)
    assert y.dtype == torch.bfloat16 and bn.running_mean.dtype == torch.float32
    tol = torch.finfo(torch.bfloat16).eps / 2  # relative to max(1, |expected|)
    assert_close(y, expected, tol, "bfloat16 output")

    # The tolerance discriminates: the same arithmetic carried out in bfloat16 fails it.
    mean = x_half.mean((0, 2, 3), keepdim=True)
    centred = x_half - mean
    in_bfloat16 = centred / torch.sqrt((centred * centred).mean((0, 2, 3), keepdim=True) + 1e-5)
    assert in_bfloat16.dtype == torch.bfloat16
    error = (in_bfloat16.double() - expected).abs().max().item()
    assert error > tol * expected.abs().max().item(), error


@pytest.mark.parametrize("make", [
    lambda **kw: BatchNorm2d(3, **kw),
    lambda **kw: InstanceNorm2d(3, affine=True, **kw),
    lambda **kw: GroupNorm(3, 3, **kw),
], ids=["batch", "instance", "group"])
def test_norm_without_bias_is_norm_with_zero_bias(make):
    norm, full = make(bias=False), make()
    assert [name for name, _ in norm.named_parameters()] == ["weight"]
    assert "bias=False" in repr(norm)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, 2.0, -1.0]))
    full.load_state_dict({**norm.state_dict(), "bias": torch.zeros(3)})
    x = randn(4, 3, 3, 3, seed=51, dtype=torch.float32)
    assert torch.equal(norm(x), full(x))
    norm.reset_parameters()
    assert torch.equal(norm.weight, torch.ones(3))


def test_batchnorm_gradcheck_in_training_mode():
    bn = BatchNorm2d(3, dtype=F64)
    with torch.no_grad():
        bn.weight.copy_(randn(3, seed=47, shift=1.0))
        bn.bias.copy_(randn(3, seed=48))
    check_gradients(bn, randn(2, 3, 3, 2, seed=49, grad=True))
    check_gradients(BatchNorm3d(2, dtype=F64), randn(2, 2, 2, 2, 2, seed=50, grad=True))


# ---------------------------------------------------------------- group, instance, layer


def affine_twins(ours, theirs, seed):
    """Random γ, β in torch's layer, copied into ours; then both ways must load."""
    with torch.no_grad():
        for i, p in enumerate(theirs.parameters()):
            p.copy_(randn(*p.shape, seed=seed + i, device=p.device, shift=1.0 - i))
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    assert set(ours.state_dict()) == set(theirs.state_dict())


GROUP_CASES = [  # (groups, channels, input shape, keyword arguments)
    (2, 4, (2, 4, 5, 6), {}),
    (1, 6, (3, 6, 4, 4), {"eps": 1e-3}),
    (6, 6, (1, 6, 3, 3, 3), {}),
    (3, 6, (2, 6, 7), {"affine": False}),
    (4, 8, (2, 8), {}),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("groups,channels,shape,kwargs", GROUP_CASES)
def test_groupnorm_matches_torch(groups, channels, shape, kwargs, device):
    theirs = nn.GroupNorm(groups, channels, **kwargs, device=device, dtype=F64)
    ours = GroupNorm(groups, channels, **kwargs, device=device, dtype=F64)
    affine_twins(ours, theirs, seed=51)
    twin_step(ours, theirs, randn(*shape, seed=52, device=device, scale=3.0), seed=53)
    x = randn(*shape, seed=54, device=device)
    assert_close(group_norm(x, groups), F.group_norm(x, groups), 1e-12, "function")


INSTANCE_CASES = [
    {},
    {"affine": True},
    {"affine": True, "track_running_stats": True, "momentum": 0.3},
    {"track_running_stats": True, "momentum": None},
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kwargs", INSTANCE_CASES, ids=["default", "affine", "tracked", "mNone"])
@pytest.mark.parametrize("dim", [2, 3])
def test_instancenorm_matches_torch(dim, kwargs, device):
    cls, ref_cls = ((InstanceNorm2d, nn.InstanceNorm2d) if dim == 2
                    else (InstanceNorm3d, nn.InstanceNorm3d))
    spatial = (5, 6) if dim == 2 else (3, 4, 3)
    theirs = ref_cls(3, **kwargs, device=device, dtype=F64)
    ours = cls(3, **kwargs, device=device, dtype=F64)
    affine_twins(ours, theirs, seed=55)
    for step in range(3):
        x = randn(2, 3, *spatial, seed=56 + step, device=device, shift=step, scale=1 + step)
        twin_step(ours, theirs, x, seed=60 + step)
        assert_same_buffers(ours, theirs)
    x = randn(3, *spatial, seed=63, device=device, shift=2.0)
    assert_close(ours(x), theirs(x), 1e-9, "unbatched")
    ours.eval()
    theirs.eval()
    assert_close(ours(x[None]), theirs(x[None]), 1e-9, "eval")


@pytest.mark.parametrize("device", DEVICES)
def test_instance_norm_function_matches_torch(device):
    x = randn(2, 3, 4, 5, seed=64, device=device, shift=1.0)
    stats = [randn(3, seed=65, device=device), randn(3, seed=66, device=device).exp()]
    ref = [s.clone() for s in stats]
    assert_close(instance_norm(x, *stats, momentum=0.4),
                 F.instance_norm(x, *ref, momentum=0.4), 1e-12)
    for a, b in zip(stats, ref):
        assert_close(a, b, 1e-12, "running statistics")
    assert_close(instance_norm(x, *stats, use_input_stats=False),
                 F.instance_norm(x, *ref, use_input_stats=False), 1e-12)


LAYER_CASES = [  # (normalized_shape, input shape, keyword arguments)
    (6, (4, 6), {}),
    ((4, 5, 5), (2, 4, 5, 5), {}),
    ((5, 5), (2, 3, 5, 5), {"eps": 1e-3}),
    ((2, 3, 3, 3), (1, 2, 3, 3, 3), {"bias": False}),
    ((4, 5, 5), (2, 4, 5, 5), {"elementwise_affine": False}),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape,input_shape,kwargs", LAYER_CASES)
def test_layernorm_matches_torch(shape, input_shape, kwargs, device):
    theirs = nn.LayerNorm(shape, **kwargs, device=device, dtype=F64)
    ours = LayerNorm(shape, **kwargs, device=device, dtype=F64)
    affine_twins(ours, theirs, seed=67)
    # torch >= 2.1 also prints bias=...; we print it only where it says something.
    expected = theirs.extra_repr().replace(", bias=True", "")
    if not theirs.elementwise_affine:
        expected = expected.replace(", bias=False", "")
    assert ours.extra_repr() == expected
    twin_step(ours, theirs, randn(*input_shape, seed=68, device=device, scale=2.0), seed=69)
    x = randn(*input_shape, seed=70, device=device)
    assert_close(layer_norm(x, shape), F.layer_norm(x, ours.normalized_shape), 1e-12)


def test_norms_gradcheck():
    norm = GroupNorm(2, 4, dtype=F64)
    affine_twins(norm, nn.GroupNorm(2, 4, dtype=F64), seed=71)
    check_gradients(norm, randn(2, 4, 3, 2, seed=72, grad=True))
    norm = InstanceNorm2d(2, affine=True, dtype=F64)
    affine_twins(norm, nn.InstanceNorm2d(2, affine=True, dtype=F64), seed=73)
    check_gradients(norm, randn(2, 2, 3, 3, seed=74, grad=True))
    norm = LayerNorm((2, 3, 3), dtype=F64)
    affine_twins(norm, nn.LayerNorm((2, 3, 3), dtype=F64), seed=75)
    check_gradients(norm, randn(2, 2, 3, 3, seed=76, grad=True))


def test_group_norm_extremes_are_layer_and_instance_norm():
    x = randn(2, 4, 5, 5, seed=77)
    assert_close(group_norm(x, 1), layer_norm(x, (4, 5, 5)), 1e-12, "one group")
    assert_close(group_norm(x, 4), instance_norm(x), 1e-12, "a group per channel")


# ------------------------------------------------------------------------- ConvNormAct

PARAM_COUNTS = [  # (keyword arguments, parameters counted by hand)
    # conv 16 * 3 * 3*3 = 432 weights, no bias (batch norm follows); γ and β: 2 * 16
    ({}, 432 + 32),
    ({"norm": None}, 432 + 16),  # the bias comes back
    ({"norm": None, "act": None, "bias": False}, 432),
    ({"norm": "instance"}, 432 + 32),
    ({"norm": "group", "norm_groups": 4}, 432 + 16 + 32),  # group norm keeps the conv bias
    ({"norm": "layer"}, 432 + 16 + 32),  # per-channel γ, β at any image size
    ({"order": "conv-act-norm"}, 432 + 16 + 32),  # the bias meets the activation first
    ({"order": "norm-act-conv"}, 2 * 3 + 432 + 16),  # the norm sees the 3 input channels
    ({"bias": True}, 432 + 16 + 32),
    ({"dim": 3}, 16 * 3 * 27 + 32),
    ({"kernel_size": (1, 5)}, 16 * 3 * 5 + 32),
    ({"kernel_size": 1, "act": "elu"}, 48 + 32),
]


@pytest.mark.parametrize("kwargs,count", PARAM_COUNTS)
def test_convnormact_parameter_counts(kwargs, count):
    kwargs = {"kernel_size": 3, **kwargs}
    block = ConvNormAct(3, 16, **kwargs)
    assert sum(p.numel() for p in block.parameters()) == count
    norm = kwargs.get("norm", "batch")
    buffers = {name for name, _ in block.named_buffers()}
    assert bool(buffers) == (norm == "batch")


@pytest.mark.parametrize("order", ["conv-norm-act", "conv-act-norm", "norm-act-conv"])
def test_convnormact_children_follow_order(order):
    block = ConvNormAct(4, 8, 3, order=order, norm="group", norm_groups=4, act="leaky_relu")
    assert [name for name, _ in block.named_children()] == order.split("-")
    kinds = {"conv": Conv2d, "norm": GroupNorm, "act": LeakyReLU}
    assert all(isinstance(m, kinds[name]) for name, m in block.named_children())
    assert [n for n, _ in ConvNormAct(4, 8, norm=None, act=None).named_children()] == ["conv"]
    channels = 4 if order == "norm-act-conv" else 8
    assert f"(norm): GroupNorm(4, {channels}, eps=1e-05, affine=True)" in repr(block)


@pytest.mark.parametrize("kernel,stride,size,expected", [
    (3, 1, (9, 10), (9, 10)),
    (3, 2, (9, 10), (5, 5)),  # ceil(size / stride)
    (5, 2, (16, 16), (8, 8)),
    (4, 1, (7, 8), (7, 8)),  # even kernel: asymmetric "same", stride 1 only
    ((3, 1), (1, 2), (6, 6), (6, 3)),
])
def test_convnormact_same_padding(kernel, stride, size, expected):
    block = ConvNormAct(2, 4, kernel, stride=stride, norm="instance")
    assert tuple(block(torch.rand(1, 2, *size)).shape[2:]) == expected


def torch_twin(block):
    """The same block built from torch.nn layers, with the same child names."""
    parts = OrderedDict()
    for name, m in block.named_children():
        if isinstance(m, (Conv2d, Conv3d)):
            cls = nn.Conv2d if isinstance(m, Conv2d) else nn.Conv3d
            parts[name] = cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                              m.dilation, m.groups, m.bias is not None, dtype=F64)
        elif isinstance(m, (BatchNorm2d, BatchNorm3d)):
            parts[name] = (nn.BatchNorm2d if isinstance(m, BatchNorm2d) else nn.BatchNorm3d)(
                m.num_features, dtype=F64)
        elif isinstance(m, (InstanceNorm2d, InstanceNorm3d)):
            cls = nn.InstanceNorm2d if isinstance(m, InstanceNorm2d) else nn.InstanceNorm3d
            parts[name] = cls(m.num_features, affine=m.affine, dtype=F64)
        elif isinstance(m, GroupNorm):
            parts[name] = nn.GroupNorm(m.num_groups, m.num_channels, dtype=F64)
        else:
            parts[name] = {ReLU: nn.ReLU, LeakyReLU: nn.LeakyReLU, ELU: nn.ELU}[type(m)]()
    theirs = nn.Sequential(parts)
    theirs.load_state_dict(block.state_dict())
    return theirs


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("norm,act,order,dim", [
    ("batch", "relu", "conv-norm-act", 2),
    ("group", "leaky_relu", "conv-act-norm", 2),
    ("instance", "elu", "norm-act-conv", 2),
    ("layer", "relu", "conv-norm-act", 2),
    ("batch", "elu", "norm-act-conv", 3),
    ("group", None, "conv-norm-act", 3),
    (None, "leaky_relu", "conv-norm-act", 3),
])
def test_convnormact_matches_block_of_torch_layers(norm, act, order, dim, device):
    torch.manual_seed(78)
    block = ConvNormAct(4, 8, 3, dim=dim, norm=norm, act=act, order=order, norm_groups=2)
    block = block.to(device=device, dtype=F64)
    theirs = torch_twin(block).to(device)
    spatial = (6, 7) if dim == 2 else (4, 5, 4)
    for step in range(2):
        twin_step(block, theirs, randn(2, 4, *spatial, seed=79 + step, device=device), seed=81)
        assert_same_buffers(block, theirs)


@pytest.mark.parametrize("norm,redundant", [("batch", True), ("instance", True),
                                            ("group", False), ("layer", False)])
def test_conv_bias_before_norm_is_redundant_only_for_per_channel_means(norm, redundant):
    # Why bias=None drops the bias for batch and instance norm, and keeps it for the others.
    torch.manual_seed(82)
    block = ConvNormAct(3, 4, norm=norm, norm_groups=2, bias=True).double()
    x = randn(2, 3, 5, 5, seed=83)
    with torch.no_grad():
        block.conv.bias.copy_(torch.tensor([3.0, -1.0, 0.5, 2.0]))
        with_bias = block(x)
        block.conv.bias.zero_()
        without = block(x)
    assert torch.allclose(with_bias, without, atol=1e-9) == redundant


def test_convnormact_gradcheck():
    torch.manual_seed(84)
    for norm, order in [("batch", "conv-norm-act"), ("group", "norm-act-conv"),
                        ("instance", "conv-act-norm"), ("layer", "conv-norm-act")]:
        block = ConvNormAct(2, 4, 3, norm=norm, act="elu", order=order, norm_groups=2).double()
        check_gradients(block, randn(2, 2, 4, 4, seed=85, grad=True))


def test_receptive_field_reads_our_layers():
    net = nn.Sequential(ConvNormAct(1, 4, 3), ConvNormAct(4, 4, 3, stride=2),
                        ConvNormAct(4, 4, 3))
    assert [(r.size, r.jump) for r in receptive_field(net)] == [(3, 1), (5, 2), (9, 2)]


# ---------------------------------------------------------------------------- bad input

X4 = torch.zeros(2, 4, 5, 5)
X5CH = torch.zeros(2, 5, 5, 5)

ERRORS = [  # (id, call, exception, message pattern, torch's counterpart or None)
    ("bn-3d-input", lambda: BatchNorm2d(4)(torch.zeros(4, 5, 5)), ValueError,
     r"BatchNorm2d expects 4D input \(N, C, H, W\), got 3D", lambda: nn.BatchNorm2d(4)(
         torch.zeros(4, 5, 5))),
    ("bn-5d-input", lambda: BatchNorm2d(4)(torch.zeros(1, 4, 2, 2, 2)), ValueError,
     r"expects 4D input .*got 5D", lambda: nn.BatchNorm2d(4)(torch.zeros(1, 4, 2, 2, 2))),
    ("bn3d-4d-input", lambda: BatchNorm3d(4)(X4), ValueError,
     r"BatchNorm3d expects 5D input \(N, C, D, H, W\), got 4D", lambda: nn.BatchNorm3d(4)(X4)),
    ("bn-channels", lambda: BatchNorm2d(4)(X5CH), ValueError,
     r"x has 5 channels .*num_features=4", lambda: nn.BatchNorm2d(4)(X5CH)),
    ("bn-batch-of-one", lambda: BatchNorm2d(4)(torch.zeros(1, 4, 1, 1)), ValueError,
     "more than 1 value per channel when training", lambda: nn.BatchNorm2d(4)(
         torch.zeros(1, 4, 1, 1))),
    ("bn-features", lambda: BatchNorm2d(0), ValueError, "num_features must be a positive int",
     None),
    ("bn-features-type", lambda: BatchNorm2d(2.5), TypeError, "num_features must be", None),
    ("bn-momentum", lambda: BatchNorm2d(4, momentum=1.5), ValueError,
     r"momentum must be in \[0, 1\]", None),
    ("bn-eps", lambda: BatchNorm2d(4, eps=-1e-5), ValueError, "eps must be >= 0", None),
    ("bn-affine", lambda: BatchNorm2d(4, affine=1), TypeError, "affine must be True or False",
     None),
    ("bn-int-input", lambda: BatchNorm2d(4)(X4.long()), TypeError, "x has dtype torch.int64",
     None),
    ("bn-fn-no-stats", lambda: batch_norm(X4), ValueError,
     "training=False normalises with running_mean", None),
    ("bn-fn-stat-shape", lambda: batch_norm(X4, torch.zeros(3), torch.ones(3)), ValueError,
     r"running_mean has shape \(3,\); expected \(4,\)", lambda: F.batch_norm(
         X4, torch.zeros(3), torch.ones(3))),
    ("bn-fn-half-stats", lambda: batch_norm(X4, torch.zeros(4), None), ValueError,
     "running_mean and running_var go together", None),
    ("gn-divisible", lambda: GroupNorm(3, 8), ValueError,
     "num_channels=8 is not divisible by num_groups=3", lambda: nn.GroupNorm(3, 8)),
    ("gn-groups", lambda: GroupNorm(0, 8), ValueError, "num_groups must be a positive int",
     None),
    ("gn-channels", lambda: GroupNorm(2, 4)(X5CH), ValueError,
     r"x has 5 channels .*num_channels=4", lambda: nn.GroupNorm(2, 4)(X5CH)),
    ("gn-1d", lambda: GroupNorm(2, 4)(torch.zeros(4)), ValueError,
     "GroupNorm expects input .*got 1D", lambda: nn.GroupNorm(2, 4)(torch.zeros(4))),
    ("gn-single-value", lambda: GroupNorm(4, 4)(torch.zeros(1, 4, 1, 1)), ValueError,
     "each group holds a single value", lambda: nn.GroupNorm(4, 4)(torch.zeros(1, 4, 1, 1))),
    ("gn-fn-divisible", lambda: group_norm(X4, 3), ValueError,
     "x has 4 channels, not divisible by num_groups=3", lambda: F.group_norm(X4, 3)),
    ("in-5d-input", lambda: InstanceNorm2d(4)(torch.zeros(1, 4, 2, 2, 2)), ValueError,
     r"InstanceNorm2d expects 4D input .* got 5D .* 3 spatial dims, and InstanceNorm2d works on 2",
     lambda: nn.InstanceNorm2d(4)(torch.zeros(1, 4, 2, 2, 2))),
    ("in-channels", lambda: InstanceNorm2d(4, affine=True)(X5CH), ValueError,
     r"x has 5 channels .*num_features=4", lambda: nn.InstanceNorm2d(4, affine=True)(X5CH)),
    ("in-one-pixel", lambda: InstanceNorm3d(4)(torch.zeros(2, 4, 1, 1, 1)), ValueError,
     "more than 1 spatial element", lambda: nn.InstanceNorm3d(4)(torch.zeros(2, 4, 1, 1, 1))),
    ("in-fn-dims", lambda: instance_norm(torch.zeros(2, 4)), ValueError,
     "instance_norm expects", None),
    ("ln-shape", lambda: LayerNorm((4, 5, 5))(X5CH), ValueError,
     r"does not end with normalized_shape=\(4, 5, 5\)", lambda: nn.LayerNorm((4, 5, 5))(X5CH)),
    ("ln-size", lambda: LayerNorm(0), ValueError, "normalized_shape must be positive", None),
    ("ln-fn-weight", lambda: layer_norm(X4, 5, weight=torch.ones(4)), ValueError,
     r"weight has shape \(4,\); expected normalized_shape=\(5,\)", None),
    ("conv-channels", lambda: Conv2d(4, 8, 3)(X5CH), ValueError,
     r"x has 5 channels .*in_channels=4", lambda: nn.Conv2d(4, 8, 3)(X5CH)),
    ("conv-dims", lambda: Conv2d(4, 8, 3)(torch.zeros(1, 4, 5, 5, 5)), ValueError,
     r"Conv2d expects 4D input \(N, C, H, W\) or 3D \(C, H, W\) \(unbatched\), got 5D",
     lambda: nn.Conv2d(4, 8, 3)(torch.zeros(1, 4, 5, 5, 5))),
    ("conv3d-dims", lambda: Conv3d(4, 8, 3)(torch.zeros(4, 5, 5)), ValueError,
     r"Conv3d expects 5D input", lambda: nn.Conv3d(4, 8, 3)(torch.zeros(4, 5, 5))),
    ("conv-in-groups", lambda: Conv2d(3, 8, 3, groups=2), ValueError,
     "in_channels=3 is not divisible by groups=2", lambda: nn.Conv2d(3, 8, 3, groups=2)),
    ("conv-out-groups", lambda: Conv2d(4, 6, 3, groups=4), ValueError,
     "out_channels=6 is not divisible by groups=4", lambda: nn.Conv2d(4, 6, 3, groups=4)),
    ("conv-in", lambda: Conv2d(0, 8, 3), ValueError, "in_channels must be a positive int",
     None),
    ("conv-kernel", lambda: Conv2d(1, 8, 0), ValueError, "kernel_size must be positive", None),
    ("conv-same-stride", lambda: Conv2d(1, 8, 3, stride=2, padding="same"), ValueError,
     "padding='same' needs stride 1", lambda: nn.Conv2d(1, 8, 3, stride=2, padding="same")),
    ("conv-padding", lambda: Conv2d(1, 8, 3, padding="full"), ValueError,
     "padding must be one of 'same', 'valid'", lambda: nn.Conv2d(1, 8, 3, padding="full")),
    ("conv-padding-mode", lambda: Conv2d(1, 8, 3, padding_mode="mirror"), ValueError,
     "padding_mode must be one of 'zeros', 'reflect'",
     lambda: nn.Conv2d(1, 8, 3, padding_mode="mirror")),
    ("conv-method", lambda: Conv2d(1, 8, 3, method="magic"), ValueError,
     "method must be one of", None),
    ("conv-bias", lambda: Conv2d(1, 8, 3, bias="yes"), TypeError,
     "bias must be True or False", None),
    ("conv-too-small", lambda: Conv2d(1, 1, 5)(torch.zeros(1, 1, 3, 3)), ValueError,
     "x is too small", lambda: nn.Conv2d(1, 1, 5)(torch.zeros(1, 1, 3, 3))),
    ("act-type", lambda: relu([1.0, -1.0]), TypeError, "x must be a torch.Tensor",
     lambda: F.relu([1.0, -1.0])),
    ("act-slope", lambda: leaky_relu(X4, negative_slope="0.1"), TypeError,
     "negative_slope must be a real number", None),
    ("act-alpha", lambda: ELU(alpha=float("nan")), ValueError, "alpha must be finite", None),
    ("act-name", lambda: derivative("tanh", X4), ValueError,
     "name must be one of 'relu', 'leaky_relu', 'elu'", None),
    ("cna-norm", lambda: ConvNormAct(1, 8, norm="batchnorm"), ValueError,
     "norm must be one of 'batch', 'group', 'instance', 'layer', None; got 'batchnorm'", None),
    ("cna-act", lambda: ConvNormAct(1, 8, act="gelu"), ValueError,
     "act must be one of 'relu', 'leaky_relu', 'elu', None", None),
    ("cna-order", lambda: ConvNormAct(1, 8, order="act-conv-norm"), ValueError,
     "order must be one of 'conv-norm-act', 'conv-act-norm', 'norm-act-conv'", None),
    ("cna-dim", lambda: ConvNormAct(1, 8, dim=1), ValueError, "dim must be one of 2, 3; got int 1",
     None),
    ("cna-dim-float", lambda: ConvNormAct(1, 8, dim=2.0), TypeError,
     "dim must be an int, one of 2, 3; got float 2.0", None),
    ("bn-one-image", lambda: BatchNorm2d(4)(torch.zeros(4, 5, 5)), ValueError,
     r"BatchNorm2d expects 4D input \(N, C, H, W\), got 3D .* add the batch dim with "
     r"x.unsqueeze\(0\)", None),
    ("cna-3d-on-4d", lambda: ConvNormAct(1, 8, dim=3)(torch.zeros(1, 8, 8, 8)), ValueError,
     r"ConvNormAct\(dim=3\) expects 5D input \(N, C, D, H, W\), got 4D input of shape "
     r"\(1, 8, 8, 8\); for a single item, add the batch dim with x.unsqueeze\(0\); a 4D batch "
     r"has 2 spatial dims, and ConvNormAct\(dim=3\) works on 3", None),
    ("cna-channels", lambda: ConvNormAct(3, 8)(torch.zeros(1, 1, 8, 8)), ValueError,
     "x has 1 channels .* built for in_channels=3", None),
    ("conv-int-dtype", lambda: Conv2d(1, 8, 3, dtype=torch.int64), TypeError,
     "dtype=torch.int64 is not a floating dtype", lambda: nn.Conv2d(1, 8, 3, dtype=torch.int64)),
    ("bn-int-dtype", lambda: BatchNorm2d(4, dtype=torch.int32), TypeError,
     "dtype=torch.int32 is not a floating dtype", None),
    ("gn-int-dtype", lambda: GroupNorm(2, 4, dtype=torch.uint8), TypeError,
     "dtype=torch.uint8 is not a floating dtype", None),
    ("ln-int-dtype", lambda: LayerNorm(4, dtype=torch.int16), TypeError,
     "dtype=torch.int16 is not a floating dtype", None),
    ("conv-device", lambda: Conv2d(1, 8, 3, device="gpu"), ValueError,
     "device='gpu' is not a device", lambda: nn.Conv2d(1, 8, 3, device="gpu")),
    ("conv-int-input", lambda: Conv2d(1, 1, 3)(torch.zeros(1, 1, 5, 5, dtype=torch.long)),
     TypeError, r"x has dtype torch.int64; expected a floating dtype .*x.float\(\)",
     lambda: nn.Conv2d(1, 1, 3)(torch.zeros(1, 1, 5, 5, dtype=torch.long))),
    ("conv-complex-input", lambda: Conv2d(1, 1, 3)(torch.zeros(1, 1, 5, 5, dtype=torch.cfloat)),
     TypeError, "x has complex dtype", None),
    ("conv-reflect-too-wide", lambda: Conv2d(1, 1, 3, padding=5, padding_mode="reflect")(
        torch.zeros(1, 1, 4, 4)), ValueError,
     r"padding_mode='reflect' with padding 5 needs an input less than its size .* size 4",
     lambda: nn.Conv2d(1, 1, 3, padding=5, padding_mode="reflect")(torch.zeros(1, 1, 4, 4))),
    ("conv-circular-too-wide", lambda: Conv3d(1, 1, 3, padding=(0, 0, 6),
                                              padding_mode="circular")(torch.zeros(1, 1, 4, 4, 5)),
     ValueError, r"padding_mode='circular' with padding 6 needs an input at most .* dim 2",
     lambda: nn.Conv3d(1, 1, 3, padding=(0, 0, 6), padding_mode="circular")(
         torch.zeros(1, 1, 4, 4, 5))),
    ("bn-training-str", lambda: batch_norm(X4, torch.zeros(4), torch.ones(4), training="False"),
     TypeError, "training must be True or False, got str 'False'", None),
    ("in-stats-str", lambda: instance_norm(X4, use_input_stats="no"), TypeError,
     "use_input_stats must be True or False, got str 'no'", None),
    ("bn-momentum-nan", lambda: BatchNorm2d(4, momentum=float("nan")), ValueError,
     "momentum must be finite", None),
    ("bn-eps-inf", lambda: BatchNorm2d(4, eps=float("inf")), ValueError, "eps must be finite",
     None),
    ("gn-groups-str", lambda: GroupNorm("2", 4), TypeError, "num_groups must be an int, got str",
     None),
    ("cna-groups", lambda: ConvNormAct(1, 8, norm="group", norm_groups=3), ValueError,
     r"norm_groups=3 does not divide the 8 channels.*\[1, 2, 4, 8\]", None),
    ("cna-same-even", lambda: ConvNormAct(1, 8, 2, stride=2), ValueError,
     r"padding='same' with kernel_size=\(2, 2\) \(even span\) needs stride 1", None),
    ("cna-out", lambda: ConvNormAct(1, -8), ValueError, "out_channels must be a positive int",
     None),
    ("cna-bias", lambda: ConvNormAct(1, 8, bias=0), TypeError,
     "bias must be True, False or None", None),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("call,error,match,torch_call", [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_bad_input_fails_with_a_clear_message(call, error, match, torch_call):
    with pytest.raises(error, match=match):
        call()
    if torch_call is not None:  # we raise where torch raises (its type may differ)
        with pytest.raises((ValueError, TypeError, RuntimeError)):
            torch_call()


def test_errors_leave_no_partial_state():
    bn = BatchNorm2d(4)
    for x in (torch.zeros(1, 4, 1, 1), X5CH, torch.zeros(4, 5, 5)):
        with pytest.raises(ValueError):
            bn(x)
    assert bn.num_batches_tracked.item() == 0
    assert torch.equal(bn.running_mean, torch.zeros(4))


def test_parameters_are_where_torch_puts_them():
    shapes = {name: tuple(p.shape) for name, p in ConvNormAct(3, 8, 5, dim=3).named_parameters()}
    assert shapes == {"conv.weight": (8, 3, 5, 5, 5), "norm.weight": (8,), "norm.bias": (8,)}
    assert math.prod(shapes["conv.weight"]) == 8 * 3 * 125
    assert {n for n, _ in BatchNorm2d(2, affine=False).named_buffers()} == {
        "running_mean", "running_var", "num_batches_tracked"}
    assert BatchNorm2d(2).num_batches_tracked.dtype == torch.long
    assert dict(BatchNorm2d(2, track_running_stats=False).named_buffers()) == {}


# ---------------------------------------------------------------------- mixed precision

def amp_dtype(device):
    """The dtype torch.autocast uses by default on this device type."""
    return torch.bfloat16 if device == "cpu" else torch.float16


AMP_PAIRS = [  # (id, our module, torch's module, input shape)
    ("conv", lambda: Conv2d(4, 6, 3, padding=1), lambda: nn.Conv2d(4, 6, 3, padding=1),
     (2, 4, 9, 9)),
    ("conv-reflect-stride", lambda: Conv2d(4, 6, 3, stride=2, padding=1, padding_mode="reflect"),
     lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, padding_mode="reflect"), (2, 4, 9, 9)),
    ("conv3d-groups", lambda: Conv3d(4, 6, 3, padding="same", groups=2),
     lambda: nn.Conv3d(4, 6, 3, padding="same", groups=2), (2, 4, 5, 6, 7)),
    ("batch", lambda: BatchNorm2d(4), lambda: nn.BatchNorm2d(4), (3, 4, 6, 6)),
    ("batch-eval", lambda: BatchNorm3d(4).eval(), lambda: nn.BatchNorm3d(4).eval(),
     (2, 4, 3, 4, 5)),
    ("instance", lambda: InstanceNorm2d(4, affine=True),
     lambda: nn.InstanceNorm2d(4, affine=True), (2, 4, 6, 6)),
    ("group", lambda: GroupNorm(2, 4), lambda: nn.GroupNorm(2, 4), (2, 4, 6, 6)),
    ("layer", lambda: LayerNorm([4, 6, 6]), lambda: nn.LayerNorm([4, 6, 6]), (2, 4, 6, 6)),
    ("relu", ReLU, nn.ReLU, (2, 4, 6, 6)),
    ("leaky_relu", lambda: LeakyReLU(0.2), lambda: nn.LeakyReLU(0.2), (2, 4, 6, 6)),
    ("elu", lambda: ELU(0.7), lambda: nn.ELU(0.7), (2, 4, 6, 6)),
]


def _randomise_state(module, seed):
    """Parameters and running statistics away from their 1s and 0s, so that errors show."""
    with torch.no_grad():
        for i, tensor in enumerate([*module.parameters(), *module.buffers()]):
            if tensor.is_floating_point():
                tensor.copy_(randn(*tensor.shape, seed=seed + i, dtype=tensor.dtype).abs() + 0.5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("input_dtype", ["float32", "half"])
@pytest.mark.parametrize("make,make_torch,shape", [p[1:] for p in AMP_PAIRS],
                         ids=[p[0] for p in AMP_PAIRS])
def test_layers_follow_autocast_like_torch(make, make_torch, shape, input_dtype, device):
    """Same output dtype as torch's layer under autocast, values and gradients within 2 steps
    of the output dtype: a layer computing its statistics in half precision fails this (see
    test_batchnorm_half_input_is_computed_in_float32)."""
    amp = amp_dtype(device)
    theirs = make_torch().to(device)
    _randomise_state(theirs, seed=300)
    ours = make().to(device)
    ours.load_state_dict(theirs.state_dict())
    dtype = torch.float32 if input_dtype == "float32" else amp
    x = randn(*shape, seed=301, dtype=torch.float32, device=device, scale=2.0, shift=0.5)
    xo, xt = (x.to(dtype).requires_grad_() for _ in range(2))
    with torch.autocast(device, dtype=amp):
        yo, yt = ours(xo), theirs(xt)
    assert yo.dtype == yt.dtype, f"ours gives {yo.dtype}, torch gives {yt.dtype}"
    step = torch.finfo(yt.dtype).eps
    assert_close(yo, yt, 2 * step, "output under autocast")

    weights = randn(*yt.shape, seed=302, dtype=torch.float32, device=device)
    (yo.float() * weights).sum().backward()
    (yt.float() * weights).sum().backward()
    assert xo.grad.dtype == xt.grad.dtype == dtype
    assert_close(xo.grad, xt.grad, 4 * torch.finfo(dtype).eps, "input gradient")
    for (name, p), (their_name, q) in zip(ours.named_parameters(), theirs.named_parameters(),
                                          strict=True):
        assert name == their_name and p.grad.dtype == q.grad.dtype == torch.float32
        # Parameter gradients sum over the batch and positions: a few steps of the
        # autocast dtype, relative to their size.
        assert_close(p.grad, q.grad, 8 * torch.finfo(amp).eps, f"{name} gradient")


def test_the_issue_reproduction_runs_under_autocast():
    m = nn.Sequential(ConvNormAct(1, 8, 3), ConvNormAct(8, 8, 3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(torch.randn(2, 1, 16, 16))
    assert y.dtype == torch.bfloat16 and y.shape == (2, 8, 16, 16)
    assert all(p.dtype == torch.float32 for p in m.parameters())


class _SmallUNet(nn.Module):
    """Two levels of ConvNormAct pairs from mednotes.layers, max pooling and a skip: the size
    of a small U-Net (about 26k parameters)."""

    def __init__(self, width=16):
        super().__init__()
        from mednotes.pooling import MaxPool2d

        self.down = nn.Sequential(ConvNormAct(1, width, 3), ConvNormAct(width, width, 3))
        self.pool = MaxPool2d(2)
        self.bottom = nn.Sequential(ConvNormAct(width, 2 * width, 3, norm="group", norm_groups=4),
                                    ConvNormAct(2 * width, 2 * width, 3, norm="instance"))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.decode = nn.Sequential(ConvNormAct(3 * width, width, 3, norm="layer", act="elu"),
                                    ConvNormAct(width, width, 3, act="leaky_relu"))
        self.head = Conv2d(width, 2, 1)

    def forward(self, x):
        skip = self.down(x)
        x = self.up(self.bottom(self.pool(skip)))
        return self.head(self.decode(torch.cat([skip, x.to(skip.dtype)], dim=1)))


@pytest.mark.slow
def test_a_small_unet_from_mednotes_layers_trains_with_fit_amp_on_cpu():
    from torch.utils.data import TensorDataset

    from mednotes.train import fit

    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(48, 16, 16, dtype=torch.long)
    for i in range(48):
        top, left = torch.randint(0, 10, (2,), generator=g).tolist()
        masks[i, top:top + 6, left:left + 6] = 1
    images = (masks.float() + 0.4 * torch.randn(48, 16, 16, generator=g)).unsqueeze(1)
    data = TensorDataset(images[:40], masks[:40])
    held_out = TensorDataset(images[40:], masks[40:])

    def foreground_dice(logits, target):
        pred = logits.argmax(1)
        return 2 * ((pred == 1) & (target == 1)).sum() / ((pred == 1).sum() + (target == 1).sum())

    torch.manual_seed(0)
    net = _SmallUNet()
    assert 20_000 < sum(p.numel() for p in net.parameters()) < 30_000
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert net(images[:2]).dtype == torch.bfloat16  # autocast really is in play
    history = fit(net, nn.CrossEntropyLoss(), data, held_out, epochs=6, lr=1e-2, batch_size=8,
                  device="cpu", amp=True, progress=False, metrics={"dice": foreground_dice})
    losses = [record["train_loss"] for record in history]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0], losses
    assert history[-1]["dice"] > 0.7, history[-1]
    assert all(p.dtype == torch.float32 for p in net.parameters())
