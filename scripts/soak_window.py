"""Soak the real window: a video file as the camera, every control used over and over, for as long as a call.

    xvfb-run -s "-screen 0 1600x1000x24" python scripts/soak_window.py --camera CLIP --minutes 30 \
        --json bench/results/soak-window.json --shots shots/

Headless soaks miss what only a painted window does (Qt leaking references in paint events killed the window
after 6 to 11 minutes). This drives the window as its users do, each step in turn (``_Soak._plan``): its own
keys (record, avatar by number, calibrate, mirror, overlay, hide and show, the virtual camera, which takes the
frames as pyvirtualcam's would), its widgets (output size, fit and background, transparent included, picked
with the keyboard; the smoothing, head motion and expression sliders; Send NDI; the full-screen view; the
settings and help dialogs), the control API that Settings turns on (commands over a WebSocket and OSC from a
client thread, each answer checked) and the global keys, pressed with xdotool while another window (xmessage)
has the focus. It checks that each avatar comes back with the sliders it was left with (its profile), that a
global key is heard, and that an NDI receiver on this machine gets pictures, with alpha while the background
is transparent. Every 10 s it samples the references to None, True and False, resident memory, threads and the
frames painted; it exits 1 if the window stops painting for a sample, references or memory grow, a check
fails, or a recording does not play.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pyvirtualcam
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QComboBox, QDialog, QSlider  # noqa: E402

from app import settings as app_settings  # noqa: E402
from app.banner import Concern  # noqa: E402
from app.hotkeys import split_key  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from core.control.server import OSC_PREFIX  # noqa: E402
from core.live.ndi import ndi_library  # noqa: E402
from core.errors import run_command  # noqa: E402
from soak import heap_mb, resident_mb  # noqa: E402  (beside this script: the headless soak's readings)

_SAMPLE_S = 10
_STEP_MS = 3000
_LOOK_MS = 1500  # how long after a global key or Send NDI the soak looks at what it did
_ANSWER_S = 15  # an API command unanswered this long is a failure (the server itself gives up after 10)
# What kills the window is a count that falls (6.12 took None down by about 170 a second, 300 000 in half an
# hour, and Python aborts when it reaches zero). PySide6 also keeps a few extra references to None for each
# widget it makes and deletes (about 2; 11 for a full-screen view): a count that rises is reported, not fatal.
_REFCOUNT_FALL = 2000
_RSS_GROWTH_MB = 100
_FOCUS_TITLE = "soak-other-program"  # the xmessage window that holds the focus while a global key is pressed
_NDI_SENDING = "NDI: sending as "  # the window's line under Send NDI, then the source's name
_XDOTOOL_NAMES = {"Ctrl": "ctrl", "Alt": "alt", "Shift": "shift", "Meta": "super", "PgDown": "Next", "PgUp": "Prior"}


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _xdotool(*args: str) -> str:
    return subprocess.run(["xdotool", *args], check=True, timeout=20, capture_output=True, text=True).stdout.strip()


def _xdotool_key(key: str) -> str:
    """A key as Qt writes it ("Ctrl+Alt+Shift+PgDown") as xdotool names it ("alt+ctrl+shift+Next")."""
    mods, bare = split_key(key)
    return "+".join([_XDOTOOL_NAMES[m] for m in sorted(mods)]
                    + [_XDOTOOL_NAMES.get(bare, bare.lower() if len(bare) == 1 else bare)])


class _ApiClient(threading.Thread):
    """A Stream Deck's worth of control: one WebSocket connection kept open and an OSC socket, sending what
    ``send`` is given and checking each answer. Failures go to ``errors``; answers are counted by command."""

    def __init__(self, port: int, errors: list[str]):
        super().__init__(name="soak-api-client", daemon=True)
        self.port, self.errors = port, errors
        self.answers: Counter[str] = Counter()
        self.states = 0  # state messages pushed to the WebSocket
        self._asks: queue.Queue = queue.Queue()
        self._pending: dict[int, tuple[str, float]] = {}  # id -> (command, when sent)
        self._ids = itertools.count(1)
        self._quit = threading.Event()
        self._osc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._osc.bind(("127.0.0.1", 0))
        self._osc.settimeout(_ANSWER_S)

    def send(self, channel: str, command: str, value=None) -> None:
        """Ask for ``command`` over ``channel`` ("ws" or "osc") from the client's thread."""
        self._asks.put((channel, command, value))

    def stop(self) -> None:
        self._quit.set()
        self.join(10)
        self._osc.close()

    def run(self) -> None:
        try:
            with connect(f"ws://127.0.0.1:{self.port}/", open_timeout=10) as ws:
                while not self._quit.is_set():
                    self._ask(ws)
                    self._read(ws)
        except Exception as exc:  # noqa: BLE001 (the connection is the soak's to report, not to die of)
            if not self._quit.is_set():
                self.errors.append(f"api client: {type(exc).__name__}: {exc}")

    def _ask(self, ws) -> None:
        try:
            channel, command, value = self._asks.get_nowait()
        except queue.Empty:
            return
        if channel == "osc":
            self._ask_osc(command, value)
            return
        ident = next(self._ids)
        self._pending[ident] = (command, time.monotonic())
        ws.send(json.dumps({"command": command, "value": value, "id": ident}))

    def _read(self, ws) -> None:
        try:
            message = json.loads(ws.recv(timeout=0.2))
        except TimeoutError:
            message = None
        if message is not None and "state" in message:
            self.states += 1
        elif message is not None:
            command, _ = self._pending.pop(message.get("id"), ("?", 0))
            if message.get("ok"):
                self.answers[f"ws {command}"] += 1
            else:
                self.errors.append(f"api {command}: {message}")
        late = [i for i, (_, sent) in self._pending.items() if time.monotonic() - sent > _ANSWER_S]
        for ident in late:
            self.errors.append(f"api {self._pending.pop(ident)[0]}: no answer within {_ANSWER_S} s")

    def _ask_osc(self, command: str, value) -> None:
        builder = OscMessageBuilder(OSC_PREFIX + command)
        if value is not None:
            builder.add_arg(value)
        self._osc.sendto(builder.build().dgram, ("127.0.0.1", self.port))
        try:
            answer = OscMessage(self._osc.recv(65536))
        except TimeoutError:
            self.errors.append(f"osc {command}: no answer within {_ANSWER_S} s")
            return
        if answer.address == OSC_PREFIX + "ok" and list(answer.params) == [command]:
            self.answers[f"osc {command}"] += 1
        else:
            self.errors.append(f"osc {command}: {answer.address} {list(answer.params)}")


