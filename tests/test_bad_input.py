"""A sweep of bad input over the public API of conv, layers, pooling, nets and kernels.

The per-module test files check hand-picked mistakes with their exact messages. This file
checks the same rules everywhere, so that a new function cannot forget them:

- every op that takes a batch ``x`` refuses a list, an integer or complex tensor, a wrong
  number of dims and an empty tensor, with a TypeError/ValueError that names ``x``;
- every keyword that defaults to a bool refuses ``"False"`` and ``0`` (TypeError naming it);
- every keyword that defaults to a float refuses NaN and infinity (ValueError naming it) and
  a string (TypeError naming it);
- every keyword that defaults to an int refuses a string and a float such as 2.5.

The signatures are read with ``inspect``, so the sweep grows with the library.
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from mednotes import conv, kernels, layers, nets, pooling

# ------------------------------------------------------------------- ops that take a batch

# name -> (callable of x, the number of spatial dims it expects). The functional norms and
# GroupNorm, like torch's, take (N, C, *spatial) with any number of spatial dims: they are in
# DIMENSION_FREE and skip the tests of the number of dims.
DIMENSION_FREE = {"layers.batch_norm", "layers.instance_norm", "layers.group_norm",
                  "layers.GroupNorm"}
BATCH_OPS = {
    "conv.conv1d": (lambda x: conv.conv1d(x, torch.ones(1, 1, 1)), 1),
    "conv.conv2d": (lambda x: conv.conv2d(x, torch.ones(1, 1, 1, 1)), 2),
    "conv.conv3d": (lambda x: conv.conv3d(x, torch.ones(1, 1, 1, 1, 1)), 3),
    "layers.batch_norm": (lambda x: layers.batch_norm(x, training=True), 2),
    "layers.instance_norm": (lambda x: layers.instance_norm(x), 2),
    "layers.group_norm": (lambda x: layers.group_norm(x, 1), 2),
    "layers.Conv2d": (layers.Conv2d(1, 1, 1), 2),
    "layers.Conv3d": (layers.Conv3d(1, 1, 1), 3),
    "layers.BatchNorm2d": (layers.BatchNorm2d(1), 2),
    "layers.BatchNorm3d": (layers.BatchNorm3d(1), 3),
    "layers.InstanceNorm2d": (layers.InstanceNorm2d(1), 2),
    "layers.InstanceNorm3d": (layers.InstanceNorm3d(1), 3),
    "layers.GroupNorm": (layers.GroupNorm(1, 1), 2),
    "layers.ConvNormAct": (layers.ConvNormAct(1, 2, 1, norm="group", norm_groups=1), 2),
    "nets.UNet": (nets.UNet(1, 2, base_channels=2, depth=1), 2),
    "nets.DoubleConv": (nets.DoubleConv(1, 2, norm="group"), 2),
    "nets.ResNet": (nets.ResNet(nets.BasicBlock, (1, 1, 1, 1), in_channels=1, base_channels=4), 2),
    "nets.ResNet3d": (nets.ResNet(nets.Bottleneck, (1, 1, 1, 1), in_channels=1, dim=3,
                                  base_channels=4), 3),
    "nets.BasicBlock": (nets.BasicBlock(1, 2), 2),
    "nets.Bottleneck": (nets.Bottleneck(1, 2, dim=3), 3),
    "nets.PlainNet": (nets.PlainNet(8, base_channels=4), 2),
    "nets.TwoConvBlock": (nets.TwoConvBlock(1, 2, dim=3, residual=True), 3),
}
for _name in ("max_pool2d", "avg_pool2d", "max_pool3d", "avg_pool3d"):
    BATCH_OPS[f"pooling.{_name}"] = (lambda x, f=getattr(pooling, _name): f(x, 1),
                                    int(_name[-2]))
for _name in ("blur_pool2d", "max_blur_pool2d", "blur_pool3d", "max_blur_pool3d"):
    BATCH_OPS[f"pooling.{_name}"] = (lambda x, f=getattr(pooling, _name): f(x, 1, 1),
                                    int(_name[-2]))
for _name in ("MaxPool2d", "AvgPool2d", "MaxPool3d", "AvgPool3d"):
    BATCH_OPS[f"pooling.{_name}"] = (getattr(pooling, _name)(1), int(_name[-2]))
for _name in ("BlurPool2d", "BlurPool3d", "MaxBlurPool2d", "MaxBlurPool3d"):
    BATCH_OPS[f"pooling.{_name}"] = (getattr(pooling, _name)(1, 1), int(_name[-2]))


def _good_shape(spatial):
    return (2, 1) + (4,) * spatial


@pytest.mark.parametrize("name", sorted(BATCH_OPS))
def test_a_good_input_passes(name):
    """The sweep's inputs differ from a good one in one respect only: this good one runs."""
    op, spatial = BATCH_OPS[name]
    assert isinstance(op(torch.rand(_good_shape(spatial))), torch.Tensor)


