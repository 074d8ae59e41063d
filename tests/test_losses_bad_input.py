"""Bad input to mednotes.losses and mednotes.metrics: a clear error that names the argument.

Two parts: the mistakes the issue lists, each with the words its message must contain
(target values out of range, shape mismatches, one-hot targets that do not sum to one,
probabilities outside [0, 1], integer logits, a spacing of the wrong length ...); and a sweep
over every public function's and module's keywords, read from their signatures, as
tests/test_bad_input.py does for the layers: a bool refuses "False" and 0, a float refuses NaN,
infinity and a string, an int refuses a string and 2.5, a choice refuses an unknown name, a
class weight refuses NaN and a string.
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from mednotes import losses, metrics

LOGITS = torch.randn(2, 2, 4, 4)
INDEX = torch.randint(0, 2, (2, 4, 4))
ONEHOT = torch.nn.functional.one_hot(INDEX, 2).movedim(-1, 1).float()
MASKS = ONEHOT.bool()
PROBS = LOGITS.softmax(1)


def out_of_range(value):
    target = INDEX.clone()
    target[0, 0, 0] = value
    return target


def ones_everywhere():
    return torch.ones_like(ONEHOT)  # two classes at every pixel


def with_value(tensor, value):
    tensor = tensor.clone()
    tensor[0, 0, 0, 0] = value
    return tensor


dice, ce, gdl, dce = (losses.dice_loss, losses.cross_entropy, losses.generalized_dice_loss,
                      losses.dice_ce_loss)
bce = losses.binary_cross_entropy_with_logits

CASES = {
    # integer logits
    "dice: int logits": (lambda: dice(LOGITS.long(), INDEX), TypeError, ["logits", "int64"]),
    "ce: int logits": (lambda: ce(INDEX[:, None].repeat(1, 2, 1, 1), INDEX), TypeError,
                       ["logits", "int64"]),
    "gdl: bool logits": (lambda: gdl(LOGITS > 0, INDEX), TypeError, ["logits", "bool"]),
    "dice+ce: list": (lambda: dce(LOGITS.tolist(), INDEX), TypeError, ["logits", "Tensor"]),
    # target values outside [0, C), other than ignore_index
    "dice: class 2 of 2": (lambda: dice(LOGITS, out_of_range(2)), ValueError,
                           ["target", "class 2", "[0, 2)"]),
    "dice: class -1": (lambda: dice(LOGITS, out_of_range(-1)), ValueError, ["target", "-1"]),
    "ce: class 5": (lambda: ce(LOGITS, out_of_range(5)), ValueError, ["target", "class 5",
                                                                      "ignore_index=-100"]),
    "ce: -1 is not ignored": (lambda: ce(LOGITS, out_of_range(-1)), ValueError, ["target"]),
    "dice+ce: class 3": (lambda: dce(LOGITS, out_of_range(3)), ValueError, ["target"]),
    "sigmoid: mask value 2": (lambda: dice(LOGITS[:, :1], out_of_range(2),
                                           activation="sigmoid"), ValueError, ["target"]),
    # shape mismatches
    "dice: wrong spatial size": (lambda: dice(LOGITS, INDEX[:, :3]), ValueError,
                                 ["target", "(2, 3, 4)", "(2, 2, 4, 4)"]),
    "ce: wrong channels": (lambda: ce(LOGITS, torch.zeros(2, 3, 4, 4)), ValueError,
                           ["target", "shape"]),
    "dice: (N, 1, H, W) indices": (lambda: dice(LOGITS, INDEX[:, None]), ValueError,
                                   ["target[:, 0]"]),
    "dice: float indices": (lambda: dice(LOGITS, INDEX.float()), TypeError,
                            ["target", "integer", "float32"]),
    "dice: other device": (lambda: dice(LOGITS, INDEX.to("meta")), ValueError,
                           ["target", "device"]),
    "bce: indices for 2 channels": (lambda: bce(LOGITS, INDEX), ValueError, ["target"]),
    "dice: no spatial dims": (lambda: dice(LOGITS[:, :, 0, 0], INDEX[:, 0, 0]), ValueError,
                              ["logits", "(N, C, *spatial)"]),
    # a one-hot target that does not sum to one
    "dice: two classes per pixel": (lambda: dice(LOGITS, ones_everywhere()), ValueError,
                                    ["target", "sum to one"]),
    "ce: soft target not summing to one": (lambda: ce(LOGITS, ONEHOT * 0.5), ValueError,
                                           ["target", "sum to one"]),
    "dice+ce: two classes per pixel": (lambda: dce(LOGITS, ones_everywhere()), ValueError,
                                       ["target", "sum to one"]),
    "dice: one-hot value 2": (lambda: dice(LOGITS, with_value(ONEHOT, 2.0)), ValueError,
                              ["target", "[0, 1]"]),
    # probabilities outside [0, 1] where probabilities are expected
    "dice: activation=None with logits": (lambda: dice(LOGITS * 3, INDEX, activation=None),
                                          ValueError, ["logits", "[0, 1]", "activation=None"]),
    "gdl: NaN probabilities": (lambda: gdl(with_value(PROBS, math.nan), INDEX,
                                           activation=None), ValueError, ["logits"]),
    "bce: target 1.5": (lambda: bce(LOGITS, with_value(ONEHOT, 1.5)), ValueError,
                        ["target", "[0, 1]"]),
    "ece: probs above 1": (lambda: metrics.expected_calibration_error(PROBS * 2, INDEX),
                           ValueError, ["probs", "[0, 1]"]),
    "ece: probs not summing to one": (
        lambda: metrics.expected_calibration_error(PROBS * 0.5, INDEX), ValueError,
        ["probs", "sum to one"]),
    "ece: int probs": (lambda: metrics.expected_calibration_error(MASKS.long(), INDEX),
                       TypeError, ["probs", "int64"]),
    # options that do not fit the logits
    "softmax over 1 channel": (lambda: dice(LOGITS[:, :1], INDEX), ValueError,
                               ["activation='softmax'", "1 channel"]),
    "no background to drop": (lambda: dice(LOGITS[:, :1], INDEX, activation="sigmoid",
                                           include_background=False), ValueError,
                              ["include_background=False"]),
    "weight of the wrong length": (lambda: dice(LOGITS, INDEX, weight=[1.0, 2.0, 3.0]),
                                   ValueError, ["weight", "3 entries", "2 classes"]),
    "ce weight of the wrong length": (lambda: ce(LOGITS, INDEX, weight=torch.ones(3)),
                                      ValueError, ["weight", "3 entries"]),
    "negative weight": (lambda: ce(LOGITS, INDEX, weight=[1.0, -1.0]), ValueError,
                        ["weight", ">= 0"]),
    "2-D weight": (lambda: ce(LOGITS, INDEX, weight=torch.ones(2, 1)), ValueError,
                   ["weight", "1-D"]),
    "dice+ce one channel with weight": (lambda: dce(LOGITS[:, :1], INDEX, weight=[2.0]),
                                        ValueError, ["weight", "pos_weight"]),
    "dice+ce one channel with smoothing": (lambda: dce(LOGITS[:, :1], INDEX,
                                                       label_smoothing=0.1), ValueError,
                                           ["label_smoothing"]),
    "dice+ce reduction none": (lambda: dce(LOGITS, INDEX, reduction="none"), ValueError,
                               ["reduction", "'mean', 'sum'"]),
    "module checks at construction": (lambda: losses.DiceLoss(activation="relu"), ValueError,
                                      ["activation", "'softmax'"]),
    # metrics
    "dice_score: soft masks": (lambda: metrics.dice_score(PROBS, MASKS), TypeError,
                               ["pred", "float32", "> 0.5"]),
    "dice_score: argmax without num_classes": (
        lambda: metrics.dice_score(PROBS.argmax(1), INDEX), TypeError,
        ["pred", "int64", "num_classes"]),
    "dice_score: (N, H, W) bool masks": (
        lambda: metrics.dice_score(MASKS[:, 1], MASKS[:, 1]), ValueError,
        ["pred", "mask[:, None]"]),
    "dice_score: shapes differ": (lambda: metrics.dice_score(MASKS, MASKS[:, :1]), ValueError,
                                  ["pred", "target", "(2, 1, 4, 4)"]),
    "dice_score: class 2 of 2": (lambda: metrics.dice_score(INDEX, out_of_range(2),
                                                            num_classes=2), ValueError,
                                 ["target", "class 2"]),
    "dice_score: float indices": (lambda: metrics.dice_score(INDEX.float(), INDEX.float(),
                                                             num_classes=2), TypeError,
                                  ["pred", "class indices"]),
    "iou_score: one class without background": (
        lambda: metrics.iou_score(MASKS[:, :1], MASKS[:, :1], include_background=False),
        ValueError, ["include_background=False"]),
    "hausdorff: spacing of the wrong length": (
        lambda: metrics.hausdorff_distance(MASKS, MASKS, spacing=(1.0, 1.0, 5.0)), ValueError,
        ["spacing", "2 entries", "3"]),
    "hausdorff: zero spacing": (lambda: metrics.hausdorff_distance(MASKS, MASKS,
                                                                   spacing=(1.0, 0.0)),
                                ValueError, ["spacing", "> 0.0"]),
    "hausdorff: NaN spacing": (lambda: metrics.hausdorff_distance(MASKS, MASKS,
                                                                  spacing=math.nan),
                               ValueError, ["spacing", "finite"]),
    "hausdorff: spacing as text": (lambda: metrics.hausdorff_distance(MASKS, MASKS,
                                                                      spacing="1mm"),
                                   TypeError, ["spacing"]),
    "hausdorff: percentile 101": (lambda: metrics.hausdorff_distance(MASKS, MASKS,
                                                                     percentile=101),
                                  ValueError, ["percentile", "[0.0, 100.0]"]),
    "mean_score: 1-D scores": (lambda: metrics.mean_score(torch.ones(3)), ValueError,
                               ["scores", "(N, C)"]),
    "mean_score: unknown reduction": (lambda: metrics.mean_score(torch.ones(2, 2), "median"),
                                      ValueError, ["reduction", "'mean_batch'"]),
    "ece: zero bins": (lambda: metrics.expected_calibration_error(PROBS, INDEX, n_bins=0),
                       ValueError, ["n_bins"]),
    "ece: target not one-hot": (lambda: metrics.expected_calibration_error(PROBS, MASKS | True),
                                ValueError, ["target", "one-hot"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_mistake_gets_a_message_naming_it(name):
    call, error, words = CASES[name]
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    for word in words:
        assert word in message, f"{name}: {message!r} does not mention {word!r}"


def test_the_good_calls_pass():
    """The cases above differ from these in one respect only."""
    assert dice(LOGITS, INDEX).isfinite() and dice(LOGITS, ONEHOT).isfinite()
    assert ce(LOGITS, out_of_range(-100)).isfinite()  # the ignore_index is allowed
    assert dice(LOGITS[:, :1], INDEX, activation="sigmoid").isfinite()
    assert dice(PROBS, INDEX, activation=None).isfinite()
    assert dce(LOGITS[:, :1], INDEX).isfinite() and bce(LOGITS, ONEHOT).isfinite()
    assert metrics.dice_score(MASKS, MASKS).shape == (2, 2)
    assert metrics.dice_score(INDEX, INDEX, num_classes=2).shape == (2, 2)
    assert metrics.hausdorff_distance(MASKS, MASKS, spacing=(1.0, 5.0)).shape == (2, 2)
    assert metrics.expected_calibration_error(PROBS, INDEX).isfinite()


# ------------------------------------------------------------------------ the sweep

CALLS = {
    "cross_entropy": (losses.cross_entropy, (LOGITS, INDEX)),
    "binary_cross_entropy_with_logits": (losses.binary_cross_entropy_with_logits,
                                         (LOGITS, ONEHOT)),
    "dice_loss": (losses.dice_loss, (LOGITS, INDEX)),
    "generalized_dice_loss": (losses.generalized_dice_loss, (LOGITS, INDEX)),
    "dice_ce_loss": (losses.dice_ce_loss, (LOGITS, INDEX)),
    "CrossEntropyLoss": (losses.CrossEntropyLoss, ()),
    "DiceLoss": (losses.DiceLoss, ()),
    "GeneralizedDiceLoss": (losses.GeneralizedDiceLoss, ()),
    "DiceCELoss": (losses.DiceCELoss, ()),
    "dice_score": (metrics.dice_score, (MASKS, MASKS)),
    "iou_score": (metrics.iou_score, (MASKS, MASKS)),
    "hausdorff_distance": (metrics.hausdorff_distance, (MASKS, MASKS)),
    "expected_calibration_error": (metrics.expected_calibration_error, (PROBS, INDEX)),
    "calibration_bins": (metrics.calibration_bins, (PROBS, INDEX)),
    "mean_score": (metrics.mean_score, (torch.ones(2, 2),)),
}
CHOICES = {"activation", "reduction"}


def _swept():
    cases = []
    for name, (fn, args) in sorted(CALLS.items()):
        for p in list(inspect.signature(fn).parameters.values())[len(args):]:
            default, bad = p.default, []
            if isinstance(default, bool):
                bad = [("False", TypeError), (0, TypeError)]
            elif isinstance(default, float):
                bad = [(math.nan, ValueError), (math.inf, ValueError), ("1.0", TypeError)]
            elif type(default) is int:
                bad = [("2", TypeError), (2.5, TypeError)]
            elif p.name in CHOICES:
                bad = [("bogus", ValueError)]
            elif "weight" in p.name and default is None:
                bad = [([math.nan, 1.0], ValueError), ("heavy", TypeError)]
            cases += [(name, p.name, value, error) for value, error in bad]
    return cases


SWEEP = _swept()


def test_the_sweep_reaches_every_kind_of_argument():
    swept = {case[1] for case in SWEEP}
    assert {"include_background", "squared", "batch", "smooth_nr", "smooth_dr",
            "label_smoothing", "ignore_index", "lambda_dice", "activation", "reduction",
            "weight", "pos_weight", "ignore_empty", "percentile", "n_bins"} <= swept, swept
    assert len(SWEEP) > 100, len(SWEEP)


@pytest.mark.parametrize("name,keyword,value,error", SWEEP,
                         ids=[f"{c[0]}-{c[1]}={c[2]!r}" for c in SWEEP])
def test_bad_arguments_are_refused_by_name(name, keyword, value, error):
    fn, args = CALLS[name]
    fn(*args)  # the good call runs
    with pytest.raises(error) as caught:
        fn(*args, **{keyword: value})  # modules check when they are made
    assert keyword in str(caught.value), f"{name}({keyword}={value!r}): {caught.value}"
