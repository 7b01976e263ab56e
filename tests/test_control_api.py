"""The control API (WebSocket JSON and OSC on loopback) and Hide: the call gets a card, never the camera."""

import json
import socket
import threading
import time
from concurrent.futures import Future

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from pythonosc.osc_message import OscMessage
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import ThreadingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from app import settings as app_settings
from app.banner import Concern
from conftest import ASTRONAUT, MARKER, camera_clip, marker_pixels, open_window
from core.compose.card import FADE_SECONDS, HideCard, make_card
from core.compose.compositor import OutputSettings
from core.control.actions import Action, Command, ControlError, State
from core.control.server import BURST, MAX_MESSAGE, MAX_SUBSCRIBERS, RATE, ApiSettings, ControlServer
from core.engines import EngineChoice
from core.engines.strength import MotionStrength
from core.errors import UserError
from core.live.builder import LiveSetup, build_pipeline
from core.live.sinks import CallbackSink, RecorderSink, VirtualCameraSink
from core.media.video_io import Clip
from fakes import FakeCamera

# Every command once, as a client sends it, and the action the controller must get.
COMMANDS = [("calibrate", None, Action(Command.CALIBRATE)),
            ("avatar", "astronaut", Action(Command.AVATAR, "astronaut")),
            ("avatar", 2, Action(Command.AVATAR, 2)),
            ("next_avatar", None, Action(Command.NEXT_AVATAR)),
            ("previous_avatar", None, Action(Command.PREVIOUS_AVATAR)),
            ("hide", "Back in five", Action(Command.HIDE, "Back in five")),
            ("show", None, Action(Command.SHOW)),
            ("mirror", True, Action(Command.MIRROR, True)),
            ("mirror", None, Action(Command.MIRROR)),
            ("record_start", None, Action(Command.RECORD_START)),
            ("record_stop", None, Action(Command.RECORD_STOP)),
            ("virtual_camera_on", None, Action(Command.VIRTUAL_CAMERA_ON)),
            ("virtual_camera_off", None, Action(Command.VIRTUAL_CAMERA_OFF)),
            ("engine", "fomm", Action(Command.ENGINE, "fomm")),
            # An object over the WebSocket; OSC carries one value, so the same object as JSON text.
            ("motion_strength", '{"head": 80, "expressions": 120.5}',
             Action(Command.MOTION_STRENGTH, {"head": 80.0, "expressions": 120.5})),
            ("motion_strength", '{"expressions": 0}', Action(Command.MOTION_STRENGTH, {"expressions": 0.0}))]


class FakeController:
    """Records the actions; an avatar named "missing" is refused, as the window refuses one not in its gallery."""

    def __init__(self):
        self.actions: list[Action] = []

    def perform(self, action: Action) -> Future:
        future = Future()
        if action.value == "missing":
            future.set_exception(ControlError("no avatar named 'missing'"))
        else:
            self.actions.append(action)
            future.set_result(None)
        return future


@pytest.fixture
def fake():
    return FakeController()


@pytest.fixture
def server(fake):
    running = ControlServer(fake, ApiSettings(port=0)).start()
    yield running
    running.stop()


def _url(server, token=None):
    return f"ws://127.0.0.1:{server.port}/" + (f"?token={token}" if token else "")


def _ask(ws, message) -> dict:
    """Send ``message`` (a dict, or raw text) and return the answer, passing over state pushes."""
    ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))
    while True:
        reply = json.loads(ws.recv(timeout=5))
        if "state" not in reply:
            return reply


