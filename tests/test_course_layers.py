"""The checks of practices 17 (batch norm backward) and 18 (activation derivatives and dead
units): the references are autograd's, independent right answers pass, and the plausible
mistakes of each exercise fail with a verdict, never a traceback.

The generic tests in test_course.py (perturbed answers, stubs, typed decimals, no answer given
away, the student version) run over these checks too; this file adds the mistakes that are
specific to the backward pass of batch norm and to activations.
"""

from __future__ import annotations

import copy
import math

import nbformat
import pytest
import torch
import torch.nn.functional as F
from notebooks import ROOT

from mednotes.course import CHECKS, check
from mednotes.course.checks_layers import (
    DEAD_BIAS,
    EPS,
    HAND_DY,
    HAND_GAMMA,
    HAND_X,
    LEARNING_RATES,
    SMALL_X,
    dead_unit_setup,
)
from mednotes.layers import batch_norm

BN_CHECKS = ("bn_param_grads", "bn_grad_by_hand", "bn_input_grad", "bn_mean_after_step",
             "bn_eval_input_grad")
ACTIVATION_CHECKS = ("relu_grad", "leaky_relu_grad", "sigmoid_grad", "tanh_grad", "gelu_grad",
                     "sigmoid_grad_max", "sigmoid_stack_bound", "dead_channels",
                     "dead_after_step")

# ------------------------------------------------------------------------ batch norm, by hand


def _dims(x):
    return (0, *range(2, x.dim()))


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.dim() - 2))


def _normalized(x, eps, unbiased=False, dims=None):
    """(x̂, σ̂) with the statistics over ``dims`` (default: all but the channels)."""
    dims = _dims(x) if dims is None else dims
    mean = x.mean(dims, keepdim=True)
    sigma = torch.sqrt(x.var(dims, unbiased=unbiased, keepdim=True) + eps)
    return (x - mean) / sigma, sigma


def param_grads_right(x, dy, eps):
    x_hat, _ = _normalized(x, eps)
    return (dy * x_hat).sum(_dims(x)), dy.sum(_dims(x))


def input_grad(x, gamma, dy, eps, *, unbiased=False, dims=None, sign=-1, n_factor=True,
               n_on_dy=True, mean_term=True, x_hat_term=True):
    """The compact formula, with switches for each plausible mistake."""
    dims = _dims(x) if dims is None else dims
    x_hat, sigma = _normalized(x, eps, unbiased, dims)
    n = math.prod(x.shape[d] for d in dims)
    inner = (n if n_on_dy else 1) * dy
    if mean_term:
        inner = inner - dy.sum(dims, keepdim=True)
    if x_hat_term:
        inner = inner + sign * x_hat * (dy * x_hat).sum(dims, keepdim=True)
    return _per_channel(gamma, x) / ((n if n_factor else 1) * sigma) * inner


def input_grad_right(x, gamma, dy, eps):
    return input_grad(x, gamma, dy, eps)


def input_grad_by_library_autograd(x, gamma, dy, eps):
    """Autograd through mednotes' own batch_norm: another implementation than the check's."""
    x = x.detach().clone().requires_grad_(True)
    (dx,) = torch.autograd.grad(batch_norm(x, weight=gamma, training=True, eps=eps), x, dy)
    return dx


def eval_grad_right(x, rm, rv, gamma, dy, eps):
    return _per_channel(gamma / torch.sqrt(rv + eps), x) * dy


def _hand(formula=input_grad, **switches):
    x = torch.tensor(HAND_X, dtype=torch.float64).reshape(4, 1, 1, 1)
    dy = torch.tensor(HAND_DY, dtype=torch.float64).reshape(4, 1, 1, 1)
    gamma = torch.tensor([HAND_GAMMA], dtype=torch.float64)
    return tuple(formula(x, gamma, dy, EPS, **switches).flatten().tolist())


def _small_step(gradient):
    case = CHECKS["bn_input_grad"].cases[0]           # the small batch of Exercise 17.3
    x = case[0]
    return tuple((x - gradient(*case)).mean((0, 2, 3)).tolist())


def sigmoid_right(z):
    return torch.sigmoid(z) * torch.sigmoid(-z)