@pytest.mark.parametrize("name", sorted(BATCH_OPS))
@pytest.mark.parametrize("kind", ["list", "int64", "bool", "complex64", "too few dims",
                                  "too many dims", "empty"])
def test_batch_ops_refuse_a_bad_x_and_name_it(name, kind):
    op, spatial = BATCH_OPS[name]
    if name in DIMENSION_FREE and kind.endswith("dims"):
        assert isinstance(op(torch.rand(_good_shape(spatial))[..., None]), torch.Tensor)
        return
    good = torch.rand(_good_shape(spatial))
    bad, error, words = {
        "list": (good.tolist(), TypeError, ["x", "Tensor"]),
        "int64": (good.long(), TypeError, ["x", "int64"]),
        "bool": (good > 0.5, TypeError, ["x", "bool"]),
        "complex64": (good.to(torch.complex64), TypeError, ["x", "complex"]),
        "too few dims": (good[0, 0], ValueError, [f"{spatial + 2}D", f"{spatial}D"]),
        "too many dims": (good[None, None], ValueError, [f"{spatial + 2}D", f"{spatial + 4}D"]),
        "empty": (good[:, :, :0], ValueError, ["x", "empty"]),
    }[kind]
    with pytest.raises(error) as caught:
        op(bad)
    message = str(caught.value)
    for word in words:
        assert word in message, f"{name}({kind}): {message!r} does not mention {word!r}"


# ----------------------------------------------------------------- scalar arguments

