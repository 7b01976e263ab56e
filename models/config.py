"""FOMM configurations as data: the published ones by name, or any YAML in the authors' layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .checked import build, checked, section

_CONFIG_DIR = Path(__file__).with_name("configs")


class ConfigError(ValueError):
    """A configuration name or file that cannot be used."""


@dataclass(frozen=True)
class KeypointDetectorConfig:
    temperature: float = 0.1
    block_expansion: int = 32
    max_features: int = 1024
    scale_factor: float = 0.25
    num_blocks: int = 5
    single_jacobian_map: bool = False
    pad: int = 0


@dataclass(frozen=True)
class DenseMotionConfig:
    block_expansion: int = 64
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    kp_variance: float = 0.01


@dataclass(frozen=True)
class GeneratorConfig:
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6
    estimate_occlusion_map: bool = True
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)


@dataclass(frozen=True)
class FommConfig:
    name: str
    num_kp: int = 10
    num_channels: int = 3
    estimate_jacobian: bool = True
    image_size: int = 256
    kp_detector: KeypointDetectorConfig = field(default_factory=KeypointDetectorConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)


def available_configs() -> list[str]:
    """Names of the configurations shipped with Facade."""
    return sorted(p.stem for p in _CONFIG_DIR.glob("*.yaml"))


def config_path(name_or_path: str | Path) -> Path:
    """The YAML file of a shipped configuration's name (``vox-256``) or of a path; every command that takes
    ``--config`` resolves it here, so a name one accepts no other refuses."""
    path = Path(name_or_path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        if str(name_or_path) not in available_configs():
            raise ConfigError(
                f"unknown config '{name_or_path}': use one of {', '.join(available_configs())} or a .yaml file")
        path = _CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    return path


def load_config(name_or_path: str | Path) -> FommConfig:
    """A shipped configuration by name (``vox-256``) or a YAML file in the authors' layout."""
    path = config_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable YAML file ({exc.__class__.__name__})") from None
    return config_from_dict(data, name=path.stem, source=str(path))


def config_from_dict(data: object, name: str, source: str = "config") -> FommConfig:
    """Build a FommConfig from the authors' ``model_params`` layout (extra sections are ignored); every value
    is checked for its type and range, and an error names the key."""
    if not isinstance(data, dict) or not isinstance(data.get("model_params"), dict):
        raise ConfigError(f"{source}: not a FOMM config: needs model_params with common_params, "
                          "kp_detector_params and generator_params")
    params = data["model_params"]
    try:
        common = section(params, "common_params", "model_params.common_params")
        gen = dict(section(params, "generator_params", "model_params.generator_params"))
        dense = gen.pop("dense_motion_params", None) or {}
        config = FommConfig(
            name=name,
            num_kp=checked("common_params.num_kp", common.get("num_kp", 10), 10),
            num_channels=checked("common_params.num_channels", common.get("num_channels", 3), 3),
            estimate_jacobian=checked("common_params.estimate_jacobian", common.get("estimate_jacobian", True), True),
            image_size=_image_size(data, params),
            kp_detector=build(KeypointDetectorConfig, section(params, "kp_detector_params", "model_params.kp_detector_params"),
                              "kp_detector_params"),
            generator=build(GeneratorConfig, gen, "generator_params",
                            dense_motion=build(DenseMotionConfig, dense, "dense_motion_params")),
        )
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    problems = []
    if config.num_channels != 3:
        problems.append("common_params.num_channels: Facade animates RGB pictures, so it must be 3")
    if not 64 <= config.image_size <= 1024:
        problems.append(f"dataset_params.frame_shape: {config.image_size} pixels; use 64 to 1024")
    for where, scale in (("kp_detector_params.scale_factor", config.kp_detector.scale_factor),
                         ("dense_motion_params.scale_factor", config.generator.dense_motion.scale_factor)):
        if not 0 < scale <= 1:
            problems.append(f"{where}: {scale}; must be above 0 and at most 1")
    if not problems:
        problems = _hourglass_problems(config)
    if problems:
        raise ConfigError(f"{source}: {problems[0]}")
    return config


def _hourglass_problems(config: FommConfig) -> list[str]:
    """Frame sizes the hourglasses cannot take: each of ``num_blocks`` halvings must divide evenly, or the
    way back up does not meet its skip connection (torch's RuntimeError in the middle of a run)."""
    problems = []
    for where, scale, blocks in (("kp_detector_params", config.kp_detector.scale_factor, config.kp_detector.num_blocks),
                                 ("dense_motion_params", config.generator.dense_motion.scale_factor,
                                  config.generator.dense_motion.num_blocks)):
        if not _fits(config.image_size, scale, blocks):
            fitting = [size for size in range(64, 1025) if _fits(size, scale, blocks)]
            below = [size for size in fitting if size < config.image_size]
            above = [size for size in fitting if size > config.image_size]
            smallest = (f"the smallest that can is {fitting[0]}" if not below else
                        f"the nearest that can are {below[-1]}" + (f" and {above[0]}" if above else "")) \
                if fitting else "no frame size from 64 to 1024 can"
            problems.append(f"dataset_params.frame_shape: {config.image_size} pixels cannot run through {where}: "
                            f"its {blocks} hourglass blocks at scale_factor {scale} need a multiple of "
                            f"{2 ** blocks} pixels after scaling; {smallest}")
    return problems


def _fits(size: int, scale: float, blocks: int) -> bool:
    """The hourglass's arithmetic: AntiAliasInterpolation keeps every (1/scale)-th pixel, then each block
    halves (rounding down) and the decoder doubles back."""
    scaled = size if scale == 1 else -(-size // int(1 / scale))
    return scaled % 2 ** blocks == 0


def _image_size(data: dict, params: dict) -> int:
    """``dataset_params.frame_shape`` (the authors' place for it), else ``model_params.image_size``, else 256."""
    shape = section(data, "dataset_params", "dataset_params").get("frame_shape")
    if shape is None:
        return checked("model_params.image_size", params.get("image_size", 256), 256)
    if (not isinstance(shape, (list, tuple)) or len(shape) < 2 or shape[0] != shape[1]
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)):
        raise ValueError(f"dataset_params.frame_shape: needs a square [H, W, 3], not {shape!r}")
    return shape[0]
