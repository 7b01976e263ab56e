"""The window as the control API's ``Controller``: actions arrive on the API's thread and are carried out on
the window's, through a queued signal; the state goes back to the API's subscribers."""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from core.control.actions import Action, Command, ControlError, State
from core.control.server import ApiSettings, ControlServer
from core.errors import UserError
from core.live.events import Event, EventKind

from .banner import Concern
from .settings import AppSettings

_AVATAR_COMMANDS = (Command.AVATAR, Command.NEXT_AVATAR, Command.PREVIOUS_AVATAR)
# Seconds between the avatar switches the API makes. A switch costs the engine about 0.1 s of its frames (it
# finds the avatar's face again), so a client that asks faster has its asks added up into the next one:
# three next_avatar become one switch three avatars on, and the picture keeps its frame rate.
AVATAR_INTERVAL = 1.0


class ControlBridge(QObject):
    """Runs actions on the window; ``configure`` starts or stops the API as the settings say."""

    _requested = Signal(object, object)  # Action, Future: emitted on the API's thread, run on the window's

    def __init__(self, window):
        super().__init__(window)
        self._window = window
        self._face = False
        self.server: ControlServer | None = None
        self._requested.connect(self._run, Qt.ConnectionType.QueuedConnection)
        self._avatar_asks: list[tuple[Action, Future]] = []  # waiting for the next switch
        self._avatar_switched_at = -AVATAR_INTERVAL
        self._avatar_timer = QTimer(self, singleShot=True)
        self._avatar_timer.timeout.connect(self._switch_avatar)
        window.session.event.connect(self._on_event)

    # The API's side.

    def perform(self, action: Action) -> Future:
        future = Future()
        self._requested.emit(action, future)
        return future

    def configure(self, settings: AppSettings) -> None:
        """Serve the API if it is on, with the port and LAN choice given; raises UserError if it cannot."""
        wanted = (ApiSettings(port=settings.api_port, lan=settings.api_lan, token=settings.api_token)
                  if settings.api_enabled else None)
        if self.server is not None and self.server.settings == wanted:
            return
        self.stop()
        if wanted is not None:
            self.server = ControlServer(self, wanted).start()
            self.publish()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def publish(self) -> None:
        """Tell the API's subscribers the window's state (only a change goes out)."""
        if self.server is not None:
            self.server.publish(self.state())

    # The window's side.

    def state(self) -> State:
        w = self._window
        pipeline = w.session.pipeline
        summary = pipeline.summary() if pipeline is not None else {}
        return State(avatar=Path(w.settings.avatar).stem, calibrated=bool(pipeline and pipeline.calibrated),
                     calibrations=pipeline.calibrations if pipeline else 0, hidden=w.session.hidden,
                     recording=w.session.recording is not None,
                     virtual_camera=w.session.virtual_camera_device is not None,
                     mirror=w.controls.mirror_box.isChecked(), engine=pipeline.engine.name if pipeline else "",
                     head_motion=w.controls.head_motion.value(), expressions=w.controls.expressions.value(),
                     face=self._face and pipeline is not None, fps=round(summary.get("fps_out", 0.0)),
                     latency_ms=round(summary.get("latency_ms_p50") or 0.0))

    def _run(self, action: Action, future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        if action.command in _AVATAR_COMMANDS:
            self._avatar_asks.append((action, future))
            wait = self._avatar_switched_at + AVATAR_INTERVAL - time.monotonic()
            if wait <= 0:
                self._switch_avatar()
            elif not self._avatar_timer.isActive():
                self._avatar_timer.start(round(wait * 1000))
            return
        _settle([future], lambda: self.apply(action))
        self.publish()

    def _switch_avatar(self) -> None:
        """One switch for every avatar ask since the last: each taken from where the one before left off."""
        asks, self._avatar_asks = self._avatar_asks, []
        self._avatar_switched_at = time.monotonic()
        path, taken = self._window.settings.avatar, []
        for action, future in asks:
            try:
                path = self._avatar_path(action.command, action.value, path)
            except ControlError as exc:
                future.set_exception(exc)
            else:
                taken.append(future)
        if taken:
            _settle(taken, lambda: self._choose(path))
        self.publish()

    def apply(self, action: Action) -> None:
        """Carry out ``action`` on the window; raises ControlError saying why it was not done."""
        w, c, value = self._window, self._window.controls, action.value
        command = action.command
        if command == Command.CALIBRATE:
            w.start_calibration()
        elif command in _AVATAR_COMMANDS:
            self._choose(self._avatar_path(command, value, w.settings.avatar))
        elif command in (Command.HIDE, Command.SHOW):
            w.set_hidden(command == Command.HIDE, value)
        elif command == Command.MIRROR:
            c.mirror_box.setChecked(not c.mirror_box.isChecked() if value is None else value)
        elif command == Command.RECORD_START:
            if w.session.recording is None:
                w.start_recording()
            _check(w.session.recording is not None, w.warnings.get(Concern.RECORD))
        elif command == Command.RECORD_STOP:
            if w.session.recording is not None:
                w.stop_recording()
        elif command in (Command.VIRTUAL_CAMERA_ON, Command.VIRTUAL_CAMERA_OFF):
            c.vcam_button.setChecked(command == Command.VIRTUAL_CAMERA_ON)
            _check((w.session.virtual_camera_device is not None) == (command == Command.VIRTUAL_CAMERA_ON),
                   w.warnings.get(Concern.VCAM))
        elif command == Command.MOTION_STRENGTH:  # the window's sliders: applied, and kept in the avatar's profile
            c.head_motion.setValue(round(value.get("head", c.head_motion.value())))
            c.expressions.setValue(round(value.get("expressions", c.expressions.value())))
        elif command == Command.ENGINE:
            c.engine_box.setCurrentIndex(c.engine_box.findData(value))
            w.restart()
            pipeline = w.session.pipeline
            _check(pipeline is not None and pipeline.engine.name == value,
                   w.warnings.get(Concern.ENGINE) or w.warnings.get(Concern.START))

    def _choose(self, path: str) -> None:
        self._window.choose_avatar(path)
        _check(self._window.settings.avatar == path, self._window.warnings.get(Concern.AVATAR))

    def _avatar_path(self, command: Command, value, current: str) -> str:
        """The portrait ``command`` asks for, counting from ``current`` for the next and previous one."""
        paths = self._window.gallery.paths()
        if not paths:
            raise ControlError("the gallery has no portraits")
        if command != Command.AVATAR:
            current = paths.index(current) if current in paths else 0
            return paths[(current + (1 if command == Command.NEXT_AVATAR else -1)) % len(paths)]
        if isinstance(value, int):
            if value > len(paths):
                raise ControlError(f"there are {len(paths)} avatars; {value} is not one of them")
            return paths[value - 1]
        named = [p for p in paths if Path(p).stem.casefold() == value.casefold()]
        if not named:
            raise ControlError(f"no avatar named {value!r}; there are: {', '.join(Path(p).stem for p in paths)}")
        return named[0]

    def _on_event(self, event: Event) -> None:
        if event.kind == EventKind.FACE:
            self._face = not event.problem
        self.publish()


def _settle(futures: list[Future], act) -> None:
    """Run ``act`` and end each future with its outcome: None, or the ControlError that says why not."""
    try:
        act()
    except (ControlError, UserError) as exc:
        for future in futures:
            future.set_exception(ControlError(str(exc)))
    except Exception as exc:  # the client is told; the window carries on
        for future in futures:
            future.set_exception(exc)
    else:
        for future in futures:
            future.set_result(None)


def _check(done: bool, why: str | None) -> None:
    if not done:
        raise ControlError(why or "it did not happen; the window says why")
