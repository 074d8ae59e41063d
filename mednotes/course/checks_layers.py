"""Checks for the layers chapter's practices: batch norm by hand, and counting a ConvNormAct.

Used by ``exercises/03_batchnorm_by_hand.ipynb`` and
``exercises/04_convnormact_counting.ipynb``; the chapter is ``book/principles/02_layers``.
"""

from __future__ import annotations

import torch

from mednotes.course.compare import Check, refined
from mednotes.layers import ConvNormAct, batch_norm

# ------------------------------------------------------------------------ references


def _batch_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance, over the batch and every position."""
    dims = (0, *range(2, x.dim()))
    return x.mean(dims), x.var(dims, unbiased=False)


def _running_statistics(running_mean, running_var, x, momentum):
    """The running mean and variance after one training step, from the library's batch norm."""
    mean, var = running_mean.clone(), running_var.clone()
    batch_norm(x, mean, var, training=True, momentum=momentum)  # updates the clones in place
    return mean, var


def _block_parameters(c_in, c_out, k, dim, norm, bias):
    block = ConvNormAct(c_in, c_out, k, dim=dim, norm=norm, bias=bias)
    return sum(p.numel() for p in block.parameters())


def _block_macs(c_in, c_out, k, dim, size, stride):
    # Run the block's own convolution and count: each output value costs c_in * k^dim
    # multiply-adds.
    conv = ConvNormAct(c_in, c_out, k, dim=dim, stride=stride).conv
    with torch.no_grad():
        out = conv(torch.zeros((1, c_in) + (size,) * dim))
    return out.numel() * c_in * k**dim


def _encoder_stage_parameters() -> int:
    stage = torch.nn.Sequential(
        ConvNormAct(32, 64, 3, dim=3, norm="instance", act="leaky_relu"),
        ConvNormAct(64, 64, 3, dim=3, norm="instance", act="leaky_relu"))
    return sum(p.numel() for p in stage.parameters())


# ------------------------------------------------------------------------ checks


def _batchnorm_inputs() -> tuple[list, list, tuple, list]:
    """Batches to normalize, with per-channel (gamma, beta), eps and running statistics."""
    g = torch.Generator().manual_seed(2025)

    def batch(*shape, scale=1.0, shift=0.0):
        return shift + scale * torch.randn(*shape, generator=g, dtype=torch.float64)

    tiny = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [2.0, 6.0]]],
                         [[[5.0, 6.0], [7.0, 8.0]], [[4.0, -4.0], [0.0, 0.0]]]],
                        dtype=torch.float64)  # (N=2, C=2, 2, 2), easy to do on paper
    inputs = [tiny, batch(4, 3, 5, 5, scale=3.0, shift=2.0), batch(2, 2, 3, 4, 4, shift=-1.0),
              batch(8, 1, 6, 6, scale=0.1)]
    affine = [(torch.linspace(0.5, 2.0, x.shape[1], dtype=torch.float64),
               torch.linspace(-1.0, 1.0, x.shape[1], dtype=torch.float64)) for x in inputs]
    eps_values = (1e-5, 1e-5, 1e-3, 1e-5)
    running = [(batch(x.shape[1], scale=0.5), 1.0 + batch(x.shape[1]).abs()) for x in inputs]
    return inputs, affine, eps_values, running


def _batchnorm_checks() -> dict[str, Check]:
    """Exercise 03: batch statistics, training-mode output, running statistics, eval mode."""
    inputs, affine, eps_values, running = _batchnorm_inputs()
    return {
        "batchnorm_stats": Check(
            reference=_batch_statistics, cases=tuple((x,) for x in inputs),
            hint="Both are per channel (dim 1), over every other dim: the batch and all "
                 "positions. The variance is the biased one: divide by the count (n), not n − 1 "
                 "(torch: unbiased=False).",
        ),
        "batchnorm_train": Check(
            reference=lambda x, gamma, beta, eps: batch_norm(x, None, None, gamma, beta,
                                                             training=True, eps=eps),
            cases=tuple((x, gm, bt, e) for x, (gm, bt), e in zip(inputs, affine, eps_values)),
            hint="(x − mean) / sqrt(var + eps) with the batch's per-channel mean and biased "
                 "variance, then × gamma + beta; reshape the (C,) vectors to (1, C, 1, 1) "
                 "(or (1, C, 1, 1, 1)) so that they broadcast over channels.",
        ),
        "batchnorm_running": Check(
            reference=_running_statistics,
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
                        zip(inputs, running, affine, eps_values)),
            hint="In evaluation mode the batch's own statistics are not used at all: "
                 "(x − running_mean) / sqrt(running_var + eps) × gamma + beta.",
        ),
    }


