"""Size arithmetic: how big a convolution's output is, and how far each output pixel sees."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from torch import nn

from mednotes._checks import is_int, ntuple

IntOrTuple = int | tuple[int, ...]


def conv_output_size(
    size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] | str = 0,
    dilation: int | Sequence[int] = 1,
) -> IntOrTuple:
    """Output length of a convolution or pooling layer, torch's formula.

    ``floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1``

    Args:
        size: input length, or one length per spatial dim.
        kernel_size: kernel side, an int or one per dim.
        stride: step between outputs (positive).
        padding: zeros on each side (non-negative), or ``"valid"`` (0) or ``"same"`` (output
            as large as the input; needs stride 1, as in torch).
        dilation: spacing between kernel taps (positive).

    Returns:
        An int when every argument is an int, else a tuple with one size per dim (ints are
        repeated to match the tuples).

    Raises:
        ValueError: when the output would be empty (kernel wider than the padded input), naming
            the arguments involved.

    Shape:
        Scalars or tuples of one common length.

    Explained in: Convolution and cross-correlation.

    Tested against: the output shapes of ``torch.nn.functional.conv2d`` and ``conv3d``.

    Example:
        >>> conv_output_size(128, 3, stride=2, padding=1)
        64
        >>> conv_output_size((64, 128, 128), kernel_size=(1, 3, 3), padding=(0, 1, 1))
        (64, 128, 128)
    """
    args = {"size": size, "kernel_size": kernel_size, "stride": stride, "dilation": dilation}
    if not isinstance(padding, str):
        args["padding"] = padding
    lengths = {len(v) for v in args.values() if not is_int(v) and isinstance(v, Sequence)}
    if len(lengths) > 1:
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
        raise ValueError(f"tuple arguments must have one common length, got {shown}")
    n = lengths.pop() if lengths else None
    dims = n or 1
    sizes = ntuple("size", size, dims, 1)
    kernels = ntuple("kernel_size", kernel_size, dims, 1)
    strides = ntuple("stride", stride, dims, 1)
    dilations = ntuple("dilation", dilation, dims, 1)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be an int, a tuple, 'same' or 'valid'; got {padding!r}")
        if padding == "same":
            if any(s != 1 for s in strides):
                raise ValueError(
                    f"padding='same' needs stride 1 (as in torch), got stride={stride}"
                )
            return sizes[0] if n is None else sizes
        paddings = (0,) * dims
    else:
        paddings = ntuple("padding", padding, dims, 0)

    out = []
    for s, k, st, p, d in zip(sizes, kernels, strides, paddings, dilations):
        span = d * (k - 1) + 1
        if s + 2 * p < span:
            raise ValueError(
                f"output would be empty: size={s} with padding={p} gives {s + 2 * p}, less than "
                f"the kernel_size={k} with dilation={d} spans ({span})"
            )
        out.append((s + 2 * p - span) // st + 1)
    return out[0] if n is None else tuple(out)


class ReceptiveField(NamedTuple):
    """Receptive field after one layer; ints when equal along every axis, else per-axis tuples."""

    layer: str  #: the module's name in ``named_modules()``, or the index in a list of tuples
    kernel: IntOrTuple
    stride: IntOrTuple
    dilation: IntOrTuple
    size: IntOrTuple  #: how many input pixels one output pixel depends on (per axis)
    jump: IntOrTuple  #: distance in input pixels between neighbouring outputs (effective stride)


def receptive_field(layers: nn.Module | Sequence[Sequence]) -> list[ReceptiveField]:
    """Receptive field size and jump (effective stride) after each layer of a stack.

    Starting from ``size = 1, jump = 1`` (one input pixel), each layer with kernel ``k``,
    stride ``s`` and dilation ``d`` updates ``size += d * (k - 1) * jump``, then
    ``jump *= s``.

    Padding moves the field but does not change its size, so it is ignored.

    Args:
        layers: a sequence of ``(kernel, stride)`` or ``(kernel, stride, dilation)`` tuples
            (each entry an int or a per-axis tuple), or an ``nn.Module``. A module is walked
            in ``named_modules()`` order, and every submodule with ``kernel_size`` and
            ``stride`` attributes counts (Conv1d/2d/3d, MaxPool, AvgPool, and any mednotes
            layer exposing them); ``dilation`` defaults to 1. Transposed convolutions are
            rejected; global/adaptive pooling has no kernel_size and is skipped.

    Returns:
        One :class:`ReceptiveField` per layer. Fields are ints when equal along every axis
        (e.g. 3x3 kernels), otherwise tuples per axis (e.g. a (1, 3, 3) kernel in 3-D).

    Shape:
        Not applicable (works on sizes, not tensors).

    Explained in: Convolution and cross-correlation.

    Tested against: hand-computed stacks (three 3x3 convs see 7x7; conv, pool, conv gives
    1, 3, 4, 8) and the published formula of Araujo et al., Distill 2019.

    Example:
        >>> [r.size for r in receptive_field([(3, 1), (3, 1), (3, 1)])]
        [3, 5, 7]
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3))
        >>> [(r.layer, r.size, r.jump) for r in receptive_field(net)]
        [('0', 3, 1), ('1', 4, 2), ('2', 8, 2)]
    """
    if isinstance(layers, nn.Module):
        items = _module_layers(layers)
    elif isinstance(layers, Sequence) and not isinstance(layers, str):
        items = []
        for i, entry in enumerate(layers):
            is_pair = isinstance(entry, Sequence) and not isinstance(entry, str)
            if not is_pair or len(entry) not in (2, 3):
                raise ValueError(
                    f"layers[{i}] must be (kernel, stride) or (kernel, stride, dilation), "
                    f"got {entry!r}"
                )
            dilation = entry[2] if len(entry) == 3 else 1
            items.append((str(i), entry[0], entry[1], dilation))
    else:
        raise TypeError(
            f"layers must be an nn.Module or a sequence of (kernel, stride[, dilation]) tuples, "
            f"got {type(layers).__name__}"
        )
    if not items:
        raise ValueError("layers holds no layer with a kernel_size and a stride")

    # Per-axis arithmetic; the number of axes is the longest tuple seen (ints broadcast).
    checked = []
    for name, kernel, stride, dilation in items:
        where = f"layers[{name}]" if not isinstance(layers, nn.Module) else f"layer {name!r}"
        checked.append((
            name,
            ntuple(f"{where} kernel", kernel, None, 1),
            ntuple(f"{where} stride", stride, None, 1),
            ntuple(f"{where} dilation", dilation, None, 1),
        ))
    axes = max(len(t) for _, *triple in checked for t in triple)
    size, jump = [1] * axes, [1] * axes
    records = []
    for name, kernel, stride, dilation in checked:
        k, s, d = (_broadcast(name, t, axes) for t in (kernel, stride, dilation))
        size = [r + di * (ki - 1) * j for r, ki, di, j in zip(size, k, d, jump)]
        jump = [j * si for j, si in zip(jump, s)]
        records.append(ReceptiveField(
            name, _collapse(k), _collapse(s), _collapse(d), _collapse(size), _collapse(jump)
        ))
    return records


def _module_layers(model: nn.Module) -> list[tuple[str, object, object, object]]:
    found = []
    for name, module in model.named_modules():
        if not (hasattr(module, "kernel_size") and hasattr(module, "stride")):
            continue
        label = name or type(module).__name__
        if getattr(module, "transposed", False):
            raise ValueError(
                f"layers contains the transposed convolution {label!r} "
                f"({type(module).__name__}); receptive_field handles conv and pooling layers only"
            )
        stride = module.stride if module.stride is not None else module.kernel_size
        found.append((label, module.kernel_size, stride, getattr(module, "dilation", 1)))
    return found


def _broadcast(name: str, values: tuple[int, ...], axes: int) -> tuple[int, ...]:
    if len(values) == axes:
        return values
    if len(values) == 1:
        return values * axes
    raise ValueError(f"layer {name!r} has {len(values)} axes, other layers have {axes}")


def _collapse(values: Sequence[int]) -> IntOrTuple:
    return values[0] if len(set(values)) == 1 else tuple(values)
