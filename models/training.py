"""Training FOMM as the authors do (their train.py and YAML): the objective of one step, the optimisers, checkpoints."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import BinaryIO

import torch
from torch import nn

from .checkpoint import build_networks, unprefixed
from .checked import build, section
from .config import ConfigError, FommConfig
from .discriminator import DiscriminatorConfig, MultiScaleDiscriminator
from .losses import (ImagePyramid, RandomTransform, Vgg19, discriminator_loss, equivariance_losses,
                     generator_gan_losses, perceptual_loss)


@dataclass(frozen=True)
class LossWeights:
    generator_gan: float = 0.0
    discriminator_gan: float = 1.0
    feature_matching: tuple[float, ...] = (10, 10, 10, 10)
    perceptual: tuple[float, ...] = (10, 10, 10, 10, 10)
    equivariance_value: float = 10.0
    equivariance_jacobian: float = 10.0


@dataclass(frozen=True)
class TransformParams:
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5


@dataclass(frozen=True)
class TrainConfig:
    """``train_params`` of the authors' YAML (vox-256: the defaults), and the discriminator's."""

    num_epochs: int = 100
    num_repeats: int = 75
    epoch_milestones: tuple[int, ...] = (60, 90)
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    lr_kp_detector: float = 2e-4
    batch_size: int = 40
    scales: tuple[float, ...] = (1, 0.5, 0.25, 0.125)
    checkpoint_freq: int = 50
    transform_params: TransformParams = field(default_factory=TransformParams)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)


def train_config_from_dict(data: dict, source: str = "config") -> TrainConfig:
    """The training part of an authors' YAML; unknown keys and wrong types are errors naming the key."""
    try:
        params = dict(section(data, "train_params", "train_params"))
        # Loss weights and learning rates may be 0 (a term left out, a network frozen).
        weights = build(LossWeights, params.pop("loss_weights", {}), "train_params.loss_weights", zero_ok=True)
        transform = build(TransformParams, params.pop("transform_params", {}), "train_params.transform_params",
                          zero_ok=True)
        disc = section(section(data, "model_params", "model_params"), "discriminator_params",
                       "model_params.discriminator_params")
        return build(TrainConfig, params, "train_params", zero_ok=True, transform_params=transform,
                     loss_weights=weights, discriminator=build(DiscriminatorConfig, disc, "discriminator_params"))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


