"""The losses practices' checks: the reference passes, independent right answers pass, and the
plausible mistakes of each exercise fail with a verdict (never a traceback).

The generic tests in test_course.py (perturbed answers, stubs, typed decimals, no answer given
away, the student version) run over these checks too; this file adds the mistakes that are
specific to cross-entropy, Dice and their gradients.
"""

from __future__ import annotations

import math

import pytest
import torch

from mednotes.course import CHECKS, check

LOSS_CHECKS = ("ce_one_pixel", "ce_by_hand", "dice_by_hand", "soft_dice_loss", "dice_metric",
               "smoothing_one", "dice_gradient", "dice_gradient_background",
               "dice_gradient_logits", "ce_gradient_logits")

# ------------------------------------------------------------------------ right answers, by hand


def ce_right(logits, target):
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    return -log_p.gather(1, target.unsqueeze(1)).mean()


def soft_dice_right(p, g, smooth_nr=1e-5, smooth_dr=1e-5):
    overlap = (p * g).sum(dim=(1, 2))
    return 1 - (2 * overlap + smooth_nr) / (p.sum(dim=(1, 2)) + g.sum(dim=(1, 2)) + smooth_dr)


def _sizes(pred, truth):
    overlap = (pred & truth).sum(dim=(1, 2)).double()
    return overlap, pred.sum(dim=(1, 2)).double(), truth.sum(dim=(1, 2)).double()


def dice_metric_right(pred, truth, ignore_empty=True):
    overlap, size_p, size_g = _sizes(pred, truth)
    dice = 2 * overlap / (size_p + size_g).clamp(min=1)
    instead = torch.full_like(dice, math.nan) if ignore_empty else (size_p == 0).double()
    return torch.where(size_g == 0, instead, dice)


def dice_gradient_right(p, g, smooth_nr=1e-5, smooth_dr=1e-5):
    n = 2 * (p * g).sum() + smooth_nr
    s = p.sum() + g.sum() + smooth_dr
    return -(2 * g * s - n) / s**2


def dice_logits_right(z, g):
    p = torch.sigmoid(z)
    return dice_gradient_right(p, g) * p * (1 - p)


def ce_logits_right(z, g):
    return (torch.sigmoid(z) - g) / z.numel()


RIGHT = [("ce_one_pixel", math.log(5)), ("ce_one_pixel", 1.609),
         ("ce_by_hand", ce_right), ("dice_by_hand", 8 / 11), ("dice_by_hand", 0.727),
         ("soft_dice_loss", soft_dice_right), ("dice_metric", dice_metric_right),
         ("smoothing_one", 3 / 4), ("dice_gradient", dice_gradient_right),
         ("dice_gradient_background", 3 / 3.8**2), ("dice_gradient_background", 0.208),
         ("dice_gradient_logits", dice_logits_right), ("ce_gradient_logits", ce_logits_right)]


@pytest.mark.parametrize("name, answer", RIGHT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RIGHT)])
def test_an_independent_right_answer_passes(name, answer, capsys):
    assert check(name, answer), capsys.readouterr().out


def test_every_losses_check_is_registered():
    assert set(LOSS_CHECKS) <= set(CHECKS)


# ------------------------------------------------------------------------ plausible mistakes


def _no_smoothing(p, g, smooth_nr=1e-5, smooth_dr=1e-5):
    return soft_dice_right(p, g, 0.0, 0.0)


def _numerator_smoothing_only(p, g, smooth_nr=1e-5, smooth_dr=1e-5):
    return soft_dice_right(p, g, smooth_nr, 0.0)


def _no_factor_two(p, g, smooth_nr=1e-5, smooth_dr=1e-5):
    overlap = (p * g).sum(dim=(1, 2))
    return 1 - (overlap + smooth_nr) / (p.sum(dim=(1, 2)) + g.sum(dim=(1, 2)) + smooth_dr)


