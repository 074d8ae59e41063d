"""The U-Net feature viewer: the maps it shows are the network's own activations, computed
here by an independent walk through the layers; its refusals; its static twin."""

import numpy as np
import pytest
import torch

from mednotes.nets import UNet
from mednotes.widgets import animation_html
from mednotes.widgets.unet_features import (
    _Viewer,
    level_names,
    mosaic,
    strongest,
    unet_feature_animation,
    unet_feature_explorer,
    unet_features,
)


def _net(**kwargs) -> UNet:
    torch.manual_seed(0)
    net = UNet(1, 2, base_channels=4, depth=2, **kwargs)
    # Running statistics that are not the initial 0 and 1, so that eval mode matters.
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, 1, *((44, 44) if kwargs.get("padding") == "valid" else (16, 16))))
    return net


@torch.no_grad()
def _by_hand(net: UNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every level's output, layer by layer with torch.nn.functional: no hooks, no forward()."""
    def block(seq, x):
        pad = seq[0].padding
        for conv, norm in ((seq[0], seq[1]), (seq[3], seq[4])):
            x = torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=pad)
            x = torch.nn.functional.batch_norm(x, norm.running_mean, norm.running_var,
                                               norm.weight, norm.bias, False, 0.0, norm.eps)
            x = torch.relu(x)
        return x

    out, skips = {}, []
    for i, enc in enumerate(net.encoders):
        x = block(enc, x if i == 0 else torch.nn.functional.max_pool2d(x, 2))
        skips.append(x)
        out["bottleneck" if i == net.depth else f"encoder {i}"] = x
    skips.pop()
    for k, (up, dec) in enumerate(zip(net.ups, net.decoders)):
        x = torch.nn.functional.conv_transpose2d(x, up.weight, up.bias, stride=2)
        skip = skips.pop()
        top = (skip.shape[-2] - x.shape[-2]) // 2
        left = (skip.shape[-1] - x.shape[-1]) // 2
        skip = skip[..., top:top + x.shape[-2], left:left + x.shape[-1]]
        x = block(dec, torch.cat([skip, x], 1))
        out[f"decoder {net.depth - 1 - k}"] = x
    return out


@pytest.mark.parametrize("padding, size", [("same", 16), ("valid", 44)])
def test_features_are_the_networks_activations(padding, size):
    net = _net(padding=padding)
    x = torch.rand(2, 1, size, size, generator=torch.Generator().manual_seed(1))
    got = unet_features(net, x)
    want = _by_hand(net, x)
    assert list(got) == level_names(net)
    for name in got:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6)
    assert net.training, "the training mode must be restored"
    single = unet_features(net, x[0])
    torch.testing.assert_close(single["decoder 0"], want["decoder 0"][0], rtol=1e-5, atol=1e-6)


def test_the_panels_show_the_chosen_maps():
    net = _net()
    image = torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(2))
    want = _by_hand(net, image[None])
    viewer = _Viewer(net, image, dpi=40)
    for level in level_names(net):
        for channel in (0, want[level].shape[1] - 1):
            viewer.show(level, channel)
            shown = np.asarray(viewer.map.get_array())
            np.testing.assert_allclose(shown, want[level][0, channel].numpy(), rtol=1e-5, atol=1e-6)
            # the colour scale spans the map, from 0 (or below a negative minimum) to a round
            # number at most 4/3 of its maximum
            low, high = viewer.map.get_clim()
            assert low <= min(float(shown.min()), 0.0) and high >= float(shown.max())
            assert high <= 4 / 3 * float(shown.max()) + 1e-6
            assert low == 0.0 or low >= 4 / 3 * float(shown.min())
            assert f"{level}, channel {channel}" in viewer.axes[1].get_title()
            tiles = np.asarray(viewer.all.get_array())
            h, w = shown.shape
            columns = int(np.ceil(np.sqrt(want[level].shape[1])))
            r, c = divmod(channel, columns)
            tile = tiles[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w]
            np.testing.assert_allclose(tile * np.abs(shown).max(), shown, rtol=1e-5, atol=1e-6)


