"""Time the control API in the real window: from a WebSocket command to the state pushed back, and to the first
picture that shows it at the outputs (what the virtual camera, a recording and NDI are given).

    python scripts/bench_control.py --camera CLIP --rounds 20 --json bench/results/control-latency.json

The window runs offscreen unless a display is given (QT_QPA_PLATFORM=xcb under xvfb-run), with a video file as
the camera and the API on a free port; a client sends, round after round: hide, show, next_avatar, calibrate.
A probe added to the pipeline's outputs stamps every picture. Hide's first picture is the first with the card
visibly blended in (5% of the way), its last the full card; show's the same the other way; an avatar's first
picture is the first nearer the new avatar at rest than the old one. Avatar switches are a second apart (the
API adds up asks that come faster) and the avatars are prepared before, as after their first use.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from app import settings as app_settings  # noqa: E402
from app.control import AVATAR_INTERVAL  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from core.compose.card import make_card  # noqa: E402
from core.live.builder import needs_avatar_face, prepare_avatar  # noqa: E402
from core.live.sinks import CallbackSink  # noqa: E402
from core.errors import run_command  # noqa: E402

_STEP = 8  # the probe keeps every 8th pixel each way: enough to tell pictures apart, cheap on the engine thread
_BEGUN, _DONE = 0.05, 0.98  # how far a fade has gone: visibly begun, complete


class Probe:
    """An output that stamps each picture as it arrives (the pipeline's engine thread) and keeps it, small."""

    def __init__(self):
        self.pictures: list[tuple[float, np.ndarray]] = []
        self._lock = threading.Lock()

    def write(self, frame) -> None:
        picture = frame.avatar if frame.picture is None else frame.picture
        with self._lock:
            self.pictures.append((time.perf_counter(), picture[::_STEP, ::_STEP].astype(np.int16)))

    def since(self, at: float) -> list[tuple[float, np.ndarray]]:
        with self._lock:
            return [(t, p) for t, p in self.pictures if t >= at]

    def last_before(self, at: float) -> np.ndarray:
        with self._lock:
            return [p for t, p in self.pictures if t < at][-1]


def _small(picture: np.ndarray) -> np.ndarray:
    return picture[::_STEP, ::_STEP].astype(np.int16)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


class Client:
    """Sends the commands over a real WebSocket and times each: to the state, and to the pictures."""

    def __init__(self, url: str, window: MainWindow, probe: Probe, rounds: int):
        self.url, self.window, self.probe, self.rounds = url, window, probe, rounds
        self.times: dict[str, dict[str, list[float]]] = {}
        self.error: str | None = None
        self.done = False

    def run(self) -> None:
        try:
            with connect(self.url) as ws:
                self._ws, self._state = ws, json.loads(ws.recv(timeout=10))["state"]
                for _ in range(self.rounds):
                    self._hide_and_show()
                    self._avatar()
                    self._calibrate()
        except Exception as exc:  # said in the JSON; the window is closed either way
            self.error = f"{type(exc).__name__}: {exc}"
        self.done = True

    def _send(self, command: str, value=None, until=lambda state: True) -> tuple[float, float]:
        """Send ``command``; (when it was sent, when the state said it was done)."""
        sent = time.perf_counter()
        self._ws.send(json.dumps({"command": command, "value": value}))
        answered = False
        while not (answered and until(self._state)):
            message = json.loads(self._ws.recv(timeout=15))
            if "error" in message:
                raise RuntimeError(f"{command}: {message['error']}")
            answered = answered or message.get("ok", False)
            self._state = message.get("state", self._state)
        return sent, time.perf_counter()

    def _record(self, command: str, **seconds: float) -> None:
        for name, value in seconds.items():
            self.times.setdefault(command, {}).setdefault(name, []).append(value * 1000)

    def _wait_for(self, after: float, check, timeout: float = 5.0) -> float:
        """When the first picture after ``after`` for which ``check`` holds reached the outputs."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for at, picture in self.probe.since(after):
                if check(picture):
                    return at
            time.sleep(0.01)
        raise RuntimeError("the picture did not change")

    def _hide_and_show(self) -> None:
        pipeline = self.window.session.pipeline
        card = _small(make_card(pipeline.rest_picture(), "Back soon"))
        time.sleep(0.5)
        # How much of the card a picture shows: 0 as live (its distance from the card), 1 the card itself.
        away = max(_distance(self.probe.last_before(time.perf_counter()), card), 1.0)
        weight = lambda picture: 1 - _distance(picture, card) / away  # noqa: E731
        for command, hidden in (("hide", True), ("show", False)):
            sent, state = self._send(command, "Back soon" if hidden else None, lambda s: s["hidden"] == hidden)
            begun, done = (_BEGUN, _DONE) if hidden else (1 - _BEGUN, 1 - _DONE)
            first = self._wait_for(sent, lambda p: (weight(p) >= begun) == hidden)
            full = self._wait_for(sent, lambda p: (weight(p) >= done) == hidden)
            self._record(command, state=state - sent, first_picture=first - sent, complete=full - sent)
            time.sleep(0.5)

    def _avatar(self) -> None:
        time.sleep(AVATAR_INTERVAL + 0.1)  # asks a second apart are switches of their own
        old = self._state["avatar"]
        sent, state = self._send("next_avatar", until=lambda s: s["avatar"] != old)
        rest = {name: _small(picture) for name, picture in self._rests.items()}
        new = self._state["avatar"]
        first = self._wait_for(sent, lambda p: _distance(p, rest[new]) < _distance(p, rest[old]))
        self._record("next_avatar", state=state - sent, first_picture=first - sent)

    def _calibrate(self) -> None:
        count = self._state["calibrations"]
        sent, state = self._send("calibrate", until=lambda s: s["calibrations"] > count)
        self._record("calibrate", state=state - sent)

    def prepare(self) -> None:
        """Every gallery avatar at rest in the call picture, as the pipeline would show it."""
        session, engine = self.window.session, self.window.session.pipeline.engine
        self._rests = {}
        for path in self.window.gallery.paths():
            avatar, compositor = prepare_avatar(path, engine.resolution, output=session.output,
                                                needs_face=needs_avatar_face(engine))
            self._rests[Path(path).stem] = compositor.compose(avatar, blend=not engine.pinned_border)


def _percentiles(values: list[float]) -> dict:
    return {"p50": round(float(np.percentile(values, 50)), 1), "p95": round(float(np.percentile(values, 95)), 1),
            "count": len(values)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camera", type=Path, required=True, help="a video file (looped) standing in for the camera")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    app = QApplication(sys.argv)
    home = Path(tempfile.mkdtemp(prefix="facade-control-bench-"))
    port = _free_port()
    store = app_settings.open_settings(home / "facade.ini")
    settings = app_settings.load(store)
    settings.api_enabled, settings.api_port = True, port
    app_settings.save(store, settings)
    window = MainWindow(store, camera=str(args.camera.resolve()), camera_probe=lambda: [], user_dir=home / "avatars")
    window.show()
    probe = Probe()
    client = Client(f"ws://127.0.0.1:{port}/", window, probe, args.rounds)

    def begin():
        pipeline = window.session.pipeline
        if pipeline is None or pipeline.stats.frames_out < 30:
            QTimer.singleShot(200, begin)
            return
        pipeline.add_sink(CallbackSink(probe.write, name="bench probe"))
        client.prepare()
        threading.Thread(target=client.run, daemon=True).start()

    ran = {}

    def end_when_done():
        if not client.done:
            QTimer.singleShot(100, end_when_done)
            return
        pipeline = window.session.pipeline  # read before quitting: the window stops its pipeline then
        ran.update(engine=pipeline.engine.name, fps_out=pipeline.summary().get("fps_out"),
                   output_size=list(pipeline.output_size))
        app.quit()

    QTimer.singleShot(0, begin)
    QTimer.singleShot(100, end_when_done)
    app.exec()
    window.close()

    result = {"platform": app.platformName(), "camera": args.camera.name, "rounds": args.rounds, **ran,
              "error": client.error,
              "ms": {command: {name: _percentiles(values) for name, values in timings.items()}
                     for command, timings in client.times.items()}}
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0 if client.error is None else 1


if __name__ == "__main__":
    sys.exit(run_command(main))
