"""mednotes.nets.resnet against torchvision's own code, and mednotes.nets.plain's PlainNet.

The reference for the ResNets is torchvision 0.28.0's ``models/resnet.py``, loaded from the
wheel's files without importing torchvision (see ``_torchvision_models.py`` for why and how).
A missing reference fails the tests with the command that installs it; it never skips them.
The 3D networks are checked against MONAI's ``ResNet``, whose layout has the same names.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import importlib.util
import inspect
import math
import shutil
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import _torchvision_models
from conftest import DEVICES
from mednotes import nets
from mednotes.nets import (BasicBlock, Bottleneck, PlainNet, ResNet, TwoConvBlock, resnet18,
                           resnet34, resnet50, weight_layers)

BUILDERS = {"resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50}
# small inputs, one thread: on a shared 2-core CPU two threads mostly wait for each other
pytestmark = pytest.mark.usefixtures("one_cpu_thread")


@pytest.fixture(scope="module")
def tv():
    """torchvision's resnet module (the real file from the 0.28.0 wheel), or a failure."""
    try:
        return _torchvision_models.load_resnet()
    except FileNotFoundError as missing:
        message = str(missing)
    pytest.fail(message, pytrace=False)


def torchvision_model(tv, name, seed=0, in_channels=3, **kwargs):
    """torchvision's network with a seeded random init (conv1 replaced for 1 channel)."""
    torch.manual_seed(seed)
    model = getattr(tv, name)(**kwargs)
    if in_channels != 3:  # the usual way to adapt torchvision's ResNet to CT or MR
        model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    return model


def forward_backward(model, x, seed=1, bf16=False):
    """Output, input gradient and parameter gradients (by name) after one backward pass.

    With ``bf16`` the forward pass runs under CPU autocast to bfloat16 (the backward pass
    outside it, as torch recommends).
    """
    x = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = model(x)
    torch.manual_seed(seed)
    y.backward(torch.randn_like(y))
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    return y.detach(), x.grad, grads


def assert_same_function(a, b, x, rtol=1e-10, atol=1e-10):
    """Same outputs, input gradients, parameter gradients and buffers after a step."""
    y_a, gx_a, g_a = forward_backward(a, x)
    y_b, gx_b, g_b = forward_backward(b, x)
    assert y_a.abs().max() > 0 and gx_a.abs().max() > 0  # nothing trivially zero
    torch.testing.assert_close(y_a, y_b, rtol=rtol, atol=atol)
    torch.testing.assert_close(gx_a, gx_b, rtol=rtol, atol=atol)
    assert g_a.keys() == g_b.keys()
    for name in g_a:
        torch.testing.assert_close(g_a[name], g_b[name], rtol=rtol, atol=atol, msg=name)
    buffers_b = dict(b.named_buffers())  # running statistics, updated in train mode
    for name, buffer in a.named_buffers():
        torch.testing.assert_close(buffer, buffers_b[name], rtol=rtol, atol=atol, msg=name)


# --------------------------------------------------------------- the reference itself


_BEFORE = set(sys.modules)  # what was imported before the reference is loaded


def test_reference_is_torchvision_0_28_own_resnet_file(tv):
    assert tv.VERSION == "0.28.0"
    with open(tv.__file__, "rb") as f:
        digest = base64.urlsafe_b64encode(hashlib.sha256(f.read()).digest()).rstrip(b"=")
    assert digest.decode() == _torchvision_models.RESNET_SHA256
    assert tv.__file__.endswith("torchvision/models/resnet.py")
    assert tv.ResNet.__module__ == tv.__name__ and type(tv.resnet18().layer1[0]) is tv.BasicBlock
    # torchvision itself (whose compiled ops do not load here) was never imported for it,
    # and the extracted folder is not where `import torchvision` would look
    assert not any(name == "torchvision" or name.startswith("torchvision.")
                   for name in set(sys.modules) - _BEFORE)
    assert not any(str(_torchvision_models.ROOT) in path for path in sys.path)
    spec = importlib.util.find_spec("torchvision")
    assert spec is None or str(_torchvision_models.ROOT) not in str(spec.origin)


def test_peer_libraries_still_import_after_the_reference_is_loaded(tv):
    import kornia.filters
    from monai.networks.nets import BasicUNet

    assert callable(kornia.filters.blur_pool2d) and callable(BasicUNet)


