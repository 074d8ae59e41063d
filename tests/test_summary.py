"""mednotes.nets.count_parameters and summary: parameters against torch's own count, multiply-adds
against torch.utils.flop_counter.FlopCounterMode (FLOPs = 2 * MACs), shapes against the real
forward, and bad input."""

from collections import defaultdict

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mednotes import layers
from mednotes.nets import LayerRow, Summary, UNet, count_parameters, summary


def reference_macs(model, x):
    """Half of FlopCounterMode's FLOPs: in total, and per module name like summary's rows."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    prefix = type(model).__name__ + "."
    per_module = {name[len(prefix):]: sum(ops.values()) // 2
                  for name, ops in counter.get_flop_counts().items() if name.startswith(prefix)}
    return counter.get_total_flops() // 2, per_module


def macs_by_module(result):
    total = defaultdict(int)
    for row in result.rows:
        total[row.name.split(" (call")[0]] += row.macs
    return total


class Mixed(nn.Module):
    """Grouped, strided, dilated and transposed convolutions in 1D/2D/3D, and linear layers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2)
        self.dilated = nn.Conv2d(8, 8, 3, dilation=2, bias=False)
        self.up = nn.ConvTranspose2d(8, 6, 3, stride=2, groups=2)
        self.conv1d = nn.Conv1d(6, 4, 5)
        self.norm = nn.LayerNorm(4)
        self.linear = nn.Linear(4, 3)
        self.up3d = nn.ConvTranspose3d(3, 4, (1, 2, 2), stride=(1, 2, 2), groups=1)
        self.conv3d = nn.Conv3d(4, 2, (3, 3, 1), groups=2)

    def forward(self, x):
        x = self.up(self.dilated(self.conv(x)).relu())
        n, c, h, w = x.shape
        x = self.conv1d(x.reshape(n, c, h * w))  # (N, 4, L)
        x = self.linear(self.norm(x.transpose(1, 2)))  # (N, L, 3)
        x = x.transpose(1, 2).reshape(n, 3, 7, 23, 1)  # L = 161 = 7 * 23
        return self.conv3d(self.up3d(x))


