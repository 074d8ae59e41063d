"""U-Net for 2D and 3D segmentation, small enough to read top to bottom.

An encoder of ``depth`` down-steps (two conv3x3-norm-ReLU, then max-pool halving each size),
a bottleneck, and a decoder of ``depth`` up-steps (upsample doubling each size, then two
conv3x3-norm-ReLU). With ``skips=True`` each decoder level also sees the encoder features of
the same size, concatenated along channels; that is what keeps boundaries sharp. With
``skips=False`` the decoder has only what came through the bottleneck, and its outputs are
blurry: the book shows both.

Unlike Ronneberger et al. (2015), every convolution is padded ("same" size), so the output has
the size of the input and no cropping is needed; input sizes must be divisible by ``2**depth``.

Explained in: U-Net and skip connections.

Tested against: a hand count of the parameters of :meth:`UNet.original`, and output shapes in
2D and 3D with and without skips.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mednotes._checks import check_bool, check_choice, check_input, check_positive_int
from mednotes.layers.block import NORMS

UPSAMPLINGS = ("transpose", "interpolate")


def _norm(kind: str | None, channels: int, dim: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm2d, nn.BatchNorm3d)[dim - 2](channels)
    if kind == "group":
        # 8 groups where the channels allow it (GroupNorm needs a divisor of channels).
        return nn.GroupNorm(math.gcd(8, channels), channels)
    if kind == "instance":
        return (nn.InstanceNorm2d, nn.InstanceNorm3d)[dim - 2](channels, affine=True)
    if kind == "layer":  # over (C, *spatial) with one γ and β per channel, as ConvNormAct's
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class DoubleConv(nn.Sequential):
    """Two conv3x3-norm-ReLU in a row: the unit of work at every U-Net level.

    The convolutions have no bias when a norm follows them (the norm's shift β replaces it).

    Args:
        in_channels: channels coming in.
        out_channels: channels of both convolutions' outputs.
        dim: 2 or 3 spatial dimensions.
        norm: ``"batch"``, ``"group"``, ``"instance"`` or None.

    Shape:
        ``(N, in_channels, *spatial)`` -> ``(N, out_channels, *spatial)``

    Example:
        >>> DoubleConv(1, 4)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 4, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, dim: int = 2,
                 norm: str | None = "batch"):
        in_channels = check_positive_int("in_channels", in_channels)
        out_channels = check_positive_int("out_channels", out_channels)
        dim = check_choice("dim", dim, (2, 3))
        check_choice("norm", norm, NORMS + (None,))
        conv = (nn.Conv2d, nn.Conv3d)[dim - 2]
        bias = norm is None
        super().__init__(
            conv(in_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, out_channels, dim),
            nn.ReLU(inplace=True),
            conv(out_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, out_channels, dim),
            nn.ReLU(inplace=True),
        )
        self.in_channels, self.dim = in_channels, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(f"DoubleConv(dim={self.dim})", x, self.dim, channels=self.in_channels,
                    unbatched=False)
        return super().forward(x)


def _upsample(in_channels: int, out_channels: int, dim: int, kind: str) -> nn.Module:
    """Double every spatial size and go from in_channels to out_channels."""
    if kind == "transpose":  # Ronneberger's "up-convolution": learnt, 2x2 kernel, stride 2
        return (nn.ConvTranspose2d, nn.ConvTranspose3d)[dim - 2](in_channels, out_channels, 2,
                                                                 stride=2)
    mode = ("bilinear", "trilinear")[dim - 2]
    return nn.Sequential(nn.Upsample(scale_factor=2, mode=mode, align_corners=False),
                         (nn.Conv2d, nn.Conv3d)[dim - 2](in_channels, out_channels, 1))


