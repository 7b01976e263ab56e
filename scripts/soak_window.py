"""Soak the real window: a video file as the camera, every control used over and over, for as long as a call.

    xvfb-run -s "-screen 0 1600x1000x24" python scripts/soak_window.py --camera CLIP --minutes 30 \
        --json bench/results/soak-window.json --shots shots/

Headless soaks miss what only a painted window does (Qt leaking references in paint events killed the window
after 6 to 11 minutes). This drives the window through its own shortcuts and widgets: record on and off,
avatar switches by number key, output size, fit and background, mirror, landmarks overlay, calibration,
the full-screen view, the smoothing slider, hide and show, the settings and help dialogs, and a virtual camera
that takes the frames as pyvirtualcam's would. Every 10 s it samples the references to None, True and False, resident
memory, threads and the frames painted; it exits 1 if the window stops painting for a sample, references or
memory grow, or a recording does not play.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import pyvirtualcam

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialog  # noqa: E402

from app import settings as app_settings  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from soak import resident_mb  # noqa: E402  (beside this script: the headless soak's reading)

_SAMPLE_S = 10
_STEP_MS = 3000
# What kills the window is a count that falls (6.12 took None down by about 170 a second, 300 000 in half an
# hour, and Python aborts when it reaches zero). PySide6 also keeps a few extra references to None for each
# widget it makes and deletes (about 2; 11 for a full-screen view): a count that rises is reported, not fatal.
_REFCOUNT_FALL = 2000
_RSS_GROWTH_MB = 100


class _VirtualCamera:
    """pyvirtualcam.Camera's interface; counts what it is sent (no v4l2loopback on a CI machine)."""

    def __init__(self, width, height, fps, fmt=None, device=None, **_):
        self.device, self.frames = device or "/dev/video-soak", 0

    def send(self, frame):
        self.frames += 1

    def sleep_until_next_frame(self):
        pass

    def close(self):
        pass


def _plays(path: Path) -> int:
    clip = cv2.VideoCapture(str(path))
    frames = int(clip.get(cv2.CAP_PROP_FRAME_COUNT)) if clip.isOpened() else 0
    clip.release()
    return frames


