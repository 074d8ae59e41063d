"""Networks for the book, built from plain ``torch.nn`` layers.

Explained in: What a CNN sees: encoders, decoders and U-Net.

Example:
    >>> import torch
    >>> from mednotes.nets import UNet
    >>> UNet(1, 2, base_channels=4, depth=2)(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 2, 8, 8])
"""

from mednotes.nets.unet import DoubleConv, UNet
from mednotes.nets.plain import PlainNet, TwoConvBlock, weight_layers
from mednotes.nets.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50
from mednotes.nets.summary import LayerRow, Summary, count_parameters, summary

__all__ = ["DoubleConv", "UNet", "BasicBlock", "Bottleneck", "PlainNet", "ResNet",
           "TwoConvBlock", "resnet18", "resnet34", "resnet50", "weight_layers",
           "LayerRow", "Summary", "count_parameters", "summary"]
