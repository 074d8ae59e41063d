"""The gradient-profile explorer: its numbers against an independent backward pass, its
refusals, its redraw and its static twin."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mednotes.nets import PlainNet
from mednotes.widgets import gradients
from mednotes.widgets.gradients import (
    default_batch,
    gradient_profile,
    gradient_profile_animation,
    gradient_profile_explorer,
    gradient_profiles,
    spread,
)


@pytest.fixture(scope="module")
def batch():
    return default_batch(8)


@pytest.fixture(scope="module")
def small_profiles(batch):
    return gradient_profiles(*batch, depths=(8, 20))


def _by_backward(net, images, labels):
    """The per-layer norms from loss.backward() and the modules' .grad, named by hand."""
    net.zero_grad()
    F.cross_entropy(net(images), labels).backward()
    layers = [net.stem[0]] + [conv for block in net.blocks for conv in (block.conv1, block.conv2)]
    return torch.stack([m.weight.grad.double().norm() for m in layers + [net.fc]])


@pytest.mark.parametrize("depth", [8, 20])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("norm", ["batch", None])
def test_profile_matches_an_independent_backward_pass(batch, depth, residual, norm):
    images, labels = batch
    torch.manual_seed(3)
    net = PlainNet(depth, 3, 3, 4, residual=residual, norm=norm)
    got = gradient_profile(net, images, labels)
    want = _by_backward(net, images, labels)
    assert got.shape == (depth,)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=0.0)


def test_profile_leaves_the_network_as_it_was(batch):
    net = PlainNet(8, 3, 3, 4).eval()
    gradient_profile(net, *batch)
    assert not net.training
    assert all(p.grad is None for p in net.parameters())


def test_profiles_use_one_start_for_plain_and_residual(batch, small_profiles):
    images, labels = batch
    assert set(small_profiles) == {(d, r, n) for d in (8, 20) for r in (False, True)
                                   for n in ("batch", None)}
    for (depth, residual, norm), values in small_profiles.items():
        torch.manual_seed(0)
        net = PlainNet(depth, 3, 3, 4, residual=residual, norm=norm)
        np.testing.assert_allclose(values, _by_backward(net, images, labels).numpy(), rtol=1e-5)
    # the same seed gives both networks the same weights in every shared layer
    torch.manual_seed(0)
    plain = PlainNet(20, 3, 3, 4)
    torch.manual_seed(0)
    residual = PlainNet(20, 3, 3, 4, residual=True)
    torch.testing.assert_close(plain.blocks[4].conv1.weight, residual.blocks[4].conv1.weight)


def test_spread_counts_orders_of_magnitude():
    assert spread(np.array([1e-3, 1.0, 2e-2])) == pytest.approx(3.0)
    assert spread(np.ones(5)) == 0.0


def test_bad_input_is_refused_with_the_argument_named(batch, small_profiles):
    images, labels = batch
    net = PlainNet(8, 3, 3, 4)
    with pytest.raises(TypeError, match="images must be a floating-point"):
        gradient_profile(net, images.long(), labels)
    with pytest.raises(ValueError, match=r"images must be a batch \(N, C, H, W\)"):
        gradient_profile(net, images[0], labels)
    with pytest.raises(ValueError, match="at least 2 images"):
        gradient_profile(net, images[:1], labels[:1])
    with pytest.raises(TypeError, match="labels must be a torch.Tensor of class indices"):
        gradient_profile(net, images, labels.float())
    with pytest.raises(ValueError, match="labels must have shape"):
        gradient_profile(net, images, labels[:3])
    with pytest.raises(TypeError, match="net must be a PlainNet or a ResNet"):
        gradient_profile(torch.nn.Conv2d(3, 3, 3), images, labels)
    with pytest.raises(ValueError, match="6n \\+ 2"):
        gradient_profiles(images, labels, depths=(18,))
    with pytest.raises(TypeError, match="depths must be a sequence"):
        gradient_profiles(images, labels, depths=20)
    with pytest.raises(ValueError, match="norms must be one of"):
        gradient_profiles(images, labels, depths=(8,), norms=("group",))
    with pytest.raises(TypeError, match="base_channels must be an int"):
        gradient_profiles(images, labels, depths=(8,), base_channels=4.0)
    with pytest.raises(TypeError, match="profiles must be the dict"):
        gradient_profile_explorer([1, 2])
    with pytest.raises(ValueError, match="profiles must map"):
        gradient_profile_explorer({(8, False, "batch"): np.ones(3)})
    with pytest.raises(ValueError, match="depth must be one of 8, 20"):
        gradient_profile_explorer(small_profiles, depth=56)
    with pytest.raises(TypeError, match="residual must be True or False"):
        gradient_profile_explorer(small_profiles, depth=8, residual=1)
    with pytest.raises(ValueError, match="interval_ms must be a positive int"):
        gradient_profile_animation(small_profiles, interval_ms=0)
    with pytest.raises(ValueError, match="norm must be one of"):
        gradient_profile_animation(small_profiles, norm="layer")


def test_explorer_redraws_and_reports_the_shown_profile(small_profiles):
    box = gradient_profile_explorer(small_profiles, depth=20)
    depth, shortcuts, batch_norm, readout, picture = box.children
    first, text = bytes(picture.value), readout.value
    values = small_profiles[20, False, "batch"]
    assert text.startswith(f"first layer {values[0]:.2e}")
    shortcuts.value = True
    assert bytes(picture.value) != first and bytes(picture.value).startswith(b"\x89PNG")
    assert readout.value.startswith(f"first layer {small_profiles[20, True, 'batch'][0]:.2e}")
    batch_norm.value = False
    assert readout.value.startswith(f"first layer {small_profiles[20, True, None][0]:.2e}")
    depth.value = 8
    assert readout.value.startswith(f"first layer {small_profiles[8, True, None][0]:.2e}")


def test_figure_draws_the_profile_it_is_asked_for(small_profiles):
    fig, update = gradients._profile_figure(small_profiles)
    width = update(20, True, "batch")
    ax = fig.axes[0]
    shown = [line for line in ax.get_lines() if line.get_label() == "residual, 20 layers"]
    assert len(shown) == 1
    np.testing.assert_allclose(shown[0].get_ydata(), small_profiles[20, True, "batch"])
    assert width == pytest.approx(spread(small_profiles[20, True, "batch"]))
    assert f"{width:.1f} orders of magnitude" in ax.get_title()


def test_static_twin_has_a_frame_per_network_and_loads_nothing(small_profiles):
    from mednotes.widgets import animation_html

    anim = gradient_profile_animation(small_profiles)
    html = animation_html(anim)
    assert "http://" not in html and "https://" not in html
    assert html.count("frames[3]") == 1 and html.count("frames[4]") == 0