def _osc(port, address, *args, raw: bytes | None = None) -> OscMessage:
    """Send one OSC message (or ``raw`` bytes) to ``port`` and return the answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        if raw is None:
            builder = OscMessageBuilder(address)
            for arg in args:
                builder.add_arg(arg)
            raw = builder.build().dgram
        sock.sendto(raw, ("127.0.0.1", port))
        return OscMessage(sock.recv(65536))


def test_each_command_over_websocket(server, fake):
    with connect(_url(server)) as ws:
        assert json.loads(ws.recv(timeout=5)) == {"state": State().as_dict()}  # the state first, on connecting
        for i, (command, value, _) in enumerate(COMMANDS):
            assert _ask(ws, {"command": command, "value": value, "id": i}) == {"ok": True, "command": command,
                                                                              "id": i}
        assert _ask(ws, {"command": "avatar", "value": "missing"}) == {"error": "no avatar named 'missing'"}
    assert fake.actions == [action for _, _, action in COMMANDS]


def test_each_command_over_osc(server, fake):
    for command, value, _ in COMMANDS:
        reply = _osc(server.osc_port, f"/facade/{command}", *(() if value is None else (value,)))
        assert (reply.address, reply.params) == ("/facade/ok", [command])
    assert fake.actions == [action for _, _, action in COMMANDS]
    reply = _osc(server.osc_port, "/facade/avatar", "missing")
    assert (reply.address, reply.params) == ("/facade/error", ["no avatar named 'missing'"])


def test_state_is_pushed_on_every_change_and_only_then(server):
    with connect(_url(server)) as ws:
        ws.recv(timeout=5)
        server.publish(State(hidden=True, avatar="astronaut"))
        pushed = json.loads(ws.recv(timeout=5))["state"]
        assert pushed["hidden"] and pushed["avatar"] == "astronaut"
        server.publish(State(hidden=True, avatar="astronaut"))  # no change: nothing goes out
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)


class OscListener:
    """A show controller's end: python-osc's own UDP server, collecting every /facade/state/<field> it is sent."""

    def __init__(self):
        dispatcher = Dispatcher()
        self.received: list[tuple[str, object]] = []
        dispatcher.map("/facade/state/*", lambda address, value: self.received.append((address[14:], value)))
        self._server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def take(self, count: int, timeout: float = 5) -> dict:
        """The next ``count`` fields received (waiting for them), as a dict."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        taken, self.received = self.received[:count], self.received[count:]
        assert len(taken) == count, f"{len(taken)} of {count} fields came"
        return dict(taken)

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def test_osc_subscribers_are_told_the_state_and_each_change(server):
    listener, other = OscListener(), OscListener()
    try:
        server.publish(State(avatar="astronaut", engine="mesh"))
        client = SimpleUDPClient("127.0.0.1", server.osc_port)
        client.send_message("/facade/subscribe", [listener.port])  # the state goes to the listener's port
        assert listener.take(len(State().as_dict())) == {**State().as_dict(), "avatar": "astronaut",
                                                          "engine": "mesh", "calibrated": 0, "hidden": 0,
                                                          "recording": 0, "virtual_camera": 0, "mirror": 0,
                                                          "face": 0}
        # The reply goes to the sender; a subscriber sending from its own port needs no port argument.
        assert (_osc(server.osc_port, "/facade/subscribe", other.port).params) == ["subscribe"]
        other.take(len(State().as_dict()))
        server.publish(State(avatar="astronaut", engine="mesh", hidden=True, fps=29.5))
        assert listener.take(2) == other.take(2) == {"hidden": 1, "fps": 29.5}  # only what changed, as 0/1
        server.publish(State(avatar="astronaut", engine="mesh", hidden=True, fps=29.5))
        _osc(server.osc_port, "/facade/unsubscribe", other.port)
        server.publish(State(avatar="comic", engine="mesh", hidden=True, fps=29.5, calibrations=2))
        assert listener.take(2) == {"avatar": "comic", "calibrations": 2}
        time.sleep(0.3)
        assert not listener.received and not other.received  # no repeat, and the unsubscribed is told nothing
        for port in (0, 70000, "x"):
            assert "subscribe takes" in _osc(server.osc_port, "/facade/subscribe", port).params[0]
    finally:
        listener.close()
        other.close()


