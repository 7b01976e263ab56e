"""The FOMM engine: the authors' networks, the avatar encoded once, relative motion from calibration."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.checkpoint import build_networks, load_networks
from models.config import load_config
from models.inference import InferenceOptions, prepare
from models.motion import movement_scale, relative_keypoints, strengthened

from core.engines.choice import PRECISIONS, EngineChoice, check_device
from core.engines.strength import MotionStrength
from core.errors import UserError, model_files
from core.media.images import resize_square
from core.frames import DrivingFace


def resolve_device(requested: str) -> torch.device:
    """``auto`` picks CUDA when it works; asking for CUDA without it is the user's error to fix."""
    check_device(requested)
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {requested}: CUDA is not available here (torch {torch.__version__})", "use cpu")
    return device


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """fp16 trunks on CUDA by default, fp32 on the CPU (where half convolutions are slow)."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if precision == "fp32":
        return torch.float32
    if precision == "fp16":
        if device.type != "cuda":
            raise UserError("--precision fp16: needs a CUDA device", "on the CPU use fp32 or bf16")
        return torch.float16
    if precision == "bf16":
        if device.type == "cpu" and not cpu_has_bf16():
            raise UserError("--precision bf16: this CPU has no native bf16 (AVX-512 BF16 or AMX)", "use fp32")
        return torch.bfloat16
    raise UserError(f"--precision {precision}: unknown precision", f"use {', '.join(PRECISIONS)}")


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 convolutions natively here (emulated bf16 would be slower than fp32)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class FommState:
    """One streamer as the networks see them: their avatar encoded once, their neutral pose and motion
    strength. An engine holds one; a remote worker holds one per client and animates many in one batch."""

    avatar: dict | None = None  # {"kp": keypoints, "encoded": generator.encode(...)}
    kp_neutral: dict | None = None
    scale: float = 1.0
    motion: MotionStrength = MotionStrength()


class FommEngine:
    """First Order Motion Model behind the engine contract."""

    name = "fomm"
    pinned_border = False  # the generator redraws every pixel: its output is blended in at the edges

    def __init__(self, choice: EngineChoice = EngineChoice(), checkpoint: Path | None = None,
                 inference: InferenceOptions = InferenceOptions(), profile: bool = False):
        """``checkpoint`` None: random weights, for benchmarks and tests only. ``inference``:
        models.inference.PLAIN is the eager reference."""
        self.choice, self.checkpoint, self.inference = choice, checkpoint, inference
        self._device = resolve_device(choice.device)
        self._dtype = resolve_dtype(choice.precision, self._device)
        with model_files():
            self.config = load_config(choice.config)
            networks = build_networks(self.config) if checkpoint is None else load_networks(checkpoint, self.config)
        self.resolution = self.config.image_size
        self.device = str(self._device)
        self.precision = {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(self._dtype, "fp32")
        self.kp_detector, self.generator = (prepare(net, inference).to(self._device, self._dtype)
                                            for net in networks)
        self._profile = profile
        self.timings = {"kp_ms": 0.0, "generator_ms": 0.0}
        self.state = FommState()

    # The contract, for the engine's own state.

    def set_avatar(self, rgb: np.ndarray) -> None:
        self.set_state_avatar(self.state, rgb)

    def calibrate(self, frame: DrivingFace) -> None:
        self.calibrate_state(self.state, frame.image)

    def animate(self, frame: DrivingFace) -> np.ndarray:
        return self.animate_batch([self.state], [frame.image])[0]

    def set_motion(self, strength: MotionStrength) -> None:
        self.state.motion = strength

    def close(self) -> None:
        pass  # weights are memory: freed with the engine

    # Any number of states: a worker's clients.

    @torch.inference_mode()
    def set_state_avatar(self, state: FommState, rgb: np.ndarray) -> None:
        source = self._to_tensor(rgb)
        state.avatar = {"kp": self.kp_detector(source), "encoded": self.generator.encode(source)}
        self._update_scale(state)

    @torch.inference_mode()
    def calibrate_state(self, state: FommState, image: np.ndarray) -> None:
        state.kp_neutral = self.kp_detector(self._to_tensor(image))
        self._update_scale(state)

    @torch.inference_mode()
    def animate_batch(self, states: list[FommState], images: list[np.ndarray]) -> list[np.ndarray]:
        """Each state's avatar moved by its driving image, all through the networks as one batch."""
        if any(state.avatar is None for state in states):
            raise RuntimeError("set_avatar must be called before animate")
        start = self._clock()
        kp_driving = self.kp_detector(torch.cat([self._to_tensor(image) for image in images]))
        kp_source = _cat([state.avatar["kp"] for state in states])
        if self.choice.relative:
            for i, state in enumerate(states):
                if state.kp_neutral is None:  # the first frame is the neutral pose until recalibrated
                    state.kp_neutral = _take(kp_driving, i)
                    self._update_scale(state)
            scale = torch.tensor([state.scale for state in states], device=self._device).view(-1, 1, 1)
            kp_neutral = _cat([s.kp_neutral for s in states])
            if any(state.motion != MotionStrength() for state in states):
                head, expressions = torch.tensor([[s.motion.head, s.motion.expressions] for s in states],
                                                 device=self._device).T
                kp_driving = strengthened(kp_driving, kp_neutral, head, expressions)
            kp_driving = relative_keypoints(kp_source, kp_driving, kp_neutral, scale.to(kp_driving["value"].dtype))
        middle = self._clock()
        encoded = _cat([state.avatar["encoded"] for state in states])
        prediction = self.generator.decode(encoded, kp_driving, kp_source)["prediction"]
        out = (prediction.permute(0, 2, 3, 1).float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        end = self._clock()
        self.timings = {"kp_ms": (middle - start) * 1000, "generator_ms": (end - middle) * 1000}
        return list(out)

    def _update_scale(self, state: FommState) -> None:
        if self.choice.adapt_scale and state.avatar is not None and state.kp_neutral is not None:
            state.scale = movement_scale(state.avatar["kp"], state.kp_neutral)

    def _to_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        rgb = resize_square(rgb, self.resolution)
        tensor = torch.from_numpy(np.ascontiguousarray(rgb)).to(self._device, non_blocking=True)
        image = tensor.permute(2, 0, 1).unsqueeze(0).to(self._dtype).div_(255)
        # HWC pixels are already channels-last: keep that layout when the networks use it.
        return image.contiguous(memory_format=torch.channels_last if self.inference.channels_last
                                else torch.contiguous_format)

    def _clock(self) -> float:
        if self._profile and self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        return time.perf_counter()


def _cat(items: list[dict]) -> dict:
    """Per-item dicts of batch-1 tensors as one batch."""
    return items[0] if len(items) == 1 else {key: torch.cat([item[key] for item in items]) for key in items[0]}


def _take(batch: dict, index: int) -> dict:
    return {key: value[index:index + 1] for key, value in batch.items()}
