"""Dense motion network: from sparse keypoint motions to a dense deformation and an occlusion map (3.1, 3.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import AntiAliasInterpolation, Hourglass, coordinate_grid, gaussian_heatmaps
from .config import FommConfig


def sparse_motions(kp_driving: dict, kp_source: dict, h: int, w: int) -> torch.Tensor:
    """The K+1 backward motions z -> ks + J (z - kd), the identity first: (B, K+1, h, w, 2).

    J = J_s inverse(J_d) with Jacobians (first order); a plain translation without them (zero order).
    """
    kd, ks = kp_driving["value"], kp_source["value"]
    b = kd.shape[0]
    identity = coordinate_grid(h, w, kd.device, kd.dtype)
    z = identity - kd[:, :, None, None, :]
    if "jacobian" in kp_driving:
        jacobian = kp_source["jacobian"] @ torch.inverse(kp_driving["jacobian"])
        z = torch.einsum("bkij,bkhwj->bkhwi", jacobian, z)
    motions = z + ks[:, :, None, None, :]
    return torch.cat([identity.expand(b, 1, h, w, 2), motions], dim=1)


class DenseMotionNetwork(nn.Module):
    def __init__(self, config: FommConfig):
        super().__init__()
        cfg = config.generator.dense_motion
        self.num_kp = config.num_kp
        self.kp_variance = cfg.kp_variance
        entries = config.num_kp + 1
        self.hourglass = Hourglass(cfg.block_expansion, entries * (config.num_channels + 1),
                                   cfg.num_blocks, cfg.max_features)
        self.mask = nn.Conv2d(self.hourglass.out_filters, entries, kernel_size=7, padding=3)
        self.occlusion = None
        if config.generator.estimate_occlusion_map:
            self.occlusion = nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=7, padding=3)
        if cfg.scale_factor != 1:
            self.down = AntiAliasInterpolation(config.num_channels, cfg.scale_factor)

    def heat_representation(self, kp_driving: dict, kp_source: dict, h: int, w: int) -> torch.Tensor:
        """H_k = G(kd_k) - G(ks_k), a zero map first for the background: (B, K+1, 1, h, w)."""
        heat = (gaussian_heatmaps(kp_driving["value"], h, w, self.kp_variance)
                - gaussian_heatmaps(kp_source["value"], h, w, self.kp_variance))
        return F.pad(heat, (0, 0, 0, 0, 1, 0)).unsqueeze(2)

    def downsample(self, source: torch.Tensor) -> torch.Tensor:
        """The anti-aliased small source the network works on; depends on the source alone."""
        return self.down(source) if hasattr(self, "down") else source

    def forward(self, small: torch.Tensor, kp_driving: dict, kp_source: dict) -> dict[str, torch.Tensor]:
        """``small`` is ``downsample(source)``; returns ``deformation`` (B, h, w, 2), ``mask``, ``occlusion_map``."""
        b, c, h, w = small.shape
        entries = self.num_kp + 1
        heat = self.heat_representation(kp_driving, kp_source, h, w)
        motions = sparse_motions(kp_driving, kp_source, h, w)
        # Warp the small source once per entry, in one grid_sample call over a (B*(K+1)) batch, in fp32:
        # the motions are fp32 and a half-precision grid would misplace samples by a tenth of a pixel.
        repeated = small.float().unsqueeze(1).expand(b, entries, c, h, w).reshape(b * entries, c, h, w)
        deformed = F.grid_sample(repeated, motions.reshape(b * entries, h, w, 2),
                                 align_corners=False).view(b, entries, c, h, w).to(small.dtype)
        inputs = torch.cat([heat.to(small.dtype), deformed], dim=2).view(b, entries * (c + 1), h, w)
        prediction = self.hourglass(inputs)
        mask = F.softmax(self.mask(prediction).float(), dim=1)
        deformation = torch.einsum("bkhw,bkhwc->bhwc", mask, motions)
        out = {"deformation": deformation, "mask": mask}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction))
        return out