def test_osc_subscribers_are_capped_and_on_the_lan_need_the_token(fake):
    running = ControlServer(fake, ApiSettings(port=0, lan=True, token="s3cret-token")).start()
    listeners = [OscListener() for _ in range(MAX_SUBSCRIBERS + 1)]
    try:
        assert "token" in _osc(running.osc_port, "/facade/subscribe", listeners[0].port).params[0]
        for listener in listeners:
            assert _osc(running.osc_port, "/facade/subscribe", listener.port, "s3cret-token").params == \
                ["subscribe"]
            listener.take(len(State().as_dict()))
        running.publish(State(mirror=True))
        for listener in listeners[1:]:
            assert listener.take(1) == {"mirror": 1}
        time.sleep(0.3)
        assert not listeners[0].received  # the oldest made room for the newest
    finally:
        running.stop()
        for listener in listeners:
            listener.close()


@pytest.mark.parametrize("origin, allowed", [(None, True), ("http://localhost:8000", True),
                                             ("http://127.0.0.1:3000", True), ("http://[::1]", True),
                                             ("https://evil.example", False), ("null", False),
                                             ("http://127.0.0.1.evil.example", False),
                                             ("http://localhost.evil.example", False)])
def test_on_loopback_a_web_page_needs_the_token(fake, origin, allowed):
    """Browsers let any page open ws://127.0.0.1:PORT; the Origin header says whose page it is."""
    running = ControlServer(fake, ApiSettings(port=0, token="s3cret-token")).start()
    try:
        if allowed:
            with connect(_url(running), origin=origin) as ws:
                assert _ask(ws, {"command": "calibrate"})["ok"]
        else:
            with pytest.raises(InvalidStatus) as refused:
                connect(_url(running), origin=origin)
            assert refused.value.response.status_code == 403
            assert b"token" in refused.value.response.body
            for token in ("guess", ""):
                with pytest.raises(InvalidStatus):
                    connect(_url(running, token), origin=origin)
            with connect(_url(running, "s3cret-token"), origin=origin) as ws:  # the token lets it in
                assert _ask(ws, {"command": "calibrate"})["ok"]
    finally:
        running.stop()
    assert fake.actions == [Action(Command.CALIBRATE)]


def test_on_the_lan_a_wrong_or_missing_token_is_refused(fake):
    running = ControlServer(fake, ApiSettings(port=0, lan=True, token="s3cret-token")).start()
    try:
        for token in (None, "guess", "s3cret-tokeN"):
            with pytest.raises(InvalidStatus) as refused:
                connect(_url(running, token))
            assert refused.value.response.status_code == 401
        with connect(_url(running, "s3cret-token")) as ws:
            assert _ask(ws, {"command": "calibrate"})["ok"]
        reply = _osc(running.osc_port, "/facade/hide", "Brb", "guess")
        assert reply.address == "/facade/error" and "token" in reply.params[0]
        assert _osc(running.osc_port, "/facade/hide", "Brb", "s3cret-token").address == "/facade/ok"
    finally:
        running.stop()
    assert fake.actions == [Action(Command.CALIBRATE), Action(Command.HIDE, "Brb")]
    with pytest.raises(UserError, match="token"):
        ControlServer(fake, ApiSettings(lan=True, token=""))


