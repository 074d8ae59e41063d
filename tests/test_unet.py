"""mednotes.nets.UNet: shapes in 2D and 3D, both paddings, skips on and off, the 2015 network,
size arithmetic, a functional reference forward and backward, errors, parameter count."""

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES
from torch import nn

from mednotes.nets import DoubleConv, UNet


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


# ------------------------------------------------------------- the 2015 network, valid padding

def test_original_is_the_2015_network():
    net = UNet.original()
    assert net.padding == "valid" and net.depth == 4 and net.skips
    convs = [m for m in net.modules() if type(m) is nn.Conv2d]
    assert [c.out_channels for c in convs if c.kernel_size == (3, 3)][::2] == [
        64, 128, 256, 512, 1024, 512, 256, 128, 64]
    assert all(c.padding == (0, 0) for c in convs)  # unpadded 3x3 convolutions and the 1x1 head
    assert all(c.bias is not None for c in convs)  # no norm: every convolution has a bias
    assert not [m for m in net.modules()
                if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d))]
    ups = [m for m in net.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.in_channels, u.out_channels, u.kernel_size, u.stride) for u in ups] == [
        (2 * w, w, (2, 2), (2, 2)) for w in (512, 256, 128, 64)]
    assert net.head.kernel_size == (1, 1) and net.head.out_channels == 2
    assert n_params(net) == 31_030_658
    assert net.output_size(572) == (388, 388)


def test_original_maps_572_to_388():
    """A real forward at 572² takes ~25 s on two shared cores: the full size runs on the meta
    device (shapes only, through the same forward), and a real forward at the smallest size
    that fits, 188² -> 4², checks the same code on numbers."""
    with torch.device("meta"):
        net = UNet.original()
        y = net(torch.zeros(1, 1, 572, 572))
    assert y.shape == (1, 2, 388, 388)
    net = UNet.original()
    with torch.no_grad():
        y = net(torch.randn(1, 1, 188, 188))
    assert y.shape == (1, 2, 4, 4) and torch.isfinite(y).all()


@pytest.mark.parametrize("dim, depth, size", [(2, 2, (44, 52)), (3, 1, (18, 20, 22))])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("skips", [True, False])
@pytest.mark.parametrize("up", ["transpose", "interpolate"])
def test_shapes_for_both_paddings_match_output_size(dim, depth, size, padding, skips, up):
    if padding == "same":
        size = tuple(s - s % 2**depth for s in size)
    net = UNet(1, 3, dim=dim, base_channels=2, depth=depth, skips=skips, up=up,
               padding=padding, norm="group")
    y = net(torch.randn(1, 1, *size))
    # each valid size loses 12 * 2**depth - 8: 40 at depth 2 and 16 at depth 1
    expected = size if padding == "same" else tuple(s - 12 * 2**depth + 8 for s in size)
    assert y.shape == (1, 3, *expected)
    assert net.output_size(size) == expected


def test_padding_changes_no_parameter_names_or_shapes():
    same = UNet(1, 2, base_channels=4, depth=2)
    valid = UNet(1, 2, base_channels=4, depth=2, padding="valid")
    assert {k: v.shape for k, v in same.state_dict().items()} == {
        k: v.shape for k, v in valid.state_dict().items()}
    valid.load_state_dict(same.state_dict(), strict=True)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("depth", [1, 2])
def test_output_size_agrees_with_a_real_forward_for_every_size(padding, depth):
    net = UNet(1, 1, base_channels=1, depth=depth, norm=None, padding=padding)
    width = net.valid_input_sizes(1, count=1)[0]  # the smallest size that fits
    fitted = 0
    for size in range(1, width + 12 * 2**depth):  # a dozen sizes that fit, and all between
        x = torch.zeros(1, 1, size, width)
        try:
            expected = net.output_size(x.shape[2:])
        except ValueError:
            with pytest.raises(ValueError, match="Nearest valid sizes"):
                net(x)
            continue
        with torch.no_grad():
            assert tuple(net(x).shape[2:]) == expected, size
        fitted += 1
    assert fitted >= 8


# ---------------------------------------------- an independent reference forward, explicit crops

