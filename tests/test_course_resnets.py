"""The residual-gradient practice's checks: the references are autograd's, independent right
answers pass, and the plausible mistakes of each exercise fail with a verdict.

The generic tests in test_course.py (perturbed answers, stubs, typed decimals, no answer given
away, the student version) run over these checks too; this file adds the mistakes that are
specific to the chain rule through residual blocks.
"""

from __future__ import annotations

import math

import pytest
import torch

from mednotes.course import CHECKS, check
from mednotes.course.checks_resnets import (
    SLOPES,
    linear_residual_chain,
    plain_chain,
    residual_chain,
)

RESNET_CHECKS = ("residual_chain_by_hand", "plain_chain_by_hand", "residual_chain_grad",
                 "plain_chain_grad", "residual_chain_jacobian")


def _tanh_slope(h):
    return 1 - torch.tanh(h) ** 2


def _inputs(x, w, residual=True):
    """Each block's input h_{k-1}, from a forward pass."""
    hs, h = [], x
    for w_k in w:
        hs.append(h)
        h = h + w_k * torch.tanh(h) if residual else w_k * torch.tanh(h)
    return hs


# ------------------------------------------------------------------------ right answers, by hand


def residual_right(x, w):
    return math.prod(1 + w_k * _tanh_slope(h) for w_k, h in zip(w, _inputs(x, w)))


def plain_right(x, w):
    return math.prod(w_k * _tanh_slope(h) for w_k, h in zip(w, _inputs(x, w, residual=False)))


def jacobian_right(weights):
    eye = torch.eye(weights.shape[-1], dtype=weights.dtype)
    result = eye
    for matrix in weights:
        result = (eye + matrix) @ result
    return result


RIGHT = [("residual_chain_by_hand", 1.26), ("residual_chain_by_hand", 1.5 * 0.7 * 1.2),
         ("plain_chain_by_hand", -0.03), ("residual_chain_grad", residual_right),
         ("plain_chain_grad", plain_right), ("residual_chain_jacobian", jacobian_right)]


@pytest.mark.parametrize("name, answer", RIGHT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RIGHT)])
def test_an_independent_right_answer_passes(name, answer, capsys):
    assert check(name, answer), capsys.readouterr().out


def test_every_resnets_check_is_registered():
    assert set(RESNET_CHECKS) <= set(CHECKS)


# ------------------------------------------------------------------------ plausible mistakes


def _forgot_identity(x, w):          # the plain chain's product, for the residual chain
    return math.prod(w_k * _tanh_slope(h) for w_k, h in zip(w, _inputs(x, w)))


def _summed(x, w):                   # 1 + Σ f'_k instead of Π (1 + f'_k)
    return 1 + sum(w_k * _tanh_slope(h) for w_k, h in zip(w, _inputs(x, w)))


def _summed_factors(x, w):           # Σ (1 + f'_k)
    return sum(1 + w_k * _tanh_slope(h) for w_k, h in zip(w, _inputs(x, w)))


def _slopes_at_the_input(x, w):      # every factor taken at x, not at the block's own input
    return math.prod(1 + w_k * _tanh_slope(x) for w_k in w)


def _slopes_at_the_output(x, w):     # each factor taken at h_k, after the block
    hs = _inputs(x, w)[1:] + [residual_chain(x, w)]
    return math.prod(1 + w_k * _tanh_slope(h) for w_k, h in zip(w, hs))


def _no_tanh_derivative(x, w):       # forgot the branch's own derivative: Π (1 + w_k)
    return math.prod(1 + w_k for w_k in w)


def _one_plus_product(x, w):         # 1 + Π f'_k
    return 1 + plain_right(x, w)


def _plain_with_identity(x, w):      # the residual formula for the plain chain
    return math.prod(1 + w_k * _tanh_slope(h) for w_k, h in zip(w, _inputs(x, w, False)))


def _plain_summed(x, w):
    return sum(w_k * _tanh_slope(h) for w_k, h in zip(w, _inputs(x, w, False)))


def _plain_at_the_input(x, w):
    return math.prod(w_k * _tanh_slope(x) for w_k in w)


def _plain_only_weights(x, w):
    return math.prod(w)


def _wrong_order(weights):           # (I + W_1)(I + W_2)...(I + W_K)
    eye = torch.eye(weights.shape[-1], dtype=weights.dtype)
    result = eye
    for matrix in weights:
        result = result @ (eye + matrix)
    return result