def test_malformed_and_oversized_messages_are_answered_with_errors(server, fake):
    with connect(_url(server)) as ws:
        ws.recv(timeout=5)
        for message, error in [("not json", "not JSON"), ("[1, 2]", "JSON object"),
                               ({"command": "fly"}, "unknown command 'fly'"),
                               ({"command": "avatar"}, "avatar needs"), ({"command": "avatar", "value": 0}, "avatar"),
                               ({"command": "mirror", "value": "yes"}, "mirror takes"),
                               ({"command": "engine", "value": "gpu"}, "engine needs"),
                               ({"command": "calibrate", "value": 1}, "takes no value"),
                               ({"command": "hide", "value": "x" * 300}, "longer than"),
                               ({"command": "motion_strength", "value": {"head": 250}}, "head 250 is not a percentage"),
                               ({"command": "motion_strength", "value": {"head": True}}, "head True is not"),
                               ({"command": "motion_strength", "value": {"speed": 50}}, 'takes {"head": PCT'),
                               ({"command": "motion_strength", "value": {}}, 'takes {"head": PCT'),
                               ({"command": "motion_strength", "value": "loud"}, 'takes {"head": PCT'),
                               ({"command": "motion_strength"}, 'takes {"head": PCT'),
                               ("x" * (MAX_MESSAGE + 1), "too long"), (b"\xff\xfe", "not JSON")]:
            assert error in _ask(ws, message)["error"]
        assert _ask(ws, {"command": "calibrate"})["ok"]  # the connection still serves
    for raw, error in [(b"garbage!", "not an OSC message")]:
        assert error in _osc(server.osc_port, "", raw=raw).params[0]
    assert "unknown command" in _osc(server.osc_port, "/facade/fly").params[0]
    assert "/facade/<command>" in _osc(server.osc_port, "/other/calibrate").params[0]
    assert fake.actions == [Action(Command.CALIBRATE)]


def test_a_flood_is_rate_limited_and_blocks_no_one(server, fake):
    count = 300
    with connect(_url(server)) as flood, connect(_url(server)) as other:
        flood.recv(timeout=5)
        other.recv(timeout=5)
        start = time.monotonic()
        for _ in range(count):
            flood.send(json.dumps({"command": "calibrate"}))
        asked = time.monotonic()
        assert _ask(other, {"command": "show"})["ok"]  # another client is served in the middle of the flood
        other_waited = time.monotonic() - asked
        replies = [json.loads(flood.recv(timeout=5)) for _ in range(count)]
        elapsed = time.monotonic() - start
    accepted = sum(1 for r in replies if r.get("ok"))
    refused = [r["error"] for r in replies if "error" in r]
    assert accepted + len(refused) == count and refused and all("too many" in e for e in refused)
    assert BURST <= accepted <= BURST + RATE * elapsed + 1
    assert other_waited < 1.0 and elapsed < 5.0
    assert fake.actions.count(Action(Command.SHOW)) == 1


def test_a_taken_port_is_said_and_stopping_is_clean(fake, server):
    with pytest.raises(UserError, match=f"port {server.port}"):
        ControlServer(fake, ApiSettings(port=server.port)).start()
    with connect(_url(server)) as ws:
        ws.recv(timeout=5)
        server.stop()
        assert not any(t.name == "control-api" and t.is_alive() for t in threading.enumerate())
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)  # the server closed the connection on its way out
    with pytest.raises(OSError):
        connect(_url(server), open_timeout=2)


# Hide.

def test_the_card_fades_in_and_out_and_turns_back_midway():
    now = [100.0]
    card = HideCard(clock=lambda: now[0])
    live = np.full((90, 160, 3), 200, np.uint8)
    rest = lambda: np.full((90, 160, 3), 50, np.uint8)
    assert card.cover(live, rest, ("a",)) is live
    card.set(True, "Be right back")
    still = make_card(rest(), "Be right back")
    now[0] += FADE_SECONDS / 2
    halfway = card.cover(live, rest, ("a",))
    assert abs(halfway.astype(int).mean() - (live.mean() + still.mean()) / 2) < 2
    card.set(False)  # turned back midway: the fade starts from the picture shown, with no jump
    assert np.abs(card.cover(live, rest, ("a",)).astype(int) - halfway).max() <= 1
    now[0] += FADE_SECONDS
    assert card.cover(live, rest, ("a",)) is live
    card.set(True, fade=False)
    assert np.array_equal(card.cover(live, rest, ("a",)), still)


