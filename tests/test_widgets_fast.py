"""Fast redraws: FigureFrames gives the picture a full draw gives, for every explorer.

Each explorer is built twice with the same inputs. Its controls are moved the same way in
both: the first draws the fast way (cached layers, changed artists only, a frame cache), the
second inside ``full_redraws()``, the way explorers drew before (a full matplotlib draw and
PNG encoding every time). After every move the two pictures must agree pixel for pixel, up to
the rounding of blending a cached overlay (a few levels out of 255, on a few pixels), and the
picture must differ from the one before the move.
"""

import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from mednotes import widgets
from mednotes.widgets._figure import FigureFrames, figure_png, full_redraws, rgba_png

# ---------------------------------------------------------------------------- helpers


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def assert_same_picture(fast: bytes, full: bytes, where: str) -> None:
    a, b = pixels(fast), pixels(full)
    assert a.shape == b.shape, f"{where}: {a.shape} != {b.shape}"
    diff = np.abs(a - b)
    # Blending a cached overlay rounds differently from drawing it: a level or two, nowhere
    # more than a few, on few pixels; a wrong or missing artist is far more than that.
    assert diff.mean() < 0.05, f"{where}: mean difference {diff.mean():.3f} levels"
    assert (diff > 8).mean() < 1e-4, f"{where}: {(diff > 8).sum()} pixels differ by > 8"


def replay(make, moves, picture_of=lambda box: box.children[-1]) -> int:
    """Build the explorer twice, move both, compare after each move; returns the moves."""
    fast_box = make()
    with full_redraws():
        full_box = make()
    assert_same_picture(picture_of(fast_box).value, picture_of(full_box).value, "start")
    previous = picture_of(fast_box).value
    for k, (control, value) in enumerate(moves):
        control(fast_box).value = value
        with full_redraws():
            control(full_box).value = value
        now = picture_of(fast_box).value
        where = f"move {k} to {value!r}"
        assert_same_picture(now, picture_of(full_box).value, where)
        assert now != previous, f"{where}: the picture did not change"
        previous = now
    return len(moves)


def child(*path):
    def get(box):
        for i in path:
            box = box.children[i]
        return box
    return get


# -------------------------------------------------------------------- the mechanism


def test_frames_redraw_only_what_changed_and_match_a_full_draw():
    fig = Figure(figsize=(4, 3), dpi=50)
    ax = fig.add_subplot()
    (line,) = ax.plot([0, 1, 2], [0, 1, 0], label="line")
    ax.legend(loc="upper right")     # an unchanged artist above the line: an overlay
    frames = FigureFrames(fig)
    first = frames.png()
    line.set_ydata([1, 0, 1])        # same limits: only the line is drawn again
    ax.set_title("moved")
    second = frames.png()
    assert second != first
    assert_same_picture(second, figure_png(fig), "line moved")
    ax.set_ylim(-1, 3)               # new limits: the axis and the line move
    third = frames.png()
    assert_same_picture(third, figure_png(fig), "limits moved")
    assert third != second


def test_frames_cache_returns_a_state_without_drawing_it_again():
    fig = Figure(figsize=(2, 2), dpi=40)
    (line,) = fig.add_subplot().plot([0, 1], [0, 1])
    frames, calls = FigureFrames(fig, cache_size=2), []

    def show(y):
        def update():
            calls.append(y)
            line.set_ydata([0, y])
            return y
        return update

    a, _ = frames.frame(1, show(1))
    b, _ = frames.frame(0, show(0))
    assert frames.frame(1, show(1)) == (a, 1) and calls == [1, 0]   # from the cache
    frames.frame(2, show(2))                                        # 0 leaves the cache
    assert frames.frame(0, show(0))[0] == b and calls == [1, 0, 2, 0]
    with full_redraws():                                            # never from the cache
        frames.frame(2, show(2))
    assert calls[-1] == 2 and len(calls) == 5


def test_frames_follow_artists_added_and_removed():
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(3, 3), dpi=40)
    ax = fig.add_subplot()
    ax.imshow(np.arange(16.0).reshape(4, 4))
    frames = FigureFrames(fig)
    frames.png()
    box = ax.add_patch(Rectangle((0, 0), 2, 2, fill=False, ec="r", lw=3))
    with_box = frames.png()
    assert_same_picture(with_box, figure_png(fig), "box added")
    box.remove()
    without = frames.png()
    assert_same_picture(without, figure_png(fig), "box removed")
    assert with_box != without


def test_a_figure_with_a_layout_engine_is_drawn_in_full():
    fig = Figure(figsize=(2, 2), dpi=30, layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1])
    frames = FigureFrames(fig)
    ax.set_title("a much longer title that moves the layout")
    assert_same_picture(frames.png(), figure_png(fig), "constrained")


