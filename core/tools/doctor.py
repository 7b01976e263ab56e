"""``doctor``: checks what Facade needs on this machine, each ok / warning / failed with one line of advice."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warning | failed
    detail: str
    advice: str = ""


def run_checks(checkpoint: Path | None = None) -> list[Check]:
    return [_torch(), _cuda(), _face_models(), _cameras(), _virtual_camera(), _ndi(), _checkpoint(checkpoint),
            _ffmpeg(), _display()]


def as_dicts(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]


def format_table(checks: list[Check]) -> str:
    marks = {"ok": "ok     ", "warning": "warning", "failed": "FAILED "}
    lines = []
    for c in checks:
        lines.append(f"{marks[c.status]}  {c.name}: {c.detail}")
        if c.advice:
            lines.append(f"         -> {c.advice}")
    return "\n".join(lines)


def _torch() -> Check:
    import torch

    return Check("torch", "ok", f"torch {torch.__version__}, Python {sys.version.split()[0]}")


def _cuda() -> Check:
    import torch

    if not torch.cuda.is_available():
        return Check("cuda", "warning", "no CUDA device: FOMM would run on the CPU in fp32 (a few frames a second)",
                     "the mesh engine runs in real time on the CPU; for FOMM use a machine with an NVIDIA GPU")
    try:
        a = torch.randn(64, 64, device="cuda", dtype=torch.float16)
        value = float((a @ a).float().abs().mean())
        torch.cuda.synchronize()
    except RuntimeError as exc:
        return Check("cuda", "failed", f"CUDA is present but an fp16 kernel failed: {exc}",
                     "update the NVIDIA driver, or install the torch build that matches it")
    name = torch.cuda.get_device_name(0)
    return Check("cuda", "ok", f"{name}: an fp16 matmul ran ({value:.2f}); FOMM runs in fp16 here")


def _face_models() -> Check:
    try:
        import mediapipe
    except ImportError:
        return Check("face landmarks", "failed", "mediapipe is not installed",
                     "pip install --no-deps -r requirements-mediapipe.txt")
    root = Path(mediapipe.__file__).parent / "modules"
    needed = ["face_landmark/face_landmark_front_cpu.binarypb", "face_landmark/face_landmark_with_attention.tflite",
              "face_detection/face_detection_short_range.tflite"]
    missing = [n for n in needed if not (root / n).is_file()]
    if missing:
        return Check("face landmarks", "failed", f"mediapipe {mediapipe.__version__} lacks {', '.join(missing)}",
                     "install mediapipe==0.10.21, the last release that bundles its face models")
    from core.tools.bench import BENCH_PORTRAIT
    from core.media.images import read_image
    from core.face.landmarks import FaceLandmarker

    landmarker = FaceLandmarker(video=False)
    try:
        found = landmarker.detect(read_image(BENCH_PORTRAIT))
    finally:
        landmarker.close()
    if not found:
        return Check("face landmarks", "failed", "the face models load but found no face in the test portrait",
                     "reinstall mediapipe==0.10.21")
    return Check("face landmarks", "ok", f"mediapipe {mediapipe.__version__}: face models bundled and working")


def _cameras() -> Check:
    from core.live.capture import list_cameras

    found = list_cameras()
    if not found:
        return Check("cameras", "warning", "no camera found",
                     "plug in a webcam and close apps that hold it, or drive the avatar from a video file")
    return Check("cameras", "ok", f"found camera {', '.join(map(str, found))}")


def _virtual_camera() -> Check:
    if sys.platform.startswith("linux"):  # end to end: a test pattern through the device and back
        from core.tools.loopback import diagnose, observe

        found = diagnose(observe())
        return Check("virtual camera", "failed" if found.fault else "ok", found.detail, found.advice)
    from core.live.sinks import VirtualCameraSink, VirtualCameraUnavailable

    try:
        sink = VirtualCameraSink(size=(640, 360))
    except VirtualCameraUnavailable as exc:
        return Check("virtual camera", "failed", exc.reason, exc.advice)
    device = sink.device
    sink.close()
    return Check("virtual camera", "ok", f"{device} works")


def _ndi() -> Check:
    from core.live.ndi import NdiUnavailable, ndi_library

    try:
        ndi = ndi_library()
    except NdiUnavailable as exc:
        return Check("NDI output", "warning", f"{exc.reason} (optional: only NDI output needs it)", exc.advice)
    detail = f"NDI runtime {ndi.version().split()[-1]} (ndi-python): run --ndi and the window can send"
    if sys.platform.startswith("linux") and not Path("/run/avahi-daemon/socket").exists():
        return Check("NDI output", "ok", detail, "other computers find the source through mDNS: "
                                                "sudo systemctl enable --now avahi-daemon")
    return Check("NDI output", "ok", detail)


def _checkpoint(explicit: Path | None) -> Check:
    from models.checkpoint import load_networks
    from models.config import load_config

    from core.engines.checkpoints import NOT_PUBLISHED, find_checkpoint, identify_checkpoint, missing_checkpoint
    from core.errors import UserError, model_files

    try:
        path = find_checkpoint(explicit)
    except UserError as exc:
        return Check("FOMM checkpoint", "failed", str(exc), "check the path")
    if path is None:
        return Check("FOMM checkpoint", "warning", "none found (the mesh engine is used)", missing_checkpoint().advice)
    try:
        with model_files():
            load_networks(path, load_config("vox-256"))
    except UserError as exc:
        return Check("FOMM checkpoint", "failed", str(exc), "use vox-cpk.pth.tar or vox-adv-cpk.pth.tar as published")
    identity = identify_checkpoint(path)
    if identity == NOT_PUBLISHED:
        return Check("FOMM checkpoint", "ok", f"{path}: {identity}, but it loads strictly (vox-256)")
    return Check("FOMM checkpoint", "ok", f"{path}: {identity}; loads strictly (vox-256)")


def _ffmpeg() -> Check:
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        return Check("video encoder", "failed", f"no ffmpeg: {exc}", "pip install imageio-ffmpeg")
    return Check("video encoder", "ok", f"H.264 through {Path(exe).name}")


def _display() -> Check:
    from core.tools.display import MissingLibraries, display_problem

    problem = display_problem()
    if problem is not None:  # without a display the commands still work: a warning
        return Check("display", "failed" if isinstance(problem, MissingLibraries) else "warning", problem.reason,
                     problem.advice)
    where = next((os.environ[k] for k in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DISPLAY") if os.environ.get(k)),
                 sys.platform)
    return Check("display", "ok", f"the window can open ({where}); Qt's platform plugin has its libraries")