def _reference_forward(net, x):
    """The U-Net written out with torch.nn.functional and the module's own weights.

    Shares nothing with UNet.forward but the parameters: the padding, the crop offsets and the
    order of the concatenation are written out here by hand.
    """
    dim = x.dim() - 2
    conv = (F.conv2d, F.conv3d)[dim - 2]
    pad = 1 if net.padding == "same" else 0

    def double(block, x):
        for i in (0, 3):  # Conv, norm, ReLU, Conv, norm, ReLU
            x = conv(x, block[i].weight, block[i].bias, padding=pad)
            norm = block[i + 1]
            if isinstance(norm, (nn.BatchNorm2d, nn.BatchNorm3d)):
                x = F.batch_norm(x, None, None, norm.weight, norm.bias, training=True,
                                 eps=norm.eps)
            x = F.relu(x)
        return x

    def crop(skip, like):
        index = [slice(None), slice(None)]
        for have, want in zip(skip.shape[2:], like.shape[2:]):
            start = (have - want) // 2
            index.append(slice(start, start + want))
        return skip[tuple(index)]

    skips = []
    for i, block in enumerate(net.encoders):
        if i:
            x = (F.max_pool2d, F.max_pool3d)[dim - 2](x, 2)
        x = double(block, x)
        skips.append(x)
    skips.pop()
    for up, block in zip(net.ups, net.decoders):
        if isinstance(up, (nn.ConvTranspose2d, nn.ConvTranspose3d)):
            x = (F.conv_transpose2d, F.conv_transpose3d)[dim - 2](x, up.weight, up.bias,
                                                                   stride=2)
        else:
            x = F.interpolate(x, scale_factor=2, mode=("bilinear", "trilinear")[dim - 2])
            x = conv(x, up[1].weight, up[1].bias)
        skip = skips.pop()
        if net.skips:
            x = torch.cat([crop(skip, x), x], dim=1)
        x = double(block, x)
    return conv(x, net.head.weight, net.head.bias)


@pytest.mark.parametrize("dim, depth, size", [(2, 2, (60, 68)), (3, 1, (18, 20, 22))])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("up", ["transpose", "interpolate"])
@pytest.mark.parametrize("norm, skips", [(None, True), ("batch", True), (None, False)])
def test_forward_and_backward_match_a_functional_reference(dim, depth, size, padding, up, norm,
                                                           skips):
    torch.manual_seed(0)
    net = UNet(2, 3, dim=dim, base_channels=2, depth=depth, skips=skips, norm=norm, up=up,
               padding=padding).double()
    if padding == "same":
        size = tuple(s - s % 2**depth for s in size)
    x = torch.randn(2, 2, *size, dtype=torch.float64, requires_grad=True)
    y = net(x)
    expected = _reference_forward(net, x)
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-10)
    weights = torch.randn(y.shape, dtype=torch.float64)
    ours = torch.autograd.grad((y * weights).sum(), [x, *net.parameters()])
    theirs = torch.autograd.grad((expected * weights).sum(), [x, *net.parameters()])
    for name, a, b in zip(["x"] + [n for n, _ in net.named_parameters()], ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10, msg=name)


def test_valid_crop_takes_the_centre_of_the_encoder_features():
    """The decoder's first concatenation holds the centre of the encoder's level-1 output."""
    net = UNet(1, 2, base_channels=2, depth=2, norm=None, padding="valid")
    seen = {}
    net.encoders[1].register_forward_hook(lambda m, a, out: seen.update(enc=out))
    net.decoders[0].register_forward_hook(lambda m, a, out: seen.update(cat=a[0]))
    net(torch.randn(1, 1, 60, 68))
    # level 1 of the encoder: 60x68 -> 56x64 -> 28x32 -> 24x28; the bottleneck 12x14 -> 8x10,
    # doubled to 16x20: the crop drops 4 rows and 4 columns on each side
    enc, cat = seen["enc"], seen["cat"]
    h, w = cat.shape[2:]
    top, left = (enc.shape[2] - h) // 2, (enc.shape[3] - w) // 2
    assert (top, left) == (4, 4) and (h, w) == (16, 20)
    torch.testing.assert_close(cat[:, :enc.shape[1]], enc[:, :, top:top + h, left:left + w])


# ------------------------------------------------------------------------------ valid sizes

