"""Inference-only rewrites of loaded networks: the same function, fewer passes over memory.

Each is a switch, so the plain eager networks stay the reference they are measured against.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .blocks import DownBlock, ResBlock, SameBlock, UpBlock


@dataclass(frozen=True)
class InferenceOptions:
    fold_batchnorm: bool = True  # conv -> BN pairs become one conv (inference uses running statistics)
    channels_last: bool = True  # NHWC: the layout oneDNN and cuDNN convolutions prefer


PLAIN = InferenceOptions(fold_batchnorm=False, channels_last=False)


def prepare(network: nn.Module, options: InferenceOptions) -> nn.Module:
    """Rewrite ``network`` in place for inference as ``options`` ask; returns it."""
    network.eval()
    if options.fold_batchnorm:
        for module in network.modules():
            if isinstance(module, (DownBlock, UpBlock, SameBlock)):
                _fold(module.conv, module.norm)
                module.norm = nn.Identity()
            elif isinstance(module, ResBlock):
                # Pre-activation: norm1 acts before a ReLU and cannot fold; conv1 -> norm2 can.
                _fold(module.conv1, module.norm2)
                module.norm2 = nn.Identity()
    if options.channels_last:
        network.to(memory_format=torch.channels_last)
    return network


@torch.no_grad()
def _fold(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    conv.weight.mul_(scale.view(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias)
