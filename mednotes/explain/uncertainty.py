"""Uncertainty from several predictions: MC dropout and deep ensembles.

One softmax is one opinion, and its confidence is often too high. Asking several slightly
different networks and looking at how much they disagree gives a second signal:

- **MC dropout** (Gal and Ghahramani, 2016): keep dropout switched on at test time and run
  the same network ``T`` times; each pass drops different units.
- **Deep ensembles** (Lakshminarayanan et al., 2017): train a few networks from different
  random starts and average them.

From the ``T`` probability maps ``p_t`` come the mean ``p̄``, the predictive entropy
``H[p̄] = -Σ_c p̄_c log p̄_c`` (total uncertainty), the mutual information
``H[p̄] - mean_t H[p_t]`` (the part due to disagreement between the samples) and the
variance of each class's probability across samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from mednotes._checks import check_int, describe, is_int
from mednotes.explain._target import check_images, check_model

__all__ = ["Uncertainty", "ensemble_predict", "error_auroc", "mc_dropout_predict",
           "summarise_samples"]


class Uncertainty(NamedTuple):
    """The summary of ``T`` sampled predictions.

    ``mean`` and ``variance`` are ``(N, C, *spatial)``; ``entropy`` and
    ``mutual_information`` are ``(N, *spatial)``, in nats.
    """

    mean: torch.Tensor
    entropy: torch.Tensor
    mutual_information: torch.Tensor
    variance: torch.Tensor


def _entropy(p: torch.Tensor, dim: int) -> torch.Tensor:
    return -torch.special.xlogy(p, p).sum(dim)


def summarise_samples(probs: torch.Tensor) -> Uncertainty:
    """Mean, predictive entropy, mutual information and variance of sampled probabilities.

    Args:
        probs: ``(T, N, C, *spatial)`` probabilities (each pixel's channels summing to one),
            or ``(T, N, 1, *spatial)`` foreground probabilities of a sigmoid network.

    Example:
        >>> agree = torch.tensor([[[0.9, 0.1]], [[0.9, 0.1]]])       # two samples, one image
        >>> disagree = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
        >>> [round(summarise_samples(p).mutual_information.item(), 3) for p in (agree, disagree)]
        [0.0, 0.693]
    """
    if not isinstance(probs, torch.Tensor) or not probs.is_floating_point() or probs.dim() < 3:
        raise ValueError(f"probs must be sampled probabilities (T, N, C, *spatial), got "
                         f"{describe(probs)}")
    probs = probs.float() if probs.dtype in (torch.float16, torch.bfloat16) else probs
    two = torch.cat([1 - probs, probs], 2) if probs.shape[2] == 1 else probs
    mean = two.mean(0)
    entropy = _entropy(mean, 1)
    expected = _entropy(two, 2).mean(0)
    return Uncertainty(probs.mean(0), entropy, (entropy - expected).clamp(min=0),
                       probs.var(0, correction=0))


def _probabilities(output: object) -> torch.Tensor:
    if not isinstance(output, torch.Tensor) or output.dim() < 2:
        raise ValueError(f"the model must return logits (N, C) or (N, C, *spatial), got "
                         f"{describe(output)}")
    output = output.float() if output.dtype in (torch.float16, torch.bfloat16) else output
    return torch.sigmoid(output) if output.shape[1] == 1 else torch.softmax(output, 1)


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """The dropout modules of ``model`` (every ``nn.Dropout*`` and ``nn.AlphaDropout``)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


def mc_dropout_predict(model: nn.Module, x: torch.Tensor, samples: int = 20, *,
                       seed: int | None = None) -> Uncertainty:
    """``samples`` forward passes with dropout on and everything else in eval mode.

    Batch norm keeps its running statistics (eval mode), so that the only randomness is
    dropout's; the modules' modes are restored afterwards. Dropout written as a function
    call (``F.dropout(x, training=self.training)``) is not found: use ``nn.Dropout``.

    Args:
        model: a network with at least one ``nn.Dropout`` module; logits out, softmax over
            the channels (sigmoid for one channel).
        x: a batch of images.
        samples: forward passes ``T``.
        seed: seed the dropout masks (the global random state is left as it was); None
            draws from the global generator.

    Returns:
        :class:`Uncertainty` of the ``T`` probability maps.

    Explained in: Trust and interpretability.

    Tested against: a loop of forward passes with the dropout modules set to training mode
    by hand, under the same seed; batch norm's statistics checked untouched.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, 3))
        >>> out = mc_dropout_predict(net, torch.randn(4, 2, 2, 2), samples=10, seed=1)
        >>> out.mean.shape, out.entropy.shape, net.training
        (torch.Size([4, 3]), torch.Size([4]), True)
    """
    model = check_model(model)
    x = check_images(x)
    samples = check_int("samples", samples, 1)
    if seed is not None and not is_int(seed):
        raise TypeError(f"seed must be an int or None, got {describe(seed)}")
    drops = dropout_layers(model)
    if not drops:
        raise ValueError(f"model ({type(model).__name__}) has no nn.Dropout module: MC dropout "
                         "needs one (dropout through F.dropout cannot be switched on)")
    modes = [(m, m.training) for m in model.modules()]
    devices = [x.device] if x.device.type == "cuda" else []
    try:
        model.eval()
        for m in drops:
            m.train()
        with torch.no_grad(), torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(int(seed))
            probs = torch.stack([_probabilities(model(x)) for _ in range(samples)])
    finally:
        for m, mode in modes:
            m.training = mode
    return summarise_samples(probs)


def ensemble_predict(models: Sequence[nn.Module], x: torch.Tensor) -> Uncertainty:
    """The members' probabilities, in eval mode, summarised as :class:`Uncertainty`.

    Args:
        models: two or more trained networks with the same outputs (their modes are
            restored afterwards).
        x: a batch of images.

    Returns:
        :class:`Uncertainty` over the members.

    Explained in: Trust and interpretability.

    Tested against: the members' softmaxes averaged by hand, and the entropies computed with
    ``torch.distributions.Categorical``.

    Example:
        >>> nets = [nn.Sequential(nn.Flatten(), nn.Linear(4, 2)) for _ in range(3)]
        >>> out = ensemble_predict(nets, torch.randn(5, 1, 2, 2))
        >>> out.mean.shape, bool(torch.allclose(out.mean.sum(1), torch.ones(5)))
        (torch.Size([5, 2]), True)
    """
    if isinstance(models, nn.Module) or not isinstance(models, Sequence) or len(models) < 2:
        raise TypeError(f"models must be a list of two or more networks, got {describe(models)}")
    for i, model in enumerate(models):
        if not isinstance(model, nn.Module):
            raise TypeError(f"models[{i}] must be a torch.nn.Module, got {describe(model)}")
    x = check_images(x)
    probs = []
    for model in models:
        mode = [(m, m.training) for m in model.modules()]
        try:
            model.eval()
            with torch.no_grad():
                probs.append(_probabilities(model(x)))
        finally:
            for m, was in mode:
                m.training = was
    shapes = {tuple(p.shape) for p in probs}
    if len(shapes) > 1:
        raise ValueError(f"the members' outputs differ in shape: {sorted(shapes)}")
    return summarise_samples(torch.stack(probs))


def error_auroc(uncertainty: torch.Tensor, wrong: torch.Tensor) -> float:
    """How well an uncertainty score separates wrong predictions from right ones: the area
    under the ROC curve of ``uncertainty`` as a detector of ``wrong``.

    1 means every wrong prediction is more uncertain than every right one; 0.5 is chance.
    Ties count one half (the Mann-Whitney statistic). Pixels of a map count one by one.

    Args:
        uncertainty: any score, higher = less sure (e.g. ``Uncertainty.entropy``).
        wrong: bool, the same shape: where the prediction was wrong.

    Returns:
        The AUROC as a float; NaN when all predictions are right or all are wrong.

    Explained in: Trust and interpretability.

    Tested against: ``sklearn.metrics.roc_auc_score``.

    Example:
        >>> error_auroc(torch.tensor([0.1, 0.9, 0.4, 0.8]), torch.tensor([False, True, False, False]))
        1.0
    """
    if not isinstance(uncertainty, torch.Tensor) or not uncertainty.is_floating_point():
        raise TypeError(f"uncertainty must be a floating-point tensor, got {describe(uncertainty)}")
    if not isinstance(wrong, torch.Tensor) or wrong.dtype != torch.bool:
        raise TypeError(f"wrong must be a bool tensor (prediction != target), got "
                        f"{describe(wrong)}")
    if wrong.shape != uncertainty.shape:
        raise ValueError(f"wrong has shape {tuple(wrong.shape)}, uncertainty has "
                         f"{tuple(uncertainty.shape)}")
    u, w = uncertainty.detach().double().flatten().cpu(), wrong.flatten().cpu()
    n_wrong = int(w.sum())
    n_right = w.numel() - n_wrong
    if n_wrong == 0 or n_right == 0:
        return float("nan")
    order = torch.argsort(u)
    sorted_u = u[order]
    ranks = torch.empty_like(u)
    ranks[order] = torch.arange(1, u.numel() + 1, dtype=torch.float64)
    # ties share the mean of their ranks
    values, inverse, counts = torch.unique(sorted_u, return_inverse=True, return_counts=True)
    if len(values) < len(u):
        ends = torch.cumsum(counts, 0).double()
        mean_rank = ends - (counts.double() - 1) / 2
        ranks[order] = mean_rank[inverse]
    return float((ranks[w].sum() - n_wrong * (n_wrong + 1) / 2) / (n_wrong * n_right))
