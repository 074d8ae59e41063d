"""Checks for the residual networks chapter's practice: the gradient through a chain of
residual blocks, by hand, then against autograd.

Used by ``exercises/10_residual_gradient.ipynb``; the chapter is ``book/principles/06_resnets``.
Every reference is computed by autograd through the chain itself, never written down.
"""

from __future__ import annotations

import torch

from mednotes.course.compare import Check, refined

#: The branch slopes of the two typed exercises: block k computes h + a_k h (or a_k h).
SLOPES = (0.5, -0.3, 0.2)

# ------------------------------------------------------------------------ the chains


def residual_chain(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``h_k = h_{k-1} + w_k tanh(h_{k-1})`` for k = 1..K, from ``h_0 = x``; returns ``h_K``."""
    h = x
    for w_k in w:
        h = h + w_k * torch.tanh(h)
    return h


def plain_chain(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``h_k = w_k tanh(h_{k-1})``: the same branches without the shortcuts."""
    h = x
    for w_k in w:
        h = w_k * torch.tanh(h)
    return h


def linear_residual_chain(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``h_k = h_{k-1} + W_k h_{k-1}`` for matrices ``weights[k-1]``; ``x`` is a vector."""
    h = x
    for matrix in weights:
        h = h + matrix @ h
    return h


def _derivative(chain, x, w) -> torch.Tensor:
    """d chain(x, w) / dx by autograd, a 0-dim float64 tensor."""
    x = torch.as_tensor(x, dtype=torch.float64).detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(chain(x, torch.as_tensor(w, dtype=torch.float64)), x)
    return grad.detach()


def _slopes_derivative(residual: bool) -> float:
    """The typed exercises: three linear branches with slopes ``SLOPES``, by autograd."""
    def chain(x, a):
        h = x
        for a_k in a:
            h = h + a_k * h if residual else a_k * h
        return h

    return _derivative(chain, 0.7, SLOPES).item()


def _jacobian(weights: torch.Tensor) -> torch.Tensor:
    """The Jacobian of :func:`linear_residual_chain` at any input, by autograd: ``(d, d)``."""
    x = torch.ones(weights.shape[-1], dtype=weights.dtype)
    return torch.autograd.functional.jacobian(lambda v: linear_residual_chain(v, weights), x)


# ------------------------------------------------------------------------ test inputs


def _chain_cases() -> tuple[tuple, ...]:
    """(x, w): one block, three, ten; weights of both signs and sizes; inputs near 0 and far."""
    g = torch.Generator().manual_seed(2026)
    cases = [(torch.tensor(0.3, dtype=torch.float64), torch.tensor([0.8], dtype=torch.float64)),
             (torch.tensor(-1.2, dtype=torch.float64),
              torch.tensor([0.5, -0.4, 1.5], dtype=torch.float64)),
             (torch.tensor(2.0, dtype=torch.float64),
              torch.tensor([-0.9, 0.3, 0.6], dtype=torch.float64))]
    for k in (5, 10):
        x = torch.randn((), generator=g, dtype=torch.float64)
        cases.append((x, 1.5 * torch.randn(k, generator=g, dtype=torch.float64)))
    return tuple(cases)


def _plain_cases() -> tuple[tuple, ...]:
    """As :func:`_chain_cases`, with weights large enough that the answers stay well above
    rounding error (a plain chain's derivative shrinks fast)."""
    g = torch.Generator().manual_seed(7)
    cases = [(torch.tensor(0.3, dtype=torch.float64), torch.tensor([0.8], dtype=torch.float64)),
             (torch.tensor(-0.2, dtype=torch.float64),
              torch.tensor([1.5, -2.0, 1.2], dtype=torch.float64))]
    for k in (4, 6):
        x = 0.3 * torch.randn((), generator=g, dtype=torch.float64)
        signs = torch.where(torch.rand(k, generator=g) < 0.5, -1.0, 1.0).double()
        cases.append((x, signs * (1.2 + torch.rand(k, generator=g, dtype=torch.float64))))
    return tuple(cases)


def _jacobian_cases() -> tuple[tuple, ...]:
    """(weights,) of shape (K, d, d): K = 1, 2, 3 blocks of 2×2 and 3×3 matrices."""
    g = torch.Generator().manual_seed(11)
    return tuple((0.5 * torch.randn(k, d, d, generator=g, dtype=torch.float64),)
                 for k, d in ((1, 2), (2, 2), (3, 3), (3, 2)))


# ------------------------------------------------------------------------ checks


#: The first hint of each check: the idea, before the formula or the step.
IDEAS = {
    "residual_chain_by_hand": (
        "The chain rule multiplies the derivatives of the blocks; what is the "
        "derivative of a block with a shortcut?"
    ),
    "plain_chain_by_hand": (
        "The chain rule multiplies the derivatives of the blocks; without a shortcut "
        "nothing is added to the branch's own derivative."
    ),
    "residual_chain_grad": (
        "Each block's factor depends on its own input, so you need the forward pass "
        "before the product."
    ),
    "plain_chain_grad": (
        "The same product as for the residual chain, without what the shortcut "
        "contributes."
    ),
    "residual_chain_jacobian": (
        "With vectors, each block's derivative becomes a matrix, and the chain rule "
        "multiplies matrices."
    ),
}

#: What the feedback calls each test input of the function exercises.
CASE_NAMES = {
    "residual_chain_grad": (
        "the one-block case",
        "the three-block case",
        "the three-block case from x = 2",
        "the five-block case",
        "the ten-block case",
    ),
    "plain_chain_grad": (
        "the one-block case",
        "the three-block case",
        "the four-block case",
        "the six-block case",
    ),
    "residual_chain_jacobian": (
        "the one 2×2 block case",
        "the two 2×2 blocks case",
        "the three 3×3 blocks case",
        "the three 2×2 blocks case",
    ),
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    return refined({
        "residual_chain_by_hand": Check(
            reference=lambda: _slopes_derivative(residual=True),
            hint="Each block is h ↦ h + f(h), so its derivative is 1 + f'(h); the chain rule "
                 "multiplies the blocks' derivatives, one factor per block."),
        "plain_chain_by_hand": Check(
            reference=lambda: _slopes_derivative(residual=False),
            hint="Without the shortcut each block is h ↦ f(h), with derivative f'(h) alone; "
                 "multiply the three, signs included."),
        "residual_chain_grad": Check(
            reference=lambda x, w: _derivative(residual_chain, x, w), cases=_chain_cases(),
            rtol=1e-6, atol=0.0,
            hint="Run the chain forward and keep every block's input h_{k-1}; block k "
                 "contributes the factor 1 + w_k (1 − tanh²(h_{k-1})), taken at its own input, "
                 "and the derivative is the product of all K factors."),
        "plain_chain_grad": Check(
            reference=lambda x, w: _derivative(plain_chain, x, w), cases=_plain_cases(),
            rtol=1e-6, atol=0.0,
            hint="As for the residual chain, but block k contributes w_k (1 − tanh²(h_{k-1})) "
                 "with no 1 +; keep each block's input from the forward pass."),
        "residual_chain_jacobian": Check(
            reference=_jacobian, cases=_jacobian_cases(),
            hint="Block k has Jacobian I + W_k. The chain's Jacobian is the product with the "
                 "last block on the left: (I + W_K) ··· (I + W_2)(I + W_1). Matrices do not "
                 "commute, so the order matters."),
    }, ideas=IDEAS, names=CASE_NAMES)


__all__ = ["CASE_NAMES", "IDEAS", "SLOPES", "checks", "linear_residual_chain", "plain_chain", "residual_chain"]
