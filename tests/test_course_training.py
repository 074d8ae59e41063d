"""The training practice's checks: independent right answers pass, the plausible mistakes of a
training loop and of a validation fail, and the held-out Dice is the check's own.

The checks are judged directly (``judge``), so these tests do not depend on the registry; the
last test asks that the registry lists them.
"""

from __future__ import annotations

import pytest
import torch

from mednotes.course.checks_training import (
    HELD_OUT_LESIONS,
    SIZE,
    THRESHOLD,
    checks,
    held_out_dice,
    held_out_images,
    per_image_dice,
)
from mednotes.course.compare import judge

CHECKS = checks()


# ------------------------------------------------------------------------ right answers


def epoch_by_hand(model, optimizer, loss_fn, batches):
    """Gradients by torch.autograd.grad, written into .grad by hand: no zero_grad needed."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    out = []
    for images, masks in batches:
        loss = loss_fn(model(images), masks)
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()
        out.append(float(loss.detach()))
    return out


def epoch_zeroing_after_the_step(model, optimizer, loss_fn, batches):
    model.train()
    optimizer.zero_grad()
    out = []
    for images, masks in batches:
        loss = loss_fn(model(images), masks)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        out.append(loss.item())
    return tuple(out)


def dice_by_hand(model, images, masks):
    """2|P∩G| / (|P|+|G|) per image with a lesion, from tensor sums; eval mode."""
    model.eval()
    with torch.no_grad():
        pred = model(images).argmax(1) == 1
    truth = masks == 1
    scores = [2 * (p & g).sum() / (p.sum() + g.sum()) for p, g in zip(pred, truth) if g.any()]
    return torch.stack(scores).float().mean().item()


@pytest.mark.parametrize("answer", [epoch_by_hand, epoch_zeroing_after_the_step])
def test_an_independent_training_epoch_passes(answer):
    assert judge(CHECKS["train_one_epoch"], answer) == ""


def test_an_independent_validation_dice_passes():
    assert judge(CHECKS["mean_dice"], dice_by_hand) == ""


# ------------------------------------------------------------------------ plausible mistakes


def forgot_zero_grad(model, optimizer, loss_fn, batches):
    model.train()
    out = []
    for images, masks in batches:
        loss = loss_fn(model(images), masks)
        loss.backward()
        optimizer.step()
        out.append(loss.item())
    return out


def forgot_train_mode(model, optimizer, loss_fn, batches):
    out = []
    for images, masks in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(images), masks)
        loss.backward()
        optimizer.step()
        out.append(loss.item())
    return out


def loss_on_argmax(model, optimizer, loss_fn, batches):
    model.train()
    out = []
    for images, masks in batches:
        optimizer.zero_grad()
        pred = model(images).argmax(1)
        loss = loss_fn(torch.nn.functional.one_hot(pred, 2).movedim(-1, 1).float(), masks)
        loss.backward()
        optimizer.step()
        out.append(loss.item())
    return out


def raw_argmax_loss(model, optimizer, loss_fn, batches):
    model.train()
    out = []
    for images, masks in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(images).argmax(1), masks)
        loss.backward()
        optimizer.step()
        out.append(loss.item())
    return out


def step_before_backward(model, optimizer, loss_fn, batches):
    model.train()
    out = []
    for images, masks in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(images), masks)
        optimizer.step()
        loss.backward()
        out.append(loss.item())
    return out


def only_the_last_loss(model, optimizer, loss_fn, batches):
    losses = forgot_train_mode(model.train(), optimizer, loss_fn, batches)
    return [losses[-1]] * len(losses)


def no_eval(model, images, masks):
    with torch.no_grad():
        pred = model(images).argmax(1)
    return torch.nanmean(_dice(pred, masks)).item()


def pooled(model, images, masks):
    from mednotes.metrics import dice_score

    model.eval()
    with torch.no_grad():
        pred = model(images).argmax(1)
    return dice_score(pred.reshape(1, -1, 1), masks.reshape(1, -1, 1),
                      include_background=False, num_classes=2).item()


def empty_as_zero(model, images, masks):
    model.eval()
    with torch.no_grad():
        pred = model(images).argmax(1)
    return _dice(pred, masks).nan_to_num(0.0).mean().item()


def empty_as_one(model, images, masks):
    model.eval()
    with torch.no_grad():
        pred = model(images).argmax(1)
    return _dice(pred, masks).nan_to_num(1.0).mean().item()


_OWN_IMAGES = CHECKS["mean_dice"].cases[1][1:]  # "the training set": data of the student's own


def on_the_training_set(model, images, masks):
    return dice_by_hand(model, *_OWN_IMAGES)


def background_dice_too(model, images, masks):
    from mednotes.metrics import dice_score

    model.eval()
    with torch.no_grad():
        pred = model(images).argmax(1)
    return dice_score(pred, masks, num_classes=2).nanmean().item()


def _dice(pred, masks):
    from mednotes.metrics import dice_score

    return dice_score(pred, masks, include_background=False, num_classes=2)[:, 0]


MISTAKES = [
    ("train_one_epoch", forgot_zero_grad, "forgot optimizer.zero_grad()"),
    ("train_one_epoch", forgot_train_mode, "forgot model.train()"),
    ("train_one_epoch", loss_on_argmax, "loss on the one-hot argmax"),
    ("train_one_epoch", raw_argmax_loss, "loss on the argmax"),
    ("train_one_epoch", step_before_backward, "step before backward"),
    ("train_one_epoch", only_the_last_loss, "returned the wrong losses"),
    ("mean_dice", no_eval, "forgot model.eval()"),
    ("mean_dice", pooled, "pooled Dice over all pixels"),
    ("mean_dice", empty_as_zero, "empty images counted as 0"),
    ("mean_dice", empty_as_one, "empty images counted as 1"),
    ("mean_dice", on_the_training_set, "evaluated on other (training) data"),
    ("mean_dice", background_dice_too, "averaged the background's Dice in"),
]


@pytest.mark.parametrize("name, answer, mistake", MISTAKES, ids=[m for _, _, m in MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake):
    assert judge(CHECKS[name], answer) != "", f"{mistake!r} passed the {name} check"


def test_the_cases_make_every_shortcut_count():
    """The validation cases have empty images, imperfect predictions and batch-norm statistics
    that differ from the batch's: otherwise the mistakes above could pass by luck."""
    for model, images, masks in CHECKS["mean_dice"].cases:
        scores = per_image_dice(model, images, masks)
        assert scores.isnan().any() and not scores.isnan().all()
        defined = scores[~scores.isnan()]
        assert 0.2 < defined.mean() < 0.99
        assert model.training  # handed over in training mode, and left so by per_image_dice
    for model, *_ in CHECKS["train_one_epoch"].cases:
        assert not model.training


