"""mednotes.losses against independent references: torch's own cross-entropies, MONAI's
DiceLoss, GeneralizedDiceLoss and DiceCELoss over a grid of options (2D and 3D, index and
one-hot targets), forward and backward; closed-form values for the empty-mask cases; float64
gradcheck; torch.autocast; CPU and, when present, CUDA."""

from __future__ import annotations

import functools
import itertools
import warnings

import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES

from mednotes.losses import (
    CrossEntropyLoss,
    DiceCELoss,
    DiceLoss,
    GeneralizedDiceLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    dice_ce_loss,
    dice_loss,
    generalized_dice_loss,
)

monai_losses = pytest.importorskip("monai.losses")

SPATIAL = {"2d": (5, 6), "3d": (3, 4, 5)}
WEIGHT = [0.2, 1.0, 3.0]


pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def make_case(spatial, *, channels=3, device="cpu", seed=0, dtype=torch.float64):
    """Logits, class indices and the one-hot target; class 2 is absent from image 1, so the
    empty-class branches are part of every comparison."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, channels, *spatial, generator=g, dtype=dtype)
    index = torch.randint(0, channels, (2, *spatial), generator=g)
    if channels > 2:
        index[1][index[1] == 2] = 0
    onehot = F.one_hot(index, channels).movedim(-1, 1).to(dtype)
    return logits.to(device), index.to(device), onehot.to(device)


def forward_backward(fn, x, cotangent=None):
    """``fn(x)`` and the gradient of ``Σ fn(x) * cotangent`` (a different factor per entry, so
    that a value in the wrong place changes the gradient)."""
    x = x.detach().clone().requires_grad_()
    y = fn(x)
    if cotangent is None:
        cotangent = torch.arange(1, y.numel() + 1, dtype=y.dtype, device=y.device)
    (y * cotangent.reshape(y.shape)).sum().backward()
    return y.detach(), x.grad


def assert_close(ours, theirs, tol, what):
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs {theirs.shape}"
    diff = (ours - theirs).abs().max().item()
    assert diff <= tol, f"{what}: max |diff| {diff:.3g} > {tol:.1g}"


def compare(ours, theirs, x, tol, what):
    """Values and gradients of two losses of ``x``; MONAI's ``reduction="none"`` keeps
    singleton dims, so the values are compared in our shape (same order, same cotangent)."""
    ours, theirs = forward_backward(ours, x), forward_backward(theirs, x)
    assert_close(ours[0], theirs[0].reshape(ours[0].shape), tol, f"value {what}")
    assert_close(ours[1], theirs[1], tol, f"gradient {what}")


def call_monai(x, loss, target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its notes on single channels
        return loss(x, target)


# ------------------------------------------------------------------------ cross-entropy


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_cross_entropy_with_indices_equals_torch(device, ignore_index):
    """weight × ignore_index × label_smoothing × reduction, forward and backward."""
    logits, index, _ = make_case((5, 6), device=device)
    if ignore_index == -100:
        index[0, 0] = -100  # some pixels are ignored
    for weight, smoothing, reduction in itertools.product(
            [None, torch.tensor(WEIGHT, dtype=torch.float64, device=device)], [0.0, 0.2],
            ["mean", "sum", "none"]):
        kw = {"target": index, "weight": weight, "ignore_index": ignore_index,
              "label_smoothing": smoothing, "reduction": reduction}
        compare(functools.partial(cross_entropy, **kw), functools.partial(F.cross_entropy, **kw),
                logits, 1e-12, kw)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spatial", [(), (5, 6), (3, 4, 5)], ids=["0d", "2d", "3d"])
def test_cross_entropy_with_probabilities_equals_torch(device, spatial):
    """Soft targets: torch's mean divides by the pixels, not by the weights."""
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 3, *spatial, generator=g, dtype=torch.float64).to(device)
    probs = torch.rand(4, 3, *spatial, generator=g, dtype=torch.float64).softmax(1).to(device)
    for weight, smoothing, reduction in itertools.product(
            [None, WEIGHT], [0.0, 0.3], ["mean", "sum", "none"]):
        w = None if weight is None else torch.tensor(weight, dtype=torch.float64, device=device)
        kw = {"target": probs, "label_smoothing": smoothing, "reduction": reduction}
        compare(functools.partial(cross_entropy, weight=weight, **kw),
                functools.partial(F.cross_entropy, weight=w, **kw), logits, 1e-12,
                (weight, smoothing, reduction))


