"""FOMM configurations as data: the published ones by name, or any YAML in the authors' layout."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

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


def load_config(name_or_path: str | Path) -> FommConfig:
    """A shipped configuration by name (``vox-256``) or a YAML file in the authors' layout."""
    path = Path(name_or_path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        if str(name_or_path) not in available_configs():
            raise ConfigError(
                f"unknown config '{name_or_path}': use one of {', '.join(available_configs())} or a .yaml file")
        path = _CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable YAML file ({exc.__class__.__name__})") from None
    return config_from_dict(data, name=path.stem, source=str(path))


def config_from_dict(data: object, name: str, source: str = "config") -> FommConfig:
    """Build a FommConfig from the authors' ``model_params`` layout (extra sections are ignored)."""
    try:
        params = data["model_params"]
        common = params.get("common_params", {})
        kp = params.get("kp_detector_params", {})
        gen = dict(params.get("generator_params", {}))
        dense = gen.pop("dense_motion_params", {})
        return FommConfig(
            name=name,
            num_kp=common.get("num_kp", 10),
            num_channels=common.get("num_channels", 3),
            estimate_jacobian=common.get("estimate_jacobian", True),
            image_size=params.get("image_size", 256),
            kp_detector=_build(KeypointDetectorConfig, kp),
            generator=GeneratorConfig(dense_motion=_build(DenseMotionConfig, dense), **_fields(GeneratorConfig, gen)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{source}: not a FOMM config: needs model_params with common_params, "
                          f"kp_detector_params and generator_params ({exc})") from None


def _fields(cls, values: dict) -> dict:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise TypeError(f"unknown {cls.__name__} keys: {', '.join(sorted(unknown))}")
    return values


def _build(cls, values: dict):
    return cls(**_fields(cls, values))
