"""The layers chapter's explorers: the numbers they show against independent computations,
the arguments they refuse, and static twins that load nothing from the network."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mednotes import widgets
from mednotes.widgets.activations import _activation_figure, _layer_responses, _summary
from mednotes.widgets.normalization import (
    _batch_indices,
    _measure,
    _normalization_figure,
    _readout,
    _statistics,
)


# ------------------------------------------------------------------------------ activations


def _numpy_activation(name, z, slope):
    if name == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(float)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z), np.where(z > 0, 1.0, slope)
    negative = np.minimum(z, 0)
    return np.where(z > 0, z, np.expm1(negative)), np.where(z > 0, 1.0, np.exp(negative))


@pytest.mark.parametrize("name, slope", [("relu", 0.1), ("leaky_relu", 0.1), ("leaky_relu", 0.0),
                                         ("elu", 0.1)])
@pytest.mark.parametrize("bias", [1.0, -1.5, -3.0])
def test_activation_summary_matches_numpy(name, slope, bias):
    z = bias + 1.3 * _layer_responses(32, 100, seed=3)
    out, grad = _numpy_activation(name, z, slope)
    info = _summary(z, name, slope)
    assert info["zero_outputs"] == pytest.approx(np.mean(out == 0))
    assert info["dead_units"] == pytest.approx(np.mean(np.all(out == 0, axis=0)))
    np.testing.assert_allclose(info["unit_gradient"], grad.mean(axis=0), rtol=1e-12)
    assert info["negative"] == pytest.approx(np.mean(z < 0))


def test_dead_units_are_exactly_the_units_negative_for_every_input():
    z = -2.0 + _layer_responses(64, 256, seed=0)
    info = _summary(z, "relu", 0.1)
    assert 0 < info["dead_units"] < 1  # the default layer has both kinds at this bias
    assert info["dead_units"] == pytest.approx(np.mean((z <= 0).all(axis=0)))
    # Leaky ReLU and ELU never silence a unit, and every unit keeps a gradient.
    for name in ("leaky_relu", "elu"):
        other = _summary(z, name, 0.1)
        assert other["dead_units"] == 0 and other["zero_outputs"] == 0
        assert other["unit_gradient"].min() > 0


def test_activation_figure_titles_show_the_computed_numbers():
    responses = _layer_responses(64, 256, seed=0)
    fig, update = _activation_figure(responses, dpi=40)
    update(-2.5, 1.0, "relu", 0.1)
    z = -2.5 + responses
    dead = int(np.all(z <= 0, axis=0).sum())
    zero = np.mean(z <= 0)
    assert fig.axes[2].get_title() == f"zero outputs {zero:.0%}, dead units {dead} of 64"
    assert fig.axes[0].get_title().endswith(f"{np.mean(z < 0):.0%} negative")
    assert fig.axes[1].get_title() == "ReLU and its derivative"


def test_activation_explorer_readout_follows_the_controls():
    box = widgets.activation_explorer(bias=-3.0)
    bias, scale, picker, slope, readout, picture = box.children
    z = -3.0 + _layer_responses(64, 256, seed=0)
    dead = int(np.all(z <= 0, axis=0).sum())
    assert readout.value == f"zero outputs {np.mean(z <= 0):.0%}, dead units {dead} of 64"
    before = bytes(picture.value)
    picker.value = "leaky_relu"
    assert readout.value == "zero outputs 0%, dead units 0 of 64"
    assert bytes(picture.value) != before and bytes(picture.value).startswith(b"\x89PNG")
    slope.value = 0.0  # a leaky ReLU with slope 0 is a ReLU
    assert readout.value == f"zero outputs {np.mean(z <= 0):.0%}, dead units {dead} of 64"
    scale.value = 2.0
    z2 = -3.0 + 2.0 * _layer_responses(64, 256, seed=0)
    assert readout.value.endswith(f"dead units {int(np.all(z2 <= 0, axis=0).sum())} of 64")


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="tanh"), "name must be one of relu, leaky_relu, elu"),
    (dict(negative_slope=-0.1), r"negative_slope must be in \[0, 1\]"),
    (dict(scale=0.0), "scale must be positive"),
    (dict(units=1), "units must be an int >= 2"),
    (dict(inputs=2.5), "inputs must be an int >= 2"),
])
def test_activation_explorer_and_twin_refuse_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        widgets.activation_explorer(**kwargs)
    with pytest.raises(ValueError, match=message):
        widgets.activation_animation(**kwargs)


def test_activation_twin_refuses_an_empty_sweep():
    with pytest.raises(ValueError, match="biases must be a non-empty 1D sequence"):
        widgets.activation_animation(biases=[])


# ---------------------------------------------------------------------------- normalization


def _pool(spatial=3, n=24, channels=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (n, channels) + (6,) * spatial
    # Images with their own offset and scale, so that batch statistics really vary.
    offset = torch.randn(n, channels, *(1,) * spatial, generator=g)
    scale = 0.3 + torch.rand(n, 1, *(1,) * spatial, generator=g)
    return offset + scale * torch.randn(shape, generator=g)


def _torch_gaps(features, warmup, measured, groups):
    """The train/eval gaps computed with torch's own modules, independently of mednotes."""
    spatial = features.dim() - 2
    bn = {2: torch.nn.BatchNorm2d, 3: torch.nn.BatchNorm3d}[spatial](features.shape[1])
    gn = torch.nn.GroupNorm(groups, features.shape[1])
    inorm = {2: torch.nn.InstanceNorm2d, 3: torch.nn.InstanceNorm3d}[spatial](features.shape[1])

    def gap(a, b):
        return float((a - b).abs().mean() / b.abs().mean())

    with torch.no_grad():
        for row in warmup:
            bn.train()(features[row])
        bn.eval()
        batches = [features[row] for row in measured]
        return {
            "BatchNorm": np.mean([gap(F.batch_norm(x, None, None, training=True), bn(x))
                                  for x in batches]),
            "GroupNorm": np.mean([gap(gn.train()(x), gn.eval()(x)) for x in batches]),
            "InstanceNorm": np.mean([gap(inorm.train()(x), inorm.eval()(x)) for x in batches]),
        }


