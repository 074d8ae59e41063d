"""Checks for the losses chapter's practices: cross-entropy and Dice by hand, and the gradient
of soft Dice.

Used by ``exercises/07_dice_and_ce_by_hand.ipynb`` and ``exercises/08_dice_gradient.ipynb``;
the chapter is ``book/principles/05_losses``.
"""

from __future__ import annotations

import math

import torch

from mednotes.course.compare import Check, refined
from mednotes.losses import binary_cross_entropy_with_logits, cross_entropy, dice_loss
from mednotes.metrics import dice_score

# ------------------------------------------------------------------------ references


def _soft_dice_per_image(p, g, smooth_nr, smooth_dr):
    """The library's soft Dice loss of one-channel probabilities, one value per image ``(N,)``."""
    return dice_loss(p[:, None], g.long(), activation=None, smooth_nr=smooth_nr,
                     smooth_dr=smooth_dr, reduction="none")[:, 0]


def _dice_metric(pred, truth, ignore_empty):
    """The library's Dice metric of bool masks ``(N, H, W)``, one value per image ``(N,)``."""
    return dice_score(pred[:, None], truth[:, None], ignore_empty=ignore_empty)[:, 0]


def _dice_gradient(p, g, smooth_nr, smooth_dr):
    """d(soft Dice loss of one image)/dp by autograd through the library's loss: ``(H, W)``."""
    p = p.detach().clone().requires_grad_(True)
    dice_loss(p[None, None], g[None].long(), activation=None, smooth_nr=smooth_nr,
              smooth_dr=smooth_dr).backward()
    return p.grad


def _dice_logit_gradient(z, g):
    """d(soft Dice loss, sigmoid activation)/dz by autograd: ``(H, W)``."""
    z = z.detach().clone().requires_grad_(True)
    dice_loss(z[None, None], g[None].long(), activation="sigmoid").backward()
    return z.grad


def _ce_logit_gradient(z, g):
    """d(mean binary cross-entropy)/dz by autograd: ``(H, W)``."""
    z = z.detach().clone().requires_grad_(True)
    binary_cross_entropy_with_logits(z[None, None], g[None, None].double()).backward()
    return z.grad


# ------------------------------------------------------------------------ test inputs


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(2026)


def _logit_cases() -> tuple[tuple, ...]:
    """(logits, target) pairs: 2 and 3 classes, 2D and 3D, a confident and a flat one."""
    g = _generator()
    cases = []
    for shape, classes, scale in (((2, 4, 4), 2, 1.0), ((1, 5, 3), 3, 3.0), ((2, 3, 3, 2), 3, 1.0),
                                  ((1, 6, 6), 2, 8.0)):
        logits = scale * torch.randn(shape[0], classes, *shape[1:], generator=g,
                                     dtype=torch.float64)
        cases.append((logits, torch.randint(0, classes, shape, generator=g)))
    flat = torch.zeros(1, 2, 3, 3, dtype=torch.float64)
    cases.append((flat, torch.ones(1, 3, 3, dtype=torch.long)))
    return tuple(cases)


def _masks(g: torch.Generator, n: int, size: int, lesion: bool) -> torch.Tensor:
    mask = torch.zeros(n, size, size, dtype=torch.bool)
    if lesion:
        for i in range(n):
            r, c = torch.randint(0, size - 2, (2,), generator=g).tolist()
            mask[i, r:r + 2, c:c + 3] = True
    return mask


def _soft_dice_cases() -> tuple[tuple, ...]:
    """(p, g, smooth_nr, smooth_dr): lesions, an image without lesion predicted empty and one
    predicted faintly, MONAI's smoothing and a smoothing of 1."""
    g = _generator()
    truth = _masks(g, 3, 6, lesion=True).double()
    probs = torch.rand(3, 6, 6, generator=g, dtype=torch.float64)
    nothing = torch.zeros(1, 6, 6, dtype=torch.float64)
    faint = torch.full((1, 6, 6), 0.01, dtype=torch.float64)
    mixed_p = torch.cat([probs[:1], nothing, faint])
    mixed_g = torch.cat([truth[:1], nothing, nothing])
    return ((probs, truth, 1e-5, 1e-5), (mixed_p, mixed_g, 1e-5, 1e-5),
            (mixed_p, mixed_g, 1.0, 1.0), (probs, truth, 0.5, 2.0))