def _soft_iou(p, g, smooth_nr=1e-5, smooth_dr=1e-5):
    overlap = (p * g).sum(dim=(1, 2))
    union = p.sum(dim=(1, 2)) + g.sum(dim=(1, 2)) - overlap
    return 1 - (overlap + smooth_nr) / (union + smooth_dr)


def _batch_dice(p, g, smooth_nr=1e-5, smooth_dr=1e-5):
    return 1 - (2 * (p * g).sum() + smooth_nr) / (p.sum() + g.sum() + smooth_dr)


def _dice_not_loss(p, g, smooth_nr=1e-5, smooth_dr=1e-5):
    return 1 - soft_dice_right(p, g, smooth_nr, smooth_dr)


def _empty_counts_one(pred, truth, ignore_empty=True):
    overlap, size_p, size_g = _sizes(pred, truth)
    return torch.where(size_g == 0, torch.ones_like(overlap),
                       2 * overlap / (size_p + size_g).clamp(min=1))


def _empty_counts_zero(pred, truth, ignore_empty=True):
    overlap, size_p, size_g = _sizes(pred, truth)
    return 2 * overlap / (size_p + size_g).clamp(min=1)


def _always_nan_when_empty(pred, truth, ignore_empty=True):
    return dice_metric_right(pred, truth, True)


def _iou_metric(pred, truth, ignore_empty=True):
    overlap, size_p, size_g = _sizes(pred, truth)
    iou = overlap / (size_p + size_g - overlap).clamp(min=1)
    instead = torch.full_like(iou, math.nan) if ignore_empty else (size_p == 0).double()
    return torch.where(size_g == 0, instead, iou)


def _no_quotient_term(p, g, smooth_nr=1e-5, smooth_dr=1e-5):
    return -2 * g / (p.sum() + g.sum() + smooth_dr)


def _no_square(p, g, smooth_nr=1e-5, smooth_dr=1e-5):
    n = 2 * (p * g).sum() + smooth_nr
    s = p.sum() + g.sum() + smooth_dr
    return -(2 * g * s - n) / s


def _forgot_sigmoid_derivative(z, g):
    return dice_gradient_right(torch.sigmoid(z), g)


PLAUSIBLE_MISTAKES = [
    ("ce_one_pixel", -math.log(0.8), "the log of the wrong class's probability"),
    ("ce_one_pixel", math.log(0.2), "forgot the minus sign"),
    ("ce_one_pixel", -math.log10(0.2), "base-10 logarithm"),
    ("ce_by_hand", lambda z, t: ce_right(z, t) * -1, "forgot the minus sign"),
    ("ce_by_hand", lambda z, t: -(z.log_softmax(1).gather(1, t.unsqueeze(1))).sum(), "sum, not mean"),
    ("ce_by_hand", lambda z, t: -(z.softmax(1).gather(1, t.unsqueeze(1))).mean(), "no log"),
    ("ce_by_hand", lambda z, t: -(z.log_softmax(0).gather(1, t.unsqueeze(1))).mean(),
     "softmax over the batch dim"),
    ("ce_by_hand", lambda z, t: -z.log_softmax(1)[:, 1].mean(), "always class 1"),
    ("dice_by_hand", 4 / 11, "forgot the factor 2"),
    ("dice_by_hand", 4 / 7, "IoU instead of Dice"),
    ("dice_by_hand", 2 * 4 / 7, "twice the overlap over the union"),
    ("soft_dice_loss", _no_smoothing, "no smoothing: NaN on the empty image"),
    ("soft_dice_loss", _numerator_smoothing_only, "smoothing only in the numerator"),
    ("soft_dice_loss", _no_factor_two, "forgot the factor 2"),
    ("soft_dice_loss", _soft_iou, "soft IoU (Jaccard) instead of Dice"),
    ("soft_dice_loss", _batch_dice, "one Dice for the batch"),
    ("soft_dice_loss", _dice_not_loss, "the Dice, not the loss 1 − Dice"),
    ("dice_metric", _empty_counts_one, "an empty ground truth counted as 1 under ignore_empty"),
    ("dice_metric", _empty_counts_zero, "an empty ground truth counted as 0"),
    ("dice_metric", _always_nan_when_empty, "ignore_empty=False ignored"),
    ("dice_metric", _iou_metric, "IoU instead of Dice"),
    ("smoothing_one", 1.0, "no smoothing"),
    ("smoothing_one", 1 / 4, "the Dice, not the loss"),
    ("smoothing_one", 1 - 1 / 3, "smoothing only in the numerator"),
    ("dice_gradient", lambda p, g, a, b: -dice_gradient_right(p, g, a, b), "wrong sign"),
    ("dice_gradient", _no_quotient_term, "missing the quotient-rule term"),
    ("dice_gradient", _no_square, "denominator not squared"),
    ("dice_gradient", lambda p, g, a, b: dice_gradient_right(p, g, 0.0, 0.0), "ignored smoothing"),
    ("dice_gradient_background", -3 / 3.8**2, "wrong sign"),
    ("dice_gradient_background", 0.0, "missing the quotient-rule term (0 at background)"),
    ("dice_gradient_background", 3 / 3.8, "denominator not squared"),
    ("dice_gradient_logits", _forgot_sigmoid_derivative, "forgot the sigmoid's derivative"),
    ("dice_gradient_logits", lambda z, g: -dice_logits_right(z, g), "wrong sign"),
    ("ce_gradient_logits", lambda z, g: torch.sigmoid(z) - g, "forgot the mean's 1/n"),
    ("ce_gradient_logits", lambda z, g: (g - torch.sigmoid(z)) / z.numel(), "wrong sign"),
]


