"""Count a network's parameters and multiply-adds, layer by layer.

:func:`count_parameters` is the one number everyone quotes. :func:`summary` runs one forward
pass on a zero tensor and lists every leaf module (a module without children: a convolution, a
norm, a ReLU ...) in the order it was called, with its output shape, its parameters and its
multiply-accumulate operations (MACs), the way the tables of architecture papers count them.

What counts as a multiply-add:

- a convolution (1D/2D/3D, grouped or not, ``torch.nn`` or :mod:`mednotes.layers`): each output
  value is a dot product of ``C_in / groups * prod(kernel_size)`` terms, so
  ``MACs = output.numel() * C_in / groups * prod(kernel_size)``;
- a transposed convolution: each *input* value is multiplied into ``C_out / groups *
  prod(kernel_size)`` outputs, so ``MACs = input.numel() * C_out / groups * prod(kernel_size)``;
- a linear layer: ``output.numel() * in_features``;
- everything else counts 0: norms, activations, pooling, upsampling, additions of biases and
  of residuals. Their cost is a few operations per value, limited by memory traffic rather
  than arithmetic; leaving them out is the convention of the papers' tables and of
  ``torch.utils.flop_counter.FlopCounterMode``, which counts ``FLOPs = 2 * MACs`` for the
  convolutions and matrix products only.

The MACs are those of the whole batch given in ``input_size``; divide by N for one image.

Explained in: What a CNN sees: encoders, decoders and U-Net.

Tested against: ``sum(p.numel() for p in model.parameters())`` for the parameters, and
``torch.utils.flop_counter.FlopCounterMode`` (half its FLOPs) for the MACs, per layer and in
total, on U-Nets in 2D and 3D and on grouped, transposed and linear layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mednotes._checks import (
    check_bool,
    check_device,
    check_float_dtype,
    describe,
    ntuple,
)
from mednotes.layers.conv import _ConvNd as _OurConv

__all__ = ["LayerRow", "Summary", "count_parameters", "summary"]


def _check_module(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {describe(model)}")
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameter values of ``model`` (a parameter shared by two layers once).

    Args:
        model: any ``torch.nn.Module``.
        trainable_only: count only the parameters with ``requires_grad=True``.

    Returns:
        An int.

    Explained in: What a CNN sees: encoders, decoders and U-Net.

    Example:
        >>> count_parameters(nn.Linear(3, 2))  # 3 * 2 weights and 2 biases
        8
        >>> net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
        >>> net[0].requires_grad_(False)
        Linear(in_features=3, out_features=2, bias=True)
        >>> count_parameters(net), count_parameters(net, trainable_only=True)
        (11, 3)
    """
    _check_module(model)
    trainable_only = check_bool("trainable_only", trainable_only)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@dataclass
