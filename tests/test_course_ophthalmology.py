"""The vessel-metrics practice's checks: the references are the library's, independent right
answers pass, and the plausible mistakes of each exercise fail with a verdict.

The generic tests in test_course.py (perturbed answers, stubs, typed decimals, no answer given
away, the student version) run over these checks too; this file adds the mistakes that are
specific to Dice, skeletons and CLAHE.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import exposure
from skimage.morphology import skeletonize

from mednotes.course import CHECKS, check
from mednotes.course.checks_ophthalmology import BAND, GAP, LINE

OPHTHO_CHECKS = ("dice_thick_band", "skeleton_recall_thick_band", "dice_gap",
                 "skeleton_recall_gap", "skeleton_recall", "cl_dice", "green_clahe")


# ------------------------------------------------------------------------ right answers, by hand


def recall_right(pred, target):
    s = skeletonize(target)
    return (s & pred).sum() / s.sum()


def precision_right(pred, target):
    s = skeletonize(pred)
    return (s & target).sum() / s.sum() if s.any() else 0.0


def cl_dice_right(pred, target):
    r, p = recall_right(pred, target), precision_right(pred, target)
    return 2 * r * p / (r + p) if r + p else 0.0


def clahe_right(rgb, clip_limit):
    return exposure.equalize_adapthist(rgb[1], clip_limit=clip_limit)


RIGHT = [("dice_thick_band", 2 * 7 / (7 + 21)), ("dice_thick_band", 0.5),
         ("skeleton_recall_thick_band", 1.0), ("dice_gap", 2 * 5 / (5 + 7)),
         ("dice_gap", 0.833), ("skeleton_recall_gap", 5 / 7), ("skeleton_recall_gap", 0.714),
         ("skeleton_recall", recall_right), ("cl_dice", cl_dice_right),
         ("green_clahe", clahe_right)]


@pytest.mark.parametrize("name, answer", RIGHT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RIGHT)])
def test_an_independent_right_answer_passes(name, answer, capsys):
    assert check(name, answer), capsys.readouterr().out


def test_every_ophthalmology_check_is_registered():
    assert set(OPHTHO_CHECKS) <= set(CHECKS)


def test_the_masks_are_the_ones_the_exercise_describes():
    assert LINE.sum() == 7 and BAND.sum() == 21 and GAP.sum() == 5
    assert (BAND & LINE).sum() == 7 and not GAP[3, 4] and not GAP[3, 5]


# ------------------------------------------------------------------------ plausible mistakes


def _pixel_recall(pred, target):          # |P ∩ G| / |G|: no skeleton at all
    return (pred & target).sum() / target.sum()


def _precision_instead(pred, target):     # the prediction's skeleton inside the target
    return precision_right(pred, target)


def _skeletons_both(pred, target):        # |S(P) ∩ S(G)| / |S(G)|: thin lines rarely coincide
    s = skeletonize(target)
    return (s & skeletonize(pred)).sum() / s.sum()


def _recall_over_mask(pred, target):      # divided by the target's pixels, not its skeleton
    return (skeletonize(target) & pred).sum() / target.sum()


def _arithmetic_mean(pred, target):
    return (recall_right(pred, target) + precision_right(pred, target)) / 2


def _product(pred, target):
    return recall_right(pred, target) * precision_right(pred, target)


def _plain_dice(pred, target):            # the harmonic mean of pixel precision and recall
    return 2 * (pred & target).sum() / (pred.sum() + target.sum())


def _masks_not_skeletons(pred, target):   # precision with the prediction's mask, not skeleton
    r = recall_right(pred, target)
    p = (pred & target).sum() / pred.sum()
    return 2 * r * p / (r + p)


def _red_channel(rgb, clip_limit):
    return exposure.equalize_adapthist(rgb[0], clip_limit=clip_limit)


def _grey(rgb, clip_limit):
    return exposure.equalize_adapthist(rgb.mean(0), clip_limit=clip_limit)


def _default_clip(rgb, clip_limit):       # forgot to pass the clip limit on
    return exposure.equalize_adapthist(rgb[1])


def _global_equalisation(rgb, clip_limit):
    return exposure.equalize_hist(rgb[1])


def _stretch_only(rgb, clip_limit):
    g = rgb[1]
    return (g - g.min()) / (g.max() - g.min())


PLAUSIBLE_MISTAKES = [
    ("dice_thick_band", 7 / 21, "IoU instead of Dice"),
    ("dice_thick_band", 2 * 7 / 21, "forgot the line's pixels in the denominator"),
    ("dice_thick_band", 1.0, "thought the band covers the line perfectly"),
    ("skeleton_recall_thick_band", 7 / 21, "pixel precision of the band"),
    ("skeleton_recall_thick_band", 0.5, "gave the Dice"),
    ("dice_gap", 5 / 7, "pixel recall"),
    ("dice_gap", 0.8, "rounded to one figure"),
    ("skeleton_recall_gap", 5 / 6, "gave the Dice"),
    ("skeleton_recall_gap", 1.0, "skeleton precision"),
    ("skeleton_recall_gap", 2 / 7, "the missing fraction"),
    ("skeleton_recall", _pixel_recall, "pixel recall, no skeleton"),
    ("skeleton_recall", _precision_instead, "skeleton precision"),
    ("skeleton_recall", _skeletons_both, "skeleton against skeleton"),
    ("skeleton_recall", _recall_over_mask, "divided by the mask's pixels"),
    ("cl_dice", _arithmetic_mean, "arithmetic mean"),
    ("cl_dice", _product, "product"),
    ("cl_dice", _plain_dice, "plain Dice"),
    ("cl_dice", _masks_not_skeletons, "precision from the mask, not the skeleton"),
    ("cl_dice", recall_right, "recall only"),
    ("green_clahe", _red_channel, "red channel"),
    ("green_clahe", _grey, "mean of the channels"),
    ("green_clahe", _default_clip, "ignored clip_limit"),
    ("green_clahe", _global_equalisation, "global histogram equalisation"),
    ("green_clahe", _stretch_only, "min-max stretch only"),
]


@pytest.mark.parametrize("name, answer, mistake", PLAUSIBLE_MISTAKES,
                         ids=[f"{n}-{m}" for n, _, m in PLAUSIBLE_MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake, capsys):
    verdict = check(name, answer)
    out = capsys.readouterr().out
    assert not verdict, f"{mistake!r} passed the {name} check"
    assert out.startswith(f"❌ {name}: ") and "Hint:" in out


# ------------------------------------------------------------------------ the references


def test_references_agree_with_the_hand_formulas_on_every_case():
    for name, formula in (("skeleton_recall", recall_right), ("cl_dice", cl_dice_right),
                          ("green_clahe", clahe_right)):
        spec = CHECKS[name]
        for case in spec.cases:
            np.testing.assert_allclose(spec.reference(*case), formula(*case), rtol=1e-6,
                                       atol=1e-7)


def test_the_vessel_cases_tell_the_metrics_apart():
    """Each case must make skeleton recall differ from pixel recall and clDice from Dice
    somewhere, or the mistakes above could pass on a lucky set of cases."""
    cases = CHECKS["cl_dice"].cases
    assert any(abs(recall_right(p, t) - _pixel_recall(p, t)) > 0.05 for p, t in cases)
    assert any(abs(cl_dice_right(p, t) - _plain_dice(p, t)) > 0.05 for p, t in cases)
