"""Activations and their derivatives: ReLU, leaky ReLU and ELU.

Each is a function, an ``nn.Module`` and a derivative. The derivatives are what backpropagation
multiplies by at each unit; the chapter plots them to show where gradients die (ReLU's zero for
every negative input), where they leak (leaky ReLU's small slope) and where they fade smoothly
(ELU's ``alpha * exp(x)``).

At ``x = 0``, where ReLU has a kink and no derivative, we take the value torch's autograd uses:
0 for ReLU, ``negative_slope`` for leaky ReLU, ``alpha`` for ELU. The derivative functions
therefore agree with ``torch.autograd`` everywhere.
"""

from __future__ import annotations

import torch
from torch import nn

from mednotes._amp import autocast_off
from mednotes._checks import check_choice, check_number, check_tensor

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "LeakyReLU",
    "ReLU",
    "derivative",
    "elu",
    "elu_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "relu",
    "relu_grad",
]

#: The names that :func:`derivative` and :class:`mednotes.layers.ConvNormAct` accept.
ACTIVATIONS = ("relu", "leaky_relu", "elu")


def relu(x: torch.Tensor) -> torch.Tensor:
    """Rectified linear unit, ``max(x, 0)``, elementwise.

    Args:
        x: a floating-point tensor.

    Shape:
        any; the output has the shape of ``x``.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.functional.relu`` (values and gradients).

    Example:
        >>> relu(torch.tensor([-2.0, 0.0, 3.0]))
        tensor([0., 0., 3.])
    """
    x = check_tensor("x", x)
    # `x <= 0` rather than `x > 0` as the test, so that a NaN passes through (as in torch)
    # instead of being hidden as a zero.
    with autocast_off(x.device.type):  # elementwise: in x's dtype, as torch's own
        return torch.where(x <= 0, torch.zeros_like(x), x)


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """Leaky ReLU: ``x`` where positive, ``negative_slope * x`` elsewhere.

    Args:
        x: a floating-point tensor.
        negative_slope: the slope for negative inputs; a small positive value keeps a gradient
            flowing through units that ReLU would switch off.

    Shape:
        any; the output has the shape of ``x``.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.functional.leaky_relu`` (values and gradients).

    Example:
        >>> leaky_relu(torch.tensor([-2.0, 0.0, 3.0]), negative_slope=0.1)
        tensor([-0.2000,  0.0000,  3.0000])
    """
    x = check_tensor("x", x)
    negative_slope = check_number("negative_slope", negative_slope)
    with autocast_off(x.device.type):  # elementwise: in x's dtype, as torch's own
        return torch.where(x > 0, x, x * negative_slope)


def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Exponential linear unit: ``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere.

    Args:
        x: a floating-point tensor.
        alpha: the value that the output approaches for very negative inputs is ``-alpha``.

    Shape:
        any; the output has the shape of ``x``.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.functional.elu`` (values and gradients).

    Example:
        >>> elu(torch.tensor([-20.0, 0.0, 3.0]))
        tensor([-1.,  0.,  3.])
    """
    x = check_tensor("x", x)
    alpha = check_number("alpha", alpha)
    # exp of the clamped input: torch.where differentiates both branches, and exp(x) of a large
    # positive x would overflow to inf there and turn the gradient into inf * 0 = NaN.
    with autocast_off(x.device.type):  # elementwise: in x's dtype, as torch's own
        return torch.where(x > 0, x, alpha * torch.expm1(x.clamp(max=0)))


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """Derivative of :func:`relu`: 1 where ``x > 0``, else 0 (also at 0, like autograd).

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.autograd.grad`` of ``torch.nn.functional.relu``.

    Example:
        >>> relu_grad(torch.tensor([-2.0, 0.0, 3.0]))
        tensor([0., 0., 1.])
    """
    x = check_tensor("x", x)
    return (x > 0).to(x.dtype)


def leaky_relu_grad(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """Derivative of :func:`leaky_relu`: 1 where ``x > 0``, else ``negative_slope``.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.autograd.grad`` of ``torch.nn.functional.leaky_relu``.

    Example:
        >>> leaky_relu_grad(torch.tensor([-2.0, 0.0, 3.0]), negative_slope=0.1)
        tensor([0.1000, 0.1000, 1.0000])
    """
    x = check_tensor("x", x)
    negative_slope = check_number("negative_slope", negative_slope)
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, negative_slope))


def elu_grad(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Derivative of :func:`elu`: 1 where ``x > 0``, else ``alpha * exp(x)``.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.autograd.grad`` of ``torch.nn.functional.elu``.

    Example:
        >>> elu_grad(torch.tensor([-1.0, 0.0, 3.0]))
        tensor([0.3679, 1.0000, 1.0000])
    """
    x = check_tensor("x", x)
    alpha = check_number("alpha", alpha)
    return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x.clamp(max=0)))


def derivative(name: str, x: torch.Tensor, **kwargs: float) -> torch.Tensor:
    """Derivative of the activation called ``name`` at ``x``.

    Args:
        name: ``"relu"``, ``"leaky_relu"`` or ``"elu"``.
        x: where to evaluate it.
        **kwargs: the activation's own argument (``negative_slope`` or ``alpha``).

    Shape:
        any; the output has the shape of ``x``.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.autograd.grad`` of the torch activations.

    Example:
        >>> derivative("leaky_relu", torch.tensor([-1.0, 1.0]), negative_slope=0.2)
        tensor([0.2000, 1.0000])
    """
    check_choice("name", name, ACTIVATIONS)
    grads = {"relu": relu_grad, "leaky_relu": leaky_relu_grad, "elu": elu_grad}
    return grads[name](x, **kwargs)


class ReLU(nn.Module):
    """:func:`relu` as a module, a drop-in for ``torch.nn.ReLU``.

    Shape:
        any; the output has the shape of the input.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.ReLU``.

    Example:
        >>> ReLU()(torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu(x)


class LeakyReLU(nn.Module):
    """:func:`leaky_relu` as a module, a drop-in for ``torch.nn.LeakyReLU``.

    Args:
        negative_slope: the slope for negative inputs.

    Shape:
        any; the output has the shape of the input.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.LeakyReLU``.

    Example:
        >>> LeakyReLU(0.1)
        LeakyReLU(negative_slope=0.1)
        >>> LeakyReLU(0.1)(torch.tensor([-1.0, 2.0]))
        tensor([-0.1000,  2.0000])
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_number("negative_slope", negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(nn.Module):
    """:func:`elu` as a module, a drop-in for ``torch.nn.ELU``.

    Args:
        alpha: ``-alpha`` is the value approached for very negative inputs.

    Shape:
        any; the output has the shape of the input.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.ELU``.

    Example:
        >>> ELU()
        ELU(alpha=1.0)
        >>> ELU()(torch.tensor([0.0, 2.0]))
        tensor([0., 2.])
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_number("alpha", alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