def gelu_right(z):
    cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    return cdf + z * torch.exp(-z**2 / 2) / math.sqrt(2 * math.pi)


def _dead_by_maximum(layer, images):
    with torch.no_grad():
        return layer(images).amax((0, 2, 3)) <= 0


RIGHT = [
    ("bn_param_grads", param_grads_right),
    ("bn_param_grads", lambda x, dy, eps: list(param_grads_right(x, dy, eps))),
    ("bn_grad_by_hand", (0.75, -0.75, 0.25, -0.25)),
    ("bn_grad_by_hand", [0.75, -0.75, 0.25, -0.25]),
    ("bn_grad_by_hand", torch.tensor([0.75, -0.75, 0.25, -0.25])),
    ("bn_input_grad", input_grad_right),
    ("bn_input_grad", input_grad_by_library_autograd),
    ("bn_mean_after_step", (2.5, -0.75)),
    ("bn_mean_after_step", torch.tensor(SMALL_X).mean((0, 2, 3))),
    ("bn_eval_input_grad", eval_grad_right),
    ("relu_grad", lambda z: (z > 0).to(z.dtype)),
    ("relu_grad", lambda z: torch.heaviside(z, torch.zeros_like(z))),
    ("leaky_relu_grad", lambda z, a: torch.where(z > 0, 1.0, a).to(z.dtype)),
    ("sigmoid_grad", sigmoid_right),
    ("sigmoid_grad", lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))),
    ("tanh_grad", lambda z: 1 / torch.cosh(z) ** 2),
    ("tanh_grad", lambda z: 1 - torch.tanh(z) ** 2),
    ("gelu_grad", gelu_right),
    ("gelu_grad", lambda z: gelu_right(z.float())),          # float32 is close enough
    ("sigmoid_grad_max", 0.25), ("sigmoid_grad_max", 1 / 4),
    ("sigmoid_stack_bound", 0.25**10), ("sigmoid_stack_bound", 4**-10),
    ("sigmoid_stack_bound", 9.54e-7),
    ("dead_channels", 7),
    ("dead_after_step", (7 / 16, 11 / 16)),
    ("dead_after_step", (0.4375, 0.6875)),
]


@pytest.mark.parametrize("name, answer", RIGHT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RIGHT)])
def test_an_independent_right_answer_passes(name, answer, capsys):
    assert check(name, answer), capsys.readouterr().out


def test_every_check_of_practices_17_and_18_is_registered():
    assert set(BN_CHECKS + ACTIVATION_CHECKS) <= set(CHECKS)
    assert {CHECKS.chapter[name] for name in BN_CHECKS + ACTIVATION_CHECKS} == {"checks_layers"}


# ------------------------------------------------------------------------ plausible mistakes


def _param_grads_swapped(x, dy, eps):
    return param_grads_right(x, dy, eps)[::-1]


def _param_grads_with_x(x, dy, eps):                   # dγ from x, not from x̂
    return (dy * x).sum(_dims(x)), dy.sum(_dims(x))


def _param_grads_unbiased(x, dy, eps):
    x_hat, _ = _normalized(x, eps, unbiased=True)
    return (dy * x_hat).sum(_dims(x)), dy.sum(_dims(x))


def _param_grads_no_eps(x, dy, eps):
    return param_grads_right(x, dy, 0.0)


def _param_grads_means(x, dy, eps):                    # averaged instead of summed
    x_hat, _ = _normalized(x, eps)
    return (dy * x_hat).mean(_dims(x)), dy.mean(_dims(x))


def _param_grads_per_sample(x, dy, eps):               # statistics of each image on its own
    x_hat, _ = _normalized(x, eps, dims=(2, 3))
    return (dy * x_hat).sum(_dims(x)), dy.sum(_dims(x))


def _naive(x, gamma, dy, eps):                         # μ and σ treated as constants
    _, sigma = _normalized(x, eps)
    return _per_channel(gamma, x) * dy / sigma


def _input_grad_no_gamma(x, gamma, dy, eps):
    return input_grad(x, torch.ones_like(gamma), dy, eps)


def _naive_step(x, gamma, dy, eps):
    return _naive(x, gamma, dy, eps)