def test_the_card_is_made_when_asked_for_not_on_the_first_covered_picture():
    made = []
    rest = lambda: made.append(1) or np.full((90, 160, 3), 50, np.uint8)  # noqa: E731
    card = HideCard()
    card.prepare(rest, ("a",), (90, 160, 3), "Lunch")  # as LivePipeline.set_hidden does, on the caller's thread
    card.set(True, "Lunch", fade=False)
    assert np.array_equal(card.cover(np.zeros((90, 160, 3), np.uint8), rest, ("a",)), make_card(rest(), "Lunch"))
    assert len(made) == 2  # once to prepare, once above for the comparison: covering made nothing


def test_hidden_the_sinks_get_the_card_never_the_camera_nor_the_animated_face(tmp_path, astronaut):
    clip = camera_clip(tmp_path / "marked.mp4", astronaut, 120, background=MARKER,
                       motion=lambda i: {"dx": 6 * np.sin(i / 5), "angle": 5 * np.sin(i / 7)})
    written = []  # (when, hidden, picture)
    pipeline = build_pipeline(LiveSetup(camera=clip, avatar=ASTRONAUT, choice=EngineChoice(engine="mesh"),
                                        output=OutputSettings(size=(640, 360), background="blur")),
                              [CallbackSink(lambda f: written.append((time.monotonic(), pipeline.hidden,
                                                                      f.picture)))])
    camera = VirtualCameraSink(size=pipeline.output_size, camera_factory=FakeCamera)
    recorder = RecorderSink(tmp_path / "rec.mp4", 30, pipeline.output_size)
    pipeline.add_sink(camera)
    pipeline.add_sink(recorder)
    pipeline.start()
    try:
        assert pipeline.wait(max_frames=20, timeout=30)
        pipeline.set_hidden(True, "Be right back")
        hidden_at = time.monotonic()
        assert pipeline.wait(max_frames=50, timeout=30)
        pipeline.set_hidden(False)
        shown_at = time.monotonic()
        pipeline.wait(timeout=30)
    finally:
        pipeline.stop()
    expected = make_card(pipeline.rest_picture(), "Be right back")
    covered = [p for at, _, p in written if hidden_at + FADE_SECONDS + 0.05 < at < shown_at]
    live = [p for at, _, p in written if at < hidden_at or at > shown_at + FADE_SECONDS + 0.05]
    assert len(covered) > 5 and len(live) > 5
    assert all(np.array_equal(p, expected) for p in covered)  # the still card, nothing animated in it
    assert not any(np.array_equal(p, expected) for p in live)  # and the live picture back after it
    top = (slice(0, 180), slice(None))  # above the line of text: the portrait, softly blurred
    sharpness = [cv2.Laplacian(p[top], cv2.CV_64F).var() for p in (expected, pipeline.rest_picture())]
    assert sharpness[0] < 0.2 * sharpness[1]
    recorded = list(Clip(recorder.path, 30, 0).frames())
    assert any(np.abs(r.astype(int) - expected).mean() < 4 for r in recorded)  # the card reached the recording
    cards = sum(np.array_equal(p, expected) for _, _, p in written)
    assert sum(np.array_equal(f, expected) for f in camera._camera.frames) == cards >= len(covered)
    for picture in [p for _, _, p in written] + camera._camera.frames + recorded:
        assert marker_pixels(picture) == 0


