"""Occlusion-aware generator: encode the source, warp its features by the dense motion, decode (3.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import DownBlock, ResBlock, SameBlock, UpBlock, block_width
from .config import FommConfig
from .dense_motion import DenseMotionNetwork


class OcclusionAwareGenerator(nn.Module):
    """``encode`` depends on the source alone, so an engine runs it once per avatar and then ``decode``s."""

    def __init__(self, config: FommConfig):
        super().__init__()
        cfg = config.generator
        e, m, n = cfg.block_expansion, cfg.max_features, cfg.num_down_blocks
        self.dense_motion_network = DenseMotionNetwork(config)
        self.first = SameBlock(config.num_channels, e, kernel_size=7, padding=3)
        self.down_blocks = nn.ModuleList(DownBlock(block_width(e, m, i), block_width(e, m, i + 1)) for i in range(n))
        self.up_blocks = nn.ModuleList(UpBlock(block_width(e, m, n - i), block_width(e, m, n - i - 1)) for i in range(n))
        self.bottleneck = nn.Sequential()
        for i in range(cfg.num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock(block_width(e, m, n)))
        self.final = nn.Conv2d(e, config.num_channels, kernel_size=7, padding=3)

    def encode(self, source: torch.Tensor) -> dict[str, torch.Tensor]:
        """What depends on the source alone: its encoded features and the dense-motion input image."""
        out = self.first(source)
        for block in self.down_blocks:
            out = block(out)
        return {"features": out, "small_source": self.dense_motion_network.downsample(source)}

    def decode(self, encoded: dict, kp_driving: dict, kp_source: dict) -> dict:
        """Warp the encoded source to the driving keypoints and render the prediction."""
        motion = self.dense_motion_network(encoded["small_source"], kp_driving, kp_source)
        out = _warp(encoded["features"], motion["deformation"])
        occlusion = motion.get("occlusion_map")
        if occlusion is not None:
            if occlusion.shape[2:] != out.shape[2:]:
                occlusion = F.interpolate(occlusion, size=out.shape[2:], mode="bilinear", align_corners=False)
            out = out * occlusion
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        motion["prediction"] = torch.sigmoid(self.final(out))
        return motion

    def forward(self, source: torch.Tensor, kp_driving: dict, kp_source: dict) -> dict:
        return self.decode(self.encode(source), kp_driving, kp_source)


def _warp(features: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
    """Backward-warp features by a (B, h, w, 2) deformation, resized bilinearly to their size first."""
    if deformation.shape[1:3] != features.shape[2:]:
        deformation = F.interpolate(deformation.permute(0, 3, 1, 2), size=features.shape[2:],
                                    mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
    # Sampled in fp32 whatever the trunk's precision: the deformation is fp32 keypoint geometry.
    return F.grid_sample(features.float(), deformation.float(), align_corners=False).to(features.dtype)
