"""mednotes.nets.UNet: shapes in 2D and 3D, skips on and off, errors, parameter count."""

import copy

import pytest
import torch
from torch import nn

from conftest import DEVICES
from mednotes.nets import UNet


def conv_params(c_in, c_out, kernel, dim=2, bias=True):
    """Weights of one convolution (or transposed convolution) counted by hand."""
    return c_in * c_out * kernel**dim + (c_out if bias else 0)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("dim, size", [(2, (16, 24)), (3, (8, 8, 16))])
@pytest.mark.parametrize("skips", [True, False])
@pytest.mark.parametrize("norm", ["batch", "group", "instance", None])
@pytest.mark.parametrize("up", ["transpose", "interpolate"])
def test_output_has_the_input_size_and_one_map_per_class(dim, size, skips, norm, up):
    net = UNet(2, 3, dim=dim, base_channels=4, depth=2, skips=skips, norm=norm, up=up)
    x = torch.randn(2, 2, *size)
    y = net(x)
    assert y.shape == (2, 3, *size)
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("device", DEVICES[1:])  # every device other than the CPU
def test_output_on_another_device_matches_the_cpu(device):
    torch.manual_seed(0)
    net = UNet(1, 2, base_channels=4, depth=3).double()
    x = torch.randn(2, 1, 32, 32, dtype=torch.float64)
    expected = net(x)
    y = copy.deepcopy(net).to(device)(x.to(device))
    assert y.device.type == device
    torch.testing.assert_close(y.cpu(), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("skips", [True, False])
def test_decoder_sees_encoder_features_only_with_skips(skips):
    net = UNet(1, 2, base_channels=4, depth=2, skips=skips)
    seen = []
    for decoder in net.decoders:
        decoder.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[1]))
    net(torch.zeros(1, 1, 16, 16))
    # level widths 8 then 4; with skips the upsampled features are concatenated to as many
    # encoder channels, without skips they arrive alone
    assert seen == ([16, 8] if skips else [8, 4])


def test_original_parameter_count_matches_a_hand_count():
    widths = [64, 128, 256, 512, 1024]
    expected = 0
    c_in = 1
    for w in widths:  # encoder and bottleneck: two 3x3 convolutions per level
        expected += conv_params(c_in, w, 3) + conv_params(w, w, 3)
        c_in = w
    for w in reversed(widths[:-1]):  # decoder: 2x2 up-convolution, then two 3x3 on the concat
        expected += conv_params(2 * w, w, 2) + conv_params(2 * w, w, 3) + conv_params(w, w, 3)
    expected += conv_params(64, 2, 1)  # 1x1 head to two classes
    assert expected == 31_030_658
    net = UNet.original()
    assert n_params(net) == expected
    assert net.depth == 4 and net.encoders[-1][0].out_channels == 1024


def test_small_unet_parameter_count_with_batch_norm():
    # No conv bias before a norm; BatchNorm has γ and β per channel.
    net = UNet(1, 2, base_channels=4, depth=1, norm="batch")

    def block(c_in, c_out):
        return (conv_params(c_in, c_out, 3, bias=False) + conv_params(c_out, c_out, 3, bias=False)
                + 4 * c_out)  # BatchNorm γ, β after each of the two convolutions

    expected = (block(1, 4) + block(4, 8) + conv_params(8, 4, 2) + block(8, 4)
                + conv_params(4, 2, 1))
    assert n_params(net) == expected


def test_3d_uses_3d_layers():
    net = UNet(1, 2, dim=3, base_channels=2, depth=1)
    assert isinstance(net.encoders[0][0], nn.Conv3d)
    assert isinstance(net.ups[0], nn.ConvTranspose3d)


@pytest.mark.parametrize("size, bad", [((30, 32), r"\(30, 32\)"), ((32, 20), r"\(32, 20\)")])
def test_size_not_divisible_by_two_to_the_depth_is_a_clear_error(size, bad):
    net = UNet(1, 2, base_channels=2, depth=3)
    with pytest.raises(ValueError, match=r"divisible by 2\*\*3 = 8, got input size " + bad):
        net(torch.zeros(1, 1, *size))


def test_wrong_dims_or_channels_are_clear_errors():
    net = UNet(1, 2, base_channels=2, depth=1)
    with pytest.raises(ValueError, match=r"UNet\(dim=2\) expects 4D input \(N, C, H, W\), got 3D "
                       r".* add the batch dim with x.unsqueeze\(0\)"):
        net(torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match=r"x has 3 channels .* UNet\(dim=2\) was built for "
                                         "in_channels=1"):
        net(torch.zeros(1, 3, 8, 8))
    with pytest.raises(TypeError, match="x has dtype torch.int64"):
        net(torch.zeros(1, 1, 8, 8, dtype=torch.long))


@pytest.mark.parametrize("kwargs, name, error", [
    ({"dim": 1}, "dim", ValueError), ({"dim": 2.0}, "dim", TypeError),
    ({"dim": True}, "dim", TypeError), ({"depth": 0}, "depth", ValueError),
    ({"base_channels": 0}, "base_channels", ValueError), ({"norm": "batchnorm"}, "norm", ValueError),
    ({"up": "pixelshuffle"}, "up", ValueError), ({"in_channels": 1.5}, "in_channels", TypeError),
    ({"out_channels": "2"}, "out_channels", TypeError), ({"skips": "no"}, "skips", TypeError),
    ({"skips": 0}, "skips", TypeError),
])
def test_bad_constructor_arguments_name_the_argument(kwargs, name, error):
    with pytest.raises(error, match=f"^{name} must be"):
        UNet(**kwargs)


def test_layer_norm_means_what_it_means_in_conv_norm_act():
    """norm="layer" is GroupNorm(1, C) in both, so the two NORMS lists are one."""
    net = UNet(1, 2, base_channels=4, depth=1, norm="layer")
    norms = [m for m in net.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and all(m.num_groups == 1 for m in norms)
    assert net(torch.zeros(1, 1, 8, 8)).shape == (1, 2, 8, 8)