class _Soak:
    def __init__(self, window: MainWindow, minutes: float, shots: Path | None):
        self.window, self.shots = window, shots
        self.end = time.monotonic() + minutes * 60
        self.step_count, self.errors, self.samples = 0, [], []
        self.actions_done: dict[str, int] = {}
        self.recordings: list[Path] = []
        self._last_painted = 0
        self._steps = [self._record, self._avatar, self._calibrate, self._output_size, self._mirror, self._fit,
                       self._overlay, self._record, self._background, self._fullscreen, self._smoothing,
                       self._virtual_camera, self._hide, self._dialogs, self._hide, self._screenshot]

    # The controls, each through what a user would press or pick.

    def _key(self, key: str) -> None:
        QTest.keyClick(self.window, key)

    def _record(self):
        self._key(self.window.settings.hotkeys["record"])
        if self.window.session.recording is not None:
            self.recordings.append(Path(self.window.session.recording))

    def _avatar(self):
        count = min(self.window.gallery.count(), 9)
        self._key(str(1 + self.step_count // len(self._steps) % count))

    def _calibrate(self):
        self._key(self.window.settings.hotkeys["calibrate"])

    def _cycle(self, box):
        box.setCurrentIndex((box.currentIndex() + 1) % box.count())

    def _output_size(self):
        self._cycle(self.window.controls.size_box)

    def _fit(self):
        self._cycle(self.window.controls.fit_box)

    def _background(self):
        self._cycle(self.window.controls.background_box)

    def _mirror(self):
        self._key(self.window.settings.hotkeys["mirror"])

    def _overlay(self):
        self._key(self.window.settings.hotkeys["overlay"])

    def _hide(self):
        self._key(self.window.settings.hotkeys["hide"])

    def _fullscreen(self):
        self.window.toggle_fullscreen()
        QTimer.singleShot(1500, self.window.toggle_fullscreen)

    def _smoothing(self):
        slider = self.window.controls.smoothing
        slider.setValue((slider.value() + 37) % 101)

    def _virtual_camera(self):
        self._key(self.window.settings.hotkeys["virtual_camera"])

    def _dialogs(self):
        for opener in (self.window._settings_dialog, self.window.show_help):
            QTimer.singleShot(700, self._close_dialog)
            opener()

    def _close_dialog(self):
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QDialog):
            QTest.keyClick(dialog, Qt.Key.Key_Escape)

    def _screenshot(self):
        if self.shots is None:
            return
        self.shots.mkdir(parents=True, exist_ok=True)
        name = self.shots / f"window-{self.step_count:04d}.png"
        try:  # the whole X screen, as a user would see it (window manager, full-screen view and all)
            subprocess.run(["import", "-window", "root", str(name)], check=True, timeout=20, capture_output=True)
        except (OSError, subprocess.SubprocessError):
            self.window.grab().save(str(name))

    # The loop.

    def step(self):
        if time.monotonic() > self.end:
            QApplication.instance().quit()
            return
        action = self._steps[self.step_count % len(self._steps)]
        try:
            action()
            self.actions_done[action.__name__.strip("_")] = self.actions_done.get(action.__name__.strip("_"), 0) + 1
        except Exception as exc:  # noqa: BLE001 (a soak reports every failure and carries on)
            self.errors.append(f"{action.__name__}: {type(exc).__name__}: {exc}")
        self.step_count += 1

    def sample(self):
        painted = self.window.avatar_view.frames_shown
        self.samples.append({
            "minute": round((time.monotonic() - self.start) / 60, 2),
            "none": sys.getrefcount(None), "true": sys.getrefcount(True), "false": sys.getrefcount(False),
            "rss_mb": round(resident_mb(), 1), "threads": threading.active_count(),
            "avatar_frames": painted, "painted_since_last": painted - self._last_painted,
            "status": self.window.status_fps.text(), "banner": [str(m) for m in self.window.warnings.values()],
        })
        self._last_painted = painted
        print(json.dumps(self.samples[-1]), flush=True)

    def run(self) -> None:
        self.start = time.monotonic()
        # An exception in a slot is printed by Qt's event loop and forgotten; the soak counts it as a failure.
        sys.excepthook = lambda kind, value, _tb: self.errors.append(f"in a slot: {kind.__name__}: {value}")
        timers = [QTimer(self.window, interval=_STEP_MS, timeout=self.step),
                  QTimer(self.window, interval=_SAMPLE_S * 1000, timeout=self.sample)]
        for timer in timers:
            timer.start()
        QApplication.instance().exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camera", type=Path, required=True, help="a video file (looped) standing in for the camera")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes before the memory baseline")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--shots", type=Path, help="folder for a screenshot of the screen every few steps")
    args = parser.parse_args()

    pyvirtualcam.Camera = _VirtualCamera  # what the window's V key opens
    app = QApplication(sys.argv)
    if app.platformName() == "offscreen":
        print("note: offscreen platform; for the real window run under xvfb-run", file=sys.stderr)
    home = Path(tempfile.mkdtemp(prefix="facade-soak-"))
    store = app_settings.open_settings(home / "facade.ini")
    store.setValue("recordings", str(home / "recordings"))
    window = MainWindow(store, camera=str(args.camera.resolve()), camera_probe=lambda: [],
                        user_dir=home / "avatars")
    window.show()
    soak = _Soak(window, args.minutes, args.shots)
    soak.run()
    window.close()
    app.processEvents()

    samples = soak.samples
    baseline = next(s for s in samples if s["minute"] >= args.warmup)
    last = samples[-1]
    played = {path.name: _plays(path) for path in soak.recordings if path.exists()}
    stalls = [s["minute"] for s in samples[1:] if s["painted_since_last"] == 0]
    singletons = ("none", "true", "false")
    drift = {name: last[name] - baseline[name] for name in singletons}
    settled = [s for s in samples if s["minute"] >= args.warmup]
    lowest = {name: min(s[name] for s in settled) - baseline[name] for name in singletons}
    result = {
        "minutes": args.minutes, "platform": app.platformName(), "camera": args.camera.name,
        "steps": soak.step_count, "actions": soak.actions_done, "errors": soak.errors,
        "avatar_frames_painted": last["avatar_frames"], "minutes_without_painting": stalls,
        "refcount_drift_after_warmup": drift, "refcount_lowest_after_warmup": lowest,
        "rss_mb_after_warmup": baseline["rss_mb"], "rss_mb_end": last["rss_mb"],
        "rss_growth_mb": round(last["rss_mb"] - baseline["rss_mb"], 1),
        "threads_after_warmup": baseline["threads"], "threads_end": last["threads"],
        "recordings": len(soak.recordings), "recordings_not_playing": [n for n, f in played.items() if f == 0],
        "samples": samples,
    }
    result["passed"] = (not soak.errors and not stalls and all(d > -_REFCOUNT_FALL for d in lowest.values())
                        and result["rss_growth_mb"] < _RSS_GROWTH_MB and not result["recordings_not_playing"])
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(text)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
