"""Plain and residual CIFAR-style stacks of any depth 6n + 2 (He et al., 2016, section 4.2).

The network of the degradation and vanishing-gradient experiments: a 3x3 convolution stem,
three stages of ``n`` blocks of two 3x3 conv-norm-ReLU layers (widths ``base``, ``2 base``,
``4 base``; the first block of stages 2 and 3 halves the size), a global average pool and a
linear head: ``6n + 2`` layers with weights. ``residual=True`` adds the shortcuts, and nothing
else: the same seed gives the same weights to every layer the two networks share, so a plain
and a residual network can be compared from the same start.

Explained in: Residual networks: depth, gradients and the shortcut.

Tested against: hand counts of the weight layers and parameters, and each block recomputed
with ``torch.nn.functional`` (``relu(F(x) + shortcut(x))`` with the shortcut,
``relu(F(x))`` without), forward and backward.
"""

from __future__ import annotations

import torch
from torch import nn

from mednotes._checks import (
    check_bool,
    check_choice,
    check_input,
    check_int,
    check_positive_int,
)
from mednotes.layers.block import NORMS
from mednotes.nets.unet import _norm  # batch, group, instance, layer or None, as the U-Net

__all__ = ["PlainNet", "TwoConvBlock", "weight_layers"]

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}


class TwoConvBlock(nn.Module):
    """Two 3x3 conv-norm-ReLU layers, with or without a shortcut around them.

    With ``residual=False`` it computes ``relu(F(x))``, with ``residual=True``
    ``relu(F(x) + shortcut(x))``, where ``F`` is conv, norm, ReLU, conv, norm. The shortcut
    is the identity, or a 1x1 convolution and a norm (attribute ``shortcut``) when the block
    changes the width or the size.

    Args:
        in_channels: channels coming in.
        out_channels: width of both convolutions.
        stride: stride of the first convolution (2 halves every size).
        dim: 2 or 3 spatial dimensions.
        residual: add the shortcut.
        norm: ``"batch"``, ``"group"``, ``"instance"``, ``"layer"`` or None; convolutions
            carry a bias only when there is no norm.

    Shape:
        ``(N, in_channels, *spatial)`` -> ``(N, out_channels, *spatial_out)``, each size
        ``s`` becoming ``(s - 1) // stride + 1``.

    Example:
        >>> block = TwoConvBlock(4, 8, stride=2, residual=True)
        >>> block(torch.zeros(2, 4, 8, 8)).shape
        torch.Size([2, 8, 4, 4])
        >>> [type(layer).__name__ for layer in block.shortcut]  # width and size change
        ['Conv2d', 'BatchNorm2d']
        >>> TwoConvBlock(8, 8, residual=True).shortcut, TwoConvBlock(8, 8).shortcut
        (Identity(), None)
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dim: int = 2,
                 residual: bool = False, norm: str | None = "batch"):
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        out_channels = check_positive_int("out_channels", out_channels)
        stride = check_positive_int("stride", stride)
        self.dim = dim = check_choice("dim", dim, (2, 3))
        self.residual = check_bool("residual", residual)
        check_choice("norm", norm, NORMS + (None,))
        conv, bias = _CONV[dim], norm is None
        self.conv1 = conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)
        self.norm1 = _norm(norm, out_channels, dim)
        self.conv2 = conv(out_channels, out_channels, 3, padding=1, bias=bias)
        self.norm2 = _norm(norm, out_channels, dim)
        self.relu = nn.ReLU()
        if residual and (stride != 1 or in_channels != out_channels):
            self.shortcut = nn.Sequential(conv(in_channels, out_channels, 1, stride=stride,
                                               bias=bias), _norm(norm, out_channels, dim))
        elif residual:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(f"TwoConvBlock(dim={self.dim})", x, self.dim, channels=self.in_channels,
                    unbatched=False)
        out = self.norm2(self.conv2(self.relu(self.norm1(self.conv1(x)))))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)

    def weight_layers(self) -> list[nn.Module]:
        """The two 3x3 convolutions (not the shortcut's), in forward order."""
        return [self.conv1, self.conv2]


def _blocks_per_stage(depth: object) -> int:
    """``n`` for ``depth = 6n + 2``, or a ValueError naming the nearest valid depths."""
    depth = check_int("depth", depth)
    if depth >= 8 and (depth - 2) % 6 == 0:
        return (depth - 2) // 6
    below = 6 * ((depth - 2) // 6) + 2
    nearest = "8" if below < 8 else f"{below} or {below + 6}"
    raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 26, ..., 56, ...), got "
                     f"{depth}; the nearest valid depth is {nearest}")


