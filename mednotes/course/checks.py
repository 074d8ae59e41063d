"""Immediate feedback for exercises: ``check(name, answer)`` prints ✅ or ❌ with a hint.

A check knows how to get the reference answer from mednotes itself, and how to compare.
An answer may be a value, or a function that the check calls on its own test inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch


@dataclass(frozen=True)
class Check:
    """One exercise check: the reference, the inputs to try a function on, and a hint."""

    reference: Callable[..., Any]
    hint: str
    cases: tuple[tuple, ...] = ((),)
    rtol: float = 1e-5
    atol: float = 1e-6


def _to_array(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _close(got, expected, check: Check) -> tuple[bool, str]:
    try:
        got_arr = _to_array(got)
    except (TypeError, ValueError):
        return False, f"expected a number or array, got {type(got).__name__}"
    want = _to_array(expected)
    if got_arr.shape != want.shape:
        return False, f"shape {got_arr.shape} where {want.shape} was expected"
    if not np.allclose(got_arr, want, rtol=check.rtol, atol=check.atol, equal_nan=False):
        worst = float(np.max(np.abs(got_arr - want))) if want.size else 0.0
        return False, f"values differ from the reference (largest difference {worst:.3g})"
    return True, ""


def _ct_raw_and_rescale():
    from mednotes.data import ct_slice

    hu, meta = ct_slice()
    slope, intercept = meta["rescale"]
    return ((hu - intercept) / slope).round(), slope, intercept


def _hounsfield_checks() -> dict[str, Check]:
    from mednotes.data import window

    raw, slope, intercept = _ct_raw_and_rescale()
    return {
        "hu_from_raw": Check(
            reference=lambda stored, s, b: stored * s + b,
            cases=((raw, slope, intercept), (torch.tensor([0.0, 1000.0, 2024.0]), 1.0, -1024.0),
                   (torch.tensor([10.0, 20.0]), 0.5, -100.0)),
            hint="HU = stored value × RescaleSlope + RescaleIntercept, element by element.",
        ),
        "window": Check(
            reference=lambda hu, c, w: window(hu, c, w),
            cases=((torch.tensor([-1000.0, -160.0, 40.0, 240.0, 2000.0]), 40.0, 400.0),
                   (torch.linspace(-100, 200, 7), 50.0, 100.0)),
            hint="Map [centre − width/2, centre + width/2] linearly to [0, 1], then clip "
                 "values outside the window to 0 and 1 (torch.clamp).",
        ),
        "water_hu": Check(reference=lambda: 0.0, atol=0.5,
                          hint="Hounsfield units are defined so that water reads exactly 0."),
        "air_hu": Check(reference=lambda: -1000.0, atol=0.5,
                        hint="Air attenuates almost nothing: the scale puts it at −1000."),
    }


def _torch_parameter_count(c_in, c_out, k, bias, dims):
    import torch.nn as nn

    layer = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims](c_in, c_out, k, bias=bias)
    return sum(p.numel() for p in layer.parameters())


def _convolution_checks() -> dict[str, Check]:
    from mednotes.conv import conv_output_size, convolve, correlate, receptive_field

    rng = np.random.default_rng(2024)
    pairs = [(rng.standard_normal((h, w)), rng.standard_normal((kh, kw)))
             for h, w, kh, kw in [(6, 7, 3, 3), (9, 5, 2, 4), (8, 8, 5, 1), (4, 4, 4, 4)]]
    odd_pairs = [(rng.standard_normal((h, w)), rng.standard_normal((k, k)))
                 for h, w, k in [(6, 7, 3), (9, 5, 5), (4, 6, 1)]]
    size_cases = ((128, 3, 1, 1, 1), (128, 3, 2, 1, 1), (127, 7, 2, 3, 1), (64, 3, 1, 2, 2),
                  (32, 5, 3, 0, 1), (10, 4, 1, 0, 3), (224, 7, 2, 3, 1))
    return {
        "conv_output_size": Check(
            reference=lambda n, k, s, p, d: conv_output_size(n, k, stride=s, padding=p, dilation=d),
            cases=size_cases,
            hint="out = floor((n + 2p − d·(k − 1) − 1) / s) + 1: the dilated kernel spans "
                 "d·(k − 1) + 1 pixels, and // in Python is the floor.",
        ),
        "conv_params": Check(
            reference=_torch_parameter_count,
            cases=((3, 64, 3, True, 2), (64, 64, 3, False, 2), (1, 8, 5, True, 3),
                   (16, 32, 1, True, 2), (4, 4, 7, True, 1)),
            hint="Each of the c_out kernels has c_in × k^dims weights, plus one bias per "
                 "output channel when bias=True.",
        ),
        "conv_macs": Check(
            reference=lambda: 128 * 128 * 64 * 64 * 3 * 3,
            hint="Each output value needs c_in × k × k multiply-adds; there are "
                 "c_out × H_out × W_out output values (here H_out = W_out = 128).",
        ),
        "receptive_field": Check(
            reference=lambda: receptive_field([(3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)])[-1].size,
            hint="r grows by (k − 1) × jump at each layer, and the jump (the product of the "
                 "strides so far) multiplies after a stride-2 layer: 1 → 3 → 5 → 6 → 10.",
        ),
        "correlate_loops": Check(
            reference=lambda f, g: correlate(f, g, mode="valid"), cases=tuple(pairs),
            hint="out[i, j] = sum over u, v of g[u, v] * f[i + u, j + v], for i in "
                 "range(H − kh + 1) and j in range(W − kw + 1).",
        ),
        "convolve_loops": Check(
            reference=lambda f, g: convolve(f, g, mode="valid"), cases=tuple(pairs),
            hint="Convolution is cross-correlation with the kernel flipped in both axes: "
                 "g[::-1, ::-1] (or np.flip(g)).",
        ),
        "correlate_same": Check(
            reference=lambda f, g: correlate(f, g, mode="same"), cases=tuple(odd_pairs),
            hint="Pad the image with k // 2 zeros on every side (np.pad), then do the valid "
                 "cross-correlation: the output then has the input's size.",
        ),
    }


def _layer_checks() -> dict[str, Check]:
    from mednotes.layers import ConvNormAct, batch_norm

    def running_statistics(running_mean, running_var, x, momentum):
        mean, var = running_mean.clone(), running_var.clone()
        batch_norm(x, mean, var, training=True, momentum=momentum)  # updates the clones
        return mean, var

    def block_parameters(c_in, c_out, k, dim, norm, bias):
        block = ConvNormAct(c_in, c_out, k, dim=dim, norm=norm, bias=bias)
        return sum(p.numel() for p in block.parameters())

    def block_macs(c_in, c_out, k, dim, size, stride):
        # Run the block's own convolution and count: each output value costs c_in * k^dim
        # multiply-adds.
        conv = ConvNormAct(c_in, c_out, k, dim=dim, stride=stride).conv
        with torch.no_grad():
            out = conv(torch.zeros((1, c_in) + (size,) * dim))
        return out.numel() * c_in * k**dim

    g = torch.Generator().manual_seed(2025)

    def batch(*shape, scale=1.0, shift=0.0):
        return shift + scale * torch.randn(*shape, generator=g, dtype=torch.float64)

    tiny = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [2.0, 6.0]]],
                         [[[5.0, 6.0], [7.0, 8.0]], [[4.0, -4.0], [0.0, 0.0]]]],
                        dtype=torch.float64)  # (N=2, C=2, 2, 2), easy to do on paper
    inputs = [tiny, batch(4, 3, 5, 5, scale=3.0, shift=2.0), batch(2, 2, 3, 4, 4, shift=-1.0),
              batch(8, 1, 6, 6, scale=0.1)]
    per_channel = [(torch.linspace(0.5, 2.0, x.shape[1], dtype=torch.float64),
                    torch.linspace(-1.0, 1.0, x.shape[1], dtype=torch.float64)) for x in inputs]
    eps_values = (1e-5, 1e-5, 1e-3, 1e-5)
    running = [(batch(x.shape[1], scale=0.5), 1.0 + batch(x.shape[1]).abs()) for x in inputs]
    return {
        "batchnorm_stats": Check(
            reference=lambda x: (x.mean((0, *range(2, x.dim()))),
                                 x.var((0, *range(2, x.dim())), unbiased=False)),
            cases=tuple((x,) for x in inputs),
            hint="Both are per channel (dim 1), over every other dim: the batch and all "
                 "positions. The variance is the biased one: divide by the count (n), not n − 1 "
                 "(torch: unbiased=False).",
        ),
        "batchnorm_train": Check(
            reference=lambda x, gamma, beta, eps: batch_norm(x, None, None, gamma, beta,
                                                             training=True, eps=eps),
            cases=tuple((x, gm, bt, e) for x, (gm, bt), e in zip(inputs, per_channel, eps_values)),
            hint="(x − mean) / sqrt(var + eps) with the batch's per-channel mean and biased "
                 "variance, then × gamma + beta; reshape the (C,) vectors to (1, C, 1, 1) "
                 "(or (1, C, 1, 1, 1)) so that they broadcast over channels.",
        ),
        "batchnorm_running": Check(
            reference=running_statistics,
            cases=tuple((rm, rv, x, m) for (rm, rv), x, m in zip(running, inputs,
                                                                 (0.1, 0.1, 0.5, 0.01))),
            hint="new = (1 − momentum) × old + momentum × batch statistic; for the variance "
                 "use the unbiased batch variance, n / (n − 1) times the biased one, with n "
                 "= N × H × W values per channel.",
        ),
        "batchnorm_eval": Check(
            reference=lambda x, rm, rv, gamma, beta, eps: batch_norm(
                x, rm, rv, gamma, beta, training=False, eps=eps),
            cases=tuple((x, rm, rv, gm, bt, e) for x, (rm, rv), (gm, bt), e in
                        zip(inputs, running, per_channel, eps_values)),
            hint="In evaluation mode the batch's own statistics are not used at all: "
                 "(x − running_mean) / sqrt(running_var + eps) × gamma + beta.",
        ),
        "block_params": Check(
            reference=block_parameters,
            cases=((1, 16, 3, 2, "batch", False), (16, 32, 3, 2, "batch", True),
                   (32, 64, 3, 3, "instance", False), (8, 16, 5, 2, "group", True),
                   (4, 8, 1, 3, None, True), (64, 64, 3, 3, "layer", True)),
            hint="conv weights c_out × c_in × k^dim, plus c_out if bias; every normalization "
                 "here adds a γ and a β per output channel (2 × c_out), None adds nothing.",
        ),
        "block_default_bias": Check(
            reference=lambda norm: ConvNormAct(8, 8, 3, norm=norm).conv.bias is not None,
            cases=(("batch",), ("instance",), ("group",), ("layer",), (None,)),
            hint="A per-channel mean subtraction right after the convolution (batch and "
                 "instance norm) removes any per-channel bias; group and layer norm subtract "
                 "one mean per group of channels, and without a norm nothing removes it.",
        ),
        "block_macs": Check(
            reference=block_macs,
            cases=((1, 32, 3, 2, 128, 1), (32, 64, 3, 2, 64, 2), (16, 16, 3, 3, 20, 1),
                   (32, 64, 3, 3, 16, 2), (8, 8, 5, 2, 33, 2), (4, 8, 3, 3, 15, 2)),
            hint="MACs = (number of output values) × c_in × k^dim. With 'same' padding "
                 "(k // 2 zeros per side) each axis has ceil(size / stride) outputs, and there "
                 "are c_out output channels.",
        ),
        "encoder_stage_params": Check(
            reference=lambda: sum(p.numel() for p in torch.nn.Sequential(
                ConvNormAct(32, 64, 3, dim=3, norm="instance", act="leaky_relu"),
                ConvNormAct(64, 64, 3, dim=3, norm="instance", act="leaky_relu")).parameters()),
            hint="Two blocks: 64 × 32 × 27 and 64 × 64 × 27 weights, no conv bias before "
                 "instance norm, and 2 × 64 γ/β per block.",
        ),
    }


def _register() -> dict[str, Check]:
    from mednotes.course.pooling_checks import pooling_checks

    return {**_hounsfield_checks(), **_convolution_checks(), **pooling_checks(),
            **_layer_checks()}


CHECKS: dict[str, Check] = {}


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`~mednotes.course.check`; true when the answer passed."""

    name: str
    passed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """Show nothing in a notebook: check() has already printed the verdict."""