# Against the real window.

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(url, rounds, results):
    """Calibrate once, then hide and show ``rounds`` times, timing each command to its state change."""
    with connect(url) as ws:
        state = json.loads(ws.recv(timeout=10))["state"]

        def until(check):
            nonlocal state
            while not check(state):
                message = json.loads(ws.recv(timeout=10))
                if "error" in message:
                    raise AssertionError(message["error"])
                state = message.get("state", state)

        calibrations = state["calibrations"]
        ws.send(json.dumps({"command": "calibrate"}))
        until(lambda s: s["calibrations"] > calibrations)
        results["calibrated"] = True
        ws.send(json.dumps({"command": "motion_strength", "value": {"head": 70, "expressions": 130}}))
        until(lambda s: (s["head_motion"], s["expressions"]) == (70, 130))
        ws.send(json.dumps({"command": "motion_strength", "value": {"expressions": 90}}))
        until(lambda s: (s["head_motion"], s["expressions"]) == (70, 90))
        for i in range(rounds):
            hide = i % 2 == 0
            sent = time.perf_counter()
            ws.send(json.dumps({"command": "hide" if hide else "show", "value": "Back soon" if hide else None}))
            until(lambda s: s["hidden"] == hide)
            results["latency"].append(time.perf_counter() - sent)
            time.sleep(1.5 / RATE)  # a Stream Deck's pace, under the rate limit
        ws.send(json.dumps({"command": "hide"}))
        until(lambda s: s["hidden"])


def test_the_window_obeys_the_websocket(qtbot, tmp_path, camera_video):
    window = open_window(qtbot, tmp_path, str(camera_video))
    try:
        qtbot.waitUntil(lambda: window.session.pipeline is not None and window.session.pipeline.calibrated,
                        timeout=20000)
        window.settings.api_enabled, window.settings.api_port = True, _free_port()
        window._apply_control()
        assert window.control.server is not None and Concern.API not in window.warnings
        results = {"latency": []}
        client = threading.Thread(target=_client, args=(f"ws://127.0.0.1:{window.settings.api_port}/", 40,
                                                        results), daemon=True)
        calibrations = window.session.pipeline.calibrations
        client.start()
        qtbot.waitUntil(lambda: not client.is_alive(), timeout=60000)
        assert results.get("calibrated") and len(results["latency"]) == 40
        assert window.session.pipeline.calibrations > calibrations
        assert window.session.hidden and window.session.pipeline.hidden and window.hide_button.isChecked()
        assert window.hide_text.text() == "Back soon" and window.settings.hide_text == "Back soon"
        assert window.session.pipeline.motion == MotionStrength(0.7, 0.9)
        assert (window.controls.head_motion.value(), window.controls.expressions.value()) == (70, 90)
        qtbot.keyClick(window, Qt.Key.Key_H)  # the window's own key shows the call again
        assert not window.session.hidden and not window.session.pipeline.hidden
        assert not window.control.state().hidden
        ms = np.array(results["latency"]) * 1000
        print(f"\nWebSocket command to state change: p50 {np.percentile(ms, 50):.1f} ms, "
              f"p95 {np.percentile(ms, 95):.1f} ms over {len(ms)} hide/show commands")
    finally:
        window.close()
    assert window.control.server is None


def _serve_window(qtbot, window) -> int:
    """Turn the window's API on (once its pipeline runs); the port."""
    qtbot.waitUntil(lambda: window.session.pipeline is not None and window.session.pipeline.stats.frames_out > 5,
                    timeout=20000)
    window.settings.api_enabled, window.settings.api_port = True, _free_port()
    window._apply_control()
    assert window.control.server is not None
    return window.settings.api_port


def test_avatar_asks_faster_than_a_switch_a_second_are_added_up(qtbot, tmp_path, camera_video):
    window = open_window(qtbot, tmp_path, str(camera_video))
    try:
        port = _serve_window(qtbot, window)
        paths = window.gallery.paths()
        switches = []
        choose = window.choose_avatar
        window.choose_avatar = lambda path: (switches.append(path), choose(path))
        start = paths.index(window.settings.avatar)
        replies = []

        def ask(address, *args):
            replies.append(_osc(port, address, *args))  # OSC asks are carried out side by side

        asks = [threading.Thread(target=ask, args=("/facade/next_avatar",)) for _ in range(3)]
        asks.append(threading.Thread(target=ask, args=("/facade/avatar", "nobody")))
        for thread in asks:
            thread.start()
            qtbot.wait(20)
        qtbot.waitUntil(lambda: len(replies) == 4, timeout=5000)
        assert [r.params for r in replies if r.address == "/facade/ok"] == [["next_avatar"]] * 3
        assert [r.params[0][:24] for r in replies if r.address == "/facade/error"] == ["no avatar named 'nobody'"]
        expected = paths[(start + 3) % len(paths)]
        assert window.settings.avatar == expected and switches[-1] == expected
        assert len(switches) <= 2  # the first at once, the others added up into one a second later
    finally:
        window.close()