class _NdiReceiver(threading.Thread):
    """What a receiver on this machine gets of the window's NDI source while ``sending`` is set: the pictures of
    each sending period (``periods``), and how many of them carried alpha (a transparent background)."""

    def __init__(self):
        super().__init__(name="soak-ndi-receiver", daemon=True)
        self.source = ""  # the name as receivers list it, "HOST (name)": set before ``sending``
        self.sending, self._quit = threading.Event(), threading.Event()
        self.periods: list[int] = []
        self.with_alpha = 0
        self._ndi = ndi_library()

    def stop(self) -> None:
        self._quit.set()
        self.sending.set()
        self.join(10)

    def run(self) -> None:
        while not self._quit.is_set():
            self.sending.wait()
            if self._quit.is_set():
                return
            self.periods.append(0)
            receiver = self._connect()
            try:
                while receiver is not None and self.sending.is_set() and not self._quit.is_set():
                    self._take(receiver)
            finally:
                if receiver is not None:
                    self._ndi.recv_destroy(receiver)

    def _connect(self):
        """A receiver of the source, found while it sends (None if it never was): a busy machine may take
        longer than any fixed wait to list it."""
        ndi = self._ndi
        find = ndi.FindCreate()
        find.extra_ips, find.show_local_sources = "127.0.0.1", True  # no mDNS needed on this machine
        finder = ndi.find_create_v2(find)
        try:
            while self.sending.is_set() and not self._quit.is_set():
                found = [s for s in ndi.find_get_current_sources(finder) if s.ndi_name == self.source]
                if found:
                    create = ndi.RecvCreateV3()
                    create.color_format = ndi.RECV_COLOR_FORMAT_RGBX_RGBA
                    receiver = ndi.recv_create_v3(create)
                    ndi.recv_connect(receiver, found[0])
                    return receiver
                ndi.find_wait_for_sources(finder, 200)
            return None
        finally:
            ndi.find_destroy(finder)

    def _take(self, receiver) -> None:
        kind, video, _, _ = self._ndi.recv_capture_v2(receiver, 200)
        if kind != self._ndi.FRAME_TYPE_VIDEO:
            return
        if self.periods[-1] % 10 == 0:  # the alpha of every tenth picture: a 1280x720 scan costs a few ms
            self.with_alpha += int(np.asarray(video.data)[::8, ::8, 3].min() < 255)
        self._ndi.recv_free_video_v2(receiver, video)
        self.periods[-1] += 1