def test_a_missing_reference_fails_with_the_install_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="tests/_torchvision_models.py"):
        _torchvision_models.load_resnet(tmp_path)


def test_a_modified_reference_is_refused(tv, tmp_path):
    copy_root = tmp_path / "tv"
    shutil.copytree(_torchvision_models.ROOT, copy_root)
    _torchvision_models.verify(copy_root)  # the copy as installed passes
    resnet = copy_root / "torchvision" / "models" / "resnet.py"
    resnet.write_text(resnet.read_text().replace("kernel_size=7", "kernel_size=5"))
    with pytest.raises(RuntimeError, match="differs from the wheel's RECORD hash"):
        _torchvision_models.verify(copy_root)


# --------------------------------------------------------------- torchvision <-> mednotes


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
@pytest.mark.parametrize("direction", ["from_torchvision", "to_torchvision"])
def test_state_dicts_load_strictly_and_compute_the_same_function(tv, name, direction):
    theirs = torchvision_model(tv, name).double().eval()
    torch.manual_seed(2)
    ours = BUILDERS[name]().double().eval()
    source, target = (theirs, ours) if direction == "from_torchvision" else (ours, theirs)
    for module in source.modules():  # batch norms away from their init (1, 0; mean 0, var 1)
        if isinstance(module, nn.BatchNorm2d):  # so that a mixed-up name would show
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in theirs.state_dict().items()}
    result = target.load_state_dict(source.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert_same_function(ours, theirs, torch.randn(1, 3, 32, 32, dtype=torch.float64))


def small_pair(tv, name, **kwargs):
    """torchvision's and our network of one block per stage (Bottleneck or BasicBlock)."""
    in_channels = kwargs.pop("in_channels", 3)
    torch.manual_seed(0)
    theirs = tv.ResNet(getattr(tv, name), [1, 1, 1, 1], **kwargs)
    if in_channels != 3:
        theirs.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    ours = ResNet(getattr(nets, name), (1, 1, 1, 1), in_channels=in_channels, **kwargs)
    return theirs, ours


@pytest.mark.parametrize("name", ["resnet18", "Bottleneck"])
def test_one_channel_and_other_class_counts_load_from_torchvision(tv, name):
    if name == "resnet18":
        theirs = torchvision_model(tv, name, in_channels=1, num_classes=5)
        ours = resnet18(in_channels=1, num_classes=5)
    else:  # the Bottleneck, in a network of one block per stage
        theirs, ours = small_pair(tv, name, in_channels=1, num_classes=5)
    theirs, ours = theirs.double().eval(), ours.double().eval()
    assert ours.conv1.weight.shape == (64, 1, 7, 7) and ours.fc.out_features == 5
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert_same_function(ours, theirs, torch.randn(2, 1, 40, 36, dtype=torch.float64))


def test_train_mode_matches_torchvision_outputs_gradients_and_running_statistics(tv):
    theirs = torchvision_model(tv, "resnet18", num_classes=3).double().train()
    ours = resnet18(num_classes=3).double().train()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert_same_function(ours, theirs, torch.randn(3, 3, 32, 32, dtype=torch.float64))


@pytest.mark.parametrize("name", ["BasicBlock", "Bottleneck"])
def test_bf16_autocast_on_the_cpu_matches_torchvision(tv, name):
    theirs, ours = small_pair(tv, name, num_classes=10)
    theirs, ours = theirs.eval(), ours.eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 32)
    reference = theirs(x).detach()
    y_ours, gx_ours, g_ours = forward_backward(ours, x, bf16=True)
    y_theirs, gx_theirs, g_theirs = forward_backward(theirs, x, bf16=True)
    assert y_ours.dtype == y_theirs.dtype == torch.bfloat16
    # the same ops in the same order: equal to within bf16's rounding (8 bits of mantissa)
    torch.testing.assert_close(y_ours, y_theirs)
    torch.testing.assert_close(gx_ours, gx_theirs, rtol=1.6e-2, atol=1e-3 * gx_theirs.abs().max())
    for key in g_ours:
        scale = g_theirs[key].abs().max()
        torch.testing.assert_close(g_ours[key], g_theirs[key], rtol=1.6e-2, atol=1e-3 * scale,
                                   msg=key)
    # and autocast did run in low precision, near the float32 result
    assert 0 < (y_ours.float() - reference).abs().max() < 0.1 * reference.abs().max()


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_zero_init_residual_and_the_initialisation_are_torchvision_s(tv, name):
    theirs = torchvision_model(tv, name, zero_init_residual=True)
    ours = BUILDERS[name](zero_init_residual=True)
    for (key, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        if ".bn" in f".{key}" or "downsample.1" in key:  # batch norms: a fixed init
            torch.testing.assert_close(a, b, msg=key)
    last = "bn3" if name == "resnet50" else "bn2"
    assert all((getattr(block, last).weight == 0).all() for block in ours.layer1)
    # the random convolutions have the same law: He-normal with fan-out
    for key in ("conv1.weight", "layer3.0.conv2.weight"):
        weight = ours.state_dict()[key]
        fan_out = weight.shape[0] * weight[0, 0].numel()
        assert abs(weight.std().item() / math.sqrt(2 / fan_out) - 1) < 0.05, key


def test_a_zero_initialised_block_starts_as_the_identity():
    net = resnet18(zero_init_residual=True, num_classes=2).eval()
    x = torch.rand(2, 64, 8, 8)  # non-negative, as after a ReLU
    torch.testing.assert_close(net.layer1[1](x), x)


def test_a_3d_resnet_on_one_slice_is_torchvision_s_2d_resnet(tv):
    """Centre slices of the 3D kernels set to torchvision's 2D kernels, the rest random: on a
    one-slice volume only the centre slices touch the data, so the outputs must agree."""
    theirs = torchvision_model(tv, "resnet18", num_classes=4).double().eval()
    ours = resnet18(dim=3, num_classes=4).double().eval()
    state = {}
    for key, value in theirs.state_dict().items():
        if value.dim() == 4:  # (out, in, k, k) -> (out, in, k, k, k), data at depth k // 2
            k = value.shape[-1]
            volume = torch.randn(*value.shape[:2], k, k, k, dtype=value.dtype)
            volume[:, :, k // 2] = value
            value = volume
        state[key] = value
    ours.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    torch.testing.assert_close(ours(x.unsqueeze(2)), theirs(x), rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------- 3D, against MONAI


@pytest.mark.parametrize("block, layers, monai_block", [
    (BasicBlock, (2, 2, 2, 2), "basic"),
    (Bottleneck, (1, 1, 1, 1), "bottleneck"),
])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_3d_resnets_load_monai_resnets_and_compute_the_same_function(block, layers, monai_block,
                                                                       mode):
    from monai.networks.nets import ResNet as MonaiResNet

    torch.manual_seed(0)
    theirs = MonaiResNet(monai_block, list(layers), [64, 128, 256, 512], spatial_dims=3,
                         n_input_channels=1, conv1_t_size=7, conv1_t_stride=2, num_classes=3,
                         shortcut_type="B", bias_downsample=False).double()
    ours = ResNet(block, layers, num_classes=3, in_channels=1, dim=3).double()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    for net in (ours, theirs):
        net.train(mode == "train")
    assert_same_function(ours, theirs, torch.randn(2, 1, 16, 24, 20, dtype=torch.float64))


@pytest.mark.parametrize("builder, width", [(resnet18, 512), (resnet50, 2048)])
def test_3d_shapes(builder, width):
    net = builder(dim=3, in_channels=1, num_classes=2, base_channels=8)
    assert net.conv1.weight.shape == (8, 1, 7, 7, 7)
    assert net.fc.in_features == width // 8
    features = []
    net.layer4.register_forward_hook(lambda module, args, out: features.append(out.shape))
    y = net(torch.randn(2, 1, 64, 32, 96))
    assert y.shape == (2, 2)
    assert features == [(2, width // 8, 2, 1, 3)]  # 32 times smaller


@pytest.mark.parametrize("device", DEVICES[1:])  # every device other than the CPU
def test_output_on_another_device_matches_the_cpu(device):
    torch.manual_seed(0)
    for net, x in [(resnet18(num_classes=3).double().eval(), torch.randn(2, 3, 64, 64)),
                   (resnet18(dim=3, in_channels=1, base_channels=8).double().eval(),
                    torch.randn(2, 1, 32, 32, 32)),
                   (PlainNet(20, residual=True).double().eval(), torch.randn(2, 1, 32, 32))]:
        x = x.double()
        expected = net(x)
        y = copy.deepcopy(net).to(device)(x.to(device))
        assert y.device.type == device
        torch.testing.assert_close(y.cpu(), expected, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------- ResNet depth and errors


@pytest.mark.parametrize("builder, depth", [(resnet18, 18), (resnet34, 34), (resnet50, 50)])
def test_weight_layers_count_the_depth(builder, depth):
    net = builder(num_classes=2)
    layers = weight_layers(net)
    assert len(layers) == depth
    assert layers[0] is net.conv1 and layers[-1] is net.fc
    projections = [m for name, m in net.named_modules() if name.endswith("downsample.0")]
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(convs) == depth + len(projections)
    assert not any(p in layers for p in projections)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"block": BasicBlock(4, 4)}, TypeError, "block"),
    ({"block": "basic"}, TypeError, "block"),
    ({"block": nn.Conv2d}, TypeError, "block"),
    ({"layers": 2}, TypeError, "layers"),
    ({"layers": "2222"}, TypeError, "layers"),
    ({"layers": (2, 2, 2)}, ValueError, "layers must have 4"),
    ({"layers": (2, 2, 0, 2)}, ValueError, "layers[2]"),
    ({"layers": (2, 2, 2.0, 2)}, TypeError, "layers[2]"),
    ({"layers": (2, True, 2, 2)}, TypeError, "layers[1]"),
    ({"dim": 1}, ValueError, "dim"),
    ({"dim": 2.0}, TypeError, "dim"),
    ({"in_channels": 0}, ValueError, "in_channels"),
    ({"num_classes": True}, TypeError, "num_classes"),
    ({"base_channels": -1}, ValueError, "base_channels"),
    ({"zero_init_residual": "False"}, TypeError, "zero_init_residual"),
    ({"zero_init_residual": 0}, TypeError, "zero_init_residual"),
])
def test_resnet_refuses_bad_arguments_by_name(kwargs, error, words):
    args = {"block": BasicBlock, "layers": (1, 1, 1, 1)}
    with pytest.raises(error) as caught:
        ResNet(**{**args, **kwargs})
    assert words in str(caught.value)


@pytest.mark.parametrize("make", [BasicBlock, Bottleneck])
@pytest.mark.parametrize("kwargs, error, words", [
    ({"in_channels": 0}, ValueError, "in_channels"),
    ({"channels": 2.5}, TypeError, "channels"),
    ({"stride": 0}, ValueError, "stride"),
    ({"dim": 4}, ValueError, "dim"),
    ({"downsample": "conv"}, TypeError, "downsample"),
])
def test_blocks_refuse_bad_arguments_by_name(make, kwargs, error, words):
    with pytest.raises(error, match=words):
        make(**{"in_channels": 4, "channels": 4, **kwargs})


@pytest.mark.parametrize("net, x, error, words", [
    (lambda: resnet18(in_channels=1), torch.zeros(2, 3, 32, 32), ValueError, "in_channels=1"),
    (lambda: resnet18(dim=3), torch.zeros(2, 3, 32, 32), ValueError, "5D input"),
    (lambda: resnet18(), torch.zeros(3, 32, 32), ValueError, "unsqueeze"),
    (lambda: resnet18(), torch.zeros(2, 3, 32, 32, dtype=torch.int64), TypeError, "x has dtype"),
    (lambda: resnet18(), [[1.0]], TypeError, "x must be a torch.Tensor"),
    (lambda: resnet18(), torch.zeros(2, 3, 0, 32), ValueError, "empty"),
    (lambda: BasicBlock(8, 8), torch.zeros(2, 4, 8, 8), ValueError, "in_channels=8"),
    (lambda: Bottleneck(16, 4, dim=3), torch.zeros(2, 16, 8, 8), ValueError, "5D input"),
    (lambda: PlainNet(8), torch.zeros(2, 3, 8, 8), ValueError, "in_channels=1"),
    (lambda: PlainNet(8, dim=3), torch.zeros(2, 1, 8, 8), ValueError, "5D input"),
    (lambda: TwoConvBlock(2, 4), torch.zeros(2, 2, 8), ValueError, "4D input"),
])
def test_forward_refuses_bad_input_by_name(net, x, error, words):
    with pytest.raises(error, match=words):
        net()(x)


def test_weight_layers_refuses_a_net_without_them():
    with pytest.raises(TypeError, match="net must be a PlainNet or a ResNet"):
        weight_layers(nn.Linear(2, 2))


# --------------------------------------------------------------- PlainNet


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def plain_net_params(depth, in_channels, num_classes, base, dim, residual, norm):
    """PlainNet's parameters counted by hand from the paper's description."""
    n, k = (depth - 2) // 6, 3**dim
    norm_params = 0 if norm is None else 2  # γ and β per channel; a bias instead without norm
    def conv(c_in, c_out, kernel):
        return c_in * c_out * kernel + c_out * (norm_params or 1)

    total = conv(in_channels, base, k)
    width = base
    for stage in range(3):
        out = base * 2**stage
        total += conv(width, out, k) + conv(out, out, k) + (n - 1) * 2 * conv(out, out, k)
        if residual and width != out:
            total += conv(width, out, 1)  # the projection shortcut and its norm
        width = out
    return total + width * num_classes + num_classes


@pytest.mark.parametrize("depth, n", [(8, 1), (14, 2), (20, 3), (56, 9)])
@pytest.mark.parametrize("residual", [False, True])
def test_plain_net_has_depth_weight_layers(depth, n, residual):
    net = PlainNet(depth, residual=residual)
    assert len(net.blocks) == 3 * n
    layers = net.weight_layers()
    assert len(layers) == depth == len(weight_layers(net))
    all_weights = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(all_weights) == depth + (2 if residual else 0)  # + two projections
    assert isinstance(layers[-1], nn.Linear)
    assert [m for m in all_weights if m in layers] == layers  # forward order = module order
    kernels = [m.kernel_size for m in layers[:-1]]
    assert kernels == [(3, 3)] * (depth - 1)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("norm", ["batch", None])
@pytest.mark.parametrize("depth", [8, 20])
def test_plain_net_parameter_count_matches_a_hand_count(dim, residual, norm, depth):
    net = PlainNet(depth, in_channels=2, num_classes=3, base_channels=4, dim=dim,
                   residual=residual, norm=norm)
    assert n_params(net) == plain_net_params(depth, 2, 3, 4, dim, residual, norm)


def test_plain_net_20_has_the_paper_s_parameter_count():
    # He et al. (2016), table 6: ResNet-20 on CIFAR-10 has 0.27 M parameters (with zero-
    # padding shortcuts; the two 1x1 projections used here add 16*32 + 32*64 weights + norms)
    net = PlainNet(20, in_channels=3, num_classes=10, residual=True)
    assert round(n_params(net) / 1e6, 2) == 0.27


@pytest.mark.parametrize("dim, size", [(2, (32, 33)), (3, (16, 12, 20))])
@pytest.mark.parametrize("norm", ["batch", "group", "instance", "layer", None])
def test_plain_net_shapes_and_stage_sizes(dim, size, norm):
    net = PlainNet(14, in_channels=2, num_classes=4, base_channels=8, dim=dim, norm=norm,
                   residual=True)
    seen = []
    for block in net.blocks:
        block.register_forward_hook(lambda module, args, out: seen.append(tuple(out.shape[1:])))
    y = net(torch.randn(2, 2, *size))
    assert y.shape == (2, 4)
    def halve(s, times):
        return tuple(-(-v // 2**times) for v in s)

    assert seen == [(8, *size)] * 2 + [(16, *halve(size, 1))] * 2 + [(32, *halve(size, 2))] * 2


def test_residual_and_plain_nets_differ_only_by_the_shortcuts_and_start_the_same():
    torch.manual_seed(0)
    plain = PlainNet(20)
    torch.manual_seed(0)
    residual = PlainNet(20, residual=True)
    plain_state, residual_state = plain.state_dict(), residual.state_dict()
    extra = set(residual_state) - set(plain_state)
    assert set(plain_state) <= set(residual_state)
    assert extra and all(".shortcut." in key for key in extra)
    assert {key.split(".shortcut.")[0] for key in extra} == {"blocks.3", "blocks.6"}
    for key, value in plain_state.items():
        torch.testing.assert_close(residual_state[key], value, rtol=0, atol=0, msg=key)


def functional_block(block, x, residual):
    """A TwoConvBlock computed with torch.nn.functional, in train mode (batch statistics)."""
    def norm(module, h):
        return F.batch_norm(h, None, None, module.weight, module.bias, training=True)

    conv = F.conv2d if x.dim() == 4 else F.conv3d
    stride = block.conv1.stride[0]
    h = F.relu(norm(block.norm1, conv(x, block.conv1.weight, stride=stride, padding=1)))
    h = norm(block.norm2, conv(h, block.conv2.weight, padding=1))
    if residual:
        if isinstance(block.shortcut, nn.Identity):
            h = h + x
        else:
            h = h + norm(block.shortcut[1], conv(x, block.shortcut[0].weight, stride=stride))
    return F.relu(h)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("in_channels, stride", [(4, 1), (2, 2)])
def test_blocks_compute_relu_of_f_plus_the_shortcut(dim, residual, in_channels, stride):
    torch.manual_seed(0)
    block = TwoConvBlock(in_channels, 4, stride=stride, dim=dim, residual=residual).double()
    for module in block.modules():  # norms away from the identity, so they are checked
        if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.5, 0.5)
    x = torch.randn(3, in_channels, *(6,) * dim, dtype=torch.float64, requires_grad=True)
    y = block(x)
    expected = functional_block(block, x, residual)
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)
    (g,) = torch.autograd.grad(y.sum(), x)
    (g_expected,) = torch.autograd.grad(expected.sum(), x)
    torch.testing.assert_close(g, g_expected, rtol=1e-12, atol=1e-12)


def test_plain_net_initialisation_is_he_normal():
    net = PlainNet(56, base_channels=32, norm=None)
    for layer in net.weight_layers()[1:-1]:
        fan_in = layer.weight[0].numel()
        assert abs(layer.weight.std().item() / math.sqrt(2 / fan_in) - 1) < 0.1
        assert (layer.bias == 0).all()


@pytest.mark.parametrize("depth, nearest", [(0, "8"), (7, "8"), (9, "8 or 14"),
                                            (18, "14 or 20"), (55, "50 or 56"),
                                            (-4, "8")])
def test_bad_depths_name_the_nearest_valid_ones(depth, nearest):
    with pytest.raises(ValueError) as caught:
        PlainNet(depth)
    message = str(caught.value)
    assert message.startswith("depth must be 6n + 2") and f"got {depth}" in message
    assert message.endswith(f"the nearest valid depth is {nearest}")


@pytest.mark.parametrize("kwargs, error, words", [
    ({"depth": 20.0}, TypeError, "depth"),
    ({"depth": True}, TypeError, "depth"),
    ({"residual": 1}, TypeError, "residual"),
    ({"residual": "True"}, TypeError, "residual"),
    ({"norm": "batchnorm"}, ValueError, "norm"),
    ({"dim": 1}, ValueError, "dim"),
    ({"in_channels": 0}, ValueError, "in_channels"),
    ({"num_classes": 2.0}, TypeError, "num_classes"),
    ({"base_channels": 0}, ValueError, "base_channels"),
])
def test_plain_net_refuses_bad_arguments_by_name(kwargs, error, words):
    with pytest.raises(error, match=words):
        PlainNet(**kwargs)


# The sweep of tests/test_bad_input.py, over these constructors: every bool keyword refuses
# "False" and 0, every int keyword "2" and 2.5, each error naming the keyword.
CALLS = {
    "ResNet": (ResNet, (BasicBlock, (1, 1, 1, 1))),
    "BasicBlock": (BasicBlock, (2, 2)),
    "Bottleneck": (Bottleneck, (2, 2)),
    "PlainNet": (PlainNet, ()),
    "TwoConvBlock": (TwoConvBlock, (1, 2)),
}
SWEEP = [
    (name, p.name, value)
    for name, (fn, args) in CALLS.items()
    for p in list(inspect.signature(fn).parameters.values())[len(args):]
    for value in (("False", 0) if isinstance(p.default, bool) else
                  ("2", 2.5) if type(p.default) is int else ())
]


@pytest.mark.parametrize("name, keyword, value", SWEEP)
def test_scalar_keywords_refuse_the_wrong_type_by_name(name, keyword, value):
    fn, args = CALLS[name]
    with pytest.raises(TypeError, match=keyword):
        fn(*args, **{keyword: value})


def test_the_sweep_reaches_every_constructor():
    assert {case[0] for case in SWEEP} == set(CALLS)
    assert "residual" in {case[1] for case in SWEEP}


def test_nets_exports():
    for name in ("BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50",
                 "PlainNet", "TwoConvBlock", "weight_layers"):
        assert name in nets.__all__ and getattr(nets, name) is not None
