"""Training FOMM on videos, as the authors do: their YAML, their data layout and sampling, several processes
through torchrun. The networks and the objective are in ``models/training.py``; this is data and the loop."""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.distributed as dist
import yaml
from tqdm import tqdm

from core.engines.choice import check_device
from core.errors import UserError, model_files
from core.media.files import write_binary_file
from core.media.video_io import frame_files, open_video
from models.checkpoint import check_finite, read_checkpoint
from models.checked import checked, section
from models.config import ConfigError, FommConfig, config_from_dict, config_path
from models.losses import Vgg19
from models.training import TrainConfig, Trainer, train_config_from_dict

VIDEO_SUFFIXES = (".mp4", ".gif", ".mov", ".avi", ".mkv", ".webm")


@dataclass(frozen=True)
class Augmentation:
    """``dataset_params.augmentation_params``: the same draw is applied to source and driving."""

    horizontal_flip: bool = False
    time_flip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0


@dataclass(frozen=True)
class DatasetParams:
    frame_size: int = 256
    id_sampling: bool = False
    augmentation: Augmentation = field(default_factory=Augmentation)


def load_training_config(name_or_path: str | Path) -> tuple[FommConfig, TrainConfig, DatasetParams]:
    """The authors' YAML, a shipped one by name (``vox-adv-256``) or a file: model_params, train_params and
    dataset_params; errors name the key."""
    with model_files():
        path = config_path(name_or_path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise UserError(f"{path}: not a readable YAML file ({exc.__class__.__name__})") from None
        model = config_from_dict(data, name=path.stem, source=str(path))
        train = train_config_from_dict(data, source=str(path))
        try:
            return model, train, _dataset_params(data, model.image_size)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None


def _dataset_params(data: dict, frame_size: int) -> DatasetParams:
    """``dataset_params``: each section a mapping and each value of its kind, or a ValueError naming the key."""
    where = "dataset_params"
    dataset = section(data, "dataset_params", where)
    augmentation = section(dataset, "augmentation_params", f"{where}.augmentation_params")
    flips = section(augmentation, "flip_param", f"{where}.augmentation_params.flip_param")
    jitter = section(augmentation, "jitter_param", f"{where}.augmentation_params.jitter_param")
    defaults = Augmentation()
    return DatasetParams(frame_size, checked(f"{where}.id_sampling", dataset.get("id_sampling", False), False),
                         Augmentation(*(checked(f"{where}.augmentation_params.flip_param.{key}",
                                                flips.get(key, False), False)
                                        for key in ("horizontal_flip", "time_flip")),
                                      *(checked(f"{where}.augmentation_params.jitter_param.{key}",
                                                jitter.get(key, 0.0), getattr(defaults, key), zero_ok=True)
                                        for key in ("brightness", "contrast", "saturation", "hue"))))


class VideoFrames(torch.utils.data.Dataset):
    """``root/train`` or ``root/test`` (or a seeded 80/20 split of ``root``): each entry a video file or a
    folder of frames. A sample: two frames of one video, drawn uniformly with replacement and sorted
    (source, driving), augmented alike; ``repeats`` times the list per epoch."""

    def __init__(self, root: Path, split: str, params: DatasetParams, repeats: int = 1, augment: bool = True,
                 seed: int = 0):
        self.params, self.repeats, self.augment = params, repeats, augment
        self.videos = _split(root, split, seed)
        if not self.videos:
            raise UserError(f"{root}: no videos or frame folders for {split}",
                            f"put them in {root / split} ({', '.join(VIDEO_SUFFIXES)} or folders of frames)")
        self.entries = sorted({_person(v) for v in self.videos}) if params.id_sampling else self.videos
        self.frame_counts = {video: frame_count(video) for video in self.videos}  # once, not per sample

    def __len__(self) -> int:
        return len(self.entries) * self.repeats

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = random.Random(torch.initial_seed() + index)
        entry = self.entries[index % len(self.entries)]
        video = rng.choice([v for v in self.videos if _person(v) == entry]) if self.params.id_sampling else entry
        first, second = sorted(rng.randrange(self.frame_counts[video]) for _ in range(2))
        frames = [read_frame(video, i, self.params.frame_size) for i in (first, second)]
        if self.augment:
            frames = _augment(frames, self.params.augmentation, rng)
        return tuple(torch.from_numpy(f).permute(2, 0, 1).float().div(255) for f in frames)


def _split(root: Path, split: str, seed: int) -> list[Path]:
    folder = root / split
    if folder.is_dir():
        return _videos(folder)
    everything = _videos(root)
    random.Random(seed).shuffle(everything)
    cut = max(1, int(round(0.8 * len(everything)))) if len(everything) > 1 else len(everything)
    return sorted(everything[:cut] if split == "train" else everything[cut:])


def _videos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES) or (p.is_dir() and frame_files(p)))


def _person(video: Path) -> str:
    return video.name.split("#")[0]


def frame_count(video: Path) -> int:
    if video.is_dir():
        return len(frame_files(video))
    capture = open_video(video)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    if count < 1:
        raise UserError(f"{video}: not a video with frames OpenCV can read")
    return count


def read_frame(video: Path, index: int, size: int) -> np.ndarray:
    """Frame ``index`` of a video or frame folder, RGB, resized to size x size."""
    if video.is_dir():
        bgr = cv2.imread(str(frame_files(video)[index]))
    else:
        capture = open_video(video)
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, bgr = capture.read()
        capture.release()
        bgr = bgr if ok else None
    if bgr is None:
        raise UserError(f"{video}: frame {index} cannot be read")
    return cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (size, size), interpolation=cv2.INTER_AREA)