def _block_checks() -> dict[str, Check]:
    """Exercise 04: parameters, default bias and multiply-adds of a ConvNormAct block."""
    return {
        "block_params": Check(
            reference=_block_parameters,
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
            reference=_block_macs,
            cases=((1, 32, 3, 2, 128, 1), (32, 64, 3, 2, 64, 2), (16, 16, 3, 3, 20, 1),
                   (32, 64, 3, 3, 16, 2), (8, 8, 5, 2, 33, 2), (4, 8, 3, 3, 15, 2)),
            hint="MACs = (number of output values) × c_in × k^dim. With 'same' padding "
                 "(k // 2 zeros per side) each axis has ceil(size / stride) outputs, and there "
                 "are c_out output channels.",
        ),
        "encoder_stage_params": Check(
            reference=_encoder_stage_parameters,
            hint="Count each block on its own, then add them: the convolution's weights "
                 "(c_out × c_in × k³), its bias only if it has one (Exercise 2: which norms "
                 "leave it out?) and the norm's γ and β, one of each per output channel.",
        ),
    }


#: The first hint of each check: the idea, before the formula or the step.
IDEAS = {
    "batchnorm_stats": (
        "Batch norm keeps one mean and one variance per channel, taken over everything "
        "else in the batch."
    ),
    "batchnorm_train": (
        "In training, batch norm standardizes each channel with the batch's own "
        "statistics, then rescales and shifts it with learned parameters."
    ),
    "batchnorm_running": (
        "The running statistics are an exponential moving average of the batch "
        "statistics; check which variance PyTorch keeps."
    ),
    "batchnorm_eval": (
        "In evaluation mode batch norm must not depend on the other images of the "
        "batch."
    ),
    "block_params": (
        "Add the parameters of the convolution and those of the normalization after it."
    ),
    "block_default_bias": (
        "A bias is useless when the next operation subtracts a per-channel mean anyway."
    ),
    "block_macs": (
        "Only the convolution costs multiply-adds worth counting: count its output "
        "values and the products each needs."
    ),
    "encoder_stage_params": (
        "A stage is two blocks one after the other; each block is a convolution plus "
        "its normalization."
    ),
}

#: What the feedback calls each test input of the function exercises.
CASE_NAMES = {
    "batchnorm_stats": (
        "the small 2×2×2×2 batch you can do on paper",
        "the 4×3×5×5 batch",
        "the 5-D volume case",
        "the one-channel batch with a small spread",
    ),
    "batchnorm_train": (
        "the small 2×2×2×2 batch you can do on paper",
        "the 4×3×5×5 batch",
        "the 5-D volume case",
        "the one-channel batch with a small spread",
    ),
    "batchnorm_eval": (
        "the small 2×2×2×2 batch you can do on paper",
        "the 4×3×5×5 batch",
        "the 5-D volume case",
        "the one-channel batch with a small spread",
    ),
    "batchnorm_running": (
        "the small 2×2×2×2 batch you can do on paper (momentum 0.1)",
        "the 4×3×5×5 batch (momentum 0.1)",
        "the 5-D volume case (momentum 0.5)",
        "the one-channel batch with a small spread (momentum 0.01)",
    ),
    "block_params": (
        "the 2-D batch-norm case",
        "the batch-norm case with a bias",
        "the 3-D instance-norm case",
        "the group-norm case",
        "the case without a norm (1×1×1)",
        "the 3-D layer-norm case",
    ),
    "block_default_bias": (
        "the batch-norm case",
        "the instance-norm case",
        "the group-norm case",
        "the layer-norm case",
        "the case without a norm",
    ),
    "block_macs": (
        "the 2-D stride-1 case",
        "the 2-D stride-2 case",
        "the 3-D stride-1 case",
        "the 3-D stride-2 case",
        "the odd-size stride-2 case (5×5 kernel)",
        "the 3-D odd-size stride-2 case",
    ),
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    return refined({**_batchnorm_checks(), **_block_checks()}, ideas=IDEAS, names=CASE_NAMES)


__all__ = ["CASE_NAMES", "IDEAS", "checks"]
