"""Keypoint detector: K keypoints and their local Jacobians from a 256x256 image (paper, section 3.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import AntiAliasInterpolation, Hourglass, coordinate_grid
from .config import FommConfig


class KeypointDetector(nn.Module):
    """Returns ``{"value": (B, K, 2), "jacobian": (B, K, 2, 2)}`` in fp32, whatever the trunk's dtype."""

    def __init__(self, config: FommConfig):
        super().__init__()
        cfg = config.kp_detector
        self.temperature = cfg.temperature
        self.predictor = Hourglass(cfg.block_expansion, config.num_channels, cfg.num_blocks, cfg.max_features)
        self.kp = nn.Conv2d(self.predictor.out_filters, config.num_kp, kernel_size=7, padding=cfg.pad)
        self.jacobian = None
        if config.estimate_jacobian:
            self.num_jacobian_maps = 1 if cfg.single_jacobian_map else config.num_kp
            self.jacobian = nn.Conv2d(self.predictor.out_filters, 4 * self.num_jacobian_maps,
                                      kernel_size=7, padding=cfg.pad)
            # Start every Jacobian at the identity, as the authors do.
            self.jacobian.weight.data.zero_()
            self.jacobian.bias.data.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0]).repeat(self.num_jacobian_maps))
        if cfg.scale_factor != 1:
            self.down = AntiAliasInterpolation(config.num_channels, cfg.scale_factor)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.down(image) if hasattr(self, "down") else image
        features = self.predictor(x)
        # Softmax and the weighted sums stay in fp32: keypoint coordinates feed every warp.
        raw = self.kp(features).float()
        b, k, h, w = raw.shape
        heatmap = F.softmax(raw.view(b, k, h * w) / self.temperature, dim=2).view(b, k, h, w)
        grid = coordinate_grid(h, w, raw.device)
        out = {"value": torch.einsum("bkhw,hwc->bkc", heatmap, grid)}
        if self.jacobian is not None:
            maps = self.jacobian(features).float().view(b, self.num_jacobian_maps, 4, h, w)
            jacobian = (heatmap.unsqueeze(2) * maps).sum(dim=(3, 4))
            out["jacobian"] = jacobian.view(b, k, 2, 2)
        return out