def _jacobian_without_identity(weights):
    result = torch.eye(weights.shape[-1], dtype=weights.dtype)
    for matrix in weights:
        result = matrix @ result
    return result


def _jacobian_summed(weights):       # I + Σ W_k: the first-order terms only
    return torch.eye(weights.shape[-1], dtype=weights.dtype) + weights.sum(0)


def _jacobian_transposed(weights):
    return jacobian_right(weights).T


PLAUSIBLE_MISTAKES = [
    ("residual_chain_by_hand", math.prod(SLOPES), "forgot the identity term (the plain product)"),
    ("residual_chain_by_hand", 1 + sum(SLOPES), "summed the slopes instead of multiplying"),
    ("residual_chain_by_hand", sum(1 + a for a in SLOPES), "summed the factors"),
    ("residual_chain_by_hand", 1 + math.prod(SLOPES), "1 plus the plain product"),
    ("residual_chain_by_hand", math.prod(1 + abs(a) for a in SLOPES), "dropped the signs"),
    ("plain_chain_by_hand", math.prod(1 + a for a in SLOPES), "kept the identity (residual)"),
    ("plain_chain_by_hand", sum(SLOPES), "summed the slopes"),
    ("plain_chain_by_hand", abs(math.prod(SLOPES)), "dropped the sign"),
    ("residual_chain_grad", _forgot_identity, "forgot the identity term"),
    ("residual_chain_grad", _summed, "1 + sum of the branch slopes"),
    ("residual_chain_grad", _summed_factors, "sum of the factors"),
    ("residual_chain_grad", _slopes_at_the_input, "every slope taken at x"),
    ("residual_chain_grad", _slopes_at_the_output, "each slope taken after its block"),
    ("residual_chain_grad", _no_tanh_derivative, "forgot tanh's derivative"),
    ("residual_chain_grad", _one_plus_product, "1 + the plain product"),
    ("plain_chain_grad", _plain_with_identity, "added the identity to the plain chain"),
    ("plain_chain_grad", _plain_summed, "summed instead of multiplied"),
    ("plain_chain_grad", _plain_at_the_input, "every slope taken at x"),
    ("plain_chain_grad", _plain_only_weights, "forgot tanh's derivative"),
    ("residual_chain_jacobian", _wrong_order, "first block on the left"),
    ("residual_chain_jacobian", _jacobian_without_identity, "forgot the identity"),
    ("residual_chain_jacobian", _jacobian_summed, "first-order terms only"),
    ("residual_chain_jacobian", _jacobian_transposed, "transposed"),
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
    """The references are autograd through the chains; the formulas above are independent."""
    for name, formula in (("residual_chain_grad", residual_right),
                          ("plain_chain_grad", plain_right),
                          ("residual_chain_jacobian", jacobian_right)):
        spec = CHECKS[name]
        for case in spec.cases:
            torch.testing.assert_close(spec.reference(*case), torch.as_tensor(formula(*case)),
                                       rtol=1e-10, atol=0.0)


def test_the_typed_answers_are_the_numbers_the_exercises_describe():
    assert CHECKS["residual_chain_by_hand"].reference() == pytest.approx(1.5 * 0.7 * 1.2)
    assert CHECKS["plain_chain_by_hand"].reference() == pytest.approx(0.5 * -0.3 * 0.2)
    assert SLOPES == (0.5, -0.3, 0.2)


def test_the_chains_compute_what_their_docstrings_say():
    x, w = torch.tensor(0.3, dtype=torch.float64), torch.tensor([0.5, -1.0], dtype=torch.float64)
    h1 = x + 0.5 * torch.tanh(x)
    assert residual_chain(x, w) == pytest.approx((h1 - torch.tanh(h1)).item())
    assert plain_chain(x, w) == pytest.approx((-torch.tanh(0.5 * torch.tanh(x))).item())
    weights = torch.randn(2, 3, 3, dtype=torch.float64)
    v = torch.randn(3, dtype=torch.float64)
    step = v + weights[0] @ v
    torch.testing.assert_close(linear_residual_chain(v, weights), step + weights[1] @ step)


def test_plain_cases_keep_the_answers_well_above_rounding():
    """A plain chain's derivative shrinks fast; the cases must not let 0 pass as an answer."""
    for case in CHECKS["plain_chain_grad"].cases:
        assert abs(CHECKS["plain_chain_grad"].reference(*case).item()) > 1e-3
    assert not check("plain_chain_grad", lambda x, w: torch.zeros((), dtype=torch.float64))