def test_cross_marks_the_strongest_response_in_input_pixels():
    m = torch.zeros(4, 4)
    m[3, 0] = 5.0
    assert strongest(m, 4, (16, 16)) == (13.5, 1.5)        # pixels 12..15 and 0..3: centres
    assert strongest(torch.ones(1, 1), 1, (5, 5)) == (2.0, 2.0)
    tiles, columns = mosaic(torch.zeros(3, 2, 2))
    assert columns == 2 and np.isnan(tiles[2, :]).all() and (tiles[:2, :2] == 0).all()


def test_explorer_redraws_quickly_from_the_cache_and_follows_the_channel_count():
    net = _net()
    calls = []
    net.register_forward_hook(lambda *_: calls.append(1))
    box = unet_feature_explorer(net, torch.rand(16, 16))
    menu, slider, readout, picture = box.children
    assert len(calls) == 1
    before, text = bytes(picture.value), readout.value
    menu.value = "bottleneck"
    assert slider.max == 15 and "bottleneck" in readout.value
    slider.value = 9
    assert readout.value != text and "channel 9" in readout.value
    assert bytes(picture.value) != before and bytes(picture.value).startswith(b"\x89PNG")
    menu.value = "encoder 0"
    assert slider.max == 3 and slider.value == 3
    assert len(calls) == 1, "moving the controls must not run the network again"


def test_explorer_refuses_bad_input():
    net = _net()
    with pytest.raises(TypeError, match="model must be a mednotes.nets.UNet"):
        unet_feature_explorer(torch.nn.Conv2d(1, 1, 3), torch.rand(16, 16))
    with pytest.raises(ValueError, match="image has 3 channels, but the model was built for in_channels=1"):
        unet_feature_explorer(net, torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match=r"image must be \(H, W\) or \(C, H, W\)"):
        unet_feature_explorer(net, torch.rand(1, 1, 16, 16))
    with pytest.raises(TypeError, match="image has dtype torch.int64"):
        unet_feature_explorer(net, torch.zeros(16, 16, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible by"):
        unet_feature_explorer(net, torch.rand(18, 16))
    with pytest.raises(ValueError, match="level must be one of"):
        unet_feature_explorer(net, torch.rand(16, 16), level="middle")
    with pytest.raises(ValueError, match="level must be an int between 0 and 4"):
        unet_feature_explorer(net, torch.rand(16, 16), level=5)
    with pytest.raises(TypeError, match="level must be a level name or an int"):
        unet_feature_explorer(net, torch.rand(16, 16), level=1.0)
    with pytest.raises(ValueError, match="channel must be an int between 0 and 3"):
        unet_feature_explorer(net, torch.rand(16, 16), channel=4)
    with pytest.raises(ValueError, match="shows 2D networks"):
        unet_feature_explorer(UNet(1, 2, dim=3, base_channels=2, depth=1),
                                      torch.rand(8, 8))
    with pytest.raises(ValueError, match="frames must be a list of 1 to 24"):
        unet_feature_animation(net, torch.rand(16, 16), frames=[])
    with pytest.raises(ValueError, match=r"each frame must be a \(level, channel\) pair"):
        unet_feature_animation(net, torch.rand(16, 16), frames=[("bottleneck",)])
    with pytest.raises(ValueError, match="channel must be an int between 0 and 15"):
        unet_feature_animation(net, torch.rand(16, 16), frames=[("bottleneck", 16)])


def test_static_twin_has_one_frame_per_level_and_loads_nothing_from_the_network():
    net = _net()
    anim = unet_feature_animation(net, torch.rand(16, 16))
    html = animation_html(anim)
    levels = len(level_names(net))
    assert html.count(f"frames[{levels - 1}]") == 1 and html.count(f"frames[{levels}]") == 0
    assert "http://" not in html and "https://" not in html and "<img" in html
