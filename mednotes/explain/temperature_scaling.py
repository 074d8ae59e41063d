"""Temperature scaling: one number that makes an overconfident network's probabilities honest.

Guo et al. (2017) found that modern networks are overconfident, and that dividing the logits
by a single temperature ``T > 1``, fitted on held-out data, fixes most of it. The predicted
class never changes (dividing by ``T`` keeps the order of the logits), so accuracy, Dice and
every threshold at 0.5 stay as they were; only the confidence moves.

``T`` minimises the negative log-likelihood (the cross-entropy) of the validation labels
under ``softmax(z / T)``. As a function of ``β = 1 / T`` that loss is convex (a log-sum-exp
minus a linear term), so a safeguarded Newton search in ``β`` finds the unique minimum.
"""

from __future__ import annotations

import math

import torch

from mednotes._checks import check_number, check_tensor
from mednotes._labels import check_index_values

__all__ = ["BOUNDS", "apply_temperature", "temperature_nll", "temperature_scaling"]

#: The temperatures searched: T in [BOUNDS[0], BOUNDS[1]].
BOUNDS = (1e-3, 1e3)


def _flat(logits: object, target: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(M, K)`` in float64 (one channel z becomes the two classes [0, z]) and
    labels ``(M,)``."""
    logits = check_tensor("logits", logits)
    if logits.dim() < 2:
        raise ValueError(f"logits must be (N, C) or (N, C, *spatial), got shape "
                         f"{tuple(logits.shape)}")
    if not isinstance(target, torch.Tensor) or target.is_floating_point() \
            or target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"target must be an integer tensor of class indices, got "
                        f"{target.dtype if isinstance(target, torch.Tensor) else type(target).__name__}")
    wanted = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != wanted:
        raise ValueError(f"target must hold class indices of shape {wanted} for logits of "
                         f"shape {tuple(logits.shape)}, got {tuple(target.shape)}")
    if target.device != logits.device:
        raise ValueError(f"target is on {target.device}, logits are on {logits.device}")
    if logits.numel() == 0:
        raise ValueError("logits are empty: nothing to fit a temperature on")
    channels = logits.shape[1]
    check_index_values("target", target, max(channels, 2))
    z = logits.detach().double().movedim(1, -1).reshape(-1, channels)
    if not bool(torch.isfinite(z).all()):
        raise ValueError("logits hold NaN or infinite values")
    if channels == 1:
        z = torch.cat([torch.zeros_like(z), z], 1)
    return z, target.reshape(-1).long()


def temperature_nll(logits: torch.Tensor, target: torch.Tensor,
                    temperature: float) -> float:
    """Mean negative log-likelihood of ``target`` under ``softmax(logits / temperature)``.

    Example:
        >>> round(temperature_nll(torch.tensor([[2.0, 0.0]]), torch.tensor([0]), 2.0), 4)
        0.3133
    """
    z, y = _flat(logits, target)
    t = check_number("temperature", temperature, 0.0, open_low=True)
    return float(torch.nn.functional.cross_entropy(z / t, y))


def _slope(z: torch.Tensor, y: torch.Tensor, beta: float) -> tuple[float, float]:
    """d/dβ and d²/dβ² of the mean NLL at β: E_p[z] - z_y and Var_p[z], averaged."""
    p = torch.softmax(beta * z, 1)
    mean = (p * z).sum(1)
    picked = z.gather(1, y[:, None])[:, 0]
    variance = (p * (z - mean[:, None]) ** 2).sum(1)
    return float((mean - picked).mean()), float(variance.mean())


def temperature_scaling(logits: torch.Tensor, target: torch.Tensor) -> float:
    """The temperature ``T`` that minimises the NLL of ``softmax(logits / T)`` on ``target``.

    Fit it on a validation split, never on the test data, and apply it with
    :func:`apply_temperature`. ``T > 1`` softens an overconfident model; ``T < 1`` sharpens
    an underconfident one. If the labels can be fitted perfectly the optimum is ``T → 0``;
    the search stops at ``BOUNDS[0]``.

    Args:
        logits: the network's logits on the validation data (not probabilities).
        target: class indices. For one-channel (sigmoid) logits ``z``, 0 or 1, and the
            probability of 1 is ``sigmoid(z / T)``.

    Shape:
        logits ``(N, C)`` or ``(N, C, *spatial)``, target ``(N,)`` or ``(N, *spatial)``;
        every pixel counts as one prediction.

    Returns:
        ``T`` as a float.

    Explained in: Trust and interpretability.

    Tested against: ``scipy.optimize.minimize_scalar`` on the same NLL, and a drop of the
    expected calibration error on held-out data of an overconfident model.

    Example:
        >>> logits = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [4.0, 0.0]])
        >>> target = torch.tensor([0, 1, 1, 0])          # sure every time, right 3 times of 4:
        >>> # T = 4 / ln 3 gives every answer 75 %
        >>> t = temperature_scaling(logits, target)
        >>> round(t, 3), round(torch.softmax(apply_temperature(logits, t), 1)[0, 0].item(), 3)
        (3.641, 0.75)
    """
    z, y = _flat(logits, target)
    low, high = 1 / BOUNDS[1], 1 / BOUNDS[0]  # the bracket in β = 1 / T
    if _slope(z, y, low)[0] >= 0:
        return BOUNDS[1]
    if _slope(z, y, high)[0] <= 0:
        return BOUNDS[0]
    beta = 1.0
    for _ in range(200):
        slope, curvature = _slope(z, y, beta)
        if slope > 0:
            high = beta
        else:
            low = beta
        step = slope / curvature if curvature > 0 else math.inf
        candidate = beta - step
        if not low < candidate < high:  # Newton left the bracket: bisect (geometrically)
            candidate = math.sqrt(low * high)
        if abs(candidate - beta) <= 1e-12 * beta or high - low <= 1e-12 * beta:
            beta = candidate
            break
        beta = candidate
    return 1 / beta


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature``: calibrated logits, for a softmax or a sigmoid afterwards.

    Example:
        >>> apply_temperature(torch.tensor([[3.0, -1.5]]), 1.5)
        tensor([[ 2., -1.]])
    """
    logits = check_tensor("logits", logits)
    t = check_number("temperature", temperature, 0.0, open_low=True)
    return logits / t
