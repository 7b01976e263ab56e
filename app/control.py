"""The window as the control API's ``Controller``: actions arrive on the API's thread and are carried out on
the window's, through a queued signal; the state goes back to the API's subscribers."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal

from core.control.actions import Action, Command, ControlError, State
from core.control.server import ApiSettings, ControlServer
from core.errors import UserError
from core.live.events import Event, EventKind

from .banner import Concern
from .settings import AppSettings


class ControlBridge(QObject):
    """Runs actions on the window; ``configure`` starts or stops the API as the settings say."""

    _requested = Signal(object, object)  # Action, Future: emitted on the API's thread, run on the window's

    def __init__(self, window):
        super().__init__(window)
        self._window = window
        self._face = False
        self.server: ControlServer | None = None
        self._requested.connect(self._run, Qt.ConnectionType.QueuedConnection)
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
        try:
            self.apply(action)
        except (ControlError, UserError) as exc:
            future.set_exception(ControlError(str(exc)))
        except Exception as exc:  # the client is told; the window carries on
            future.set_exception(exc)
        else:
            future.set_result(None)
        self.publish()

    def apply(self, action: Action) -> None:
        """Carry out ``action`` on the window; raises ControlError saying why it was not done."""
        w, c, value = self._window, self._window.controls, action.value
        command = action.command
        if command == Command.CALIBRATE:
            w.start_calibration()
        elif command in (Command.AVATAR, Command.NEXT_AVATAR, Command.PREVIOUS_AVATAR):
            path = self._avatar_path(command, value)
            w.choose_avatar(path)
            _check(w.settings.avatar == path, w.warnings.get(Concern.AVATAR))
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

    def _avatar_path(self, command: Command, value) -> str:
        paths = self._window.gallery.paths()
        if not paths:
            raise ControlError("the gallery has no portraits")
        if command != Command.AVATAR:
            current = paths.index(self._window.settings.avatar) if self._window.settings.avatar in paths else 0
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


def _check(done: bool, why: str | None) -> None:
    if not done:
        raise ControlError(why or "it did not happen; the window says why")