class Trainer(nn.Module):
    """The keypoint detector, generator and discriminator with their optimisers; ``step`` is one update."""

    def __init__(self, model: FommConfig, train: TrainConfig, vgg: Vgg19 | None = None,
                 networks: tuple[nn.Module, nn.Module] | None = None):
        super().__init__()
        self.model_config, self.config = model, train
        self.kp_detector, self.generator = networks or build_networks(model)
        self.discriminator = MultiScaleDiscriminator(model.num_channels, model.num_kp, train.discriminator)
        self.pyramid = ImagePyramid(train.scales, model.num_channels)
        self.disc_pyramid = ImagePyramid(train.discriminator.scales, model.num_channels)
        self.vgg = vgg
        betas = (0.5, 0.999)
        self.optimizer_generator = torch.optim.Adam(self.generator.parameters(), lr=train.lr_generator, betas=betas)
        self.optimizer_kp_detector = torch.optim.Adam(self.kp_detector.parameters(), lr=train.lr_kp_detector,
                                                      betas=betas)
        self.optimizer_discriminator = torch.optim.Adam(self.discriminator.parameters(), lr=train.lr_discriminator,
                                                        betas=betas)
        self.epoch = 0
        self.schedulers = [torch.optim.lr_scheduler.MultiStepLR(o, list(train.epoch_milestones), gamma=0.1)
                           for o in (self.optimizer_generator, self.optimizer_kp_detector,
                                     self.optimizer_discriminator)]
        self.train()  # build_networks gives them in eval mode, for inference; batch norm trains here

    @property
    def adversarial(self) -> bool:
        return self.config.loss_weights.generator_gan > 0

    def losses(self, source: torch.Tensor, driving: torch.Tensor,
               generator: torch.Generator | None = None) -> tuple[dict, dict]:
        """The generator-side loss terms (weighted) for a batch, and what the discriminator step needs."""
        w = self.config.loss_weights
        kp_source, kp_driving = self.kp_detector(source), self.kp_detector(driving)
        prediction = self.generator(source, kp_driving, kp_source)["prediction"]
        pyramid_pred, pyramid_driving = self.pyramid(prediction), self.pyramid(driving)
        losses = {"perceptual": perceptual_loss(pyramid_pred, pyramid_driving, list(w.perceptual), self.vgg)}
        if w.equivariance_value or w.equivariance_jacobian:
            t = self.config.transform_params
            transform = RandomTransform(driving.shape[0], t.sigma_affine, t.sigma_tps, t.points_tps,
                                        driving.device, generator)
            kp_transformed = self.kp_detector(transform.warp_frame(driving))
            equivariance = equivariance_losses(kp_driving, kp_transformed, transform)
            losses["equivariance_value"] = w.equivariance_value * equivariance["equivariance_value"]
            if "equivariance_jacobian" in equivariance and w.equivariance_jacobian:
                losses["equivariance_jacobian"] = w.equivariance_jacobian * equivariance["equivariance_jacobian"]
        extra = {"prediction": prediction, "kp_driving": kp_driving}
        if self.adversarial:
            kp = kp_driving["value"].detach()
            real = self.discriminator(self.disc_pyramid(driving), kp)
            fake = self.discriminator(self.disc_pyramid(prediction), kp)
            losses.update(generator_gan_losses(real, fake, w.generator_gan, list(w.feature_matching)))
        return losses, extra

    def step(self, source: torch.Tensor, driving: torch.Tensor, generator: torch.Generator | None = None,
             average=None) -> dict:
        """One update of K and G (and D, in the adversarial recipe) on a batch; returns the losses as floats.
        ``average(parameters)``: averages gradients over data-parallel processes before each update."""
        self.train()
        losses, extra = self.losses(source, driving, generator)
        total = sum(losses.values())
        self.optimizer_generator.zero_grad()
        self.optimizer_kp_detector.zero_grad()
        total.backward()
        if average is not None:
            average(list(self.generator.parameters()) + list(self.kp_detector.parameters()))
        self.optimizer_generator.step()
        self.optimizer_kp_detector.step()
        report = {name: float(value.detach()) for name, value in losses.items()}
        if self.adversarial:
            self.optimizer_discriminator.zero_grad()
            kp = extra["kp_driving"]["value"].detach()
            real = self.discriminator(self.disc_pyramid(driving), kp)
            fake = self.discriminator(self.disc_pyramid(extra["prediction"].detach()), kp)
            loss = discriminator_loss(real, fake, self.config.loss_weights.discriminator_gan)
            loss.backward()
            if average is not None:
                average(list(self.discriminator.parameters()))
            self.optimizer_discriminator.step()
            report["discriminator_gan"] = float(loss.detach())
        return report

    def end_epoch(self) -> None:
        self.epoch += 1
        for scheduler in self.schedulers[:3 if self.adversarial else 2]:  # D's optimiser idles without GAN
            scheduler.step()

    def checkpoint(self) -> dict:
        """The published layout: networks, optimiser states and the epoch."""
        return {"generator": self.generator.state_dict(), "kp_detector": self.kp_detector.state_dict(),
                "discriminator": self.discriminator.state_dict(),
                "optimizer_generator": self.optimizer_generator.state_dict(),
                "optimizer_kp_detector": self.optimizer_kp_detector.state_dict(),
                "optimizer_discriminator": self.optimizer_discriminator.state_dict(), "epoch": self.epoch}

    def save(self, out: str | os.PathLike | BinaryIO) -> None:
        """To a path, or to a binary file object (whose own write errors then say what went wrong)."""
        torch.save(self.checkpoint(), out if hasattr(out, "write") else str(out))

    def resume(self, state: dict, optimisers: bool = True) -> None:
        """Load networks strictly (a discriminator only if the checkpoint has one); with ``optimisers``,
        also the optimiser states and the epoch, and the schedule continues from that epoch."""
        self.generator.load_state_dict(unprefixed(state["generator"]), strict=True)
        self.kp_detector.load_state_dict(unprefixed(state["kp_detector"]), strict=True)
        if state.get("discriminator"):
            self.discriminator.load_state_dict(unprefixed(state["discriminator"]), strict=True)
        if not optimisers:
            return
        self.epoch = int(state.get("epoch", 0))
        decay = 0.1 ** sum(self.epoch >= m for m in self.config.epoch_milestones)
        for name, scheduler in zip(("optimizer_generator", "optimizer_kp_detector", "optimizer_discriminator"),
                                   self.schedulers):
            optimizer = getattr(self, name)
            saved = state.get(name) or {}
            if saved.get("param_groups") and saved.get("state") is not None:
                optimizer.load_state_dict(saved)  # its learning rate is where the schedule had taken it
            else:
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"] * decay
            scheduler.last_epoch = self.epoch
