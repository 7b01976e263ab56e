"""The paper's training objective (section 3 and the authors' code): multi-scale perceptual reconstruction,
equivariance of keypoints and Jacobians under random thin-plate-spline warps, least-squares GAN terms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import AntiAliasInterpolation, coordinate_grid

_VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
_VGG_SLICES = [(0, 2), (2, 7), (7, 12), (12, 21), (21, 30)]  # relu1_1 ... relu5_1 of torchvision's features


class ImagePyramid(nn.Module):
    """The image at each scale, downsampled as the networks do (Gaussian anti-aliasing, then subsampling)."""

    def __init__(self, scales: tuple[float, ...], channels: int):
        super().__init__()
        self.scales = tuple(scales)
        self.downs = nn.ModuleDict({str(s).replace(".", "-"): AntiAliasInterpolation(channels, s)
                                    for s in scales if s != 1})

    def forward(self, x: torch.Tensor) -> dict[float, torch.Tensor]:
        return {s: x if s == 1 else self.downs[str(s).replace(".", "-")](x) for s in self.scales}


class Vgg19(nn.Module):
    """VGG-19's convolutional part, laid out as torchvision's ``features`` so its weights file loads; frozen.
    Returns the five relu_1 feature maps of an ImageNet-normalised input."""

    def __init__(self):
        super().__init__()
        layers, channels = [], 3
        for v in _VGG19[:-1]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=False)]
                channels = v
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)

    def load_torchvision(self, state: dict) -> None:
        """Take the ``features.*`` weights of torchvision's vgg19 state dict (strictly: all of them)."""
        features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        self.features.load_state_dict(features, strict=True)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, maps = (x - self.mean) / self.std, []
        for start, end in _VGG_SLICES:
            out = self.features[start:end](out)
            maps.append(out)
        return maps


def perceptual_loss(prediction: dict, driving: dict, weights: list[float], vgg: Vgg19 | None) -> torch.Tensor:
    """sum over scales and VGG layers of weight_i * mean|f_i(pred) - f_i(driving)| (driving detached).
    Without VGG weights: sum over scales of sum(weights) * mean|pred - driving| (an L1 image pyramid)."""
    total = prediction[next(iter(prediction))].new_zeros(())
    for scale in prediction:
        if vgg is None:
            total = total + sum(weights) * (prediction[scale] - driving[scale].detach()).abs().mean()
            continue
        for weight, a, b in zip(weights, vgg(prediction[scale]), vgg(driving[scale])):
            total = total + weight * (a - b.detach()).abs().mean()
    return total


class RandomTransform:
    """T(p) = theta [p, 1] + sum_k w_k r_k^2 log(r_k + 1e-6), r_k = |p - c_k|_1, per sample: a random affine
    (I + N(0, sigma_affine)) plus a thin-plate spline on a points_tps x points_tps grid of control points."""

    def __init__(self, batch: int, sigma_affine: float, sigma_tps: float, points_tps: int,
                 device=None, generator: torch.Generator | None = None):
        noise = torch.randn(batch, 2, 3, generator=generator) * sigma_affine
        self.theta = (noise + torch.eye(2, 3)).to(device)
        self.control_points = coordinate_grid(points_tps, points_tps).view(1, 1, -1, 2).to(device)
        self.control_params = (torch.randn(batch, 1, points_tps ** 2, generator=generator) * sigma_tps).to(device)

    def warp_coordinates(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 2) points in [-1, 1] through T."""
        theta = self.theta.to(points.dtype).unsqueeze(1)
        out = (theta[..., :2] @ points.unsqueeze(-1)).squeeze(-1) + theta[..., 2]
        distances = (points.unsqueeze(2) - self.control_points.to(points.dtype)).abs().sum(-1)  # (B, N, K)
        spline = (distances ** 2 * torch.log(distances + 1e-6) * self.control_params.to(points.dtype)).sum(2)
        return out + spline.unsqueeze(-1)

    def jacobian(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 2, 2) derivative of T at ``points`` (which must require grad), kept in the graph."""
        warped = self.warp_coordinates(points)
        grad_x = torch.autograd.grad(warped[..., 0].sum(), points, create_graph=True)[0]
        grad_y = torch.autograd.grad(warped[..., 1].sum(), points, create_graph=True)[0]
        return torch.stack([grad_x, grad_y], dim=-2)

    def warp_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """The frame resampled at T(p) for every pixel p (reflection padding)."""
        b, _, h, w = frame.shape
        grid = coordinate_grid(h, w, frame.device, frame.dtype).view(1, -1, 2).expand(b, -1, -1)
        return F.grid_sample(frame, self.warp_coordinates(grid).view(b, h, w, 2), padding_mode="reflection",
                             align_corners=True)


def equivariance_losses(kp_driving: dict, kp_transformed: dict, transform: RandomTransform) -> dict:
    """value: mean|kp_driving - T(kp_t)|; jacobian: mean|I - inverse(J_driving) (J_T(kp_t) J_t)|."""
    losses = {"equivariance_value": (kp_driving["value"] - transform.warp_coordinates(kp_transformed["value"]))
              .abs().mean()}
    if "jacobian" in kp_driving:
        jacobian_t = transform.jacobian(kp_transformed["value"]) @ kp_transformed["jacobian"]
        product = torch.inverse(kp_driving["jacobian"]) @ jacobian_t
        eye = torch.eye(2, device=product.device, dtype=product.dtype)
        losses["equivariance_jacobian"] = (eye - product).abs().mean()
    return losses


def generator_gan_losses(real: dict, fake: dict, gan_weight: float, matching: list[float]) -> dict:
    """Least squares: gan_weight * mean (1 - D(pred))^2; feature matching over the blocks' outputs."""
    gan = sum(gan_weight * ((1 - fake[s][1]) ** 2).mean() for s in fake)
    losses = {"generator_gan": gan}
    if sum(matching):
        losses["feature_matching"] = sum(weight * (a - b).abs().mean()
                                         for s in fake for weight, a, b in zip(matching, real[s][0], fake[s][0])
                                         if weight)
    return losses


def discriminator_loss(real: dict, fake: dict, weight: float) -> torch.Tensor:
    """weight * mean[(1 - D(driving))^2 + D(pred.detach())^2] over scales (``fake`` from detached images)."""
    return sum(weight * ((1 - real[s][1]) ** 2 + fake[s][1] ** 2).mean() for s in real)