def _metric_cases() -> tuple[tuple, ...]:
    """(pred, truth, ignore_empty): hits, misses, empty truths predicted empty and not."""
    g = _generator()
    truth = torch.cat([_masks(g, 2, 6, True), _masks(g, 2, 6, False)])
    pred = truth.clone()
    pred[0, 0, :] = True                    # false positives next to a lesion
    pred[1] = False                         # a lesion missed entirely
    pred[3, 2, 2] = True                    # one false positive on an image without lesion
    return ((pred, truth, True), (pred, truth, False))


def _gradient_cases() -> tuple[tuple, ...]:
    """(p, g, smooth_nr, smooth_dr) for one image each."""
    g = _generator()
    cases = []
    for lesion, (s_nr, s_dr) in ((True, (1e-5, 1e-5)), (True, (0.0, 0.0)), (True, (1.0, 2.0)),
                                 (False, (1e-5, 1e-5)), (False, (1.0, 1.0))):
        p = torch.rand(5, 5, generator=g, dtype=torch.float64)
        truth = _masks(g, 1, 5, lesion)[0].double()
        cases.append((p, truth, s_nr, s_dr))
    return tuple(cases)


def _logit_gradient_cases() -> tuple[tuple, ...]:
    g = _generator()
    return tuple((3 * torch.randn(5, 5, generator=g, dtype=torch.float64),
                  _masks(g, 1, 5, lesion)[0].double()) for lesion in (True, True, False))


# ------------------------------------------------------------------------ checks


def _by_hand_checks() -> dict[str, Check]:
    """Exercise 07: cross-entropy, soft Dice and the Dice metric on small masks."""
    return {
        "ce_one_pixel": Check(
            reference=lambda: -math.log(1 - 0.8),
            hint="A pixel adds −log of the probability the network gave to its true class "
                 "(natural logarithm). The true class here is the background, so first work "
                 "out the background's probability from the lesion's."),
        "ce_by_hand": Check(
            reference=lambda logits, target: cross_entropy(logits, target),
            cases=_logit_cases(),
            hint="log_softmax over the class dim (dim 1), pick each pixel's true class with "
                 "gather (target[:, None] as the index), change the sign and take the mean over "
                 "all pixels of all images."),
        "dice_by_hand": Check(
            reference=lambda: 2 * 4 / (5 + 6),
            hint="Count |P|, |G| and |P ∩ G| in the printed masks, then 2 |P ∩ G| / (|P| + |G|): "
                 "twice the overlap over the sum of the two sizes, not over their union."),
        "soft_dice_loss": Check(
            reference=_soft_dice_per_image, cases=_soft_dice_cases(),
            hint="Per image (sum over dims 1 and 2): 1 − (2 Σ p·g + smooth_nr) / (Σ p + Σ g + "
                 "smooth_dr). Both smoothing terms are needed: without them an image with no "
                 "lesion and no prediction is 0/0."),
        "dice_metric": Check(
            reference=_dice_metric, cases=_metric_cases(),
            hint="2 |P ∩ G| / (|P| + |G|) per image. Where the ground truth is empty, the answer "
                 "is NaN with ignore_empty=True (float('nan')); with ignore_empty=False it is 1 "
                 "if the prediction is empty too and 0 otherwise (MONAI's rule)."),
        "smoothing_one": Check(
            reference=lambda: 1 - 1 / (3 + 0 + 1),
            hint="With no lesion, Σ p·g and Σ g are both zero: the loss is "
                 "1 − smooth_nr / (Σ p + smooth_dr). Put in the smoothing and the total "
                 "probability given in the question."),
    }