def _checks() -> dict[str, Check]:
    # Built on first use: the references load images, which import time should not pay for.
    if not CHECKS:
        CHECKS.update(_register())
    return CHECKS


def check(name: str, answer: Any) -> Verdict:
    """Compare ``answer`` with the reference for exercise ``name``; print a verdict.

    Args:
        name: the exercise's check name (see ``mednotes.course.CHECKS``).
        answer: a value, or a function that will be called on the check's test inputs.

    Returns:
        A :class:`~mednotes.course.checks.Verdict`, true when the answer matches the reference (a notebook shows only
        the printed line).

    Explained in: every hands-on practice.

    Example:
        >>> check("water_hu", 0)
        ✅ water_hu: correct.
        Verdict(name='water_hu', passed=True, reason='')
        >>> bool(check("air_hu", 0))
        ❌ air_hu: values differ from the reference (largest difference 1e+03).
           Hint: Air attenuates almost nothing: the scale puts it at −1000.
        False
    """
    checks = _checks()
    if name not in checks:
        raise ValueError(f"unknown check {name!r}; known checks: {', '.join(sorted(checks))}")
    spec = checks[name]
    ok, why = True, ""
    for args in spec.cases:
        expected = spec.reference(*args)
        try:
            got = answer(*args) if callable(answer) else answer
        except NotImplementedError:
            ok, why = False, "not implemented yet: replace the `raise NotImplementedError` line"
            break
        except Exception as err:  # the student's code failed: report it as a verdict
            ok, why = False, f"your code raised {type(err).__name__}: {err}"
            break
        ok, why = _close(got, expected, spec)
        if not ok:
            break
    if ok:
        print(f"✅ {name}: correct.")
    else:
        print(f"❌ {name}: {why}.\n   Hint: {spec.hint}")
    return Verdict(name, ok, why)