def _augment(frames: list[np.ndarray], params: Augmentation, rng: random.Random) -> list[np.ndarray]:
    if params.horizontal_flip and rng.random() < 0.5:
        frames = [f[:, ::-1] for f in frames]
    if params.time_flip and rng.random() < 0.5:
        frames = frames[::-1]
    if params.brightness or params.contrast or params.saturation or params.hue:
        draw = [rng.uniform(max(0.0, 1 - v), 1 + v) for v in (params.brightness, params.contrast, params.saturation)]
        hue = rng.uniform(-params.hue, params.hue)
        frames = [_jitter(f, *draw, hue) for f in frames]
    return [np.ascontiguousarray(f) for f in frames]


def _jitter(rgb: np.ndarray, brightness: float, contrast: float, saturation: float, hue: float) -> np.ndarray:
    """torchvision's ColorJitter with fixed factors: brightness, contrast, saturation, then a hue shift."""
    out = rgb.astype(np.float32) * brightness
    gray = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    out = gray.mean() + contrast * (out - gray.mean())
    gray = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)[..., None]
    out = np.clip(gray + saturation * (out - gray), 0, 255).astype(np.uint8)
    if hue:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV_FULL)
        hsv[..., 0] = (hsv[..., 0].astype(np.int32) + int(round(hue * 255))) % 256
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
    return out


@dataclass(frozen=True)
class TrainRun:
    config: str | Path  # a shipped config's name or a YAML file
    data: Path
    out: Path
    checkpoint: Path | None = None
    max_steps: int | None = None
    device: str = "auto"
    vgg19: Path | None = None
    progress: bool = True
    seed: int = 0


def train(run: TrainRun) -> dict:
    """Train (or fine-tune, or resume) and save checkpoints in the published format; several processes when
    started by torchrun (gradients averaged over them with torch.distributed, each with its own batch norm
    statistics). Returns the last losses."""
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    device = _device(run.device, int(os.environ.get("LOCAL_RANK", 0)))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    model_config, train_config, dataset_params = load_training_config(run.config)
    if run.checkpoint is not None:
        with model_files():
            state = read_checkpoint(run.checkpoint)
            check_finite(run.checkpoint, {n: state[n] for n in ("kp_detector", "generator", "discriminator")
                                          if n in state})
    torch.manual_seed(run.seed)  # the same initial weights in every process
    vgg = _vgg(run.vgg19, rank)
    trainer = Trainer(model_config, train_config, vgg).to(device)
    if run.checkpoint is not None:
        try:
            trainer.resume(state)
        except RuntimeError as exc:  # load_state_dict's size or key mismatch
            raise UserError(f"--checkpoint {run.checkpoint}: does not fit {run.config}'s networks "
                            f"({str(exc).splitlines()[0][:160]})") from None
    dataset = VideoFrames(run.data, "train", dataset_params, train_config.num_repeats, seed=run.seed)
    per_process = max(1, train_config.batch_size // world)
    sampler = torch.utils.data.DistributedSampler(dataset, world, rank, shuffle=True, seed=run.seed, drop_last=True) \
        if world > 1 else torch.utils.data.RandomSampler(dataset)
    loader = torch.utils.data.DataLoader(dataset, batch_size=per_process, sampler=sampler, drop_last=True,
                                         num_workers=0)
    if len(loader) == 0:
        raise UserError(f"{run.data}: {len(dataset)} samples per epoch, fewer than a batch of {per_process}",
                        "add videos, or lower train_params.batch_size or raise num_repeats")
    steps, losses = 0, {}
    total = run.max_steps or (train_config.num_epochs - trainer.epoch) * len(loader)
    bar = tqdm(total=total, unit="step", desc="train", disable=rank != 0 or not run.progress, file=sys.stderr)
    while trainer.epoch < train_config.num_epochs or (run.max_steps and steps < run.max_steps):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(trainer.epoch)
        for source, driving in loader:
            losses = trainer.step(source.to(device), driving.to(device), average=_average if world > 1 else None)
            steps += 1
            bar.update(1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()})
            if run.max_steps and steps >= run.max_steps:
                break
        if run.max_steps and steps >= run.max_steps:
            break
        trainer.end_epoch()
        if rank == 0 and trainer.epoch % train_config.checkpoint_freq == 0:
            _save(trainer, run.out)
    bar.close()
    if rank == 0:
        _save(trainer, run.out)
    return losses


def _average(parameters) -> None:
    """What DistributedDataParallel does after backward: each gradient averaged over the processes."""
    world = dist.get_world_size()
    for p in parameters:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad.div_(world)


def _device(requested: str, local_rank: int) -> torch.device:
    check_device(requested)
    if requested == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {requested}: CUDA is not available here", "use cpu")
    return torch.device(requested)


def _vgg(path: Path | None, rank: int) -> Vgg19 | None:
    if path is None:
        if rank == 0:
            print("no --vgg19 weights: the perceptual loss runs on an L1 image pyramid instead of VGG-19 features",
                  file=sys.stderr)
        return None
    vgg = Vgg19()
    try:
        vgg.load_torchvision(torch.load(str(path), map_location="cpu", weights_only=True))
    except (OSError, RuntimeError, KeyError) as exc:
        raise UserError(f"--vgg19 {path}: not torchvision's VGG-19 weights ({str(exc).splitlines()[0]})") from None
    return vgg


def _save(trainer: Trainer, out: Path) -> None:
    write_binary_file(out, trainer.save)