def test_cross_entropy_when_every_pixel_is_ignored_is_nan_like_torch():
    logits, index = torch.randn(1, 2, 3), torch.full((1, 3), -100)
    assert torch.isnan(cross_entropy(logits, index)) and torch.isnan(F.cross_entropy(logits,
                                                                                     index))


@pytest.mark.parametrize("device", DEVICES)
def test_binary_cross_entropy_equals_torch(device):
    """pos_weight per channel (dim 1), as torch does with a (C, 1, 1) pos_weight."""
    g = torch.Generator().manual_seed(2)
    logits = (4 * torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)).to(device)
    target = torch.rand(2, 3, 5, 6, generator=g, dtype=torch.float64).to(device)
    pos = torch.tensor([0.5, 2.0, 7.0], dtype=torch.float64, device=device)
    for pos_weight, reduction in itertools.product([None, pos], ["mean", "sum", "none"]):
        torch_pos = None if pos_weight is None else pos_weight.view(3, 1, 1)
        compare(functools.partial(binary_cross_entropy_with_logits, target=target,
                                  pos_weight=pos_weight, reduction=reduction),
                functools.partial(F.binary_cross_entropy_with_logits, target=target,
                                  pos_weight=torch_pos, reduction=reduction),
                logits, 1e-12, (pos_weight, reduction))
    # one channel: the 0/1 mask may come without the channel dim
    mask = (target[:, :1] > 0.5).long()
    assert_close(binary_cross_entropy_with_logits(logits[:, :1], mask[:, 0]),
                 F.binary_cross_entropy_with_logits(logits[:, :1], mask.double()), 1e-12,
                 "index mask")


def test_cross_entropy_is_the_mean_negative_log_likelihood():
    """From the definition, without torch's loss: -mean log p[label]."""
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]], dtype=torch.float64)
    labels = torch.tensor([1, 0])
    p = logits.exp() / logits.exp().sum(1, keepdim=True)
    expected = -(p[0, 1].log() + p[1, 0].log()) / 2
    assert abs(float(cross_entropy(logits, labels)) - float(expected)) < 1e-14


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int16])
def test_any_integer_dtype_of_class_indices_gives_the_same_losses(dtype):
    """A uint8 index would be read as a mask by tensor indexing: the result must not change."""
    logits, index, _ = make_case((5, 6))
    for loss in (cross_entropy, functools.partial(cross_entropy, weight=WEIGHT), dice_loss,
                 generalized_dice_loss, dice_ce_loss):
        assert_close(loss(logits, index.to(dtype)), loss(logits, index), 0.0, f"{loss} {dtype}")


# ------------------------------------------------------------------------ Dice vs MONAI


def monai_target(index, onehot, use_onehot):
    return onehot if use_onehot else index[:, None]


def dice_tolerance(squared, use_onehot):
    # MONAI's squared form goes through vector norms, and its own one-hot of an index target
    # is float32: sqrt(k)² in float32 is off by ~1e-7 relative. Everywhere else the two agree
    # to float64 rounding, tight enough to see the 1e-5 smoothing terms.
    return 1e-6 if squared and not use_onehot else 1e-11


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dims", sorted(SPATIAL))
@pytest.mark.parametrize("activation", ["softmax", "sigmoid", None])
@pytest.mark.parametrize("use_onehot", [False, True], ids=["index", "onehot"])
def test_dice_loss_matches_monai(device, dims, activation, use_onehot):
    """include_background × squared × batch × reduction inside, forward and backward."""
    logits, index, onehot = make_case(SPATIAL[dims], device=device)
    x = logits.softmax(1) if activation is None else logits
    target = onehot if use_onehot else index
    for background, squared, batch, reduction in itertools.product(
            [True, False], [False, True], [False, True], ["mean", "sum", "none"]):
        options = {"include_background": background, "batch": batch, "reduction": reduction}
        monai = monai_losses.DiceLoss(to_onehot_y=not use_onehot,
                                      softmax=activation == "softmax",
                                      sigmoid=activation == "sigmoid", squared_pred=squared,
                                      **options)
        compare(functools.partial(dice_loss, target=target, activation=activation,
                                  squared=squared, **options),
                functools.partial(call_monai, loss=monai,
                                  target=monai_target(index, onehot, use_onehot)),
                x, dice_tolerance(squared, use_onehot), f"{options}, squared={squared}")