MODELS = {
    "unet 2d same": (lambda: UNet(1, 2, base_channels=4, depth=2), (2, 1, 32, 32)),
    "unet 2d valid": (lambda: UNet(1, 3, base_channels=4, depth=2, padding="valid",
                                   up="interpolate", norm="group"), (1, 1, 60, 68)),
    "unet 3d valid": (lambda: UNet(2, 2, dim=3, base_channels=2, depth=1, padding="valid"),
                      (1, 2, 18, 20, 22)),
    "unet 3d no skips": (lambda: UNet(1, 2, dim=3, base_channels=2, depth=2, skips=False,
                                      norm="instance"), (2, 1, 8, 8, 12)),
    "mixed": (Mixed, (3, 4, 21, 17)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_macs_match_flop_counter_in_total_and_per_layer(name):
    make, shape = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    result = summary(model, shape, verbose=False)
    total, per_module = reference_macs(model, torch.zeros(shape))
    assert total > 0
    assert result.total_macs == total
    ours = macs_by_module(result)
    assert {k: v for k, v in ours.items() if v} == {k: v for k, v in per_module.items()
                                                    if k in ours}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameters_and_output_shape_match_torch(name):
    make, shape = MODELS[name]
    model = make()
    result = summary(model, shape, verbose=False)
    assert result.total_params == sum(p.numel() for p in model.parameters())
    assert result.trainable_params == result.total_params
    # every parameter sits in a leaf module that runs once at least, so the rows add up
    assert sum(row.params for row in result.rows) == result.total_params
    with torch.no_grad():
        assert result.output_shape == tuple(model.eval()(torch.zeros(shape)).shape)
    assert result.rows[-1].output_shape == result.output_shape


def test_rows_follow_the_calls_and_record_each_output_shape():
    net = UNet(1, 2, base_channels=4, depth=2, padding="valid")
    seen = []
    for module_name, module in net.named_modules():
        if next(module.children(), None) is None:
            module.register_forward_hook(
                lambda m, a, out, n=module_name: seen.append((n, tuple(out.shape))))
    with torch.no_grad():
        net.eval()(torch.zeros(2, 1, 60, 60))
    seen.clear()
    result = summary(net, (2, 1, 60, 60), verbose=False)
    assert [(row.name.split(" (call")[0], row.output_shape) for row in result.rows] == seen
    pools = [row for row in result.rows if row.kind == "MaxPool2d"]
    assert [row.name for row in pools] == ["pool", "pool (call 2)"]
    assert [row.output_shape for row in pools] == [(2, 4, 28, 28), (2, 8, 12, 12)]


def test_a_module_called_twice_counts_its_parameters_once_and_its_macs_twice():
    conv = nn.Conv2d(2, 2, 3, padding=1)
    net = nn.Sequential(conv, nn.ReLU(), conv)
    result = summary(net, (1, 2, 5, 5), verbose=False)
    assert [row.name for row in result.rows] == ["0", "1", "0 (call 2)"]
    assert [row.params for row in result.rows] == [2 * 2 * 9 + 2, 0, 0]
    assert [row.macs for row in result.rows] == [2 * 25 * 2 * 9, 0, 2 * 25 * 2 * 9]
    assert result.total_params == count_parameters(net) == 38


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_mednotes_convolutions_count_as_convolutions(method):
    """mednotes.layers.Conv2d is not an nn.Conv2d; its MACs are those of the direct
    convolution whatever algorithm computes it, so compare with torch's on equal shapes."""
    ours = layers.Conv2d(4, 6, 3, padding=1, groups=2, method=method)
    theirs = nn.Conv2d(4, 6, 3, padding=1, groups=2)
    a = summary(ours, (2, 4, 9, 7), verbose=False)
    b = summary(theirs, (2, 4, 9, 7), verbose=False)
    assert a.total_macs == b.total_macs == 2 * 6 * 9 * 7 * 2 * 9
    assert a.total_params == b.total_params
    assert a.rows[0].name == "Conv2d"  # the model itself is the only leaf


def test_original_unet_at_572():
    """The paper's network on the meta device: shapes and counts without the 25 s forward."""
    with torch.device("meta"):
        net = UNet.original()
    result = summary(net, (1, 1, 572, 572), verbose=False)
    assert result.output_shape == (1, 2, 388, 388)
    assert result.total_params == 31_030_658
    first = result.rows[0]
    assert (first.name, first.output_shape, first.params, first.macs) == (
        "encoders.0.0", (1, 64, 570, 570), 640, 570 * 570 * 64 * 9)
    total, _ = reference_macs(net, torch.zeros(1, 1, 572, 572, device="meta"))
    assert result.total_macs == total
    assert result.total_macs == hand_count_of_the_original_macs() == 150_428_424_448


def hand_count_of_the_original_macs():
    """Level by level: every valid 3x3 convolution trims 2, a transposed 2x2 one doubles."""
    size, c_in, macs = 572, 1, 0
    widths = [64, 128, 256, 512, 1024]
    for level, c in enumerate(widths):
        if level:
            size //= 2
        size -= 2
        macs += size * size * c * c_in * 9
        size -= 2
        macs += size * size * c * c * 9
        c_in = c
    for c in reversed(widths[:-1]):
        macs += size * size * 2 * c * c * 4  # each input value times C_out * 2 * 2 weights
        size *= 2
        size -= 2
        macs += size * size * c * 2 * c * 9  # the concatenation has 2c channels
        size -= 2
        macs += size * size * c * c * 9
    assert size == 388
    return macs + size * size * 2 * 64  # the 1x1 head


def test_count_parameters_counts_shared_parameters_once_and_can_skip_frozen_ones():
    a = nn.Linear(3, 3)
    tied = nn.Sequential(a, nn.ReLU(), a)
    assert count_parameters(tied) == 12 == sum(p.numel() for p in tied.parameters())
    net = UNet(1, 2, base_channels=4, depth=2)
    net.encoders.requires_grad_(False)
    frozen = sum(p.numel() for p in net.encoders.parameters())
    assert 0 < frozen < count_parameters(net)
    assert count_parameters(net, trainable_only=True) == count_parameters(net) - frozen
    assert count_parameters(net, trainable_only=True) == sum(
        p.numel() for p in net.parameters() if p.requires_grad)
    result = summary(net, (1, 1, 16, 16), verbose=False)
    assert (result.total_params, result.trainable_params) == (
        count_parameters(net), count_parameters(net) - frozen)


def test_summary_leaves_the_model_as_it_was():
    net = UNet(1, 2, base_channels=4, depth=1)
    net.train()
    net.encoders[0].eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flags = [m.training for m in net.modules()]
    hooks = sum(len(m._forward_hooks) for m in net.modules())
    summary(net, (2, 1, 8, 8), verbose=False)
    assert [m.training for m in net.modules()] == flags
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN stats
    assert sum(len(m._forward_hooks) for m in net.modules()) == hooks


def test_hooks_are_removed_and_flags_restored_when_the_forward_fails():
    net = UNet(1, 2, base_channels=4, depth=2)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*2"):
        summary(net, (1, 1, 30, 32), verbose=False)
    assert net.training
    assert sum(len(m._forward_hooks) for m in net.modules()) == 0


def test_printed_table_and_returned_data(capsys):
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    result = summary(net, (3, 1, 8, 8))
    printed = capsys.readouterr().out
    assert printed == str(result) + "\n"
    lines = printed.splitlines()
    assert lines[0].split() == ["layer", "(type)", "output", "shape", "params", "MACs"]
    assert lines[2].split() == ["0", "(Conv2d)", "(3,", "4,", "6,", "6)", "40", "3,888"]
    assert "parameters: 330 (330 trainable)" in printed
    assert "multiply-adds: 4,752 (4.75 k) for the batch of 3" in printed
    assert isinstance(result, Summary) and all(isinstance(r, LayerRow) for r in result.rows)
    assert [r.macs for r in result.rows] == [3 * 4 * 36 * 9, 0, 3 * 2 * 144]
    assert repr(result) == "Summary(3 rows, total_params=330, total_macs=4,752)"
    summary(net, (3, 1, 8, 8), verbose=False)
    assert capsys.readouterr().out == ""


def test_input_dtype_and_device_follow_the_model():
    net = nn.Conv2d(1, 1, 3).double()
    seen = []
    net.register_forward_pre_hook(lambda m, args: seen.append(args[0].dtype))
    summary(net, (1, 1, 5, 5), verbose=False)
    summary(nn.ReLU(), (1, 1, 5, 5), verbose=False)  # no parameters: float32 on the CPU
    assert seen == [torch.float64]
    result = summary(nn.Identity(), (1, 2, 3), verbose=False, dtype=torch.float16)
    assert result.output_shape == (1, 2, 3)


@pytest.mark.parametrize("model, error, message", [
    (None, TypeError, "model must be a torch.nn.Module, got NoneType"),
    (UNet, TypeError, "model must be a torch.nn.Module, got type"),
    ("unet", TypeError, "model must be a torch.nn.Module, got str"),
])
def test_bad_model_is_named(model, error, message):
    with pytest.raises(error, match=message):
        summary(model, (1, 1, 8, 8))
    with pytest.raises(error, match=message):
        count_parameters(model)


@pytest.mark.parametrize("input_size, error, message", [
    ((1,), ValueError, r"input_size must be \(N, C, \*spatial\)"),
    (8, ValueError, r"input_size must be \(N, C, \*spatial\)"),
    ((1, 1, 0, 8), ValueError, "input_size must be positive"),
    ((1, 1, 8.0, 8), TypeError, "input_size must hold ints"),
    ("1, 1, 8, 8", TypeError, "input_size must be an int or a tuple of ints"),
    (torch.zeros(1, 1, 8, 8), TypeError, "input_size must be an int or a tuple of ints"),
])
def test_bad_input_size_is_named(input_size, error, message):
    with pytest.raises(error, match=message):
        summary(nn.Conv2d(1, 1, 3), input_size, verbose=False)


@pytest.mark.parametrize("kwargs, error, name", [
    ({"verbose": "no"}, TypeError, "verbose"), ({"verbose": 0}, TypeError, "verbose"),
    ({"dtype": torch.int64}, TypeError, "dtype"), ({"dtype": "float32"}, TypeError, "dtype"),
    ({"device": "gpu"}, ValueError, "device"), ({"device": 3.5}, TypeError, "device"),
])
def test_bad_keywords_are_named(kwargs, error, name):
    with pytest.raises(error, match=name):
        summary(nn.Conv2d(1, 1, 3), (1, 1, 8, 8), **kwargs)


def test_bad_trainable_only_is_named():
    with pytest.raises(TypeError, match="trainable_only must be True or False"):
        count_parameters(nn.Linear(2, 2), trainable_only=1)