def _gradient_checks() -> dict[str, Check]:
    """Exercise 08: the gradient of soft Dice, by the quotient rule, against autograd."""
    return {
        "dice_gradient": Check(
            reference=_dice_gradient, cases=_gradient_cases(),
            hint="Write the loss as 1 − N/S with N = 2 Σ p·g + smooth_nr and S = Σ p + Σ g + "
                 "smooth_dr. Then dN/dp_j = 2 g_j and dS/dp_j = 1; apply the quotient rule "
                 "(N/S)' = (N'S − N S')/S² and keep the minus sign of the 1 − N/S."),
        "dice_gradient_background": Check(
            reference=lambda: (2 * 1.5) / 3.8**2,
            hint="At a background pixel g_j = 0, so only the second term of the quotient rule "
                 "is left: + N / S², with N = 2 Σ p·g and S = Σ p + Σ g (no smoothing here). "
                 "Mind the sign."),
        "dice_gradient_logits": Check(
            reference=_dice_logit_gradient, cases=_logit_gradient_cases(),
            hint="Chain rule: dL/dz_j = dL/dp_j · dp_j/dz_j with p = sigmoid(z) and "
                 "dp/dz = p (1 − p). Use MONAI's smoothing, 1e-5 on both terms."),
        "ce_gradient_logits": Check(
            reference=_ce_logit_gradient, cases=_logit_gradient_cases(),
            hint="For the binary cross-entropy on a logit, d/dz of −[g log σ(z) + (1 − g) "
                 "log(1 − σ(z))] is σ(z) − g; the loss is a mean over the n pixels, so divide "
                 "by n."),
    }


#: The first hint of each check: the idea, before the formula or the step.
IDEAS = {
    "ce_one_pixel": (
        "Cross-entropy charges each pixel −log of the probability given to its true "
        "class."
    ),
    "ce_by_hand": (
        "Turn logits into log-probabilities over the classes, stably, then average −log "
        "p of the true class over every pixel."
    ),
    "dice_by_hand": (
        "Dice compares the overlap with the sizes of the two masks."
    ),
    "soft_dice_loss": (
        "Soft Dice puts probabilities where the masks had 0 and 1, one value per image, "
        "with small terms that keep 0/0 away."
    ),
    "dice_metric": (
        "Where the ground truth is empty Dice is 0/0 or 0, and MONAI has a rule for "
        "each case."
    ),
    "smoothing_one": (
        "On a slice without lesion only the smoothing terms are left in the numerator."
    ),
    "dice_gradient": (
        "The loss is one minus a quotient of two sums: differentiate it with the "
        "quotient rule."
    ),
    "dice_gradient_background": (
        "At a background pixel the numerator does not depend on p_j; only the "
        "denominator does."
    ),
    "dice_gradient_logits": (
        "The network outputs logits: chain the gradient with respect to p through the "
        "sigmoid."
    ),
    "ce_gradient_logits": (
        "The derivative of binary cross-entropy with respect to a logit is famously "
        "simple; then remember the mean."
    ),
}

#: What the feedback calls each test input of the function exercises.
CASE_NAMES = {
    "ce_by_hand": (
        "the two-class 4×4 case",
        "the three-class case",
        "the 3-D volume case (5-D logits)",
        "the confident-network case (large logits)",
        "the flat case (every logit 0)",
    ),
    "soft_dice_loss": (
        "the lesion case with MONAI's smoothing",
        "the empty-image case with MONAI's smoothing",
        "the empty-image case with a smoothing of 1",
        "the case with unequal smoothing terms",
    ),
    "dice_metric": (
        "the ignore_empty=True case",
        "the ignore_empty=False case",
    ),
    "dice_gradient": (
        "the lesion case with MONAI's smoothing",
        "the lesion case without smoothing",
        "the lesion case with unequal smoothing terms",
        "the no-lesion case with MONAI's smoothing",
        "the no-lesion case with a smoothing of 1",
    ),
    "dice_gradient_logits": (
        "the first lesion case",
        "the second lesion case",
        "the no-lesion case",
    ),
    "ce_gradient_logits": (
        "the first lesion case",
        "the second lesion case",
        "the no-lesion case",
    ),
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    return refined({**_by_hand_checks(), **_gradient_checks()}, ideas=IDEAS, names=CASE_NAMES)


__all__ = ["CASE_NAMES", "IDEAS", "checks"]
