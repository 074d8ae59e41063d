"""Checks for the layers chapter's practices: batch norm by hand, counting a ConvNormAct, the
backward pass of batch norm, and activation derivatives with dead units.

Used by ``exercises/03_batchnorm_by_hand.ipynb``, ``exercises/04_convnormact_counting.ipynb``,
``exercises/17_batchnorm_backward.ipynb`` and ``exercises/18_activations_dead_units.ipynb``;
the chapter is ``book/principles/02_layers``. The gradients' references are autograd through
torch's own functions (``torch.nn.functional.batch_norm``, ``relu``, ``gelu`` ...), computed
when a check runs, never written down.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

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


# ------------------------------------------------------------------------ batch norm backward


#: Exercise 17.2: one channel of four values, worked by hand (as an (N=4, C=1, 1, 1) batch).
HAND_X = (2.0, 2.0, 4.0, 4.0)
HAND_DY = (3.0, 0.0, 1.0, 0.0)
HAND_GAMMA = 0.5
#: Exercise 17.4: the small batch (N=2, C=2, 2×2), its upstream gradient, γ, and the step size.
SMALL_X = ((((1.0, 4.0), (2.0, 3.0)), ((-2.0, 1.0), (0.0, -3.0))),
           (((5.0, 0.0), (2.0, 3.0)), ((1.0, -1.0), (-2.0, 0.0))))
SMALL_DY = ((((1.0, 0.0), (0.0, 2.0)), ((0.5, -1.0), (2.0, 0.0))),
            (((0.0, 1.0), (1.0, 0.0)), ((1.0, 1.0), (0.0, -0.5))))
SMALL_GAMMA = (1.5, -0.5)
STEP = 1.0
#: The ε of batch norm wherever an exercise does not give another.
EPS = 1e-5


def _bn_gradients(x, gamma, dy, eps, running=None):
    """``(dL/dx, dL/dγ, dL/dβ)`` for ``L = Σ y · dy``, ``y = F.batch_norm(x, ...)``, by autograd.

    Training mode (the batch's own statistics) when ``running`` is None; evaluation mode with
    ``running = (running_mean, running_var)`` otherwise. β does not change any gradient.
    """
    x = torch.as_tensor(x, dtype=torch.float64).detach().clone().requires_grad_(True)
    gamma = torch.as_tensor(gamma, dtype=torch.float64).detach().clone().requires_grad_(True)
    beta = torch.zeros_like(gamma, requires_grad=True)
    mean, var = (None, None) if running is None else running
    y = F.batch_norm(x, mean, var, gamma, beta, training=running is None, eps=eps)
    return torch.autograd.grad(y, (x, gamma, beta), torch.as_tensor(dy, dtype=torch.float64))


def _hand_gradient() -> tuple[float, ...]:
    """Exercise 17.2: dL/dx for the four values of ``HAND_X``, one number each."""
    x = torch.tensor(HAND_X, dtype=torch.float64).reshape(4, 1, 1, 1)
    dy = torch.tensor(HAND_DY, dtype=torch.float64).reshape(4, 1, 1, 1)
    dx = _bn_gradients(x, torch.tensor([HAND_GAMMA], dtype=torch.float64), dy, EPS)[0]
    return tuple(dx.flatten().tolist())


def _means_after_step() -> tuple[float, ...]:
    """Exercise 17.4: each channel's batch mean after the step ``x − STEP · dL/dx``."""
    x = torch.tensor(SMALL_X, dtype=torch.float64)
    dx = _bn_gradients(x, torch.tensor(SMALL_GAMMA, dtype=torch.float64),
                       torch.tensor(SMALL_DY, dtype=torch.float64), EPS)[0]
    return tuple((x - STEP * dx).mean((0, 2, 3)).tolist())


def _bn_backward_cases() -> tuple[tuple, ...]:
    """(x, gamma, dy, eps): the small batch of Exercise 17.4, a 4×3×5×5 batch, a batch of one
    image, a one-channel batch whose spread is so small that ε matters, a non-square batch."""
    g = torch.Generator().manual_seed(2017)

    def randn(*shape, scale=1.0, shift=0.0):
        return shift + scale * torch.randn(*shape, generator=g, dtype=torch.float64)

    shapes = (((4, 3, 5, 5), 3.0, 2.0, 1e-5), ((1, 2, 6, 6), 1.0, -1.0, 1e-5),
              ((8, 1, 4, 4), 0.03, 0.5, 1e-3), ((3, 4, 2, 7), 2.0, 0.0, 1e-5))
    cases = [(torch.tensor(SMALL_X, dtype=torch.float64),
              torch.tensor(SMALL_GAMMA, dtype=torch.float64),
              torch.tensor(SMALL_DY, dtype=torch.float64), EPS)]
    for shape, scale, shift, eps in shapes:
        channels = shape[1]
        gamma = torch.linspace(-1.5, 2.0, channels, dtype=torch.float64) if channels > 1 \
            else torch.tensor([1.7], dtype=torch.float64)
        cases.append((randn(*shape, scale=scale, shift=shift), gamma, randn(*shape), eps))
    return tuple(cases)


def _bn_eval_cases() -> tuple[tuple, ...]:
    """(x, running_mean, running_var, gamma, dy, eps), one case with a running variance so
    small that ε matters."""
    g = torch.Generator().manual_seed(2018)
    cases = []
    for shape, var_scale, eps in (((4, 3, 5, 5), 1.0, 1e-5), ((1, 2, 6, 6), 4.0, 1e-5),
                                  ((2, 2, 3, 3), 1e-3, 1e-3)):
        channels = shape[1]
        cases.append((torch.randn(*shape, generator=g, dtype=torch.float64),
                      torch.randn(channels, generator=g, dtype=torch.float64),
                      var_scale * (0.5 + torch.rand(channels, generator=g, dtype=torch.float64)),
                      torch.linspace(-1.0, 2.0, channels, dtype=torch.float64),
                      torch.randn(*shape, generator=g, dtype=torch.float64), eps))
    return tuple(cases)


def _bn_backward_checks() -> dict[str, Check]:
    """Exercise 17: the gradients of batch norm in training mode, and in evaluation mode."""
    cases = _bn_backward_cases()
    return {
        "bn_param_grads": Check(
            reference=lambda x, dy, eps: _bn_gradients(
                x, torch.ones(x.shape[1], dtype=torch.float64), dy, eps)[1:],
            cases=tuple((x, dy, eps) for x, _, dy, eps in cases),
            hint="dL/dβ_c = Σ dy and dL/dγ_c = Σ dy · x̂, both summed over the batch and every "
                 "position of channel c (dims 0, 2, 3), with x̂ = (x − μ) / sqrt(σ² + ε) from "
                 "the biased variance; return them as (dgamma, dbeta).",
        ),
        "bn_grad_by_hand": Check(
            reference=_hand_gradient,
            hint="μ and σ² of the four values first (ε is too small to matter on paper), then "
                 "x̂; with n = 4 values, dx_i = γ / (n σ̂) · (n dy_i − Σ dy − x̂_i Σ dy · x̂).",
        ),
        "bn_input_grad": Check(
            reference=lambda x, gamma, dy, eps: _bn_gradients(x, gamma, dy, eps)[0],
            cases=cases,
            hint="dx = γ / (n σ̂) · (n dy − Σ dy − x̂ Σ dy · x̂) with σ̂ = sqrt(σ² + ε), the "
                 "biased σ², n = N·H·W values per channel and the sums over dims (0, 2, 3) "
                 "(keepdim=True, so that they broadcast back).",
        ),
        "bn_mean_after_step": Check(
            reference=_means_after_step,
            hint="Adding the same number to every value of a channel changes nothing after the "
                 "mean is subtracted, so Σ dL/dx over a channel is zero: a step along −dL/dx "
                 "moves the values of a channel, but not their mean.",
        ),
        "bn_eval_input_grad": Check(
            reference=lambda x, rm, rv, gamma, dy, eps: _bn_gradients(
                x, gamma, dy, eps, running=(rm, rv))[0],
            cases=_bn_eval_cases(),
            hint="With the running statistics fixed, y = γ (x − running_mean) / "
                 "sqrt(running_var + ε) + β is a per-channel straight line in x: dx = "
                 "γ / sqrt(running_var + ε) · dy, with γ and running_var reshaped to (1, C, 1, 1).",
        ),
    }


# ------------------------------------------------------------------------ activations, dead units


#: Exercise 18.4: how many sigmoids are stacked.
STACKED_SIGMOIDS = 10
#: Exercises 18.5 and 18.6: the layer and the batch of CT crops (see :func:`dead_unit_setup`),
#: and the two learning rates of the single SGD step.
DEAD_SEED, DEAD_BIAS, CROP_SEED, CROPS, CROP_SIDE = 26, -0.5, 18, 8, 32
LEARNING_RATES = (0.1, 10.0)


def dead_unit_setup() -> tuple[torch.Tensor, torch.nn.Conv2d, torch.nn.Conv2d]:
    """The batch and layers of Exercises 18.5 and 18.6, built exactly as the practice builds them.

    Returns ``(images, layer, head)``: eight 32×32 crops of the soft-tissue window of
    ``mednotes.data.ct_slice``, ``(8, 1, 32, 32)`` in [0, 1]; a 3×3 convolution with 16
    channels whose biases are all set to ``DEAD_BIAS``; and a 1×1 convolution that mixes the
    16 channels back into one image.

    Example:
        >>> images, layer, head = dead_unit_setup()
        >>> tuple(images.shape), layer.bias.unique().tolist(), tuple(head.weight.shape)
        ((8, 1, 32, 32), [-0.5], (1, 16, 1, 1))
    """
    from mednotes.data import ct_slice, window

    ct = window(ct_slice()[0], "soft tissue")
    g = torch.Generator().manual_seed(CROP_SEED)
    corners = torch.randint(0, ct.shape[0] - CROP_SIDE, (CROPS, 2), generator=g)
    images = torch.stack([ct[r:r + CROP_SIDE, c:c + CROP_SIDE]
                          for r, c in corners.tolist()])[:, None]
    with torch.random.fork_rng():  # the practice seeds torch itself; a check leaves it alone
        torch.manual_seed(DEAD_SEED)
        layer = torch.nn.Conv2d(1, 16, 3, padding=1)
        head = torch.nn.Conv2d(16, 1, 1)
    with torch.no_grad():
        layer.bias.fill_(DEAD_BIAS)
    return images, layer, head


def _dead(layer: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """One flag per channel: is its ReLU output zero at every position of every image?"""
    with torch.no_grad():
        return (F.relu(layer(images)) == 0).all(dim=0).flatten(1).all(dim=1)


def _dead_channels() -> int:
    images, layer, _ = dead_unit_setup()
    return int(_dead(layer, images).sum())


def _dead_after_step() -> tuple[float, float]:
    """The fraction of dead channels after one SGD step on the reconstruction loss, at the
    small learning rate and at the large one, each from the layer as it was built."""
    images, layer, head = dead_unit_setup()
    fractions = []
    for lr in LEARNING_RATES:
        stepped = copy.deepcopy(layer)
        loss = F.mse_loss(head(F.relu(stepped(images))), images)
        grads = torch.autograd.grad(loss, list(stepped.parameters()))
        with torch.no_grad():
            for parameter, grad in zip(stepped.parameters(), grads):
                parameter -= lr * grad
        fractions.append(_dead(stepped, images).double().mean().item())
    return tuple(fractions)


def _slope(function, z: torch.Tensor, *args) -> torch.Tensor:
    """dσ/dz at every point of ``z``, by autograd through torch's own activation."""
    z = torch.as_tensor(z, dtype=torch.float64).detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(function(z, *args).sum(), z)
    return grad


def _largest_sigmoid_slope() -> float:
    """The largest σ'(z) on a fine grid of z (zero included), by autograd."""
    z = torch.arange(-10_000, 10_001, dtype=torch.float64) / 1000
    return _slope(torch.sigmoid, z).max().item()


def _activation_points() -> tuple[torch.Tensor, ...]:
    """Where the derivatives are tried: a grid with zero on it, random points, large values,
    and the kink alone."""
    g = torch.Generator().manual_seed(2019)
    grid = torch.arange(-30, 31, dtype=torch.float64) / 10          # −3.0, −2.9, ..., 3.0
    scattered = torch.cat([3 * torch.randn(40, generator=g, dtype=torch.float64),
                           torch.zeros(1, dtype=torch.float64)])
    large = torch.tensor([[-20.0, -6.0, -0.5, 0.0], [0.5, 6.0, 20.0, -1e-3],
                          [1e-3, 2.2, -2.2, 1.7]], dtype=torch.float64)
    return grid, scattered, large, torch.zeros((), dtype=torch.float64)


def _activation_checks() -> dict[str, Check]:
    """Exercise 18: five derivatives, the sigmoid's largest slope, and dead units."""
    points = _activation_points()
    cases = tuple((z,) for z in points)
    slopes = (0.01, 0.1, 0.2, 0.3)
    return {
        "relu_grad": Check(
            reference=lambda z: _slope(F.relu, z), cases=cases,
            hint="1 where z > 0 and 0 elsewhere, z = 0 included (PyTorch's convention at the "
                 "kink); (z > 0) is a tensor of True/False: make it numbers with .to(z.dtype).",
        ),
        "leaky_relu_grad": Check(
            reference=lambda z, a: _slope(F.leaky_relu, z, a),
            cases=tuple((z, a) for z, a in zip(points, slopes)),
            hint="1 where z > 0, and the slope a where z ≤ 0, z = 0 included (PyTorch's "
                 "convention): torch.where(z > 0, 1.0, a) has that shape.",
        ),
        "sigmoid_grad": Check(
            reference=lambda z: _slope(torch.sigmoid, z), cases=cases,
            hint="σ'(z) = σ(z) (1 − σ(z)), with s = torch.sigmoid(z) computed once at z itself.",
        ),
        "tanh_grad": Check(
            reference=lambda z: _slope(torch.tanh, z), cases=cases,
            hint="tanh'(z) = 1 − tanh²(z): the square of tanh, not tanh itself.",
        ),
        "gelu_grad": Check(
            reference=lambda z: _slope(F.gelu, z), cases=cases,
            hint="GELU(z) = z Φ(z), so GELU'(z) = Φ(z) + z φ(z), with Φ(z) = (1 + erf(z / √2)) / 2 "
                 "(torch.erf) and φ(z) = exp(−z² / 2) / √(2π); the tanh formula is only an "
                 "approximation of Φ.",
        ),
        "sigmoid_grad_max": Check(
            reference=_largest_sigmoid_slope,
            hint="σ(z)(1 − σ(z)) is a product p(1 − p) with p between nothing and one: it is "
                 "largest where p is one half, that is at z = 0.",
        ),
        "sigmoid_stack_bound": Check(
            reference=lambda: _largest_sigmoid_slope() ** STACKED_SIGMOIDS,
            hint="The chain rule multiplies one σ' per sigmoid, ten factors, and none of them "
                 "can exceed the largest slope of the previous exercise: raise it to the tenth "
                 "power.",
        ),
        "dead_channels": Check(
            reference=_dead_channels,
            hint="z = layer(images) has shape (8, 16, 32, 32); a channel is dead when "
                 "(relu(z) == 0) holds over all of dims 0, 2 and 3; count those channels, "
                 "not the zero pixels.",
        ),
        "dead_after_step": Check(
            reference=_dead_after_step,
            hint="For each learning rate, from a fresh copy.deepcopy(layer): loss = "
                 "F.mse_loss(head(F.relu(layer(images))), images), loss.backward(), then "
                 "p -= lr * p.grad for the layer's weight and bias (under torch.no_grad()); "
                 "count the dead channels as before and divide by 16.",
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
    "bn_param_grads": (
        "γ and β act on each value of a channel separately, so their gradients gather the "
        "upstream gradient from every value of that channel."
    ),
    "bn_grad_by_hand": (
        "Every value of the channel enters μ and σ², so dy at one position reaches dx at "
        "every position: there are three paths, through x̂ directly, through μ and through σ²."
    ),
    "bn_input_grad": (
        "The same three paths as on paper, for every channel at once: sums over everything "
        "but the channel axis."
    ),
    "bn_mean_after_step": (
        "Ask what batch norm's output cannot see: which change of x leaves y exactly as it is?"
    ),
    "bn_eval_input_grad": (
        "In evaluation mode μ and σ² are numbers the layer stored, not functions of the "
        "batch: what is left to differentiate?"
    ),
    "relu_grad": (
        "ReLU is two straight lines that meet at the kink: the derivative is the slope of "
        "the line each z is on, and at the kink PyTorch takes the left one."
    ),
    "leaky_relu_grad": (
        "Leaky ReLU keeps positive inputs as they are and scales the others by a: which "
        "side does a belong to, and which side does PyTorch put z = 0 on?"
    ),
    "sigmoid_grad": (
        "The sigmoid's derivative can be written with the sigmoid itself, evaluated at the "
        "same z."
    ),
    "tanh_grad": (
        "Like the sigmoid's, tanh's derivative can be written with tanh itself."
    ),
    "gelu_grad": (
        "GELU multiplies z by the probability that a standard normal variable is below z: "
        "use the product rule."
    ),
    "sigmoid_grad_max": (
        "Write σ' with p = σ(z): where is p(1 − p) largest, for p between the sigmoid's "
        "limits?"
    ),
    "sigmoid_stack_bound": (
        "Backpropagation through a stack multiplies the derivatives of its layers, one "
        "factor per layer."
    ),
    "dead_channels": (
        "A ReLU unit is dead for a batch when its output is zero for every input of the "
        "batch: a channel is one unit, whatever the number of its pixels."
    ),
    "dead_after_step": (
        "Take the step as training would, once per learning rate from the same starting "
        "layer, then count as before and turn the counts into fractions of the channels."
    ),
}

_ACTIVATION_CASES = (
    "the grid from −3 to 3, zero included",
    "the random points, zero included",
    "the 3×4 tensor with large values",
    "the kink z = 0 alone",
)

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
    "bn_param_grads": (
        "the small 2×2×2×2 batch of Exercise 4",
        "the 4×3×5×5 batch",
        "the batch of one image (1×2×6×6)",
        "the one-channel batch with so small a spread that ε matters",
        "the 3×4×2×7 batch (not square)",
    ),
    "bn_input_grad": (
        "the small 2×2×2×2 batch of Exercise 4",
        "the 4×3×5×5 batch",
        "the batch of one image (1×2×6×6)",
        "the one-channel batch with so small a spread that ε matters",
        "the 3×4×2×7 batch (not square)",
    ),
    "bn_eval_input_grad": (
        "the 4×3×5×5 batch",
        "the batch of one image (1×2×6×6)",
        "the case with so small a running variance that ε matters",
    ),
    "relu_grad": _ACTIVATION_CASES,
    "leaky_relu_grad": (
        "the grid from −3 to 3, zero included (a = 0.01)",
        "the random points, zero included (a = 0.1)",
        "the 3×4 tensor with large values (a = 0.2)",
        "the kink z = 0 alone (a = 0.3)",
    ),
    "sigmoid_grad": _ACTIVATION_CASES,
    "tanh_grad": _ACTIVATION_CASES,
    "gelu_grad": _ACTIVATION_CASES,
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    return refined({**_batchnorm_checks(), **_block_checks(), **_bn_backward_checks(),
                    **_activation_checks()}, ideas=IDEAS, names=CASE_NAMES)


__all__ = ["CASE_NAMES", "IDEAS", "checks", "dead_unit_setup"]