def test_reduction_none_gives_one_value_per_image_and_class():
    logits, index, _ = make_case((5, 6))
    assert dice_loss(logits, index, reduction="none").shape == (2, 3)
    assert dice_loss(logits, index, reduction="none", include_background=False).shape == (2, 2)
    assert dice_loss(logits, index, reduction="none", batch=True).shape == (3,)
    assert generalized_dice_loss(logits, index, reduction="none").shape == (2,)
    assert generalized_dice_loss(logits, index, reduction="none", batch=True).shape == ()


@pytest.mark.parametrize("background", [True, False])
def test_dice_loss_class_weights_match_monai(background):
    """Our weight always has C entries; MONAI's DiceLoss wants them without the background."""
    logits, index, _ = make_case((5, 6))
    monai = monai_losses.DiceLoss(to_onehot_y=True, softmax=True, reduction="none",
                                  include_background=background,
                                  weight=torch.tensor(WEIGHT if background else WEIGHT[1:],
                                                      dtype=torch.float64))
    compare(lambda z: dice_loss(z, index, include_background=background, weight=WEIGHT,
                                reduction="none"),
            lambda z: monai(z, index[:, None]), logits, 1e-11, "weights")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch", [False, True])
def test_one_sigmoid_channel_matches_monai(device, batch):
    """A binary network with one output channel: the index target is the foreground mask."""
    logits, index, _ = make_case((6, 7), channels=2, device=device)
    logits, mask = logits[:, :1], index
    mask[1] = 0  # image 1 has no foreground
    monai = monai_losses.DiceLoss(sigmoid=True, batch=batch, reduction="none")
    compare(lambda z: dice_loss(z, mask, activation="sigmoid", batch=batch, reduction="none"),
            lambda z: monai(z, mask[:, None].double()), logits, 1e-11, "one channel")


def test_the_grid_can_tell_the_smoothing_terms_apart():
    """The comparison is sharp enough to fail: the stand-in's smoothing of 1 (instead of 1e-5)
    or a missing smooth_nr would be caught."""
    logits, index, _ = make_case((5, 6))
    monai = monai_losses.DiceLoss(to_onehot_y=True, softmax=True, reduction="none")(
        logits, index[:, None]).reshape(2, 3)
    for wrong in ({"smooth_nr": 1.0, "smooth_dr": 1.0}, {"smooth_nr": 0.0}):
        diff = (dice_loss(logits, index, reduction="none", **wrong) - monai).abs().max()
        assert diff > 100 * dice_tolerance(False, True), wrong


# ------------------------------------------------------------ the awkward cases, by hand


def test_empty_class_cases_have_the_documented_values():
    """One channel, probabilities given (activation=None), 4 pixels."""
    empty = torch.zeros(1, 1, 4, dtype=torch.long)
    nothing = torch.zeros(1, 1, 1, 4, dtype=torch.float64)
    speck = nothing.clone()
    speck[..., 0] = 0.5
    # empty truth, empty prediction: (0 + 1e-5) / (0 + 1e-5) -> loss 0
    assert float(dice_loss(nothing, empty, activation=None)) == 0.0
    # ... but 0/0 without the numerator's term would be a total loss
    assert float(dice_loss(nothing, empty, activation=None, smooth_nr=0.0)) == 1.0
    # empty truth, a speck predicted: 1 - 1e-5 / (0.5 + 1e-5), almost a total loss
    expected = 1 - 1e-5 / (0.5 + 1e-5)
    assert abs(float(dice_loss(speck, empty, activation=None)) - expected) < 1e-14
    # the truth has foreground, nothing predicted: 1 - 1e-5 / (2 + 1e-5)
    truth = torch.tensor([[[1, 1, 0, 0]]])
    expected = 1 - 1e-5 / (2 + 1e-5)
    assert abs(float(dice_loss(nothing, truth, activation=None)) - expected) < 1e-14