@pytest.mark.parametrize("name, answer, mistake", PLAUSIBLE_MISTAKES,
                         ids=[f"{n}-{m}" for n, _, m in PLAUSIBLE_MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake, capsys):
    verdict = check(name, answer)
    out = capsys.readouterr().out
    assert not verdict, f"{mistake!r} passed the {name} check"
    assert out.startswith(f"❌ {name}: ") and "Hint:" in out


def test_missing_smoothing_is_told_where_the_nan_comes_from(capsys):
    verdict = check("soft_dice_loss", _no_smoothing)
    assert "NaN" in verdict.reason and "0/0" in verdict.reason


def test_empty_counted_as_one_is_told_the_reference_has_nan(capsys):
    verdict = check("dice_metric", _empty_counts_one)
    assert "where the reference has NaN" in verdict.reason


def test_references_agree_with_the_formulas_on_the_cases():
    """The references come from mednotes.losses and mednotes.metrics (and autograd); the hand
    formulas above are independent of both, so agreement tests the references too."""
    for name, formula in (("ce_by_hand", ce_right), ("soft_dice_loss", soft_dice_right),
                          ("dice_metric", dice_metric_right),
                          ("dice_gradient", dice_gradient_right),
                          ("dice_gradient_logits", dice_logits_right),
                          ("ce_gradient_logits", ce_logits_right)):
        spec = CHECKS[name]
        for case in spec.cases:
            torch.testing.assert_close(spec.reference(*case).double(), formula(*case).double(),
                                       equal_nan=True, rtol=1e-6, atol=1e-9)  # metric: float32


def test_the_typed_answers_are_the_numbers_the_exercises_describe():
    assert CHECKS["ce_one_pixel"].reference() == pytest.approx(-math.log(0.2))
    assert CHECKS["dice_by_hand"].reference() == pytest.approx(8 / 11)
    assert CHECKS["smoothing_one"].reference() == pytest.approx(0.75)
    row = torch.tensor([0.9, 0.6, 0.2, 0.1], dtype=torch.float64, requires_grad=True)
    truth = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    loss = 1 - 2 * (row * truth).sum() / (row.sum() + truth.sum())
    loss.backward()
    assert CHECKS["dice_gradient_background"].reference() == pytest.approx(row.grad[2].item())