def _eval_like_training(x, rm, rv, gamma, dy, eps):    # the batch's statistics after all
    return input_grad(x, gamma, dy, eps)


def _eval_no_gamma(x, rm, rv, gamma, dy, eps):
    return dy / _per_channel(torch.sqrt(rv + eps), x)


def _eval_no_eps(x, rm, rv, gamma, dy, eps):
    return eval_grad_right(x, rm, rv, gamma, dy, 0.0)


def _eval_variance_not_std(x, rm, rv, gamma, dy, eps):
    return _per_channel(gamma / (rv + eps), x) * dy


def _eval_centred(x, rm, rv, gamma, dy, eps):          # the mean of dy taken out, as in training
    dx = eval_grad_right(x, rm, rv, gamma, dy, eps)
    return dx - dx.mean(_dims(x), keepdim=True)


def _gelu_tanh(z):                                     # the tanh approximation's derivative
    z = z.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.gelu(z, approximate="tanh").sum(), z)
    return grad


def _gelu_sigmoid_approximation(z):                    # z σ(1.702 z)
    s = torch.sigmoid(1.702 * z)
    return s + 1.702 * z * s * (1 - s)


def _dead_after_steps(**choices) -> tuple:
    """The dead fractions after one step per learning rate, with a mistake in how it is done."""
    images, layer, head = dead_unit_setup()
    fractions = []
    for lr in LEARNING_RATES:
        stepped = copy.deepcopy(layer)
        loss = F.mse_loss(head(F.relu(stepped(images))), images,
                          reduction=choices.get("reduction", "mean"))
        loss.backward()
        with torch.no_grad():
            for p in stepped.parameters():
                p -= choices.get("sign", 1) * lr * p.grad
            if choices.get("per_pixel"):
                fractions.append((F.relu(stepped(images)) == 0).double().mean().item())
            else:
                fractions.append(_dead_by_maximum(stepped, images).double().mean().item())
    return tuple(fractions)


def _dead_counts():
    images, layer, _ = dead_unit_setup()
    with torch.no_grad():
        z = layer(images)
    return {"zero pixels": int((F.relu(z) == 0).sum()),
            "zero-pixel fraction": (F.relu(z) == 0).double().mean().item(),
            "dead in some image": int((z.amax((2, 3)) <= 0).any(0).sum()),
            "alive": int((z.amax((0, 2, 3)) > 0).sum()),
            "with a zero pixel": int((z <= 0).flatten(2).any(2).any(0).sum())}


DEAD = _dead_counts()

