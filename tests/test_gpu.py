"""CPU/CUDA parity of every public numerical op, forward and backward; AMP training on CUDA.

The table below lists each public function and module of mednotes that computes on tensors.
On a machine with CUDA every entry runs twice, on the CPU and on the GPU, in float64 from the
same inputs, and the outputs and every gradient must agree to rounding: a kernel that is
right on one device and wrong on the other cannot hide behind a ``.device.type`` check.

Without CUDA the parity tests are skipped, but ``test_every_public_op_is_in_the_table`` still
runs, so a new op cannot be added to the library without a parity entry.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable

import pytest
import torch
from torch import nn

import mednotes.conv
import mednotes.kernels
import mednotes.layers
import mednotes.nets
import mednotes.pooling
import test_pooling
from mednotes import conv, data, kernels, layers, nets, pooling

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")

HAS_CUDA = torch.cuda.is_available()
#: Parametrize over this to run a test on CUDA only (skipped where there is none).
ON_CUDA = [pytest.param("cuda", marks=[pytest.mark.gpu,
                                       pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device here")])]
F64 = torch.float64


# -------------------------------------------------------------------------- the table

def _stats(x):
    """Running statistics for the functional norms, made where x lives."""
    channels = x.shape[1]
    mean = torch.linspace(-0.5, 0.5, channels, dtype=x.dtype, device=x.device)
    var = torch.linspace(0.5, 2.0, channels, dtype=x.dtype, device=x.device)
    return mean, var


# name -> (function of the input tensors, input shapes). Every input gets a gradient.
FUNCTIONS: dict[str, tuple[Callable, list[tuple[int, ...]]]] = {}
for _method in conv.METHODS:
    FUNCTIONS[f"conv.conv1d[{_method}]"] = (
        lambda x, w, b, m=_method: conv.conv1d(x, w, b, stride=2, padding=2, dilation=2,
                                               method=m), [(2, 4, 19), (6, 4, 3), (6,)])
    FUNCTIONS[f"conv.conv2d[{_method}]"] = (
        lambda x, w, b, m=_method: conv.conv2d(x, w, b, padding=1, groups=2, method=m),
        [(2, 4, 11, 10), (6, 2, 3, 3), (6,)])
    FUNCTIONS[f"conv.conv3d[{_method}]"] = (
        lambda x, w, m=_method: conv.conv3d(x, w, padding="same", method=m),
        [(1, 2, 6, 7, 5), (3, 2, 3, 2, 3)])
    FUNCTIONS[f"conv.convnd[{_method}]"] = (
        lambda x, w, m=_method: conv.convnd(x, w, stride=(1, 2), method=m),
        [(2, 3, 9, 9), (2, 3, 4, 4)])
for _mode in conv.MODES:
    FUNCTIONS[f"conv.correlate[{_mode}]"] = (
        lambda f, g, m=_mode: conv.correlate(f, g, mode=m), [(13, 11), (4, 3)])
    FUNCTIONS[f"conv.convolve[{_mode}]"] = (
        lambda f, g, m=_mode: conv.convolve(f, g, mode=m), [(9, 8, 7), (3, 2, 3)])
FUNCTIONS.update({
    "layers.relu": (layers.relu, [(3, 4, 5)]),
    "layers.leaky_relu": (lambda x: layers.leaky_relu(x, 0.1), [(3, 4, 5)]),
    "layers.elu": (lambda x: layers.elu(x, 0.7), [(3, 4, 5)]),
    "layers.relu_grad": (layers.relu_grad, [(3, 4, 5)]),
    "layers.leaky_relu_grad": (lambda x: layers.leaky_relu_grad(x, 0.1), [(3, 4, 5)]),
    "layers.elu_grad": (lambda x: layers.elu_grad(x, 0.7), [(3, 4, 5)]),
    "layers.derivative": (lambda x: layers.derivative("elu", x), [(3, 4, 5)]),
    "layers.batch_norm": (lambda x, w, b: layers.batch_norm(x, *_stats(x), w, b, training=True),
                          [(4, 3, 5, 5), (3,), (3,)]),
    "layers.batch_norm[eval]": (lambda x, w, b: layers.batch_norm(x, *_stats(x), w, b),
                                [(4, 3, 5, 5), (3,), (3,)]),
    "layers.instance_norm": (lambda x, w, b: layers.instance_norm(x, *_stats(x), w, b),
                             [(2, 3, 4, 5, 3), (3,), (3,)]),
    "layers.group_norm": (lambda x, w, b: layers.group_norm(x, 2, w, b),
                          [(2, 4, 5, 5), (4,), (4,)]),
    "layers.layer_norm": (lambda x, w, b: layers.layer_norm(x, (5, 5), w, b),
                          [(2, 4, 5, 5), (5, 5), (5, 5)]),
    "data.window": (lambda hu: data.window(hu * 300, 40.0, 400.0), [(16, 16)]),
})

# name -> (module factory, input shape). Outputs, input gradients and parameter gradients.
MODULES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "layers.Conv2d": (lambda: layers.Conv2d(4, 6, 3, stride=2, padding=1,
                                            padding_mode="reflect"), (2, 4, 9, 9)),
    "layers.Conv3d": (lambda: layers.Conv3d(2, 4, 3, padding="same", method="im2col"),
                      (1, 2, 5, 6, 7)),
    "layers.BatchNorm2d": (lambda: layers.BatchNorm2d(3), (4, 3, 5, 5)),
    "layers.BatchNorm3d": (lambda: layers.BatchNorm3d(3, momentum=None), (2, 3, 3, 4, 5)),
    "layers.InstanceNorm2d": (lambda: layers.InstanceNorm2d(3, affine=True,
                                                            track_running_stats=True),
                              (2, 3, 5, 6)),
    "layers.InstanceNorm3d": (lambda: layers.InstanceNorm3d(3, affine=True), (2, 3, 3, 4, 5)),
    "layers.GroupNorm": (lambda: layers.GroupNorm(2, 4), (2, 4, 5, 5)),
    "layers.LayerNorm": (lambda: layers.LayerNorm([4, 5]), (2, 3, 4, 5)),
    "layers.ReLU": (layers.ReLU, (2, 3, 4)),
    "layers.LeakyReLU": (lambda: layers.LeakyReLU(0.2), (2, 3, 4)),
    "layers.ELU": (lambda: layers.ELU(0.5), (2, 3, 4)),
    "layers.ConvNormAct": (lambda: layers.ConvNormAct(2, 4, 3, norm="group", norm_groups=2,
                                                      act="elu"), (2, 2, 8, 8)),
    "nets.DoubleConv": (lambda: nets.DoubleConv(2, 4), (2, 2, 8, 8)),
    "nets.UNet": (lambda: nets.UNet(1, 3, base_channels=4, depth=2), (2, 1, 16, 16)),
    "nets.UNet[3d]": (lambda: nets.UNet(1, 2, dim=3, base_channels=2, depth=1,
                                        up="interpolate", norm="instance"), (1, 1, 4, 6, 8)),
    "nets.UNet[valid]": (lambda: nets.UNet(1, 2, base_channels=2, depth=2, padding="valid"),
                         (2, 1, 44, 44)),
    "nets.ResNet": (lambda: nets.ResNet(nets.Bottleneck, (1, 1, 1, 1), num_classes=3,
                                        in_channels=1, base_channels=4), (2, 1, 32, 32)),
    "nets.ResNet[3d]": (lambda: nets.ResNet(nets.BasicBlock, (1, 1, 1, 1), num_classes=2,
                                            in_channels=1, dim=3, base_channels=2),
                        (2, 1, 16, 16, 16)),
    "nets.resnet18": (lambda: nets.resnet18(num_classes=4), (2, 3, 32, 32)),
    "nets.resnet34": (lambda: nets.resnet34(num_classes=4, base_channels=8), (2, 3, 32, 32)),
    "nets.resnet50": (lambda: nets.resnet50(num_classes=4, base_channels=8), (2, 3, 32, 32)),
    "nets.BasicBlock": (lambda: nets.BasicBlock(4, 4), (2, 4, 8, 8)),
    "nets.Bottleneck": (lambda: nets.Bottleneck(16, 4), (2, 16, 8, 8)),
    "nets.PlainNet": (lambda: nets.PlainNet(8, base_channels=4), (2, 1, 16, 16)),
    "nets.PlainNet[residual]": (lambda: nets.PlainNet(14, base_channels=4, residual=True),
                                (2, 1, 16, 16)),
    "nets.TwoConvBlock": (lambda: nets.TwoConvBlock(2, 4, stride=2, residual=True),
                          (2, 2, 8, 8)),
}

# Builders that make a tensor from numbers; compared on both devices without gradients.
BUILDERS: dict[str, Callable[[torch.device], torch.Tensor]] = {
    "kernels.box": lambda d: kernels.box(5, device=d, dtype=F64),
    "kernels.gaussian": lambda d: kernels.gaussian(7, 1.3, dims=3, device=d, dtype=F64),
    "kernels.sobel": lambda d: kernels.sobel("y", device=d, dtype=F64),
    "kernels.laplacian": lambda d: kernels.laplacian(device=d, dtype=F64),
    "kernels.sharpen": lambda d: kernels.sharpen(0.5, device=d, dtype=F64),
    "kernels.named": lambda d: kernels.named("blur (Gaussian)", device=d, dtype=F64),
    "pooling.frequency_axis": lambda d: pooling.frequency_axis(12, F64, device=d),
}

# Pooling has its own CPU/CUDA parity test, over every public pooling op and module, in
# float64 and float32 (tests/test_pooling.py::test_cuda_and_cpu_agree_for_every_public_op).
POOLING_COVERED = {f"pooling.{name}" for name, _, _ in test_pooling.cpu_cuda_cases()} | {
    "pooling.shift_equivariance_error", "pooling.shift_consistency", "pooling.binomial_kernel"}

# Public names that do not compute on tensors (constants, size arithmetic, types).
NOT_NUMERICAL = {
    "conv.METHODS", "conv.MODES", "conv.ReceptiveField", "conv.choose_method",
    "conv.conv_output_size", "conv.receptive_field",
    "layers.ACTIVATIONS", "layers.NORMS", "layers.ORDERS", "layers.PADDING_MODES",
    "kernels.NAMES", "pooling.PADDING_MODES", "pooling.SHIFT_MODES",
    "nets.LayerRow", "nets.Summary", "nets.count_parameters", "nets.summary",
    "nets.weight_layers",
}


def _public(module, prefix):
    names = getattr(module, "__all__", None) or [
        n for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
        and (inspect.isfunction(v) or inspect.isclass(v))]
    return {f"{prefix}.{n}" for n in names}


def test_every_public_op_is_in_the_table():
    covered = {name.split("[")[0] for name in (*FUNCTIONS, *MODULES, *BUILDERS)}
    covered |= {name.split("[")[0] for name in POOLING_COVERED}
    public = (_public(mednotes.conv, "conv") | _public(mednotes.layers, "layers")
              | _public(mednotes.nets, "nets") | _public(mednotes.kernels, "kernels")
              | _public(mednotes.pooling, "pooling"))
    missing = sorted(public - covered - NOT_NUMERICAL)
    assert not missing, f"public ops without a CPU/CUDA parity entry: {missing}"


# ------------------------------------------------------------------------ comparisons

def _inputs(shapes, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=F64) for shape in shapes]


def _close(cuda_value, cpu_value, what, rtol=1e-9):
    assert cuda_value is not None and cpu_value is not None, f"{what}: one side is missing"
    assert cuda_value.device.type != "cpu", what
    assert cuda_value.dtype == cpu_value.dtype and cuda_value.shape == cpu_value.shape, what
    scale = max(1.0, cpu_value.abs().max().item()) if cpu_value.numel() else 1.0
    error = (cuda_value.cpu() - cpu_value).abs().max().item() if cpu_value.numel() else 0.0
    assert error <= rtol * scale, f"{what}: CPU and CUDA differ by {error:.3g}"


def _run(fn, tensors):
    leaves = [t.clone().requires_grad_() for t in tensors]
    out = fn(*leaves)
    if out.requires_grad:
        weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=out.device)
        (out * weights.reshape(out.shape)).sum().backward()
    return out.detach(), [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("name", sorted(FUNCTIONS), ids=sorted(FUNCTIONS))
@pytest.mark.parametrize("device", ON_CUDA)
def test_function_parity_cpu_cuda(name, device):
    fn, shapes = FUNCTIONS[name]
    tensors = _inputs(shapes, seed=len(name))
    out_cpu, grads_cpu = _run(fn, tensors)
    out_gpu, grads_gpu = _run(fn, [t.to(device) for t in tensors])
    _close(out_gpu, out_cpu, f"{name} output")
    for i, (a, b) in enumerate(zip(grads_gpu, grads_cpu, strict=True)):
        if b is not None or a is not None:
            _close(a, b, f"{name} gradient of input {i}")


@pytest.mark.parametrize("name", sorted(MODULES), ids=sorted(MODULES))
@pytest.mark.parametrize("device", ON_CUDA)
def test_module_parity_cpu_cuda(name, device):
    make, shape = MODULES[name]
    torch.manual_seed(0)
    on_cpu = make().double()
    on_gpu = copy.deepcopy(on_cpu).to(device)
    (x,) = _inputs([shape], seed=1)
    for step in range(2):  # two training steps: running statistics move in between
        out_cpu, (grad_cpu,) = _run(on_cpu, [x])
        out_gpu, (grad_gpu,) = _run(on_gpu, [x.to(device)])
        _close(out_gpu, out_cpu, f"{name} output, step {step}")
        _close(grad_gpu, grad_cpu, f"{name} input gradient, step {step}")
        for (pname, p), (_, q) in zip(on_gpu.named_parameters(), on_cpu.named_parameters(),
                                      strict=True):
            _close(p.grad, q.grad, f"{name} {pname} gradient, step {step}")
        on_cpu.zero_grad(), on_gpu.zero_grad()
    for (bname, a), (_, b) in zip(on_gpu.named_buffers(), on_cpu.named_buffers(), strict=True):
        _close(a, b, f"{name} buffer {bname}")
    on_cpu.eval(), on_gpu.eval()
    _close(on_gpu(x.to(device)).detach(), on_cpu(x).detach(), f"{name} output in eval mode")


@pytest.mark.parametrize("name", sorted(BUILDERS), ids=sorted(BUILDERS))
@pytest.mark.parametrize("device", ON_CUDA)
def test_builder_parity_cpu_cuda(name, device):
    on_gpu = BUILDERS[name](torch.device(device))
    on_cpu = BUILDERS[name](torch.device("cpu"))
    _close(on_gpu, on_cpu, name, rtol=0.0)


# ------------------------------------------------------------- training on CUDA, AMP

@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device here")
def test_amp_fit_on_cuda_with_grad_scaler_then_resume(tmp_path):
    """fit's default on CUDA is float16 autocast with a GradScaler. A network made of
    mednotes layers trains under it, its checkpoint holds the scaler's state, and a resumed
    run continues from it."""
    from mednotes.train import fit, load_checkpoint

    squares = data.toy_squares(32, size=32, seed=0)
    held_out = data.toy_squares(8, size=32, seed=1)

    def make():
        torch.manual_seed(0)
        return nn.Sequential(layers.ConvNormAct(1, 8, 3), layers.ConvNormAct(8, 8, 3),
                             layers.Conv2d(8, 2, 1))

    path = tmp_path / "run.pt"
    net = make()
    history = fit(net, nn.CrossEntropyLoss(), squares, held_out, epochs=2, lr=1e-2,
                  batch_size=8, device="cuda", progress=False, checkpoint=path)
    state = load_checkpoint(path)
    scaler = state["extra"]["scaler"]
    assert scaler and scaler["scale"] > 0, "AMP on CUDA must save the GradScaler's state"
    assert all(p.device.type == "cuda" and p.dtype == torch.float32 for p in net.parameters())
    with torch.autocast("cuda", dtype=torch.float16):
        assert net(squares[0][0][None].cuda()).dtype == torch.float16
    losses = [record["train_loss"] for record in history]
    assert losses[1] < losses[0]

    resumed = make()
    longer = fit(resumed, nn.CrossEntropyLoss(), squares, held_out, epochs=4, lr=1e-2,
                 batch_size=8, device="cuda", progress=False, checkpoint=path, resume=True)
    assert [r["epoch"] for r in longer] == [1, 2, 3, 4]
    assert [r["train_loss"] for r in longer][:2] == losses  # the first two are the saved ones
    assert longer[-1]["val_loss"] < history[-1]["val_loss"]