def test_batch_dice_pools_the_sums_per_image_dice_does_not():
    """Image 0: half the lesion found; image 1: no lesion. Per image, an empty image predicted
    empty scores 0 loss and one with a speck of false positive almost 1; pooled over the batch,
    the empty image only adds its false positives to the denominator."""
    truth = torch.tensor([[[0, 1, 1, 0]], [[0, 0, 0, 0]]])
    fg = torch.tensor([[[0.0, 1.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
    s = 1e-5
    for speck in (0.0, 0.5):
        fg[1, 0, 3] = speck
        per_image = dice_loss(fg[:, None], truth, activation=None, reduction="none")[:, 0]
        pooled = dice_loss(fg[:, None], truth, activation=None, batch=True)
        expected = [1 - (2 + s) / (3 + s), 1 - s / (speck + s)]
        assert torch.allclose(per_image, torch.tensor(expected, dtype=torch.float64),
                              rtol=0, atol=1e-14), speck
        assert abs(float(pooled) - (1 - (2 + s) / (3 + speck + s))) < 1e-14, speck


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dims", sorted(SPATIAL))
@pytest.mark.parametrize("activation", ["softmax", "sigmoid", None])
@pytest.mark.parametrize("use_onehot", [False, True], ids=["index", "onehot"])
def test_generalized_dice_matches_monai(device, dims, activation, use_onehot):
    """Includes an image with an absent class (infinite weight replaced by the largest)."""
    logits, index, onehot = make_case(SPATIAL[dims], device=device)
    x = logits.softmax(1) if activation is None else logits
    target = onehot if use_onehot else index
    for background, batch, reduction in itertools.product(
            [True, False], [False, True], ["mean", "sum", "none"]):
        options = {"include_background": background, "batch": batch, "reduction": reduction}
        monai = monai_losses.GeneralizedDiceLoss(to_onehot_y=not use_onehot,
                                                 softmax=activation == "softmax",
                                                 sigmoid=activation == "sigmoid", **options)
        # MONAI computes the class weights in float32: 1e-7 relative in the weights
        compare(functools.partial(generalized_dice_loss, target=target, activation=activation,
                                  **options),
                functools.partial(call_monai, loss=monai,
                                  target=monai_target(index, onehot, use_onehot)),
                x, 1e-7, options)


def test_generalized_dice_with_every_class_absent_matches_monai():
    """No foreground anywhere and the background dropped: every weight is infinite, all
    become 0, and the loss is 1 - smooth_nr / smooth_dr = 0."""
    logits, _, _ = make_case((5, 6))
    index = torch.zeros(2, 5, 6, dtype=torch.long)
    for batch in (False, True):
        ours = generalized_dice_loss(logits, index, include_background=False, batch=batch)
        theirs = monai_losses.GeneralizedDiceLoss(to_onehot_y=True, softmax=True, batch=batch,
                                                  include_background=False)(logits, index[:, None])
        assert float(ours) == 0.0 and abs(float(ours - theirs)) < 1e-12


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dims", sorted(SPATIAL))
@pytest.mark.parametrize("use_onehot", [False, True], ids=["index", "onehot"])
def test_dice_ce_matches_monai(device, dims, use_onehot):
    """include_background × squared × batch × reduction × weight × label smoothing."""
    logits, index, onehot = make_case(SPATIAL[dims], device=device)
    target = onehot if use_onehot else index
    for background, squared, batch, reduction, weight, smoothing in itertools.product(
            [True, False], [False, True], [False, True], ["mean", "sum"], [None, WEIGHT],
            [0.0, 0.1]):
        options = {"include_background": background, "batch": batch, "reduction": reduction,
                   "label_smoothing": smoothing, "lambda_dice": 0.7, "lambda_ce": 1.3}
        w = None if weight is None else torch.tensor(weight, dtype=torch.float64, device=device)
        monai = monai_losses.DiceCELoss(to_onehot_y=not use_onehot, softmax=True,
                                        squared_pred=squared, weight=w, **options)
        compare(functools.partial(dice_ce_loss, target=target, squared=squared, weight=weight,
                                  **options),
                functools.partial(call_monai, loss=monai,
                                  target=monai_target(index, onehot, use_onehot)),
                logits, dice_tolerance(squared, use_onehot),
                f"{options}, squared={squared}, weight={weight}")


@pytest.mark.parametrize("device", DEVICES)
def test_dice_ce_with_one_channel_is_sigmoid_dice_plus_bce_like_monai(device):
    logits, index, _ = make_case((6, 7), channels=2, device=device)
    logits = logits[:, :1]
    for batch, reduction in itertools.product([False, True], ["mean", "sum"]):
        monai = monai_losses.DiceCELoss(sigmoid=True, batch=batch, reduction=reduction)
        compare(functools.partial(dice_ce_loss, target=index, batch=batch, reduction=reduction),
                functools.partial(call_monai, loss=monai, target=index[:, None].double()),
                logits, 1e-11, f"batch={batch} {reduction}")


# --------------------------------------------------------------- gradcheck and autocast


def test_gradcheck_in_float64():
    logits, index, onehot = make_case((3, 4))
    weight = torch.tensor(WEIGHT, dtype=torch.float64)
    index[0, 0, 0] = -100
    checks = {
        "cross_entropy": lambda z: cross_entropy(z, index, weight, label_smoothing=0.1),
        "cross_entropy soft": lambda z: cross_entropy(z, onehot * 0.9 + 0.1 / 3),
        "bce": lambda z: binary_cross_entropy_with_logits(z, onehot, pos_weight=weight),
        "dice": lambda z: dice_loss(z, onehot, reduction="none"),
        "dice squared batch": lambda z: dice_loss(z, onehot, squared=True, batch=True,
                                                  include_background=False),
        "dice sigmoid": lambda z: dice_loss(z, onehot, activation="sigmoid", reduction="sum"),
        "generalized dice": lambda z: generalized_dice_loss(z, onehot, reduction="none"),
        "dice + ce": lambda z: dice_ce_loss(z, onehot, weight=WEIGHT),
    }
    for name, fn in checks.items():
        assert torch.autograd.gradcheck(fn, (logits.clone().requires_grad_(),)), name


LOSSES = {
    "cross_entropy": cross_entropy,
    "bce": lambda z, t: binary_cross_entropy_with_logits(z, F.one_hot(t, 3).movedim(-1, 1)),
    "dice": dice_loss,
    "dice squared": functools.partial(dice_loss, squared=True, batch=True),
    "generalized dice": generalized_dice_loss,
    "dice + ce": dice_ce_loss,
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dims", sorted(SPATIAL))
def test_under_autocast_the_sums_are_float32(name, dims):
    """bfloat16 logits (what a network gives under autocast): a float32 result, equal to the
    float32 computation on the same values; float32 logits inside autocast: unchanged."""
    loss = LOSSES[name]
    logits, index, _ = make_case(tuple(4 * s for s in SPATIAL[dims]), dtype=torch.float32)
    low = logits.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        from_low = forward_backward(lambda z: loss(z, index), low, torch.ones(()))
        from_float = loss(logits, index)
    reference = forward_backward(lambda z: loss(z, index), low.float(), torch.ones(()))
    assert from_low[0].dtype == torch.float32 and from_float.dtype == torch.float32
    assert_close(from_low[0], reference[0], 1e-6, f"{name} value")
    assert from_low[1].dtype == torch.bfloat16
    # the gradient reaching a bfloat16 leaf is rounded to bfloat16 (once per path into it)
    ulp = 2.0**-8 * float(reference[1].abs().max())
    assert_close(from_low[1].float(), reference[1], 2 * ulp, f"{name} gradient")
    assert_close(from_float, loss(logits, index), 0.0, f"{name} float32 under autocast")


# --------------------------------------------------------------------------- modules


@pytest.mark.parametrize("device", DEVICES)
def test_modules_equal_their_functions_and_carry_weights_to_the_device(device):
    logits, index, _ = make_case((5, 6), device=device)
    pairs = [
        (CrossEntropyLoss(weight=WEIGHT, label_smoothing=0.1),
         functools.partial(cross_entropy, weight=WEIGHT, label_smoothing=0.1)),
        (DiceLoss(include_background=False, weight=torch.tensor(WEIGHT), batch=True),
         functools.partial(dice_loss, include_background=False, weight=WEIGHT, batch=True)),
        (GeneralizedDiceLoss(batch=True), functools.partial(generalized_dice_loss, batch=True)),
        (DiceCELoss(lambda_ce=0.5, weight=WEIGHT, squared=True),
         functools.partial(dice_ce_loss, lambda_ce=0.5, weight=WEIGHT, squared=True)),
    ]
    for module, function in pairs:
        module = module.to(device)
        assert_close(module(logits, index), function(logits, index), 0.0, repr(module))


def test_module_repr_shows_the_options():
    assert "batch=True" in repr(DiceLoss(batch=True))
    assert "label_smoothing=0.1" in repr(DiceCELoss(label_smoothing=0.1))


def test_a_loss_module_replaces_the_stand_in_in_a_training_step():
    """What fit does with it: loss_fn(logits, index target) -> a scalar that trains."""
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 2, 3, padding=1)
    image = torch.rand(4, 1, 16, 16)
    target = (image[:, 0] > 0.5).long()
    opt = torch.optim.SGD(net.parameters(), lr=2.0)
    loss_fn = DiceCELoss(include_background=False)
    first = None
    for _ in range(30):
        loss = loss_fn(net(image), target)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.shape == () and loss.item() < 0.5 * first, (first, loss.item())