PLAUSIBLE_MISTAKES = [
    ("bn_param_grads", _param_grads_swapped, "dγ and dβ swapped"),
    ("bn_param_grads", _param_grads_with_x, "dγ from x instead of x̂"),
    ("bn_param_grads", _param_grads_unbiased, "unbiased variance"),
    ("bn_param_grads", _param_grads_no_eps, "ε missing"),
    ("bn_param_grads", _param_grads_means, "means instead of sums"),
    ("bn_param_grads", _param_grads_per_sample, "statistics per image, not per channel"),
    ("bn_grad_by_hand", _hand(_naive), "forgot that μ and σ depend on x"),
    ("bn_grad_by_hand", _hand(unbiased=True), "unbiased variance"),
    ("bn_grad_by_hand", _hand(sign=+1), "sign error in the last term"),
    ("bn_grad_by_hand", _hand(n_factor=False), "forgot the 1/n in front"),
    ("bn_grad_by_hand", _hand(n_on_dy=False), "forgot the n in front of dy"),
    ("bn_grad_by_hand", _hand(_input_grad_no_gamma), "forgot γ"),
    ("bn_grad_by_hand", _hand(x_hat_term=False), "forgot the path through σ²"),
    ("bn_grad_by_hand", _hand(mean_term=False), "forgot the path through μ"),
    ("bn_input_grad", _naive, "forgot that μ and σ depend on x (dx = γ dy / σ̂)"),
    ("bn_input_grad", lambda x, g, dy, eps: input_grad(x, g, dy, eps, unbiased=True),
     "unbiased variance"),
    ("bn_input_grad", lambda x, g, dy, eps: input_grad(x, g, dy, 0.0), "ε missing"),
    ("bn_input_grad", lambda x, g, dy, eps: input_grad(x, g, dy, eps, dims=(2, 3)),
     "per-sample statistics instead of per-channel"),
    ("bn_input_grad", lambda x, g, dy, eps: input_grad(x, g, dy, eps, sign=+1),
     "sign error in the last term"),
    ("bn_input_grad", lambda x, g, dy, eps: input_grad(x, g, dy, eps, n_factor=False),
     "forgot the 1/n in front"),
    ("bn_input_grad", lambda x, g, dy, eps: input_grad(x, g, dy, eps, n_on_dy=False),
     "forgot the n in front of dy"),
    ("bn_input_grad", _input_grad_no_gamma, "forgot γ"),
    ("bn_input_grad", lambda x, g, dy, eps: input_grad(x, g, dy, eps, x_hat_term=False),
     "forgot the path through σ²"),
    ("bn_input_grad", lambda x, g, dy, eps: input_grad(x, g, dy, eps, mean_term=False),
     "forgot the path through μ"),
    ("bn_mean_after_step", _small_step(_naive_step), "stepped with the naive gradient"),
    ("bn_mean_after_step", _small_step(lambda x, g, dy, eps: dy), "stepped along dy"),
    ("bn_mean_after_step", (0.0, 0.0), "batch norm's output has mean zero, not its input"),
    ("bn_mean_after_step", (-0.75, 2.5), "channels swapped"),
    ("bn_mean_after_step", (1.5, -0.5), "the output's means, β = γ"),
    ("bn_eval_input_grad", _eval_like_training, "the training-mode gradient"),
    ("bn_eval_input_grad", _eval_no_gamma, "forgot γ"),
    ("bn_eval_input_grad", _eval_no_eps, "ε missing"),
    ("bn_eval_input_grad", _eval_variance_not_std, "divided by the variance, not its root"),
    ("bn_eval_input_grad", _eval_centred, "the mean of the gradient taken out"),
    ("relu_grad", lambda z: (z >= 0).to(z.dtype), "ReLU'(0) = 1"),
    ("relu_grad", lambda z: (z < 0).to(z.dtype), "the sides swapped"),
    ("relu_grad", F.relu, "the activation, not its derivative"),
    ("relu_grad", lambda z: z > 0, "True/False, not numbers"),
    ("leaky_relu_grad", lambda z, a: torch.where(z > 0, a, 1.0).to(z.dtype),
     "slope a on the positive side"),
    ("leaky_relu_grad", lambda z, a: torch.where(z >= 0, 1.0, a).to(z.dtype),
     "1 at z = 0, not a"),
    ("leaky_relu_grad", lambda z, a: (z > 0).to(z.dtype), "ReLU's derivative: forgot a"),
    ("leaky_relu_grad", lambda z, a: torch.where(z > 0, 1.0, -a).to(z.dtype), "slope −a"),
    ("sigmoid_grad", lambda z: sigmoid_right(torch.sigmoid(z)), "σ'(σ(z)): the wrong point"),
    ("sigmoid_grad", lambda z: 1 - torch.sigmoid(z) ** 2, "tanh's formula"),
    ("sigmoid_grad", lambda z: torch.sigmoid(z) * (1 + torch.sigmoid(z)), "sign in 1 − σ"),
    ("sigmoid_grad", torch.sigmoid, "the activation, not its derivative"),
    ("tanh_grad", lambda z: 1 - torch.tanh(z), "1 − tanh instead of 1 − tanh²"),
    ("tanh_grad", lambda z: 1 - z**2, "1 − z² (forgot the tanh)"),
    ("tanh_grad", lambda z: 1 + torch.tanh(z) ** 2, "sign"),
    ("tanh_grad", lambda z: sigmoid_right(z), "the sigmoid's derivative"),
    ("gelu_grad", _gelu_tanh, "the tanh approximation, where the exact form is asked"),
    ("gelu_grad", _gelu_sigmoid_approximation, "the sigmoid approximation z σ(1.702 z)"),
    ("gelu_grad", lambda z: 0.5 * (1 + torch.erf(z / math.sqrt(2))), "Φ only: no product rule"),
    ("gelu_grad", lambda z: 0.5 * (1 + torch.erf(z)) + z * torch.exp(-z**2 / 2) / math.sqrt(
        2 * math.pi), "erf(z) without the √2"),
    ("sigmoid_grad_max", 0.5, "σ(0), not σ'(0)"),
    ("sigmoid_grad_max", 1.0, "tanh's largest slope"),
    ("sigmoid_grad_max", 0.2, "read off a coarse plot"),
    ("sigmoid_stack_bound", 0.25 * 10, "added the factors"),
    ("sigmoid_stack_bound", 0.5**10, "σ(0) to the tenth"),
    ("sigmoid_stack_bound", 0.25, "one layer only"),
    ("sigmoid_stack_bound", 0.25**9, "nine factors"),
    ("sigmoid_stack_bound", 0.25**11, "eleven factors"),
    ("sigmoid_stack_bound", 4.0**10, "the reciprocal"),
    ("dead_channels", DEAD["zero pixels"], "zero pixels counted, not channels"),
    ("dead_channels", DEAD["zero-pixel fraction"], "fraction of zero pixels"),
    ("dead_channels", DEAD["dead in some image"], "dead in some image, not in all"),
    ("dead_channels", DEAD["alive"], "the live channels"),
    ("dead_channels", DEAD["with a zero pixel"], "channels with any zero pixel"),
    ("dead_after_step", _dead_after_steps(per_pixel=True), "fractions of zero pixels"),
    ("dead_after_step", _dead_after_steps(reduction="sum"), "the summed loss: steps 8192× larger"),
    ("dead_after_step", _dead_after_steps(sign=-1), "a step up the gradient"),
    ("dead_after_step", (7, 11), "counts, not fractions"),
    ("dead_after_step", (11 / 16, 7 / 16), "the learning rates swapped"),
    ("dead_after_step", (7 / 16, 7 / 16), "nothing dies: a step cannot kill"),
]


