"""Networks for the book, built from plain ``torch.nn`` layers.

Explained in: U-Net and skip connections.

Example:
    >>> import torch
    >>> from mednotes.nets import UNet
    >>> UNet(1, 2, base_channels=4, depth=2)(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 2, 8, 8])
"""

from mednotes.nets.unet import DoubleConv, UNet

__all__ = ["DoubleConv", "UNet"]