def test_png_is_lossless_rgb_when_opaque():
    rgba = np.random.default_rng(0).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    back = pixels(rgba_png(rgba))
    assert np.array_equal(back, rgba[..., :3])
    rgba[0, 0, 3] = 10
    assert Image.open(io.BytesIO(rgba_png(rgba))).mode == "RGBA"


def test_text_from_kept_glyphs_is_the_text_agg_draws():
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    from mednotes.widgets._text_render import _text_cache_agrees, _TextCachingRenderer

    assert _text_cache_agrees()
    plain, cached = RendererAgg(200, 120, 80), _TextCachingRenderer(200, 120, 80)
    for k, text in enumerate(["0.52", "-0.31", "0.52", "bias −2.00: 98% negative", "0.52"]):
        for renderer in (plain, cached):  # the same strings again, at other fractions of a pixel
            renderer.draw_text(renderer.new_gc(), 5.37 + 3.1 * k, 20.0 + 17.3 * k, text,
                               FontProperties(size=9 + k), 90 * (k == 3))
    assert np.array_equal(np.asarray(plain.buffer_rgba()), np.asarray(cached.buffer_rgba()))


def test_nice_limits_are_round_and_never_below_the_value():
    from mednotes.widgets._figure import nice_limit

    values = np.geomspace(1e-4, 1e4, 301)
    limits = np.array([nice_limit(v) for v in values])
    assert (limits >= values).all() and (limits <= 4 / 3 * values * (1 + 1e-12)).all()
    assert len(set(limits)) < 100       # a ladder: neighbouring values share a limit
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="value must be positive and finite"):
            nice_limit(bad)


