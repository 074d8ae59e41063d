"""Overlap of hard masks: Dice and IoU per image and class, with MONAI's empty-mask rules.

A metric judges the final answer, so it takes hard masks (after the argmax or a threshold),
unlike the soft Dice loss. The awkward case is an empty ground truth: Dice is ``0 / 0`` when
the prediction is empty too. As in MONAI's ``DiceMetric``, ``ignore_empty=True`` (the default)
gives NaN, and the image does not count in the mean; ``ignore_empty=False`` gives 1 for an
empty prediction and 0 for any false positive.
"""

from __future__ import annotations

import torch

from mednotes._checks import check_bool, check_choice, check_int, check_tensor
from mednotes._labels import check_index_values, one_hot

__all__ = ["dice_score", "iou_score", "mean_score"]


def hard_masks(pred: object, target: object, num_classes: int | None,
               include_background: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Both masks as bool ``(N, C', *spatial)``, checked, background dropped if asked.

    The two forms are told apart by ``num_classes`` and the dtype, never guessed from the
    shape: ``(N, D, H, W)`` could be 3-D class indices or 2-D masks of D classes, and an
    argmax read as masks would give a Dice per image row without any error.
    """
    for name, value in (("pred", pred), ("target", target)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)}, target has shape "
                         f"{tuple(target.shape)}; they must match")
    if pred.device != target.device:
        raise ValueError(f"pred is on {pred.device}, target is on {target.device}; use one "
                         "device")
    if num_classes is None:
        for name, value in (("pred", pred), ("target", target)):
            if value.dtype != torch.bool:
                raise TypeError(
                    f"{name} has dtype {value.dtype}; without num_classes the masks are bool, "
                    f"(N, C, *spatial) with one channel per class ({name} > 0.5 or "
                    f"{name}.bool()); class indices (N, *spatial), e.g. an argmax, need "
                    "num_classes")
        if pred.dim() < 4:
            raise ValueError(f"pred has shape {tuple(pred.shape)}; bool masks are (N, C, H, W) "
                             "or (N, C, D, H, W), so add the channel dim for a single class "
                             "(mask[:, None])")
    else:
        num_classes = check_int("num_classes", num_classes, minimum=1)
        if pred.dim() < 3:
            raise ValueError(f"pred must be class indices (N, H, W) or (N, D, H, W), got shape "
                             f"{tuple(pred.shape)}")
        for name, value in (("pred", pred), ("target", target)):
            if value.is_floating_point() or value.is_complex():
                raise TypeError(f"{name} must hold class indices (integer dtype) when "
                                f"num_classes is given, got {value.dtype}")
            check_index_values(name, value, num_classes)
        pred, target = (one_hot(v.long(), num_classes, torch.bool) for v in (pred, target))
    if 0 in pred.shape:
        raise ValueError(f"pred is empty: shape {tuple(pred.shape)}")
    if not include_background:
        if pred.shape[1] == 1:
            raise ValueError("include_background=False drops channel 0, but there is only 1 "
                             "class; keep it (include_background=True)")
        pred, target = pred[:, 1:], target[:, 1:]
    return pred, target


def _overlap(pred, target, num_classes, include_background, ignore_empty, iou):
    include_background = check_bool("include_background", include_background)
    ignore_empty = check_bool("ignore_empty", ignore_empty)
    p, g = hard_masks(pred, target, num_classes, include_background)
    dims = tuple(range(2, p.dim()))
    both = (p & g).sum(dims).double()
    predicted, truth = p.sum(dims).double(), g.sum(dims).double()
    union = predicted + truth - both if iou else predicted + truth
    score = (1 if iou else 2) * both / union.clamp(min=1)
    empty = 1.0 * (predicted == 0) if not ignore_empty else torch.full_like(score, torch.nan)
    return torch.where(truth > 0, score, empty).float()


def dice_score(pred: torch.Tensor, target: torch.Tensor, include_background: bool = True,
               ignore_empty: bool = True, num_classes: int | None = None) -> torch.Tensor:
    """Dice ``2 |P ∩ G| / (|P| + |G|)`` of hard masks, per image and class.

    Args:
        pred, target: bool masks with one channel per class, or with ``num_classes`` given,
            class indices (e.g. ``logits.argmax(1)``). Float or integer masks are refused
            rather than guessed at: threshold them (``probs > 0.5``) or pass ``num_classes``.
        include_background: keep class 0; False drops it.
        ignore_empty: an empty ground truth gives NaN; with False, 1 if the prediction is empty
            too, else 0.
        num_classes: the number of classes when ``pred`` and ``target`` are class indices;
            None for masks with one channel per class.

    Returns:
        ``(N, C')`` float32, ``C'`` the classes kept; NaN where the ground truth is empty and
        ``ignore_empty``. Average with :func:`mean_score`.

    Shape:
        - pred, target: ``(N, C, *spatial)`` bool, or ``(N, *spatial)`` integer with
          ``num_classes``; 2 or 3 spatial dims

    MONAI's ``compute_dice`` / ``DiceMetric`` with the same semantics: one-hot ``y_pred`` and
    ``y`` (here bool), or label maps (MONAI's ``(N, 1, *spatial)``, here ``(N, *spatial)``)
    with ``num_classes``; ``include_background``, ``ignore_empty`` and ``num_classes`` keep
    their names.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Tested against: MONAI ``compute_dice``, including empty masks with ``ignore_empty`` on and
    off and without the background.

    Example:
        >>> target = torch.tensor([[[0, 1, 1, 0]], [[0, 0, 0, 0]]])   # (N=2, H=1, W=4); no
        >>> pred = torch.tensor([[[0, 1, 0, 0]], [[0, 0, 0, 0]]])     # lesion in image 2
        >>> dice_score(pred, target, include_background=False, num_classes=2)
        tensor([[0.6667],
                [   nan]])
        >>> dice_score(pred, target, include_background=False, ignore_empty=False, num_classes=2)
        tensor([[0.6667],
                [1.0000]])
    """
    return _overlap(pred, target, num_classes, include_background, ignore_empty, iou=False)


def iou_score(pred: torch.Tensor, target: torch.Tensor, include_background: bool = True,
              ignore_empty: bool = True, num_classes: int | None = None) -> torch.Tensor:
    """Intersection over union (Jaccard) ``|P ∩ G| / |P ∪ G|`` of hard masks, per image and
    class.

    The arguments, the shapes and the empty-mask rules are those of :func:`dice_score`;
    ``IoU = Dice / (2 - Dice)`` wherever both are defined.

    Returns:
        ``(N, C')`` float32.

    MONAI's ``compute_iou`` / ``MeanIoU`` with the same semantics.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Tested against: MONAI ``compute_iou``, including empty masks.

    Example:
        >>> target = torch.tensor([[[0, 1, 1, 0]]]); pred = torch.tensor([[[0, 1, 0, 0]]])
        >>> iou_score(pred, target, include_background=False, num_classes=2)
        tensor([[0.5000]])
    """
    return _overlap(pred, target, num_classes, include_background, ignore_empty, iou=True)


def mean_score(scores: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The mean of per-image, per-class scores, leaving out the NaN ones (empty ground truths).

    Args:
        scores: ``(N, C)`` from :func:`dice_score`, :func:`iou_score` or
            :func:`hausdorff_distance`.
        reduction: ``"mean"``: each image's mean over its classes, then the mean over the
            images (one number); ``"mean_batch"``: per class, over the images ``(C,)``;
            ``"mean_channel"``: per image, over the classes ``(N,)``.

    Returns:
        The means; NaN where every score averaged is NaN (MONAI gives 0 there, which would
        count "nothing to measure" as a total failure).

    MONAI's ``do_metric_reduction`` (``DiceMetric(reduction=...)``) with the same names.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Tested against: MONAI ``do_metric_reduction``.

    Example:
        >>> scores = torch.tensor([[1.0, 0.5], [float("nan"), 0.0]])
        >>> mean_score(scores), mean_score(scores, "mean_batch")
        (tensor(0.3750), tensor([1.0000, 0.2500]))
    """
    scores = check_tensor("scores", scores)
    reduction = check_choice("reduction", reduction, ("mean", "mean_batch", "mean_channel"))
    if scores.dim() != 2:
        raise ValueError(f"scores must have shape (N, C), one per image and class, got "
                         f"{tuple(scores.shape)}")
    if reduction == "mean_batch":
        return scores.nanmean(0)
    per_image = scores.nanmean(1)
    return per_image if reduction == "mean_channel" else per_image.nanmean()