# Constructors and functions whose keyword arguments are swept, with the required arguments
# that make a good call.
CALLS = {
    "layers.Conv2d": (layers.Conv2d, (1, 1, 3)),
    "layers.Conv3d": (layers.Conv3d, (1, 1, 3)),
    "layers.BatchNorm2d": (layers.BatchNorm2d, (2,)),
    "layers.BatchNorm3d": (layers.BatchNorm3d, (2,)),
    "layers.InstanceNorm2d": (layers.InstanceNorm2d, (2,)),
    "layers.InstanceNorm3d": (layers.InstanceNorm3d, (2,)),
    "layers.GroupNorm": (layers.GroupNorm, (1, 2)),
    "layers.LayerNorm": (layers.LayerNorm, (4,)),
    "layers.LeakyReLU": (layers.LeakyReLU, ()),
    "layers.ELU": (layers.ELU, ()),
    "layers.ConvNormAct": (layers.ConvNormAct, (1, 8)),
    "nets.UNet": (nets.UNet, ()),
    "nets.DoubleConv": (nets.DoubleConv, (1, 2)),
    "nets.ResNet": (nets.ResNet, (nets.BasicBlock, (1, 1, 1, 1))),
    "nets.BasicBlock": (nets.BasicBlock, (1, 2)),
    "nets.Bottleneck": (nets.Bottleneck, (1, 2)),
    "nets.PlainNet": (nets.PlainNet, ()),
    "nets.TwoConvBlock": (nets.TwoConvBlock, (1, 2)),
    "pooling.MaxPool2d": (pooling.MaxPool2d, (2,)),
    "pooling.AvgPool2d": (pooling.AvgPool2d, (2,)),
    "pooling.MaxPool3d": (pooling.MaxPool3d, (2,)),
    "pooling.AvgPool3d": (pooling.AvgPool3d, (2,)),
    "pooling.BlurPool2d": (pooling.BlurPool2d, ()),
    "pooling.MaxBlurPool2d": (pooling.MaxBlurPool2d, ()),
    "pooling.BlurPool3d": (pooling.BlurPool3d, ()),
    "pooling.MaxBlurPool3d": (pooling.MaxBlurPool3d, ()),
    "pooling.binomial_kernel": (pooling.binomial_kernel, ()),
    "pooling.frequency_axis": (pooling.frequency_axis, (8,)),
    "kernels.box": (kernels.box, ()),
    "kernels.gaussian": (kernels.gaussian, ()),
    "kernels.sharpen": (kernels.sharpen, ()),
    "conv.conv2d": (conv.conv2d, (torch.ones(1, 1, 5, 5), torch.ones(1, 1, 3, 3))),
    "layers.leaky_relu": (layers.leaky_relu, (torch.ones(3),)),
    "layers.elu": (layers.elu, (torch.ones(3),)),
    "layers.batch_norm": (layers.batch_norm, (torch.ones(2, 2, 3), torch.zeros(2),
                                              torch.ones(2))),
    "layers.instance_norm": (layers.instance_norm, (torch.ones(2, 2, 3),)),
    "layers.group_norm": (layers.group_norm, (torch.ones(2, 2, 3), 1)),
    "layers.layer_norm": (layers.layer_norm, (torch.ones(2, 3), 3)),
    "pooling.max_pool2d": (pooling.max_pool2d, (torch.ones(1, 1, 4, 4), 2)),
    "pooling.avg_pool2d": (pooling.avg_pool2d, (torch.ones(1, 1, 4, 4), 2)),
    "pooling.max_blur_pool2d": (pooling.max_blur_pool2d, (torch.ones(1, 1, 4, 4),)),
}


def _swept(kind):
    """(call name, keyword, bad value, error) for every keyword whose default is ``kind``."""
    cases = []
    for name, (fn, args) in sorted(CALLS.items()):
        parameters = list(inspect.signature(fn).parameters.values())
        for p in parameters[len(args):]:
            default = p.default
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or default is p.empty:
                continue
            if kind == "bool" and isinstance(default, bool):
                cases += [(name, p.name, "False", TypeError), (name, p.name, 0, TypeError)]
            elif kind == "float" and isinstance(default, float):
                cases += [(name, p.name, math.nan, ValueError),
                          (name, p.name, math.inf, ValueError),
                          (name, p.name, "1.0", TypeError)]
            elif kind == "int" and type(default) is int:
                # padding also takes the strings "same" and "valid": another string is a
                # wrong value (ValueError) there, not a wrong type.
                takes_str = "str" in str(p.annotation) or "Padding" in str(p.annotation)
                cases += [(name, p.name, "2", ValueError if takes_str else TypeError),
                          (name, p.name, 2.5, TypeError)]
    return cases


SWEEP = _swept("bool") + _swept("float") + _swept("int")


def test_the_sweep_reaches_every_kind_of_argument():
    kinds = {type(case[2]).__name__ for case in SWEEP}
    assert kinds == {"str", "int", "float"}
    assert len(SWEEP) > 100, len(SWEEP)


@pytest.mark.parametrize("name,keyword,value,error", SWEEP,
                         ids=[f"{c[0]}-{c[1]}={c[2]!r}" for c in SWEEP])
def test_bad_scalar_arguments_are_refused_by_name(name, keyword, value, error):
    fn, args = CALLS[name]
    fn(*args)  # the good call runs
    with pytest.raises(error) as caught:
        result = fn(*args, **{keyword: value})
        if isinstance(result, torch.nn.Module):  # some modules check at the first call
            result(torch.rand(1, 1, *(8,) * 3)[..., 0] if "2d" in name else
                   torch.rand(1, 1, 8, 8, 8))
    assert keyword in str(caught.value), f"{name}({keyword}={value!r}): {caught.value}"
