"""The calibration practice's checks: the references are the library's, independent right
answers pass, and the plausible mistakes of each exercise fail with a verdict.

The generic tests in test_course.py (perturbed answers, stubs, typed decimals, no answer given
away, the student version) run over these checks too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mednotes.course import CHECKS, check
from mednotes.course.checks_trust import BINS, LABELS, LOGITS, PROBS, TEMPERATURE

TRUST_CHECKS = ("ece_by_hand", "ece_function", "softmax_temperature_by_hand",
                "softmax_with_temperature", "integrated_gradients_midpoint")


# ------------------------------------------------------------------------ right answers, by hand


def ece_numpy(probs, labels, n_bins, *, weighted=True, absolute=True, edges="right"):
    """The expected calibration error with numpy; the keywords make the plausible mistakes."""
    p = np.asarray(probs, dtype=float)
    labels = np.asarray(labels)
    confidence, prediction = p.max(1), p.argmax(1)
    correct = (prediction == labels).astype(float)
    bins = np.linspace(0, 1, n_bins + 1)
    which = np.digitize(confidence, bins[1:-1], right=(edges == "right"))
    gaps, counts = [], []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            gap = correct[inside].mean() - confidence[inside].mean()
            gaps.append(abs(gap) if absolute else gap)
            counts.append(inside.sum())
    gaps, counts = np.array(gaps), np.array(counts)
    if weighted:
        total = (gaps * counts).sum() / len(p)
    else:
        total = gaps.mean()
    return abs(total) if not absolute else total


def softmax_t_numpy(logits, t):
    z = np.asarray(logits, dtype=float) / t
    z = z - z.max(-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


def ig_by_hand(model, x, baseline, target, steps, *, alphas=None, weight=None, times_delta=True):
    """Midpoint Riemann sum of the gradient along the path, written out."""
    alphas = [(k + 0.5) / steps for k in range(steps)] if alphas is None else alphas
    weight = 1 / steps if weight is None else weight
    total = torch.zeros_like(x)
    for a in alphas:
        point = (baseline + a * (x - baseline)).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(point)[0, target], point)
        total += weight * grad
    return total * (x - baseline) if times_delta else total


RIGHT = [("ece_by_hand", ece_numpy(PROBS, LABELS, BINS)),
         ("ece_by_hand", round((2 * 0.435 + 2 * 0.225 + 3 * (0.9 - 2 / 3)) / 7, 4)),
         ("ece_function", lambda p, y, n: ece_numpy(p.numpy(), y.numpy(), n)),
         ("softmax_temperature_by_hand", 1 / (1 + math.exp(-1))),
         ("softmax_with_temperature", lambda z, t: torch.from_numpy(softmax_t_numpy(z, t))),
         ("integrated_gradients_midpoint", ig_by_hand)]


@pytest.mark.parametrize("name, answer", RIGHT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RIGHT)])
def test_an_independent_right_answer_passes(name, answer, capsys):
    assert check(name, answer), capsys.readouterr().out


def test_every_trust_check_is_registered():
    assert set(TRUST_CHECKS) <= set(CHECKS)


# ------------------------------------------------------------------------ plausible mistakes


def _global_gap():
    p = np.asarray(PROBS)
    return abs((p.argmax(1) == np.asarray(LABELS)).mean() - p.max(1).mean())


def _ig_no_delta(model, x, baseline, target, steps):
    return ig_by_hand(model, x, baseline, target, steps, times_delta=False)


def _ig_left(model, x, baseline, target, steps):
    return ig_by_hand(model, x, baseline, target, steps,
                      alphas=[k / steps for k in range(steps)])


def _ig_gradient_at_x(model, x, baseline, target, steps):
    return ig_by_hand(model, x, baseline, target, 1, alphas=[1.0], weight=1.0)


def _ig_summed_not_averaged(model, x, baseline, target, steps):
    return ig_by_hand(model, x, baseline, target, steps, weight=1.0)


def _ig_times_x(model, x, baseline, target, steps):
    return ig_by_hand(model, x, baseline, target, steps, times_delta=False) * x


PLAUSIBLE_MISTAKES = [
    ("ece_by_hand", ece_numpy(PROBS, LABELS, BINS, weighted=False), "unweighted mean of gaps"),
    ("ece_by_hand", _global_gap(), "one global gap |accuracy − confidence|"),
    ("ece_by_hand", ece_numpy(PROBS, LABELS, BINS, absolute=False), "signed gaps cancel"),
    ("ece_by_hand", ece_numpy(PROBS, LABELS, 2), "two bins instead of five"),
    ("ece_function", lambda p, y, n: ece_numpy(p.numpy(), y.numpy(), n, weighted=False),
     "unweighted mean of the bins' gaps"),
    ("ece_function", lambda p, y, n: ece_numpy(p.numpy(), y.numpy(), n, absolute=False),
     "signed gaps"),
    ("ece_function", lambda p, y, n: abs((p.argmax(1) == y).double().mean()
                                         - p.max(1).values.mean()).item(), "one global gap"),
    ("ece_function", lambda p, y, n: ece_numpy(p.numpy(), y.numpy(), n - 1), "one bin short"),
    ("softmax_temperature_by_hand", 1 / (1 + math.exp(-4)), "multiplied by T"),
    ("softmax_temperature_by_hand", 1 / (1 + math.exp(-2)), "forgot the temperature"),
    ("softmax_temperature_by_hand", 0.5 * 1 / (1 + math.exp(-2)), "halved the probability"),
    ("softmax_with_temperature", lambda z, t: torch.softmax(z * t, -1), "multiplied by T"),
    ("softmax_with_temperature", lambda z, t: torch.softmax(z, -1) / t, "divided the softmax"),
    ("softmax_with_temperature", lambda z, t: torch.softmax(z / t, 0), "softmax over the batch"),
    ("softmax_with_temperature", lambda z, t: torch.softmax(z, -1) ** (1 / t),
     "powered, not renormalised"),
    ("integrated_gradients_midpoint", _ig_no_delta, "forgot to multiply by x − baseline"),
    ("integrated_gradients_midpoint", _ig_left, "left Riemann points instead of midpoints"),
    ("integrated_gradients_midpoint", _ig_gradient_at_x, "gradient × input at x only"),
    ("integrated_gradients_midpoint", _ig_summed_not_averaged, "summed, not averaged"),
    ("integrated_gradients_midpoint", _ig_times_x, "multiplied by x, not x − baseline"),
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
    for case in CHECKS["ece_function"].cases:
        p, y, n = case
        assert CHECKS["ece_function"].reference(*case) == pytest.approx(
            ece_numpy(p.numpy(), y.numpy(), n), rel=1e-6)
    for case in CHECKS["softmax_with_temperature"].cases:
        np.testing.assert_allclose(CHECKS["softmax_with_temperature"].reference(*case).numpy(),
                                   softmax_t_numpy(*case), rtol=1e-12)
    for case in CHECKS["integrated_gradients_midpoint"].cases:
        torch.testing.assert_close(CHECKS["integrated_gradients_midpoint"].reference(*case),
                                   ig_by_hand(*case), rtol=1e-10, atol=1e-12)


def test_integrated_gradients_cases_are_nearly_complete():
    """Completeness: the attributions add up to the score's change (the exercise's last
    cell), to within the midpoint rule's error."""
    for model, x, baseline, target, steps in CHECKS["integrated_gradients_midpoint"].cases:
        attributions = ig_by_hand(model, x, baseline, target, steps)
        with torch.no_grad():
            change = (model(x) - model(baseline))[0, target].item()
        assert attributions.sum().item() == pytest.approx(change, rel=0.02, abs=1e-3)


def test_the_typed_answers_are_the_numbers_the_exercises_describe():
    assert CHECKS["ece_by_hand"].reference() == pytest.approx(2.02 / 7, rel=1e-6)
    assert CHECKS["softmax_temperature_by_hand"].reference() == pytest.approx(
        1 / (1 + math.exp(-(LOGITS[0] - LOGITS[1]) / TEMPERATURE)))
