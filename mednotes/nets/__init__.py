"""Networks for the book, built from plain ``torch.nn`` layers.

Explained in: What a CNN sees: encoders, decoders and U-Net.

Example:
    >>> import torch
    >>> from mednotes.nets import UNet
    >>> UNet(1, 2, base_channels=4, depth=2)(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 2, 8, 8])
"""

from mednotes.nets.plain import PlainNet, TwoConvBlock, weight_layers
from mednotes.nets.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50
from mednotes.nets.summary import LayerRow, Summary, count_parameters, summary
from mednotes.nets.unet import DoubleConv, UNet

__all__ = [
    "BasicBlock", "Bottleneck", "DoubleConv", "LayerRow", "PlainNet", "ResNet", "Summary",
    "TwoConvBlock", "UNet", "count_parameters", "resnet18", "resnet34", "resnet50", "summary",
    "weight_layers",
]