# ------------------------------------------------------------------------ the held-out Dice


def test_the_threshold_check_passes_above_and_fails_below():
    check = CHECKS["lesion_segmenter"]
    assert judge(check, THRESHOLD + 0.01) == "" and judge(check, 0.97) == ""
    assert judge(check, THRESHOLD - 0.01) == f"the score {THRESHOLD - 0.01:.3g} is below the threshold of {THRESHOLD:g}"
    assert "single number" in judge(check, torch.ones(3))
    assert "NaN" in judge(check, float("nan"))


def test_held_out_dice_is_the_checks_own_and_an_untrained_network_fails():
    from mednotes.data import brain_lesions
    from mednotes.nets import UNet

    images, masks = held_out_images()
    assert images.shape == (48, 1, SIZE, SIZE)
    empty = (masks == 1).flatten(1).sum(1) == 0
    assert 0 < empty.sum() < len(masks)
    again = brain_lesions(48, size=SIZE, seed=2_027, **HELD_OUT_LESIONS)
    assert torch.equal(again[5][1], masks[5])
    torch.manual_seed(0)
    untrained = UNet(1, 2, base_channels=8, depth=2).train()
    score = held_out_dice(untrained)
    assert untrained.training  # the check restores the mode
    assert score == pytest.approx(dice_by_hand(untrained, images, masks), abs=1e-6)
    assert judge(CHECKS["lesion_segmenter"], score) != ""

    class Nothing(torch.nn.Module):  # predicts background everywhere
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return torch.cat([torch.ones_like(x), torch.zeros_like(x)], 1) + self.w

    assert held_out_dice(Nothing()) == 0.0
    with pytest.raises(TypeError, match="model must be the trained network"):
        held_out_dice(0.8)


def test_every_training_check_is_registered():
    from mednotes.course import CHECKS as REGISTERED

    assert {"train_one_epoch", "mean_dice", "lesion_segmenter"} <= set(REGISTERED)