def test_batch_size_explorer_and_twin_share_the_pool_sums():
    from mednotes.widgets.normalization import _image_sums, _pool_sums

    pool = torch.randn(6, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    first = _pool_sums(pool)
    assert _pool_sums(pool.detach()) is first            # the twin finds the explorer's
    for mine, reference in zip(first[:2], (pool.double().sum((2, 3)),
                                           (pool.double() ** 2).sum((2, 3)))):
        torch.testing.assert_close(mine, reference)
    pool.mul_(2.0)                                        # changed in place: computed again
    again = _pool_sums(pool)
    assert again is not first
    torch.testing.assert_close(again[0], 2 * first[0])
    assert _image_sums(pool)[2] == 16


def test_frames_refuse_bad_arguments():
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        FigureFrames("figure")
    with pytest.raises(ValueError, match="cache_size must be an int >= 0"):
        FigureFrames(Figure(), cache_size=-1)
    with pytest.raises(ValueError, match="cache_size must be an int >= 0"):
        FigureFrames(Figure(), cache_size=True)


# ----------------------------------------------------------------------- every explorer


def _ct():
    from mednotes.data import ct_slice
    return ct_slice()[0]


def test_window_explorer():
    hu = _ct()
    assert replay(lambda: widgets.window_explorer(hu),
                  [(child(0), 400), (child(1), 1500), (child(0), -600), (child(0), 400)]) == 4


def test_correlation_explorer():
    crop = torch.rand(8, 8, generator=torch.Generator().manual_seed(0))
    assert replay(lambda: widgets.correlation_explorer(crop),
                  [(child(0, 1), 3), (child(0, 1), 17), (child(1), "sharpen"),
                   (child(0, 1), 20), (child(1), "edge (vertical)"), (child(0, 1), 3)],
                  picture_of=child(2)) == 6


def test_correlation_explorer_with_a_kernel_of_another_shape():
    crop = torch.rand(8, 8, generator=torch.Generator().manual_seed(1))
    kernel = torch.tensor([[1.0, -1.0, 0.5, 0.0, 2.0]])
    assert replay(lambda: widgets.correlation_explorer(crop, kernel),
                  [(child(0, 1), 5), (child(1), "blur (box)"), (child(0, 1), 7),
                   (child(1), "custom")], picture_of=child(2)) == 4


def test_downsampling_explorer():
    image = torch.rand(48, 48, generator=torch.Generator().manual_seed(0))
    assert replay(lambda: widgets.downsampling_explorer(image),
                  [(child(1), 1), (child(0), 3), (child(1), 5), (child(0), 2)]) == 4


def test_activation_explorer():
    assert replay(lambda: widgets.activation_explorer(units=16, inputs=32),
                  [(child(0), -2.0), (child(0), -4.0), (child(1), 2.0), (child(2), "leaky_relu"),
                   (child(3), 0.3), (child(2), "elu"), (child(0), -2.0)]) == 7


def test_batch_size_explorer():
    features = torch.randn(24, 4, 5, 5, generator=torch.Generator().manual_seed(0))
    features = features * torch.rand(24, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    assert replay(lambda: widgets.batch_size_explorer(features, (1, 2, 8), batches=6,
                                                      warmup=4),
                  [(child(0), 8), (child(0), 2), (child(0), 1)]) == 3


def test_overlap_explorer():
    assert replay(lambda: widgets.overlap_explorer(),
                  [(child(0), 4), (child(0), 9), (child(1), -3), (child(2), 2),
                   (child(3), 2.0), (child(0), 0)]) == 6


def _runs():
    from mednotes.train import History
    from mednotes.widgets.schedules import lr_curve

    runs = {}
    for schedule in ("constant", "cosine"):
        for lr, seeds in ((0.01, 2), (0.1, 1)):
            curve = lr_curve(schedule, lr, 3 * 2)
            runs[schedule, lr] = [History([
                {"epoch": e + 1, "train_loss": 1.0 / (e + 1 + s + 10 * lr),
                 "dice": 0.2 * e + 0.05 * s + lr, "lr": float(curve[2 * e + 1])}
                for e in range(3)]) for s in range(seeds)]
    return runs


def test_schedule_explorer():
    runs = _runs()
    assert replay(lambda: widgets.schedule_explorer(runs, 2),
                  [(child(1), 0.1), (child(0), "cosine"), (child(1), 0.01),
                   (child(0), "constant")]) == 4


def test_unet_feature_explorer():
    from mednotes.nets import UNet

    torch.manual_seed(0)
    net = UNet(1, 2, base_channels=4, depth=2)
    image = torch.rand(16, 16, generator=torch.Generator().manual_seed(0))
    assert replay(lambda: widgets.unet_feature_explorer(net, image),
                  [(child(1), 2), (child(0), "bottleneck"), (child(1), 9),
                   (child(0), "decoder 0"), (child(1), 1)]) == 5


def test_gradient_profile_explorer():
    from mednotes.widgets.gradients import default_batch, gradient_profiles

    profiles = gradient_profiles(*default_batch(8), depths=(8, 20))
    assert replay(lambda: widgets.gradient_profile_explorer(profiles, depth=20),
                  [(child(1), True), (child(2), False), (child(0), 8), (child(1), False)]) == 4


def test_vessel_threshold_explorer():
    rng = np.random.default_rng(0)
    target = torch.zeros(32, 32, dtype=torch.bool)
    target[16, 4:28] = True
    target[4:28, 10] = True
    noisy = torch.from_numpy(target.numpy() * 0.7 + 0.3 * rng.random((32, 32)))
    ridge = torch.from_numpy(rng.random((32, 32)) + target.numpy())
    maps = {"net": noisy, "filter": ridge}

    def option(box, k):
        return box.children[1].options[k][1]

    image = torch.from_numpy(rng.random((32, 32)))
    
    def make():
        return widgets.vessel_threshold_explorer(image, target, maps, {"net": 0.5})

    fast, moves = make(), [10, 30, 5]
    with full_redraws():
        full = make()
    for k in moves:
        fast.children[1].value = option(fast, k)
        with full_redraws():
            full.children[1].value = option(full, k)
        assert_same_picture(fast.children[-1].value, full.children[-1].value, f"option {k}")
    before = fast.children[-1].value
    fast.children[0].value = "filter"
    with full_redraws():
        full.children[0].value = "filter"
    assert fast.children[-1].value != before
    assert_same_picture(fast.children[-1].value, full.children[-1].value, "method filter")
    for k in (3, 20):
        fast.children[1].value = option(fast, k)
        with full_redraws():
            full.children[1].value = option(full, k)
        assert_same_picture(fast.children[-1].value, full.children[-1].value, f"filter {k}")


def test_sliding_window_explorer():
    from mednotes.widgets.sliding_window import sliding_window_frames

    frames = sliding_window_frames(torch.rand(40, 40, generator=torch.Generator().manual_seed(0)),
                                   roi_size=16, overlaps=(0.0, 0.5, 0.75))
    assert replay(lambda: widgets.sliding_window_explorer(frames),
                  [(child(0), 0.5), (child(1), "gaussian"), (child(0), 0.75),
                   (child(1), "constant"), (child(0), 0.0)]) == 5


def test_grad_cam_explorer():
    from mednotes.widgets.gradcam import grad_cam_layers

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8, 2)).eval()
    x = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    maps = grad_cam_layers(net, x, 1, {"block 1": net[1], "block 2": net[4]})
    assert replay(lambda: widgets.grad_cam_explorer(x, maps),
                  [(child(1), 2), (child(0), "block 2"), (child(1), 0)]) == 3


def test_stain_explorer():
    from mednotes.data import histology_patches
    from mednotes.data.stain import rgb_to_hed

    patch = histology_patches(1, size=32)[0][0]

    def darkness(images):
        h = rgb_to_hed(images)[:, 0].mean((1, 2))
        return torch.stack([-20 * h, torch.zeros_like(h), 20 * h], 1).softmax(1)

    assert replay(lambda: widgets.stain_explorer(patch, {"dark": darkness},
                                                 ("normal", "hyperplastic", "atypical")),
                  [(child(0), 2.0), (child(1), 0.5), (child(0), 0.5), (child(0), 1.0)]) == 4