class _Soak:
    def __init__(self, window: MainWindow, minutes: float, shots: Path | None, api: _ApiClient,
                 ndi: _NdiReceiver):
        self.window, self.shots, self.api, self.ndi = window, shots, api, ndi
        self.end = time.monotonic() + minutes * 60
        self.step_count, self.errors, self.samples = 0, api.errors, []
        self.actions_done: Counter[str] = Counter()
        self.recordings: list[Path] = []
        self._last_painted = 0
        self.heard: Counter[str] = Counter()  # global keys the window heard
        window.global_keys.pressed.connect(lambda name: self.heard.update([name]))
        self.profiles_restored = 0
        self._profiles: dict[str, tuple[int, int, int]] = {}  # avatar -> its sliders when last seen on the call
        self._on_call = window.settings.avatar
        self._steps = self._plan()

    def _plan(self) -> list[tuple[str, Callable[[], None]]]:
        """The steps, one every _STEP_MS, in turn: (name as counted in the report, what it does). Each on/off
        control comes twice or an even number of times a round, so each round starts as the one before."""
        c, key, api, press = self.window.controls, self._key, self._api, self._global_key
        return [
            ("record", partial(key, "record")),
            ("avatar", self._avatar),
            ("head_motion", partial(self._slide, c.head_motion, 53)),
            ("calibrate", partial(key, "calibrate")),
            ("output_size", partial(self._pick, c.size_box)),
            ("api_motion_strength", partial(api, "ws", "motion_strength",
                                            lambda n: {"head": 40 + 37 * n % 161, "expressions": 200 - 29 * n % 150})),
            ("mirror", partial(key, "mirror")),
            ("global_next_avatar", partial(press, "next_avatar")),
            ("fit", partial(self._pick, c.fit_box)),
            ("expressions", partial(self._slide, c.expressions, 71)),
            ("overlay", partial(key, "overlay")),
            ("api_calibrate", partial(api, "ws", "calibrate")),
            ("record", partial(key, "record")),
            ("background", partial(self._pick, c.background_box)),
            ("ndi", self._ndi),
            ("global_hide", partial(press, "hide")),
            ("screenshot", self._screenshot),  # the card on the call, NDI on
            ("fullscreen", self._fullscreen),
            ("api_next_avatar", partial(api, "ws", "next_avatar")),
            ("global_hide", partial(press, "hide")),  # shows it again
            ("smoothing", partial(self._slide, c.smoothing, 37)),
            ("virtual_camera", partial(key, "virtual_camera")),
            ("api_hide", partial(api, "ws", "hide", lambda n: f"Back in {n % 9 + 1}")),
            ("osc_mirror", partial(api, "osc", "mirror")),
            ("api_show", partial(api, "ws", "show")),
            ("global_mirror", partial(press, "mirror")),
            ("hide", partial(key, "hide")),
            ("dialogs", self._dialogs),
            ("hide", partial(key, "hide")),
            ("api_mirror", partial(api, "ws", "mirror")),
            ("global_avatar_2", partial(press, "avatar_2")),
            ("ndi", self._ndi),
            ("global_calibrate", partial(press, "calibrate")),
            ("api_avatar", partial(api, "ws", "avatar", lambda n: 1 + n % self.window.gallery.count())),
            ("screenshot", self._screenshot),
        ]

    # The controls, each through what a user would press or pick.

    def _key(self, name: str) -> None:
        QTest.keyClick(self.window, self.window.settings.hotkeys[name])
        if name == "record" and self.window.session.recording is not None:
            self.recordings.append(Path(self.window.session.recording))

    def _avatar(self):
        count = min(self.window.gallery.count(), 9)
        QTest.keyClick(self.window, str(1 + self.step_count // len(self._steps) % count))

    def _pick(self, box: QComboBox):
        """The next entry (the first after the last), with the keyboard, as ``activated`` comes only from a user."""
        QTest.keyClick(box, Qt.Key.Key_Down if box.currentIndex() < box.count() - 1 else Qt.Key.Key_Home)

    def _slide(self, slider: QSlider, stride: int):
        slider.setValue((slider.value() + stride) % (slider.maximum() + 1))

    def _fullscreen(self):
        self.window.toggle_fullscreen()
        QTimer.singleShot(1500, self.window.toggle_fullscreen)

    def _ndi(self):
        c = self.window.controls
        sending = not c.ndi_button.isChecked()
        QTest.mouseClick(c.ndi_button, Qt.MouseButton.LeftButton)
        state = c.ndi_state.text()
        if c.ndi_button.isChecked() != sending or sending != state.startswith(_NDI_SENDING):
            self.errors.append(f"ndi: {state!r}; banner: {list(map(str, self.window.warnings.values()))}")
        if sending:
            self.ndi.source = state.removeprefix(_NDI_SENDING)
            self.ndi.sending.set()
            return
        self.ndi.sending.clear()
        if self.ndi.periods and self.ndi.periods[-1] == 0:
            self.errors.append(f"ndi: the receiver got no picture in sending period {len(self.ndi.periods)}")

    def _api(self, channel: str, command: str, value=None):
        """Send ``command`` from the client's thread; a callable ``value`` is given the round's number."""
        self.api.send(channel, command, value(self.step_count // len(self._steps)) if callable(value) else value)

    def _global_key(self, name: str):
        """Press the global key of ``name`` while another program has the focus, as in a call; then look whether
        the window heard it, and give the focus back to the window (its own keys need it)."""
        _xdotool("search", "--sync", "--name", _FOCUS_TITLE, "windowactivate", "--sync")
        focused = _xdotool("getactivewindow", "getwindowname")
        if focused != _FOCUS_TITLE:
            self.errors.append(f"global {name}: {focused!r} has the focus, not the other program")
        heard = self.heard[name]
        _xdotool("key", _xdotool_key(self.window.settings.global_hotkeys[name]))

        def look():
            if self.heard[name] != heard + 1:
                self.errors.append(f"global {name}: heard {self.heard[name] - heard} times, not once")
            _xdotool("windowactivate", "--sync", str(int(self.window.winId())))
        QTimer.singleShot(_LOOK_MS, look)

    def _dialogs(self):
        for opener in (self.window._settings_dialog, self.window.show_help):
            QTimer.singleShot(700, self._close_dialog)
            opener()

    def _close_dialog(self):
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QDialog):
            QTest.keyClick(dialog, Qt.Key.Key_Escape)

    def turn_on(self, port: int) -> None:
        """Settings…: the control API on ``port`` and the global keys on, as a user turns them on."""
        def fill():
            dialog = QApplication.activeModalWidget()
            dialog.api_enabled.setChecked(True)
            dialog.api_port.setValue(port)
            dialog.global_keys.setChecked(True)
            dialog.accept()
        QTimer.singleShot(700, fill)
        self.window._settings_dialog()

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

    def _look_at_profile(self) -> None:
        """An avatar put on the call since the last step (by a key, the API or a global key) shows the sliders
        it was left with; the sliders of the one on the call now are what it will be left with."""
        w, c = self.window, self.window.controls
        shown = (c.smoothing.value(), c.head_motion.value(), c.expressions.value())
        avatar = w.settings.avatar
        if avatar != self._on_call and avatar in self._profiles:
            self.profiles_restored += 1
            if self._profiles[avatar] != shown:
                self.errors.append(f"profile of {Path(avatar).stem}: left with {self._profiles[avatar]} "
                                   f"(smoothing, head, expressions), came back with {shown}")
        self._profiles[avatar], self._on_call = shown, avatar

    def step(self):
        if time.monotonic() > self.end:
            # The clients first: quitting closes the window, and with it the API they would see go away.
            self.api.stop()
            self.ndi.stop()
            QApplication.instance().quit()
            return
        self._look_at_profile()
        name, action = self._steps[self.step_count % len(self._steps)]
        try:
            action()
            self.actions_done[name] += 1
        except Exception as exc:  # noqa: BLE001 (a soak reports every failure and carries on)
            self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        self.step_count += 1

    def sample(self):
        painted = self.window.avatar_view.frames_shown
        self.samples.append({
            "minute": round((time.monotonic() - self.start) / 60, 2),
            "none": sys.getrefcount(None), "true": sys.getrefcount(True), "false": sys.getrefcount(False),
            "rss_mb": round(resident_mb(), 1), **{f"heap_{k}_mb": v for k, v in heap_mb().items()},
            "threads": threading.active_count(),
            "avatar_frames": painted, "painted_since_last": painted - self._last_painted,
            "ndi_received": sum(self.ndi.periods), "api_answers": sum(self.api.answers.values()),
            "errors": len(self.errors),
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
        sys.excepthook = sys.__excepthook__


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
    if app.platformName() != "xcb":
        print("error: the soak needs an X display (global keys, xdotool): run it under xvfb-run", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="facade-soak-"))
    store = app_settings.open_settings(home / "facade.ini")
    store.setValue("recordings", str(home / "recordings"))
    window = MainWindow(store, camera=str(args.camera.resolve()), camera_probe=lambda: [],
                        user_dir=home / "avatars")
    window.show()
    window.controls.ndi_name.setText(f"facade-soak-{os.getpid()}")  # unique: others may send NDI here too
    other = subprocess.Popen(["xmessage", "-title", _FOCUS_TITLE, "-geometry", "+1250+900",
                              "Another program (Zoom, say) has the focus while the global keys are pressed"])
    errors: list[str] = []
    port = _free_port()
    ndi = _NdiReceiver()
    api = _ApiClient(port, errors)
    soak = _Soak(window, args.minutes, args.shots, api, ndi)
    soak.turn_on(port)
    _xdotool("windowactivate", "--sync", str(int(window.winId())))  # the window's keys need the focus from the start
    if window.control.server is None or {Concern.API, Concern.KEYS} & set(window.warnings):
        print(f"error: the control API or the global keys did not start: {window.warnings}", file=sys.stderr)
        return 1
    api.start()
    ndi.start()
    try:
        soak.run()
    finally:
        other.terminate()
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
        "steps": soak.step_count, "actions": dict(soak.actions_done), "errors": soak.errors,
        "api_answers": dict(api.answers), "api_states_pushed": api.states,
        "global_keys_heard": dict(soak.heard), "profiles_restored": soak.profiles_restored,
        "ndi_sending_periods": len(ndi.periods), "ndi_pictures_received": sum(ndi.periods),
        "ndi_sampled_pictures_with_alpha": ndi.with_alpha,
        "avatar_frames_painted": last["avatar_frames"], "minutes_without_painting": stalls,
        "refcount_drift_after_warmup": drift, "refcount_lowest_after_warmup": lowest,
        "rss_mb_after_warmup": baseline["rss_mb"], "rss_mb_end": last["rss_mb"],
        "rss_growth_mb": round(last["rss_mb"] - baseline["rss_mb"], 1),
        "heap_growth_mb": {k: round(last[f"heap_{k}_mb"] - baseline[f"heap_{k}_mb"], 1)
                           for k in ("in_use", "free") if f"heap_{k}_mb" in last},
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
    sys.exit(run_command(main))
