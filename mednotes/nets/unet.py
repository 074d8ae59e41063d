"""U-Net for 2D and 3D segmentation, small enough to read top to bottom.

An encoder of ``depth`` down-steps (two conv3x3-norm-ReLU, then max-pool halving each size),
a bottleneck, and a decoder of ``depth`` up-steps (upsample doubling each size, then two
conv3x3-norm-ReLU). With ``skips=True`` each decoder level also sees the encoder features of
the same level, concatenated along channels; that is what keeps boundaries sharp. With
``skips=False`` the decoder has only what came through the bottleneck, and its outputs are
blurry: the book shows both.

Two paddings:

- ``padding="same"`` (default): every 3x3 convolution is padded by one pixel, so the output has
  the size of the input; each input size must be divisible by ``2**depth``.
- ``padding="valid"``: the convolutions are unpadded, as in Ronneberger et al. (2015). Each one
  trims a pixel on every side, so the output is smaller than the input, and the encoder
  features are centre-cropped to the decoder's size before they are concatenated. Every size
  before a pool must be even and every size must stay positive; the sizes that fit are
  ``smallest + k * 2**depth``. :meth:`UNet.original` is the paper's network: 572² in, 388² out.

:meth:`UNet.output_size` does the size arithmetic without running the network, and
:meth:`UNet.valid_input_sizes` lists the input sizes that fit near a given one.

Explained in: What a CNN sees: encoders, decoders and U-Net.

Tested against: a hand count of the parameters of :meth:`UNet.original` (31,030,658, the
paper's network), the paper's 572 -> 388 sizes, a functional re-implementation with explicit
cropping that uses the module's own weights (forward and backward), brute-force size
enumeration, and output shapes in 2D and 3D with and without skips.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mednotes._checks import (
    check_bool,
    check_choice,
    check_input,
    check_positive_int,
    ntuple,
)
from mednotes.layers.block import NORMS

UPSAMPLINGS = ("transpose", "interpolate")
PADDINGS = ("same", "valid")
_AXES = {2: ("H", "W"), 3: ("D", "H", "W")}


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
        norm: ``"batch"``, ``"group"``, ``"instance"``, ``"layer"`` or None.
        padding: ``"same"`` (pad one pixel: sizes kept) or ``"valid"`` (unpadded: each
            convolution trims one pixel on every side, so each size shrinks by 4).

    Shape:
        ``(N, in_channels, *spatial)`` -> ``(N, out_channels, *spatial)`` with ``"same"``,
        ``(N, out_channels, *(s - 4 for s in spatial))`` with ``"valid"``.

    Example:
        >>> DoubleConv(1, 4)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 4, 8, 8])
        >>> DoubleConv(1, 4, padding="valid")(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 4, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, dim: int = 2,
                 norm: str | None = "batch", padding: str = "same"):
        in_channels = check_positive_int("in_channels", in_channels)
        out_channels = check_positive_int("out_channels", out_channels)
        dim = check_choice("dim", dim, (2, 3))
        check_choice("norm", norm, NORMS + (None,))
        check_choice("padding", padding, PADDINGS)
        conv = (nn.Conv2d, nn.Conv3d)[dim - 2]
        bias = norm is None
        pad = 1 if padding == "same" else 0
        super().__init__(
            conv(in_channels, out_channels, 3, padding=pad, bias=bias),
            _norm(norm, out_channels, dim),
            nn.ReLU(inplace=True),
            conv(out_channels, out_channels, 3, padding=pad, bias=bias),
            _norm(norm, out_channels, dim),
            nn.ReLU(inplace=True),
        )
        self.in_channels, self.dim, self.padding = in_channels, dim, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(f"DoubleConv(dim={self.dim})", x, self.dim, channels=self.in_channels,
                    unbatched=False)
        if self.padding == "valid" and min(x.shape[2:]) < 5:
            raise ValueError(f"DoubleConv(padding='valid') trims 4 from each size and needs "
                             f"sizes of at least 5, got input size {tuple(x.shape[2:])}")
        return super().forward(x)


def _upsample(in_channels: int, out_channels: int, dim: int, kind: str) -> nn.Module:
    """Double every spatial size and go from in_channels to out_channels."""
    if kind == "transpose":  # Ronneberger's "up-convolution": learnt, 2x2 kernel, stride 2
        return (nn.ConvTranspose2d, nn.ConvTranspose3d)[dim - 2](in_channels, out_channels, 2,
                                                                 stride=2)
    mode = ("bilinear", "trilinear")[dim - 2]
    return nn.Sequential(nn.Upsample(scale_factor=2, mode=mode, align_corners=False),
                         (nn.Conv2d, nn.Conv3d)[dim - 2](in_channels, out_channels, 1))


def center_crop(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """The central ``size`` of the spatial dims of ``x`` (a view, no copy).

    An odd difference leaves the extra row at the end. This is how the valid U-Net fits the
    larger encoder features to the decoder's size before concatenating them.

    Example:
        >>> center_crop(torch.arange(36.).reshape(1, 1, 6, 6), (2, 2))[0, 0]
        tensor([[14., 15.],
                [20., 21.]])
    """
    for axis, (have, want) in enumerate(zip(x.shape[2:], size, strict=True), start=2):
        if want > have:
            raise ValueError(f"cannot crop size {have} to {want} along dim {axis}")
        x = x.narrow(axis, (have - want) // 2, want)
    return x


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
            ``"layer"`` (one group) or None, as :class:`mednotes.layers.ConvNormAct`.
            Convolutions carry a bias only when there is no norm.
        up: ``"transpose"`` (learnt 2x2 transposed convolution, as in the paper) or
            ``"interpolate"`` (bilinear/trilinear doubling, then a 1x1 convolution).
        padding: ``"same"`` (padded 3x3 convolutions: the output has the input's size) or
            ``"valid"`` (unpadded, as in the paper: the output is smaller, and encoder features
            are centre-cropped to the decoder's size before the concatenation). The parameters
            and their names are the same for both.

    Shape:
        ``(N, in_channels, *spatial)`` -> ``(N, out_channels, *output_size(spatial))``. With
        ``"same"`` the output size is the input size, and each spatial size must be divisible
        by ``2**depth``. With ``"valid"`` each size loses ``12 * 2**depth - 8`` pixels (the
        paper's depth 4: 184, so 572 -> 388); every size before a pool must be even and every
        size must stay positive. :meth:`valid_input_sizes` lists the sizes that fit.

    Raises:
        ValueError: for a bad argument, or (in forward) an input with the wrong number of
            dimensions or channels, or a spatial size that does not fit; the message
            suggests the nearest sizes that do.

    Explained in: What a CNN sees: encoders, decoders and U-Net.

    Example:
        >>> net = UNet(1, 2, dim=2, base_channels=4, depth=2)
        >>> net(torch.zeros(1, 1, 16, 16)).shape
        torch.Size([1, 2, 16, 16])
        >>> net3d = UNet(1, 3, dim=3, base_channels=2, depth=1, skips=False)
        >>> net3d(torch.zeros(1, 1, 4, 6, 8)).shape
        torch.Size([1, 3, 4, 6, 8])
        >>> valid = UNet(1, 2, base_channels=4, depth=2, padding="valid")
        >>> valid.output_size((60, 76)), valid(torch.zeros(1, 1, 60, 76)).shape
        ((20, 36), torch.Size([1, 2, 20, 36]))
        >>> valid.valid_input_sizes(50)
        [44, 48, 52, 56]
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, dim: int = 2,
                 base_channels: int = 16, depth: int = 3, skips: bool = True,
                 norm: str | None = "batch", up: str = "transpose", padding: str = "same"):
        super().__init__()
        in_channels = check_positive_int("in_channels", in_channels)
        out_channels = check_positive_int("out_channels", out_channels)
        base_channels = check_positive_int("base_channels", base_channels)
        depth = check_positive_int("depth", depth)
        dim = check_choice("dim", dim, (2, 3))
        check_choice("norm", norm, NORMS + (None,))
        check_choice("up", up, UPSAMPLINGS)
        check_choice("padding", padding, PADDINGS)
        self.in_channels, self.out_channels, self.dim = in_channels, out_channels, dim
        self.depth, self.skips = depth, check_bool("skips", skips)
        self.padding = padding
        widths = [base_channels * 2**i for i in range(depth + 1)]

        self.encoders = nn.ModuleList(
            DoubleConv(c_in, c_out, dim, norm, padding)
            for c_in, c_out in zip([in_channels] + widths[:-1], widths))
        self.pool = (nn.MaxPool2d, nn.MaxPool3d)[dim - 2](2)
        self.ups = nn.ModuleList(
            _upsample(widths[i + 1], widths[i], dim, up) for i in reversed(range(depth)))
        self.decoders = nn.ModuleList(
            DoubleConv(widths[i] * (2 if skips else 1), widths[i], dim, norm, padding)
            for i in reversed(range(depth)))
        self.head = (nn.Conv2d, nn.Conv3d)[dim - 2](widths[0], out_channels, 1)

    @classmethod
    def original(cls, in_channels: int = 1, out_channels: int = 2) -> UNet:
        """The network of Ronneberger et al. (2015), Fig. 1: 572x572 in, 388x388 out.

        Unpadded ("valid") 3x3 convolutions with ReLU, 2x2 max pooling, channel widths 64,
        128, 256, 512 and 1024 (depth 4), 2x2 transposed "up-convolutions" that halve the
        channels, centre-cropped skip connections, and a 1x1 convolution to the classes. No
        normalisation (the paper predates its use in U-Nets), so every convolution has a bias:
        31,030,658 parameters for 1 input channel and 2 classes. The drop-out layers that the
        paper puts at the end of the contracting path as a training-time augmentation have no
        parameters and are left out; add ``nn.Dropout`` there to train exactly as the paper.

        Args:
            in_channels: input channels (the paper: 1, a grey-level image).
            out_channels: classes (the paper: 2, cell and background).

        Example:
            >>> net = UNet.original()
            >>> sum(p.numel() for p in net.parameters())
            31030658
            >>> net.output_size(572)
            (388, 388)
        """
        return cls(in_channels, out_channels, dim=2, base_channels=64, depth=4, skips=True,
                   norm=None, up="transpose", padding="valid")

    # ------------------------------------------------------------------- size arithmetic

    def _output_length(self, size: int) -> int | None:
        """The output length along one axis for an input ``size``, or None if it does not fit."""
        if self.padding == "same":
            return size if size > 0 and size % 2**self.depth == 0 else None
        for _ in range(self.depth):  # encoder: two unpadded 3x3 convolutions, then a pool
            size -= 4
            if size <= 0 or size % 2:
                return None
            size //= 2
        size -= 4  # bottleneck
        for _ in range(self.depth):  # decoder: double, then two unpadded convolutions
            if size <= 0:
                return None
            size = 2 * size - 4
        return size if size > 0 else None

    def _smallest_input(self) -> int:
        size = 1
        while self._output_length(size) is None:
            size += 1
        return size

    def valid_input_sizes(self, near: int, count: int = 2) -> list[int]:
        """The input sizes (along one axis) that fit this network, near ``near``.

        The sizes that fit are ``smallest + k * 2**depth`` for k = 0, 1, 2, ...: with
        ``"same"`` the multiples of ``2**depth``; with ``"valid"`` the sizes for which every
        size before a pool is even and every size stays positive (the paper's network:
        188, 204, ..., 556, 572, ...).

        Args:
            near: the size you have in mind (a positive int).
            count: how many sizes to list on each side.

        Returns:
            A sorted list: the ``count`` largest fitting sizes ``<= near`` (fewer when there
            are not as many) and the ``count`` smallest fitting sizes ``> near``.

        Example:
            >>> UNet.original().valid_input_sizes(570, count=1)
            [556, 572]
            >>> UNet(depth=3).valid_input_sizes(30)
            [16, 24, 32, 40]
        """
        near = check_positive_int("near", near)
        count = check_positive_int("count", count)
        smallest, step = self._smallest_input(), 2**self.depth
        # index of the largest fitting size <= near (-1 when near is below the smallest)
        k = (near - smallest) // step if near >= smallest else -1
        below = [smallest + j * step for j in range(max(0, k - count + 1), k + 1)]
        above = [smallest + j * step for j in range(k + 1, k + 1 + count)]
        return below + above

    def _size_error(self, what: str, spatial: tuple[int, ...]) -> ValueError:
        if self.padding == "same":
            rule = (f"UNet(depth={self.depth}) needs each spatial size divisible by "
                    f"2**{self.depth} = {2**self.depth}")
        else:
            rule = (f"UNet(depth={self.depth}, padding='valid') needs every size before a "
                    f"pool to be even and every size to stay positive, which holds for the "
                    f"sizes {self._smallest_input()} + {2**self.depth}k")
        hints = []
        for axis, size in zip(_AXES[self.dim], spatial):
            if self._output_length(size) is None:
                near = self.valid_input_sizes(size, count=1)
                if len(near) == 1:
                    hints.append(f"{axis}={size} -> {near[0]} (the smallest that fits)")
                else:
                    hints.append(f"{axis}={size} -> {near[0]} or {near[1]}")
        return ValueError(f"{rule}, got {what} {spatial}. Nearest valid sizes: "
                          + ", ".join(hints))

    def output_size(self, input_size: int | tuple[int, ...]) -> tuple[int, ...]:
        """The spatial size of the output for an input of spatial size ``input_size``.

        Args:
            input_size: an int (the same size along every spatial axis) or one int per
                spatial axis, without the batch and channel dims.

        Returns:
            A tuple with one size per spatial axis.

        Raises:
            ValueError: when a size does not fit; the message suggests the nearest sizes,
                below and above, that do.

        Example:
            >>> UNet.original().output_size((572, 572))
            (388, 388)
            >>> UNet(dim=3, depth=2).output_size(32)
            (32, 32, 32)
        """
        spatial = ntuple("input_size", input_size, self.dim, 1)
        out = tuple(self._output_length(s) for s in spatial)
        if None in out:
            raise self._size_error("input_size", spatial)
        return out

    # ------------------------------------------------------------------------- forward

    def _check(self, x: torch.Tensor) -> None:
        check_input(f"UNet(dim={self.dim})", x, self.dim, channels=self.in_channels,
                    unbatched=False)
        spatial = tuple(x.shape[2:])
        if any(self._output_length(s) is None for s in spatial):
            raise self._size_error("input size", spatial)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        features = []
        for i, encode in enumerate(self.encoders):
            x = encode(x if i == 0 else self.pool(x))
            features.append(x)
        features.pop()  # the bottleneck output is x itself
        for up, decode in zip(self.ups, self.decoders):
            x = up(x)
            if self.skips:
                skip = features.pop()
                if self.padding == "valid":  # the encoder's features are larger: centre crop
                    skip = center_crop(skip, x.shape[2:])
                x = torch.cat([skip, x], dim=1)
            x = decode(x)
        return self.head(x)

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, depth={self.depth}, skips={self.skips}, "
                f"padding={self.padding!r}")