@pytest.mark.parametrize("spatial", [2, 3])
@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_statistics_match_an_independent_computation(spatial, batch_size):
    features = _pool(spatial)
    indices = _batch_indices(len(features), batch_size, 20, seed=1)
    warmup, measured = indices[:8], indices[8:]
    info = _statistics(features, warmup, measured, groups=2)

    data = features.double().numpy()
    axes = (0,) + tuple(range(2, data.ndim))
    mu, var = data.mean(axis=axes), data.var(axis=axes)
    means = np.stack([data[row.numpy()].mean(axis=axes) for row in measured])
    variances = np.stack([data[row.numpy()].var(axis=axes) for row in measured])
    np.testing.assert_allclose(info["population_mean"], mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(info["means"], means, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(info["variances"], variances, rtol=1e-4)
    assert info["mean_spread"] == pytest.approx(
        np.sqrt(np.mean(((means - mu) / np.sqrt(var)) ** 2)), rel=1e-4)
    assert info["var_spread"] == pytest.approx(np.sqrt(np.mean((variances / var - 1) ** 2)),
                                               rel=1e-4)
    expected = _torch_gaps(features, warmup, measured, groups=2)
    for name, value in expected.items():
        assert info["gap"][name] == pytest.approx(value, rel=1e-4, abs=1e-7)
    assert info["gap"]["GroupNorm"] == 0 and info["gap"]["InstanceNorm"] == 0
    assert info["gap"]["BatchNorm"] > 0.01


def test_batch_indices_are_distinct_reproducible_and_per_size():
    a = _batch_indices(10, 4, 6, seed=0)
    assert a.shape == (6, 4) and all(len(set(row.tolist())) == 4 for row in a)
    assert torch.equal(a, _batch_indices(10, 4, 6, seed=0))
    assert not torch.equal(a, _batch_indices(10, 4, 6, seed=1))


def test_batch_norm_gap_shrinks_with_the_batch_size():
    features = _pool(3, n=48)
    gaps = [_measure(features, b, 2, 20, 20, 0)["gap"]["BatchNorm"] for b in (1, 4, 16)]
    assert gaps[0] > gaps[1] > gaps[2]


def test_batch_size_explorer_shows_the_measured_numbers():
    features = _pool(3)
    box = widgets.batch_size_explorer(features, (1, 4), groups=2, batches=10, warmup=10, seed=2)
    slider, readout, picture = box.children
    indices = _batch_indices(len(features), 1, 20, seed=2)
    gaps = _torch_gaps(features, indices[:10], indices[10:], groups=2)
    assert f"BatchNorm {gaps['BatchNorm']:.1%}" in readout.value
    assert "GroupNorm 0.0%, InstanceNorm 0.0%" in readout.value
    before = bytes(picture.value)
    slider.value = 4
    assert readout.value == _readout(4, _measure(features, 4, 2, 10, 10, 2))
    assert bytes(picture.value) != before and bytes(picture.value).startswith(b"\x89PNG")


def test_normalization_figure_titles_and_bars_show_the_numbers():
    features = _pool(2)
    info = _measure(features, 3, 2, 10, 10, 0)
    fig, update = _normalization_figure(dpi=40)
    update(3, info)
    assert fig.axes[0].get_title() == f"batch size 3: batch means ±{info['mean_spread']:.2f} σ"
    heights = [bar.get_height() for bar in fig.axes[2].patches]
    assert heights == pytest.approx([info["gap"][n] for n in ("BatchNorm", "GroupNorm",
                                                             "InstanceNorm")])


@pytest.mark.parametrize("features, kwargs, error, message", [
    (np.zeros((4, 2, 5, 5)), {}, TypeError, "features must be a torch.Tensor"),
    (torch.zeros(4, 2, 5), {}, ValueError, r"\(N, C, H, W\) or \(N, C, D, H, W\)"),
    (torch.zeros(4, 2, 5, 5, dtype=torch.long), {}, TypeError, "floating point"),
    (torch.zeros(1, 2, 5, 5), {"batch_sizes": (1,)}, ValueError, "at least 2 images"),
    (torch.zeros(4, 6, 5, 5), {"groups": 4}, ValueError, "groups=4 must divide the 6 channels"),
    (torch.zeros(4, 4, 1, 1), {}, ValueError, "at least 2 positions per channel"),
    (torch.zeros(4, 4, 5, 5), {"batch_sizes": (1, 8)}, ValueError, "from 1 to the pool size 4"),
    (torch.zeros(4, 4, 5, 5), {"batch_sizes": ()}, ValueError, "at least one batch size"),
])
def test_normalization_explorer_and_twin_refuse_bad_input(features, kwargs, error, message):
    kwargs = {"batch_sizes": (1, 2), **kwargs}
    with pytest.raises(error, match=message):
        widgets.batch_size_explorer(features, **kwargs)
    with pytest.raises(error, match=message):
        widgets.batch_size_animation(features, **kwargs)


# --------------------------------------------------------------------------- static twins


def test_layer_twins_load_nothing_from_the_network():
    twins = [(widgets.activation_animation(biases=[0.5, -1.0, -3.0]), 3),
             (widgets.batch_size_animation(_pool(3), (1, 2, 4, 8), groups=2, batches=5,
                                           warmup=5), 4)]
    for anim, frames in twins:
        html = widgets.animation_html(anim)
        assert "http://" not in html and "https://" not in html and "<img" in html
        assert f"frames[{frames - 1}]" in html and f"frames[{frames}]" not in html