@pytest.mark.parametrize("name, answer, mistake", PLAUSIBLE_MISTAKES,
                         ids=[f"{n}-{m}" for n, _, m in PLAUSIBLE_MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake, capsys):
    verdict = check(name, answer)
    out = capsys.readouterr().out
    assert not verdict, f"{mistake!r} passed the {name} check"
    assert out.startswith(f"❌ {name}: ") and "Hint:" in out and "Reread: [" in out


def test_every_check_of_practices_17_and_18_has_plausible_mistakes_listed():
    assert {name for name, _, _ in PLAUSIBLE_MISTAKES} == set(BN_CHECKS + ACTIVATION_CHECKS)


# ------------------------------------------------------------------------ the references


@pytest.mark.parametrize("name, formula", [
    ("bn_param_grads", param_grads_right), ("bn_input_grad", input_grad_right),
    ("bn_eval_input_grad", eval_grad_right), ("sigmoid_grad", sigmoid_right),
    ("gelu_grad", gelu_right), ("tanh_grad", lambda z: 1 / torch.cosh(z) ** 2),
    ("relu_grad", lambda z: (z > 0).double()),
    ("leaky_relu_grad", lambda z, a: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, a))),
])
def test_references_agree_with_the_formulas_on_every_case(name, formula):
    """The references are autograd through torch's functions; the formulas are independent."""
    spec = CHECKS[name]
    for case in spec.cases:
        want = formula(*case)
        got = spec.reference(*case)
        for g, w in zip(*((got, want) if isinstance(got, tuple) else ((got,), (want,)))):
            torch.testing.assert_close(g, w.to(g.dtype), rtol=1e-10, atol=1e-12)


def test_the_typed_answers_are_the_numbers_the_exercises_describe():
    assert CHECKS["bn_grad_by_hand"].reference() == pytest.approx((0.75, -0.75, 0.25, -0.25),
                                                                  rel=1e-4)
    assert CHECKS["bn_mean_after_step"].reference() == pytest.approx((2.5, -0.75))
    assert CHECKS["sigmoid_grad_max"].reference() == 0.25
    assert CHECKS["sigmoid_stack_bound"].reference() == pytest.approx(4.0**-10)
    assert CHECKS["dead_channels"].reference() == 7
    assert CHECKS["dead_after_step"].reference() == (7 / 16, 11 / 16)


