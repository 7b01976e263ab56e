"""Inference-only rewrites of loaded networks: the same function, fewer passes over memory.

Each is a switch, so the plain eager networks stay the reference they are measured against.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import DownBlock, ResBlock, SameBlock, UpBlock


@dataclass(frozen=True)
class InferenceOptions:
    fold_batchnorm: bool = True  # conv -> BN pairs become one conv (inference uses running statistics)
    subpixel_upsampling: bool = True  # upsample-then-3x3-conv as four 2x2 convs at low resolution
    winograd: bool = True  # the bottleneck's 3x3 convs by Winograd F(4x4, 3x3) in fp32: 4x fewer multiplies
    channels_last: bool = True  # NHWC: the layout oneDNN and cuDNN convolutions prefer


PLAIN = InferenceOptions(fold_batchnorm=False, subpixel_upsampling=False, winograd=False, channels_last=False)


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
    if options.subpixel_upsampling:
        for parent in list(network.modules()):
            for name, child in parent.named_children():
                if isinstance(child, UpBlock) and child.conv.kernel_size == (3, 3):
                    setattr(parent, name, SubPixelUpBlock(child))
    if options.winograd:
        for module in network.modules():
            if isinstance(module, ResBlock):
                module.conv1, module.conv2 = Winograd3x3(module.conv1), Winograd3x3(module.conv2)
    if options.channels_last:
        network.to(memory_format=torch.channels_last)
    return network


class SubPixelUpBlock(nn.Module):
    """An UpBlock computed without building the upsampled image.

    Nearest x2 upsampling then a 3x3 convolution gives output pixel (2i+a, 2j+b) from low-resolution rows
    {i-1, i} (a = 0) or {i, i+1} (a = 1), and likewise columns: the 3x3 kernel collapses to one 2x2 kernel per
    phase (a, b). Four 2x2 convolutions on the low-resolution input, interleaved by pixel_shuffle, do 16 taps
    where the upsampled convolution did 36; the result is the same up to rounding.
    """

    def __init__(self, block: UpBlock):
        super().__init__()
        w = block.conv.weight.detach()
        rows = (torch.stack([w[:, :, 0], w[:, :, 1] + w[:, :, 2]], 2),  # a = 0: rows i-1, i
                torch.stack([w[:, :, 0] + w[:, :, 1], w[:, :, 2]], 2))  # a = 1: rows i, i+1
        kernels = [torch.stack(cols, -1) for r in rows for cols in
                   ((r[..., 0], r[..., 1] + r[..., 2]), (r[..., 0] + r[..., 1], r[..., 2]))]
        self.out_features = w.shape[0]
        self.register_buffer("weight", torch.cat(kernels))  # (4 * out, in, 2, 2), phase-major order (a, b)
        self.register_buffer("bias", block.conv.bias.detach().clone())
        self.norm = block.norm

    def forward(self, x):
        b, _, h, w = x.shape
        padded = F.pad(x, (1, 1, 1, 1))
        o = self.out_features
        phases = [F.conv2d(padded[:, :, a:a + h + 1, c:c + w + 1], self.weight[(2 * a + c) * o:(2 * a + c + 1) * o],
                           self.bias) for a in (0, 1) for c in (0, 1)]
        out = F.pixel_shuffle(torch.stack(phases, 2).reshape(b, -1, h, w), 2)
        return F.relu(self.norm(out))


@torch.no_grad()
def _fold(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    conv.weight.mul_(scale.view(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias)


# Winograd F(4x4, 3x3) (Lavin and Gray, 2016): Y = A^T [(G g G^T) * (B^T d B)] A over 6x6 input tiles.
_BT = torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                    [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=torch.float64)
_G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
                   [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=torch.float64)
_AT = torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                   dtype=torch.float64)


class Winograd3x3(nn.Module):
    """A 3x3, padding-1 convolution computed by Winograd F(4x4, 3x3): 36 products per 4x4 output tile where
    the direct convolution does 144, as 36 channel GEMMs. Exact up to fp32 rounding (about 1e-5 relative);
    half-precision inputs, and sizes not divisible by 4, take the direct convolution."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.stride == (1, 1)
        weight = conv.weight.detach()
        self.register_buffer("weight", weight.clone())
        self.register_buffer("bias", conv.bias.detach().clone())
        transformed = torch.einsum("xi,ocij,yj->xyco", _G, weight.double(), _G)
        self.register_buffer("transformed", transformed.reshape(36, weight.shape[1], weight.shape[0]).float())
        self.register_buffer("bt", _BT.float())
        self.register_buffer("at", _AT.float())

    def forward(self, x):
        n, c, h, w = x.shape
        if x.dtype != torch.float32 or h % 4 or w % 4:
            return F.conv2d(x, self.weight, self.bias, padding=1)
        th, tw = h // 4, w // 4
        padded = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # (n, h+2, w+2, c): a view for channels-last input
        rows = torch.tensordot(self.bt, torch.stack([padded[:, i:i + h:4] for i in range(6)]), dims=1)
        tiles = torch.stack([rows[:, :, :, j:j + w:4] for j in range(6)], 1)  # (6, 6, n, th, tw, c)
        v = torch.tensordot(self.bt, tiles, dims=([1], [1])).transpose(0, 1).reshape(36, n * th * tw, c)
        m = torch.bmm(v, self.transformed).view(6, 6, n, th, tw, -1)
        y = torch.tensordot(self.at, torch.tensordot(self.at, m, dims=1), dims=([1], [1]))  # (4, 4, n, th, tw, o)
        y = y.permute(2, 3, 1, 4, 0, 5).reshape(n, h, w, -1).permute(0, 3, 1, 2)
        return y + self.bias.view(1, -1, 1, 1)
