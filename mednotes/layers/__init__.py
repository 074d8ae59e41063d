"""Layers from scratch: convolution, normalisation, activations, and the block they make.

Each layer is built on :mod:`mednotes.conv` and plain tensor operations, and is a drop-in for
its ``torch.nn`` namesake: same constructor arguments, same parameter and buffer names, so a
state dict loads in either direction and gives the same outputs.

- Convolution (:mod:`mednotes.layers.conv`): :class:`Conv2d`, :class:`Conv3d`; their
  functional forms are :func:`mednotes.conv.conv2d` and :func:`mednotes.conv.conv3d`.
- Activations (:mod:`mednotes.layers.activations`): :func:`relu`, :func:`leaky_relu`,
  :func:`elu`, their derivatives (:func:`relu_grad`, ..., :func:`derivative`) and modules
  :class:`ReLU`, :class:`LeakyReLU`, :class:`ELU`.
- Normalisation (:mod:`mednotes.layers.batchnorm`, :mod:`mednotes.layers.norm`):
  :func:`batch_norm`, :func:`instance_norm`, :func:`group_norm`, :func:`layer_norm` and
  :class:`BatchNorm2d`, :class:`BatchNorm3d`, :class:`InstanceNorm2d`,
  :class:`InstanceNorm3d`, :class:`GroupNorm`, :class:`LayerNorm`.
- The block (:mod:`mednotes.layers.block`): :class:`ConvNormAct`.

Explained in: Building a layer: affine maps, activations and normalization.

Example:
    >>> import torch
    >>> from mednotes.layers import ConvNormAct
    >>> block = ConvNormAct(1, 4, 3, norm="group", norm_groups=2, act="leaky_relu")
    >>> [name for name, _ in block.named_children()]
    ['conv', 'norm', 'act']
    >>> block(torch.rand(2, 1, 8, 8)).shape
    torch.Size([2, 4, 8, 8])
"""

from mednotes.layers.activations import (
    ACTIVATIONS,
    ELU,
    LeakyReLU,
    ReLU,
    derivative,
    elu,
    elu_grad,
    leaky_relu,
    leaky_relu_grad,
    relu,
    relu_grad,
)
from mednotes.layers.batchnorm import BatchNorm2d, BatchNorm3d, batch_norm
from mednotes.layers.block import NORMS, ORDERS, ConvNormAct
from mednotes.layers.conv import PADDING_MODES, Conv2d, Conv3d
from mednotes.layers.norm import (
    GroupNorm,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    group_norm,
    instance_norm,
    layer_norm,
)

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "ORDERS",
    "PADDING_MODES",
    "ELU",
    "BatchNorm2d",
    "BatchNorm3d",
    "Conv2d",
    "Conv3d",
    "ConvNormAct",
    "GroupNorm",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "LeakyReLU",
    "ReLU",
    "batch_norm",
    "derivative",
    "elu",
    "elu_grad",
    "group_norm",
    "instance_norm",
    "layer_norm",
    "leaky_relu",
    "leaky_relu_grad",
    "relu",
    "relu_grad",
]