def test_the_eps_cases_catch_a_missing_eps_on_their_own():
    """The small-spread (small running variance) case tells a missing ε apart by far more than
    the tolerance of a computed result, whatever the other cases do."""
    from mednotes.course.compare import Check, judge

    for name, no_eps, index in (
            ("bn_param_grads", _param_grads_no_eps, 3),
            ("bn_input_grad", lambda x, g, dy, eps: input_grad(x, g, dy, 0.0), 3),
            ("bn_eval_input_grad", _eval_no_eps, 2)):
        spec = CHECKS[name]
        assert "ε matters" in spec.names[index]
        alone = Check(reference=spec.reference, hint="", cases=(spec.cases[index],))
        assert judge(alone, no_eps).endswith(")"), name  # "... (largest difference ...)"
        want = spec.reference(*spec.cases[index])
        got = no_eps(*spec.cases[index])
        pairs = zip(*((want, got) if isinstance(want, tuple) else ((want,), (got,))))
        assert any((g - w).abs().max() > 100 * (1e-6 + 1e-5 * w.abs().max())
                   for w, g in pairs), name  # (dβ does not depend on ε; dγ does)


def test_the_gelu_tolerance_tells_the_tanh_approximation_apart():
    spec = CHECKS["gelu_grad"]
    rtol, atol = spec.tolerance
    grid = spec.cases[0][0]
    gap = (_gelu_tanh(grid) - spec.reference(grid)).abs()
    assert (gap > 20 * (atol + rtol * spec.reference(grid).abs())).any()


def test_every_activation_case_holds_the_kink():
    for name in ("relu_grad", "leaky_relu_grad", "sigmoid_grad", "tanh_grad", "gelu_grad"):
        for case in CHECKS[name].cases:
            assert (case[0] == 0).any() and (case[0] < 0).any() or case[0].dim() == 0, name


# ------------------------------------------------------------------------ dead units


def test_the_dead_unit_counts_do_not_depend_on_rounding():
    """Every channel's largest pre-activation is far from zero, as built and after each step,
    so a student's float32 arithmetic in another order gives the same count."""
    images, layer, head = dead_unit_setup()
    layers = [layer]
    for lr in LEARNING_RATES:
        stepped = copy.deepcopy(layer)
        F.mse_loss(head(F.relu(stepped(images))), images).backward()
        with torch.no_grad():
            for p in stepped.parameters():
                p -= lr * p.grad
        layers.append(stepped)
    for each in layers:
        with torch.no_grad():
            assert each(images).amax((0, 2, 3)).abs().min() > 1e-3
    counts = [int(_dead_by_maximum(each, images).sum()) for each in layers]
    assert counts[0] == counts[1] < counts[2], counts  # the small step kills none, the large some


def test_the_setup_is_what_the_practice_builds_and_leaves_torch_s_generator_alone():
    notebook = nbformat.read(ROOT / "exercises" / "18_activations_dead_units.ipynb", as_version=4)
    [setup] = [c.source for c in notebook.cells
               if c.cell_type == "code" and "layer.bias.fill_(" in c.source]
    namespace: dict = {"torch": torch}  # imported by an earlier cell of the practice
    state = torch.random.get_rng_state()
    images, layer, head = dead_unit_setup()
    assert torch.equal(torch.random.get_rng_state(), state)
    exec(setup, namespace)  # noqa: S102 - the practice's own setup cell
    torch.testing.assert_close(namespace["images"], images, rtol=0, atol=0)
    for mine, theirs in ((layer, namespace["layer"]), (head, namespace["head"])):
        for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (layer.bias == DEAD_BIAS).all()


def test_the_dead_unit_checks_leave_torch_s_generator_alone(capsys):
    """The practice seeds torch itself; running a check in between must not move its state."""
    torch.manual_seed(5)
    state = torch.random.get_rng_state()
    assert check("dead_channels", 7) and check("dead_after_step", (7 / 16, 11 / 16))
    assert torch.equal(torch.random.get_rng_state(), state)
