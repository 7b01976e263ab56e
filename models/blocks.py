"""The building blocks shared by the FOMM networks (attribute names are part of the checkpoint format)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def coordinate_grid(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(h, w, 2) grid of (x, y) in [-1, 1]; grid_sample's frame, and the keypoints'."""
    x = 2 * (torch.arange(w, device=device, dtype=dtype) / (w - 1)) - 1
    y = 2 * (torch.arange(h, device=device, dtype=dtype) / (h - 1)) - 1
    return torch.stack([x.view(1, w).expand(h, w), y.view(h, 1).expand(h, w)], dim=-1)


def gaussian_heatmaps(kp_value: torch.Tensor, h: int, w: int, variance: float) -> torch.Tensor:
    """exp(-|z - p|^2 / (2 variance)) for each keypoint p: (B, K, 2) -> (B, K, h, w)."""
    grid = coordinate_grid(h, w, kp_value.device, kp_value.dtype)
    diff = grid - kp_value[:, :, None, None, :]
    return torch.exp(-0.5 * diff.pow(2).sum(-1) / variance)


class _ConvNorm(nn.Module):
    """A convolution and its batch norm, under the attribute names the checkpoints use."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features, affine=True)


class DownBlock(_ConvNorm):
    def forward(self, x):
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), kernel_size=2)


class UpBlock(_ConvNorm):
    def forward(self, x):
        return F.relu(self.norm(self.conv(F.interpolate(x, scale_factor=2))))


class SameBlock(_ConvNorm):
    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


class ResBlock(nn.Module):
    """Pre-activation residual block."""

    def __init__(self, features: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(features, affine=True)
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1)
        self.norm2 = nn.BatchNorm2d(features, affine=True)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1)

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


def block_width(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * 2 ** level)


class Encoder(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock(in_features if i == 0 else block_width(block_expansion, max_features, i),
                      block_width(block_expansion, max_features, i + 1))
            for i in range(num_blocks))

    def forward(self, x) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        # up_blocks.0 is the deepest; every block but it also receives a skip connection.
        self.up_blocks = nn.ModuleList(
            UpBlock((1 if i == num_blocks - 1 else 2) * block_width(block_expansion, max_features, i + 1),
                    block_width(block_expansion, max_features, i))
            for i in reversed(range(num_blocks)))
        self.out_filters = block_expansion + in_features

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        out = features[-1]
        for block, skip in zip(self.up_blocks, reversed(features[:-1])):
            out = torch.cat([block(out), skip], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net: DownBlocks, then UpBlocks with skips; output has block_expansion + in_features channels."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x):
        return self.decoder(self.encoder(x))


def gaussian_kernel(scale: float) -> torch.Tensor:
    """The normalised k x k Gaussian used to anti-alias before downsampling by ``scale``."""
    sigma = (1 / scale - 1) / 2
    size = 2 * round(sigma * 4) + 1
    t = torch.arange(size, dtype=torch.float32)
    axis = torch.exp(-(t - (size - 1) / 2) ** 2 / (2 * sigma ** 2))
    kernel = axis[:, None] * axis[None, :]
    return kernel / kernel.sum()


class AntiAliasInterpolation(nn.Module):
    """Gaussian blur then keep every (1/scale)-th pixel; the blur kernel is the ``weight`` buffer."""

    def __init__(self, channels: int, scale: float):
        super().__init__()
        kernel = gaussian_kernel(scale)
        size = kernel.shape[0]
        self.pad_before = size // 2
        self.pad_after = self.pad_before - 1 if size % 2 == 0 else self.pad_before
        self.register_buffer("weight", kernel.expand(channels, 1, size, size).contiguous())
        self.groups = channels
        self.step = int(1 / scale)

    def forward(self, x):
        p, q = self.pad_before, self.pad_after
        out = F.conv2d(F.pad(x, (p, q, p, q)), self.weight.to(x.dtype), groups=self.groups)
        return out[:, :, ::self.step, ::self.step]
