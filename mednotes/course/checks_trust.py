"""Checks for the trust chapter's practice: the calibration error by hand and as a function,
what a temperature does to a softmax, and Integrated Gradients with its completeness.

Used by ``exercises/14_calibration.ipynb``; the chapter is ``book/applications/04_trust``.
Every reference is computed by the library (``mednotes.metrics``, ``mednotes.explain``),
never written down.
"""

from __future__ import annotations

import torch
from torch import nn

from mednotes.course.compare import Check

#: Exercise 1: seven predictions of a two-class model, and the right classes.
PROBS = ((0.9, 0.1), (0.75, 0.25), (0.58, 0.42), (0.3, 0.7), (0.45, 0.55), (0.95, 0.05),
         (0.85, 0.15))
LABELS = (0, 1, 0, 1, 1, 0, 1)
#: Exercise 1 uses five equal-width bins of confidence.
BINS = 5
#: Exercise 3: two logits and a temperature.
LOGITS, TEMPERATURE = (2.0, 0.0), 2.0


def _ece(probs, labels, n_bins) -> float:
    from mednotes.metrics import expected_calibration_error

    return float(expected_calibration_error(torch.as_tensor(probs, dtype=torch.float64),
                                            torch.as_tensor(labels), n_bins))


def _softmax_t(logits: torch.Tensor, t: float) -> torch.Tensor:
    from mednotes.explain import apply_temperature

    return torch.softmax(apply_temperature(logits, t), -1)


def _ig(model: nn.Module, x: torch.Tensor, baseline: torch.Tensor, target: int,
        steps: int) -> torch.Tensor:
    from mednotes.explain import integrated_gradients

    return integrated_gradients(model, x, target, baseline=baseline, steps=steps,
                                method="riemann_middle")


# ------------------------------------------------------------------------ test inputs


def _ece_cases() -> tuple[tuple, ...]:
    """(probs, labels, n_bins): overconfident, underconfident, three classes, many bins."""
    g = torch.Generator().manual_seed(14)
    cases = []
    for n, classes, sharpen, bins in ((200, 2, 3.0, 10), (300, 3, 0.4, 15), (100, 4, 2.0, 5)):
        truth = torch.randn(n, classes, generator=g, dtype=torch.float64)
        labels = torch.multinomial(torch.softmax(truth, 1), 1, generator=g)[:, 0]
        cases.append((torch.softmax(sharpen * truth, 1), labels, bins))
    return tuple(cases)


def _temperature_cases() -> tuple[tuple, ...]:
    g = torch.Generator().manual_seed(3)
    return ((torch.tensor([[2.0, 0.0]], dtype=torch.float64), 2.0),
            (torch.randn(5, 3, generator=g, dtype=torch.float64) * 4, 0.5),
            (torch.randn(4, 6, generator=g, dtype=torch.float64) * 3, 3.7))


class TinyNet(nn.Module):
    """A small smooth network ``(1, 1, 4, 4) -> (1, 2)`` for the Integrated Gradients check."""

    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(1, 3, 3, padding=1).double()
        self.head = nn.Linear(3, 2).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))

    def forward(self, x):
        return self.head(torch.tanh(self.conv(x)).mean((2, 3)))


def _ig_cases() -> tuple[tuple, ...]:
    g = torch.Generator().manual_seed(7)
    cases = []
    for seed, target, steps in ((0, 1, 20), (1, 0, 50), (2, 1, 8)):
        x = torch.randn(1, 1, 4, 4, generator=g, dtype=torch.float64)
        baseline = torch.zeros_like(x) if seed != 2 else 0.5 * torch.ones_like(x)
        cases.append((TinyNet(seed).eval(), x, baseline, target, steps))
    return tuple(cases)


# ------------------------------------------------------------------------ checks


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    return {
        "ece_by_hand": Check(
            reference=lambda: _ece(PROBS, LABELS, BINS),
            hint="Each prediction's confidence is its larger probability; put it in the bin "
                 "(0.4, 0.6], (0.6, 0.8] or (0.8, 1.0]. In each bin compare the accuracy with "
                 "the mean confidence, take the absolute gap, and weight it by the bin's share "
                 "of all seven predictions."),
        "ece_function": Check(
            reference=_ece, cases=_ece_cases(),
            names=("the overconfident two-class case", "the underconfident three-class case",
                   "the four-class case with five bins"),
            hint="Confidence = probs.max(1), prediction = probs.argmax(1). Bin b holds the "
                 "confidences in (b/n_bins, (b+1)/n_bins]; torch.bucketize with the inner "
                 "edges does that. Sum, over the non-empty bins, count × |accuracy − mean "
                 "confidence|, and divide by the number of predictions."),
        "softmax_temperature_by_hand": Check(
            reference=lambda: float(_softmax_t(torch.tensor(LOGITS, dtype=torch.float64),
                                               TEMPERATURE)[0]),
            hint="Divide each logit by the temperature first, then take the softmax: "
                 "exp(z₀/T) / (exp(z₀/T) + exp(z₁/T))."),
        "softmax_with_temperature": Check(
            reference=_softmax_t, cases=_temperature_cases(),
            names=("the two-logit example", "the sharpening case T < 1", "the six-class case"),
            hint="softmax(z / T) over the last dim: dividing by T > 1 pulls the logits "
                 "together (softer), T < 1 spreads them (sharper). Subtract the row maximum "
                 "before exp, or use torch.softmax."),
        "integrated_gradients_midpoint": Check(
            reference=_ig, cases=_ig_cases(),
            names=("the 20-step case", "the 50-step case for class 0",
                   "the case with a grey baseline"),
            hint="Step k of `steps` takes α = (k + 0.5) / steps and the image "
                 "baseline + α (x − baseline); the gradient of model(image)[0, target] there, "
                 "averaged over the steps (each weighs 1/steps), times (x − baseline), is the "
                 "attribution."),
    }


__all__ = ["BINS", "LABELS", "LOGITS", "PROBS", "TEMPERATURE", "TinyNet", "checks"]
