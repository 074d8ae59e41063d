"""ResNet-18/34/50 (He et al., 2016) in 2D and 3D, with torchvision's state-dict names.

A stem (7x7 convolution with stride 2, batch norm, ReLU, 3x3 max-pool with stride 2), four
stages of residual blocks whose widths double while the size halves (the first block of
stages 2-4 has stride 2), a global average pool and a linear head. Each block adds its input
back to what its convolutions computed, ``relu(F(x) + x)``; where the shape changes, the
input goes through a 1x1 convolution with the block's stride and a batch norm first (the
``downsample`` shortcut). :class:`Bottleneck` puts its stride on the 3x3 convolution, as
torchvision does ("ResNet v1.5"), not on the first 1x1 as in the paper.

The state-dict contract: with ``dim=2``, ``in_channels=3`` and ``base_channels=64``, the
parameter and buffer names and shapes are torchvision's (``conv1.weight``, ``bn1.*``,
``layer1.0.conv1.weight``, ``layer2.0.downsample.0.weight``, ``fc.bias``, ...), so a state
dict of ``torchvision.models.resnet18/34/50`` loads with ``strict=True`` and the two networks
compute the same outputs and gradients. ``in_channels=1`` (CT, MR) changes only the shape of
``conv1.weight``; ``dim=3`` makes every kernel 3D, with the same names.

Explained in: Residual networks: depth, gradients and the shortcut.

Tested against: torchvision 0.28.0's ``models/resnet.py`` (state dicts both ways, outputs and
gradients in eval and train mode, float64 and bf16 autocast), and MONAI's
``monai.networks.nets.ResNet`` for the 3D networks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mednotes._checks import check_bool, check_choice, check_input, check_positive_int, describe

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50"]

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_BATCH_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int, dim: int) -> nn.Module:
    """A bias-free convolution padded to keep the size (before the stride)."""
    return _CONV[dim](in_channels, out_channels, kernel, stride=stride, padding=kernel // 2,
                      bias=False)


def _check_block_args(in_channels, channels, stride, downsample, dim):
    in_channels = check_positive_int("in_channels", in_channels)
    channels = check_positive_int("channels", channels)
    stride = check_positive_int("stride", stride)
    dim = check_choice("dim", dim, (2, 3))
    if downsample is not None and not isinstance(downsample, nn.Module):
        raise TypeError(f"downsample must be None or an nn.Module, got {describe(downsample)}")
    return in_channels, channels, stride, dim


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, and the input added back: ``relu(F(x) + x)``.

    ``F`` is conv3x3 (stride ``stride``), batch norm, ReLU, conv3x3, batch norm. The block of
    ResNet-18 and -34.

    Args:
        in_channels: channels coming in (torchvision's ``inplanes``).
        channels: width of both convolutions (torchvision's ``planes``); the block outputs
            ``channels * BasicBlock.expansion`` = ``channels`` channels.
        stride: stride of the first convolution, 2 to halve every spatial size.
        downsample: applied to the input before it is added, when ``F`` changes the shape
            (ResNet uses a 1x1 convolution with this stride and a batch norm); None for the
            identity.
        dim: 2 or 3 spatial dimensions.

    Shape:
        ``(N, in_channels, *spatial)`` -> ``(N, channels, *spatial_out)``, each size
        ``s`` becoming ``(s - 1) // stride + 1``.

    Example:
        >>> block = BasicBlock(8, 8)
        >>> block(torch.zeros(2, 8, 6, 6)).shape
        torch.Size([2, 8, 6, 6])
        >>> sorted(name for name, _ in block.named_parameters())[:3]
        ['bn1.bias', 'bn1.weight', 'bn2.bias']
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1,
                 downsample: nn.Module | None = None, dim: int = 2):
        super().__init__()
        in_channels, channels, stride, dim = _check_block_args(in_channels, channels, stride,
                                                               downsample, dim)
        self.in_channels, self.stride, self.dim = in_channels, stride, dim
        self.conv1 = _conv(in_channels, channels, 3, stride, dim)
        self.bn1 = _BATCH_NORM[dim](channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv(channels, channels, 3, 1, dim)
        self.bn2 = _BATCH_NORM[dim](channels)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(f"BasicBlock(dim={self.dim})", x, self.dim, channels=self.in_channels,
                    unbatched=False)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)

    def weight_layers(self) -> list[nn.Module]:
        """The convolutions of the residual branch, in forward order (not the shortcut's)."""
        return [self.conv1, self.conv2]


class Bottleneck(nn.Module):
    """1x1 down to ``channels``, 3x3, 1x1 up to ``4 * channels``, and the input added back.

    The block of ResNet-50 and deeper: the 3x3 convolution works on 4 times fewer channels
    than the block's input and output. Its stride sits on the 3x3 convolution (torchvision's
    "v1.5"; the paper had it on the first 1x1).

    Args:
        in_channels: channels coming in (torchvision's ``inplanes``).
        channels: width of the inner convolutions (torchvision's ``planes``); the block
            outputs ``channels * Bottleneck.expansion`` = ``4 * channels`` channels.
        stride: stride of the 3x3 convolution.
        downsample: applied to the input before it is added when the shape changes, or None.
        dim: 2 or 3 spatial dimensions.

    Shape:
        ``(N, in_channels, *spatial)`` -> ``(N, 4 * channels, *spatial_out)``, each size
        ``s`` becoming ``(s - 1) // stride + 1``.

    Example:
        >>> Bottleneck(16, 4)(torch.zeros(2, 16, 6, 6)).shape
        torch.Size([2, 16, 6, 6])
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1,
                 downsample: nn.Module | None = None, dim: int = 2):
        super().__init__()
        in_channels, channels, stride, dim = _check_block_args(in_channels, channels, stride,
                                                               downsample, dim)
        self.in_channels, self.stride, self.dim = in_channels, stride, dim
        self.conv1 = _conv(in_channels, channels, 1, 1, dim)
        self.bn1 = _BATCH_NORM[dim](channels)
        self.conv2 = _conv(channels, channels, 3, stride, dim)
        self.bn2 = _BATCH_NORM[dim](channels)
        self.conv3 = _conv(channels, channels * self.expansion, 1, 1, dim)
        self.bn3 = _BATCH_NORM[dim](channels * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(f"Bottleneck(dim={self.dim})", x, self.dim, channels=self.in_channels,
                    unbatched=False)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)

    def weight_layers(self) -> list[nn.Module]:
        """The convolutions of the residual branch, in forward order (not the shortcut's)."""
        return [self.conv1, self.conv2, self.conv3]


def _check_layers(layers: object) -> tuple[int, ...]:
    if not isinstance(layers, Sequence) or isinstance(layers, (str, bytes)):
        raise TypeError("layers must be a sequence of 4 positive ints (blocks per stage), "
                        f"got {describe(layers)}")
    if len(layers) != 4:
        raise ValueError(f"layers must have 4 entries (blocks in each of the 4 stages), got "
                         f"{len(layers)}: {list(layers)!r}")
    return tuple(check_positive_int(f"layers[{i}]", n) for i, n in enumerate(layers))


class ResNet(nn.Module):
    """A residual network for classification, 2D or 3D, named and shaped as torchvision's.

    Stage ``i`` (1 to 4) holds ``layers[i - 1]`` blocks of width ``base_channels * 2**(i-1)``
    (times ``block.expansion`` at its output); each of stages 2-4 halves every spatial size,
    and the stem divides it by 4, so the last feature map is 32 times smaller than the input.

    The state-dict contract: with ``dim=2``, ``in_channels=3`` and ``base_channels=64`` the
    network loads torchvision's ``ResNet`` state dict with ``strict=True`` (and torchvision's
    loads this one's) and computes the same function; ``in_channels=1`` changes only the
    shape of ``conv1.weight``, and ``dim=3`` only makes every kernel 3D.

    Initialisation as torchvision's: He-normal convolutions (fan-out, ReLU gain), batch norms
    at weight 1 and bias 0, PyTorch's default for the linear head.

    Args:
        block: :class:`BasicBlock` (ResNet-18/34) or :class:`Bottleneck` (ResNet-50 and up),
            the class itself.
        layers: blocks in each of the 4 stages, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        num_classes: outputs of the linear head.
        in_channels: channels of the input (3 for RGB photographs, 1 for CT or MR).
        dim: 2 for images, 3 for volumes.
        zero_init_residual: start the last batch norm of every block at weight 0, so that
            each block starts as the identity (Goyal et al., 2017).
        base_channels: width of the stem and of stage 1 (64 in torchvision).

    Shape:
        ``(N, in_channels, *spatial)`` -> ``(N, num_classes)``, with ``len(spatial) == dim``.

    Example:
        >>> net = ResNet(BasicBlock, (1, 1, 1, 1), num_classes=2, in_channels=1,
        ...              base_channels=8)
        >>> net(torch.zeros(2, 1, 32, 32)).shape
        torch.Size([2, 2])
        >>> volumes = resnet18(dim=3, in_channels=1, num_classes=2).eval()
        >>> volumes(torch.zeros(1, 1, 16, 16, 16)).shape
        torch.Size([1, 2])
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: Sequence[int],
                 num_classes: int = 1000, in_channels: int = 3, dim: int = 2,
                 zero_init_residual: bool = False, base_channels: int = 64):
        super().__init__()
        if not (isinstance(block, type) and issubclass(block, (BasicBlock, Bottleneck))):
            raise TypeError("block must be the class BasicBlock or Bottleneck (not an "
                            f"instance), got {describe(block)}")
        layers = _check_layers(layers)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.dim = dim = check_choice("dim", dim, (2, 3))
        zero_init_residual = check_bool("zero_init_residual", zero_init_residual)
        base_channels = check_positive_int("base_channels", base_channels)

        self.conv1 = _CONV[dim](in_channels, base_channels, 7, stride=2, padding=3, bias=False)
        self.bn1 = _BATCH_NORM[dim](base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = (nn.MaxPool2d, nn.MaxPool3d)[dim - 2](3, stride=2, padding=1)
        channels_in = base_channels
        for stage, blocks in enumerate(layers, start=1):
            channels = base_channels * 2 ** (stage - 1)
            stride = 1 if stage == 1 else 2
            out = channels * block.expansion
            downsample = None
            if stride != 1 or channels_in != out:
                downsample = nn.Sequential(_conv(channels_in, out, 1, stride, dim),
                                           _BATCH_NORM[dim](out))
            stack = [block(channels_in, channels, stride, downsample, dim)]
            stack += [block(out, channels, dim=dim) for _ in range(blocks - 1)]
            setattr(self, f"layer{stage}", nn.Sequential(*stack))
            channels_in = out
        self.avgpool = (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)[dim - 2](1)
        self.fc = nn.Linear(channels_in, num_classes)

        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    last = module.bn3 if isinstance(module, Bottleneck) else module.bn2
                    nn.init.zeros_(last.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(f"ResNet(dim={self.dim})", x, self.dim, channels=self.in_channels,
                    unbatched=False)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def weight_layers(self) -> list[nn.Module]:
        """The convolutions and the linear head along the main path, in forward order.

        The shortcuts' 1x1 convolutions are left out, as the paper leaves them out of the
        depth: ResNet-18 has 18 of them, ResNet-50 has 50.
        """
        main = [self.conv1]
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            for block in stage:
                main += block.weight_layers()
        return main + [self.fc]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, in_channels={self.in_channels}, num_classes={self.num_classes}"


def resnet18(**kwargs) -> ResNet:
    """ResNet-18: :class:`BasicBlock` stages of 2, 2, 2, 2 blocks (11.7 M parameters at 1000
    classes). Keyword arguments go to :class:`ResNet`; no pretrained weights are downloaded.

    Example:
        >>> sum(p.numel() for p in resnet18().parameters())
        11689512
    """
    return ResNet(BasicBlock, (2, 2, 2, 2), **kwargs)


def resnet34(**kwargs) -> ResNet:
    """ResNet-34: :class:`BasicBlock` stages of 3, 4, 6, 3 blocks. Keyword arguments go to
    :class:`ResNet`.

    Example:
        >>> len(resnet34(num_classes=2).weight_layers())
        34
    """
    return ResNet(BasicBlock, (3, 4, 6, 3), **kwargs)


def resnet50(**kwargs) -> ResNet:
    """ResNet-50: :class:`Bottleneck` stages of 3, 4, 6, 3 blocks. Keyword arguments go to
    :class:`ResNet`.

    Example:
        >>> sum(p.numel() for p in resnet50().parameters())
        25557032
    """
    return ResNet(Bottleneck, (3, 4, 6, 3), **kwargs)