class PlainNet(nn.Module):
    """He et al.'s CIFAR network of ``depth = 6n + 2`` weight layers, plain or residual.

    Layers with weights, in forward order (:meth:`weight_layers`): the stem's 3x3
    convolution (``base_channels``), ``2n`` 3x3 convolutions at ``base_channels``, ``2n`` at
    ``2 * base_channels`` (the first with stride 2), ``2n`` at ``4 * base_channels`` (the first
    with stride 2), and the linear head after a global average pool. ``depth`` 8, 20 and 56
    give ``n`` = 1, 3 and 9.

    With ``residual=True`` every block adds its input back (through a 1x1 convolution and a
    norm where the width and size change): that is the ResNet of the same depth. The
    shortcut modules are the only difference, and under the same seed both networks start
    with the same weights in every layer they share (the weights are drawn after the layers
    are built, in forward order, shortcuts last).

    Initialisation: He-normal convolutions (fan-in, ReLU gain), zero biases, norms at weight 1
    and bias 0, PyTorch's default for the linear head. Without a norm, every residual block
    adds the variance of ``F(x)`` to that of ``x``, so deep residual networks with
    ``norm=None`` grow their activations with depth.

    Args:
        depth: layers with weights, ``6n + 2`` with ``n >= 1``.
        in_channels: channels of the input (1 for CT or MR).
        num_classes: outputs of the linear head.
        base_channels: width of the stem and the first stage.
        dim: 2 for images, 3 for volumes.
        residual: add the shortcuts (True: ResNet; False: the plain network).
        norm: ``"batch"``, ``"group"``, ``"instance"``, ``"layer"`` or None.

    Attributes:
        blocks: the ``3n`` :class:`TwoConvBlock` modules in forward order (an nn.ModuleList).

    Shape:
        ``(N, in_channels, *spatial)`` -> ``(N, num_classes)``, with ``len(spatial) == dim``.

    Example:
        >>> net = PlainNet(20)
        >>> len(net.blocks), len(net.weight_layers())
        (9, 20)
        >>> net(torch.zeros(2, 1, 32, 32)).shape
        torch.Size([2, 2])
        >>> PlainNet(18)
        Traceback (most recent call last):
        ...
        ValueError: depth must be 6n + 2 with n >= 1 (8, 14, 20, 26, ..., 56, ...), got 18; the nearest valid depth is 14 or 20
    """

    def __init__(self, depth: int = 20, in_channels: int = 1, num_classes: int = 2,
                 base_channels: int = 16, dim: int = 2, residual: bool = False,
                 norm: str | None = "batch"):
        super().__init__()
        n = _blocks_per_stage(depth)
        self.depth = depth
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.num_classes = check_positive_int("num_classes", num_classes)
        base_channels = check_positive_int("base_channels", base_channels)
        self.dim = dim = check_choice("dim", dim, (2, 3))
        self.residual = check_bool("residual", residual)
        self.norm = check_choice("norm", norm, NORMS + (None,))

        rng = torch.get_rng_state()  # restored below, so that the shortcuts draw nothing first
        self.stem = nn.Sequential(
            _CONV[dim](in_channels, base_channels, 3, padding=1, bias=norm is None),
            _norm(norm, base_channels, dim), nn.ReLU())
        blocks, width = [], base_channels
        for stage in range(3):
            out = base_channels * 2**stage
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(TwoConvBlock(width, out, stride, dim, residual, norm))
                width = out
        self.blocks = nn.ModuleList(blocks)
        self.pool = (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)[dim - 2](1)
        self.fc = nn.Linear(width, num_classes)

        torch.set_rng_state(rng)
        shortcuts = [m for b in self.blocks if b.shortcut is not None for m in b.shortcut.modules()]
        for layer in self.weight_layers() + shortcuts:
            if isinstance(layer, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
            elif isinstance(layer, nn.Linear):
                layer.reset_parameters()
        for module in self.modules():  # the affine norms start as the identity
            if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm,
                                   nn.InstanceNorm2d, nn.InstanceNorm3d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(f"PlainNet(dim={self.dim})", x, self.dim, channels=self.in_channels,
                    unbatched=False)
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.fc(torch.flatten(self.pool(x), 1))

    def weight_layers(self) -> list[nn.Module]:
        """The ``depth`` convolutions and linear layer of the main path, in forward order.

        For per-layer gradient norms: ``[layer.weight.grad.norm() for layer in
        net.weight_layers()]`` after a backward pass.
        """
        layers = [self.stem[0]]
        for block in self.blocks:
            layers += block.weight_layers()
        return layers + [self.fc]

    def extra_repr(self) -> str:
        return (f"depth={self.depth}, residual={self.residual}, norm={self.norm!r}, "
                f"dim={self.dim}")


def weight_layers(net: nn.Module) -> list[nn.Module]:
    """The layers with weights along ``net``'s main path, in forward order.

    For :class:`PlainNet` and :class:`mednotes.nets.ResNet` (their ``weight_layers()``
    method): the convolutions and the linear head, without the shortcuts' projections, so
    that ``len(weight_layers(net))`` is the depth in the paper's sense.

    Args:
        net: a network with a ``weight_layers()`` method.

    Example:
        >>> [type(layer).__name__ for layer in weight_layers(PlainNet(8))][:3]
        ['Conv2d', 'Conv2d', 'Conv2d']
        >>> len(weight_layers(PlainNet(56, residual=True)))
        56
    """
    method = getattr(net, "weight_layers", None)
    if not isinstance(net, nn.Module) or not callable(method):
        raise TypeError(f"net must be a PlainNet or a ResNet (an nn.Module with a "
                        f"weight_layers() method), got {type(net).__name__}")
    return method()
