"""The multi-scale patch discriminator of the vox-adv recipe (pix2pix style, least-squares GAN)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import gaussian_heatmaps


@dataclass(frozen=True)
class DiscriminatorConfig:
    """``discriminator_params`` of the authors' YAML."""

    scales: tuple[float, ...] = (1,)
    block_expansion: int = 32
    max_features: int = 512
    num_blocks: int = 4
    sn: bool = False
    use_kp: bool = False
    kp_variance: float = 0.01


class _DownBlock(nn.Module):
    """4x4 valid convolution, instance norm (not on the first), leaky ReLU, 2x2 average pooling (not last)."""

    def __init__(self, in_features: int, out_features: int, norm: bool, pool: bool, sn: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=4)
        if sn:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.norm = nn.InstanceNorm2d(out_features, affine=True) if norm else None
        self.pool = pool

    def forward(self, x):
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        return F.avg_pool2d(out, (2, 2)) if self.pool else out


class Discriminator(nn.Module):
    """One scale: the block outputs (for feature matching) and a 1x1 prediction map."""

    def __init__(self, num_channels: int, num_kp: int, config: DiscriminatorConfig):
        super().__init__()
        c = config
        width = lambda i: min(c.max_features, c.block_expansion * 2 ** i)  # noqa: E731
        first = num_channels + (num_kp if c.use_kp else 0)
        self.down_blocks = nn.ModuleList(
            _DownBlock(first if i == 0 else width(i), width(i + 1), norm=i != 0, pool=i != c.num_blocks - 1, sn=c.sn)
            for i in range(c.num_blocks))
        self.conv = nn.Conv2d(width(c.num_blocks), 1, kernel_size=1)
        if c.sn:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.use_kp, self.kp_variance = c.use_kp, c.kp_variance

    def forward(self, x: torch.Tensor, kp_value: torch.Tensor | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        out = x
        if self.use_kp:
            out = torch.cat([out, gaussian_heatmaps(kp_value, x.shape[2], x.shape[3], self.kp_variance)], dim=1)
        features = []
        for block in self.down_blocks:
            out = block(out)
            features.append(out)
        return features, self.conv(out)


class MultiScaleDiscriminator(nn.Module):
    """One discriminator per scale, under ``discs.<scale>`` (``discs.1`` for full resolution)."""

    def __init__(self, num_channels: int, num_kp: int, config: DiscriminatorConfig):
        super().__init__()
        self.scales = config.scales
        self.discs = nn.ModuleDict({_key(s): Discriminator(num_channels, num_kp, config) for s in config.scales})

    def forward(self, pyramid: dict[float, torch.Tensor], kp_value: torch.Tensor | None = None) -> dict:
        """``pyramid``: the image at each scale. Returns {scale: (features, prediction map)}."""
        return {scale: self.discs[_key(scale)](pyramid[scale], kp_value) for scale in self.scales}


def _key(scale: float) -> str:
    return str(scale).replace(".", "-") if scale != int(scale) else str(int(scale))