def _fits_by_brute_force(size, depth, padding):
    """Follow one axis through the layers with torch's size formulas, checking every step."""
    def conv(s):  # 3x3, stride 1: floor((s + 2p - 3) / 1) + 1
        return s + 2 * (1 if padding == "same" else 0) - 2

    encoder = []
    for level in range(depth + 1):
        if level:
            if size % 2:  # the pool would drop a row, and the decoder could not mirror it
                return False
            size //= 2
        size = conv(conv(size))
        if size < 1:
            return False
        encoder.append(size)
    for level in reversed(range(depth)):
        size = 2 * size  # transposed 2x2 convolution with stride 2
        if padding == "same" and size != encoder[level]:
            return False
        if size > encoder[level]:
            return False
        size = conv(conv(size))
        if size < 1:
            return False
    return True


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_valid_input_sizes_match_brute_force(padding, depth):
    net = UNet(depth=depth, padding=padding)
    fitting = [s for s in range(1, 700) if _fits_by_brute_force(s, depth, padding)]
    assert len(fitting) >= 10
    for near in range(1, 500, 7):
        for count in (1, 2, 3):
            below = [s for s in fitting if s <= near][-count:]
            above = [s for s in fitting if s > near][:count]
            assert net.valid_input_sizes(near, count=count) == below + above, (near, count)
    for size in range(1, 400):
        fits = size in fitting
        assert (net._output_length(size) is not None) == fits, size


def test_paper_sizes_near_572():
    net = UNet.original()
    assert net.valid_input_sizes(572, count=2) == [556, 572, 588, 604]
    assert net.valid_input_sizes(1)[:2] == [188, 204]


# -------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("size, message", [
    ((570, 572), (r"even .* 188 \+ 16k, got input size \(570, 572\)\. "
                  r"Nearest valid sizes: H=570 -> 556 or 572$")),
    ((572, 100), (r"got input size \(572, 100\)\. Nearest valid sizes: "
                  r"W=100 -> 188 \(the smallest that fits\)$")),
])
def test_a_size_that_does_not_fit_valid_padding_suggests_the_nearest(size, message):
    with torch.device("meta"):
        net = UNet.original()
        with pytest.raises(ValueError, match=message):
            net(torch.zeros(1, 1, *size))
    with pytest.raises(ValueError, match=message.replace("input size", "input_size")):
        net.output_size(size)


def test_a_size_that_does_not_fit_same_padding_suggests_the_nearest():
    net = UNet(1, 2, base_channels=2, depth=3)
    with pytest.raises(ValueError, match=r"Nearest valid sizes: H=30 -> 24 or 32, "
                                         r"W=4 -> 8 \(the smallest that fits\)$"):
        net(torch.zeros(1, 1, 30, 4))


@pytest.mark.parametrize("value, error, message", [
    ((572,), ValueError, "input_size must have 2 entries"),
    ((572, 572, 572), ValueError, "input_size must have 2 entries"),
    (572.0, TypeError, "input_size must be an int or a tuple"),
    ((572, 0), ValueError, "input_size must be positive"),
    ("572", TypeError, "input_size must be an int or a tuple"),
])
def test_output_size_refuses_bad_input_size(value, error, message):
    with pytest.raises(error, match=message):
        UNet.original().output_size(value)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"near": 0}, ValueError, "near must be a positive int"),
    ({"near": 10.0}, TypeError, "near must be an int"),
    ({"near": 10, "count": 0}, ValueError, "count must be a positive int"),
    ({"near": 10, "count": True}, TypeError, "count must be an int"),
])
def test_valid_input_sizes_refuses_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        UNet().valid_input_sizes(**kwargs)


@pytest.mark.parametrize("padding, error", [("full", ValueError), (1, ValueError),
                                            (None, ValueError)])
def test_bad_padding_names_the_argument(padding, error):
    with pytest.raises(error, match="^padding must be one of 'same', 'valid'"):
        UNet(padding=padding)
    with pytest.raises(error, match="^padding must be one of 'same', 'valid'"):
        DoubleConv(1, 2, padding=padding)


def test_valid_double_conv_refuses_inputs_it_would_shrink_to_nothing():
    block = DoubleConv(1, 2, padding="valid", norm=None)
    assert block(torch.zeros(1, 1, 5, 7)).shape == (1, 2, 1, 3)
    with pytest.raises(ValueError, match=r"needs sizes of at least 5, got input size \(4, 7\)"):
        block(torch.zeros(1, 1, 4, 7))