# Commands a Stream Deck or a script may send again and again; not the engine (a restart stops the picture by
# design) nor recording (each start opens an encoder; measured apart: no frames lost at 30 a second).
# Every other one switches avatars: the dearest command.
_FLOOD = ["next_avatar", "hide", "previous_avatar", "show", "next_avatar", "calibrate", "previous_avatar", "mirror"]


def test_a_flood_at_the_rate_limit_keeps_the_frame_rate(qtbot, tmp_path, astronaut):
    """Frames out in 4 s from a steady 10 fps camera, then in 4 s of a WebSocket client sending every command
    it may at the API's rate: at most 10% fewer (measured on 2 busy cores: 10.0 steady, 10.0 to 10.2 flooded;
    4.0 before avatar asks were added up into a switch a second and prepared avatars kept)."""
    clip = camera_clip(tmp_path / "steady.mp4", astronaut, 60, fps=10,
                       motion=lambda i: {"dx": 10 * np.sin(i / 6), "angle": 5 * np.sin(i / 9)})
    window = open_window(qtbot, tmp_path, str(clip))
    try:
        port = _serve_window(qtbot, window)
        stats = window.session.pipeline.stats

        def frames_per_second(seconds: float) -> float:
            before = stats.frames_out
            qtbot.wait(round(seconds * 1000))
            return (stats.frames_out - before) / seconds

        steady = frames_per_second(4)
        stop, answers = threading.Event(), []

        def flood():
            with connect(f"ws://127.0.0.1:{port}/") as ws:
                sent = 0
                start = time.monotonic()
                while not stop.is_set():
                    ws.send(json.dumps({"command": _FLOOD[sent % len(_FLOOD)]}))
                    sent += 1
                    while True:  # take what has come back, without waiting for it
                        try:
                            answers.append(json.loads(ws.recv(timeout=max(0.0, start + sent / RATE - time.monotonic()))))
                        except TimeoutError:
                            break

        client = threading.Thread(target=flood, daemon=True)
        client.start()
        qtbot.wait(500)  # the burst first
        flooded = frames_per_second(4)
        stop.set()
        client.join(5)
        assert sum("ok" in a for a in answers) >= 5 and not any("error" in a for a in answers if "state" not in a)
        print(f"\nframes out: {steady:.1f} fps steady, {flooded:.1f} fps under a flood at {RATE:.0f} commands/s")
        assert steady >= 8 and flooded >= 0.9 * steady
    finally:
        window.close()


def test_the_api_and_hide_settings_are_kept(tmp_path):
    store = app_settings.open_settings(tmp_path / "facade.ini")
    first = app_settings.load(store)
    assert not first.api_enabled and not first.api_lan and len(first.api_token) >= 20  # off; a token made
    first.api_enabled, first.api_port, first.api_lan, first.hide_text = True, 9999, True, "Lunch"
    app_settings.save(store, first)
    again = app_settings.load(app_settings.open_settings(tmp_path / "facade.ini"))
    assert (again.api_enabled, again.api_port, again.api_lan, again.api_token, again.hide_text) == \
        (True, 9999, True, first.api_token, "Lunch")
    store.setValue("api_port", 80)  # a port that needs root is not one to listen on
    assert app_settings.load(store).api_port == app_settings.AppSettings.api_port