class LayerRow:
    """One call of one leaf module in :func:`summary`'s table.

    Attributes:
        name: the module's qualified name in the model (``"encoders.0.0"``), with
            ``" (call 2)"`` appended when a module runs more than once.
        kind: its class name (``"Conv2d"``).
        output_shape: the shape of its output (a list of shapes for a tuple or list of
            tensors, None for anything else).
        params: its own parameter values, counted at its first call only (0 at later calls).
        macs: multiply-adds of this call, for the whole batch.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...] | list[tuple[int, ...]] | None
    params: int
    macs: int


@dataclass
class Summary:
    """What :func:`summary` measured; ``str(summary)`` is the printed table.

    Attributes:
        rows: one :class:`LayerRow` per call of a leaf module, in the order of the calls.
        input_size: the ``(N, C, *spatial)`` that was run.
        output_shape: the shape of the model's output (as :attr:`LayerRow.output_shape`).
        total_params: :func:`count_parameters` of the model, including modules that did not
            run and parameters held by non-leaf modules.
        trainable_params: the same, counting only parameters with ``requires_grad``.
        total_macs: the sum of the rows' MACs: one forward pass of the whole batch.
    """

    rows: list[LayerRow]
    input_size: tuple[int, ...]
    output_shape: tuple[int, ...] | list[tuple[int, ...]] | None
    total_params: int
    trainable_params: int
    total_macs: int = field(init=False)

    def __post_init__(self) -> None:
        self.total_macs = sum(row.macs for row in self.rows)

    def __str__(self) -> str:
        header = ("layer (type)", "output shape", "params", "MACs")
        table = [header] + [
            (f"{row.name} ({row.kind})", _shape_text(row.output_shape), f"{row.params:,}",
             f"{row.macs:,}")
            for row in self.rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(4)]
        rule = "-" * (sum(widths) + 6)

        def line(cells: tuple[str, ...]) -> str:
            return (f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  "
                    f"{cells[2]:>{widths[2]}}  {cells[3]:>{widths[3]}}")

        lines = [line(header), rule, *(line(cells) for cells in table[1:]), rule]
        lines += [
            f"input {_shape_text(self.input_size)} -> output {_shape_text(self.output_shape)}",
            f"parameters: {self.total_params:,} ({self.trainable_params:,} trainable)",
            (f"multiply-adds: {self.total_macs:,} ({_human(self.total_macs)}) for the batch "
             f"of {self.input_size[0]}"),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Summary({len(self.rows)} rows, total_params={self.total_params:,}, "
                f"total_macs={self.total_macs:,})")


def _shape_text(shape: object) -> str:
    if shape is None:
        return "-"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _human(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def _shape_of(value: object) -> tuple[int, ...] | list[tuple[int, ...]] | None:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)) and all(isinstance(v, torch.Tensor) for v in value):
        return [tuple(v.shape) for v in value]
    return None


def _macs(module: nn.Module, inputs: tuple, output: object) -> int:
    """Multiply-adds of one call; see the module docstring for what counts."""
    if isinstance(module, (nn.modules.conv._ConvNd, _OurConv)) and isinstance(output,
                                                                           torch.Tensor):
        per_value = module.weight[0].numel()  # C_in/groups * kernel (C_out/groups if transposed)
        if getattr(module, "transposed", False):
            return inputs[0].numel() * per_value
        return output.numel() * per_value
    if isinstance(module, nn.Linear) and isinstance(output, torch.Tensor):
        return output.numel() * module.in_features
    return 0


def summary(model: nn.Module, input_size: tuple[int, ...], *, device: object = None,
            dtype: torch.dtype | None = None, verbose: bool = True) -> Summary:
    """Per-layer output shapes, parameters and multiply-adds of ``model``, from one forward.

    The model runs once on ``torch.zeros(input_size)`` without gradients and in eval mode (so
    that batch norm's running statistics stay as they were); every module's training flag is
    restored afterwards. A forward hook on every leaf module records its output shape and its
    MACs; what counts as a multiply-add is explained at the top of this module.

    Args:
        model: a ``torch.nn.Module``.
        input_size: the input's full shape including the batch, ``(N, C, *spatial)``, such as
            ``(1, 1, 572, 572)``.
        device: where the zero input is made; default: the device of the model's first
            parameter (the CPU for a model without parameters).
        dtype: the input's dtype; default: the dtype of the model's first floating-point
            parameter, else float32.
        verbose: print the table.

    Returns:
        A :class:`Summary`: ``.rows``, ``.total_params``, ``.total_macs`` ...; ``str()`` of it
        is the printed table.

    Raises:
        TypeError, ValueError: when ``model`` is not a module or ``input_size`` is not a
            shape ``(N, C, *spatial)`` of positive ints. Errors of the model's own forward
            (the wrong channel count, say) come through unchanged.

    Explained in: What a CNN sees: encoders, decoders and U-Net.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
        ...                     nn.Linear(4 * 8 * 8, 2))
        >>> s = summary(net, (1, 1, 8, 8))
        layer (type)  output shape  params   MACs
        -----------------------------------------
        0 (Conv2d)    (1, 4, 8, 8)      40  2,304
        1 (ReLU)      (1, 4, 8, 8)       0      0
        2 (Flatten)   (1, 256)           0      0
        3 (Linear)    (1, 2)           514    512
        -----------------------------------------
        input (1, 1, 8, 8) -> output (1, 2)
        parameters: 554 (554 trainable)
        multiply-adds: 2,816 (2.82 k) for the batch of 1
        >>> s.total_macs, s.rows[0].macs  # 8 * 8 * 4 outputs, 3 * 3 products each
        (2816, 2304)
    """
    _check_module(model)
    shape = ntuple("input_size", input_size, None, 1)
    if len(shape) < 2:
        raise ValueError(f"input_size must be (N, C, *spatial) with the batch and channel "
                         f"sizes first, got {input_size!r}")
    device = check_device("device", device)
    dtype = check_float_dtype("dtype", dtype)
    verbose = check_bool("verbose", verbose)
    parameters = list(model.parameters())
    if device is None:
        device = parameters[0].device if parameters else torch.device("cpu")
    if dtype is None:
        dtype = next((p.dtype for p in parameters if p.is_floating_point()), torch.float32)

    names = {module: name for name, module in model.named_modules()}
    rows: list[LayerRow] = []
    calls: dict[nn.Module, int] = {}

    def record(module: nn.Module, inputs: tuple, output: object) -> None:
        calls[module] = calls.get(module, 0) + 1
        name = names[module] or type(module).__name__
        if calls[module] > 1:
            name += f" (call {calls[module]})"
        params = sum(p.numel() for p in module.parameters()) if calls[module] == 1 else 0
        rows.append(LayerRow(name, type(module).__name__, _shape_of(output), params,
                             _macs(module, inputs, output)))

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    training = {m: m.training for m in model.modules()}
    handles = [m.register_forward_hook(record) for m in leaves]
    try:
        model.eval()
        with torch.no_grad():
            output = model(torch.zeros(shape, device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training.items():
            module.training = flag
    result = Summary(rows, shape, _shape_of(output), count_parameters(model),
                     count_parameters(model, trainable_only=True))
    if verbose:
        print(result)
    return result