class UNet(nn.Module):
    """U-Net (Ronneberger et al., 2015) in 2D or 3D, with or without skip connections.

    Level ``i`` (0 at full resolution, ``depth`` at the bottleneck) has
    ``base_channels * 2**i`` channels.

    Args:
        in_channels: channels of the input image (1 for CT or MR).
        out_channels: number of classes; the output holds one logit map per class.
        dim: 2 for images, 3 for volumes.
        base_channels: channels at full resolution.
        depth: number of down-steps (and up-steps).
        skips: concatenate encoder features into the decoder. With False the decoder sees
            only the bottleneck, so fine detail has to come back through it (blurry output).
        norm: ``"batch"``, ``"group"`` (8 groups where the channels allow), ``"instance"``,
            ``"layer"`` (one group) or None, as :class:`mednotes.layers.ConvNormAct`. Convolutions carry a bias only when there is no norm.
        up: ``"transpose"`` (learnt 2x2 transposed convolution, as in the paper) or
            ``"interpolate"`` (bilinear/trilinear doubling, then a 1x1 convolution).

    Shape:
        ``(N, in_channels, *spatial)`` -> ``(N, out_channels, *spatial)``, each spatial size
        divisible by ``2**depth``.

    Raises:
        ValueError: for a bad argument, or (in forward) an input with the wrong number of
            dimensions or channels, or a size not divisible by ``2**depth``.

    Explained in: U-Net and skip connections.

    Example:
        >>> net = UNet(1, 2, dim=2, base_channels=4, depth=2)
        >>> net(torch.zeros(1, 1, 16, 16)).shape
        torch.Size([1, 2, 16, 16])
        >>> net3d = UNet(1, 3, dim=3, base_channels=2, depth=1, skips=False)
        >>> net3d(torch.zeros(1, 1, 4, 6, 8)).shape
        torch.Size([1, 3, 4, 6, 8])
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, dim: int = 2,
                 base_channels: int = 16, depth: int = 3, skips: bool = True,
                 norm: str | None = "batch", up: str = "transpose"):
        super().__init__()
        in_channels = check_positive_int("in_channels", in_channels)
        out_channels = check_positive_int("out_channels", out_channels)
        base_channels = check_positive_int("base_channels", base_channels)
        depth = check_positive_int("depth", depth)
        dim = check_choice("dim", dim, (2, 3))
        check_choice("norm", norm, NORMS + (None,))
        check_choice("up", up, UPSAMPLINGS)
        self.in_channels, self.out_channels, self.dim = in_channels, out_channels, dim
        self.depth, self.skips = depth, check_bool("skips", skips)
        widths = [base_channels * 2**i for i in range(depth + 1)]

        self.encoders = nn.ModuleList(
            DoubleConv(c_in, c_out, dim, norm)
            for c_in, c_out in zip([in_channels] + widths[:-1], widths))
        self.pool = (nn.MaxPool2d, nn.MaxPool3d)[dim - 2](2)
        self.ups = nn.ModuleList(
            _upsample(widths[i + 1], widths[i], dim, up) for i in reversed(range(depth)))
        self.decoders = nn.ModuleList(
            DoubleConv(widths[i] * (2 if skips else 1), widths[i], dim, norm)
            for i in reversed(range(depth)))
        self.head = (nn.Conv2d, nn.Conv3d)[dim - 2](widths[0], out_channels, 1)

    @classmethod
    def original(cls, in_channels: int = 1, out_channels: int = 2) -> "UNet":
        """The channel widths of Ronneberger et al. (2015): 64, 128, 256, 512, 1024.

        Depth 4, transposed-convolution up-steps, no normalisation (the paper predates its use
        in U-Nets), so every convolution has a bias. One difference: convolutions are padded,
        so the output has the input's size instead of shrinking from 572² to 388².

        Example:
            >>> sum(p.numel() for p in UNet.original().parameters())
            31030658
        """
        return cls(in_channels, out_channels, dim=2, base_channels=64, depth=4, skips=True,
                   norm=None, up="transpose")

    def _check(self, x: torch.Tensor) -> None:
        check_input(f"UNet(dim={self.dim})", x, self.dim, channels=self.in_channels,
                    unbatched=False)
        factor = 2**self.depth
        spatial = tuple(x.shape[2:])
        if any(s % factor for s in spatial):
            raise ValueError(f"UNet(depth={self.depth}) needs each spatial size divisible by "
                             f"2**{self.depth} = {factor}, got input size {spatial}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        features = []
        for i, encode in enumerate(self.encoders):
            x = encode(x if i == 0 else self.pool(x))
            features.append(x)
        features.pop()  # the bottleneck output is x itself
        for up, decode in zip(self.ups, self.decoders):
            x = up(x)
            skip = features.pop()
            x = decode(torch.cat([skip, x], dim=1) if self.skips else x)
        return self.head(x)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, depth={self.depth}, skips={self.skips}"
