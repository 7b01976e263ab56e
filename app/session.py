"""The live session: builds the pipeline from the window's choices and reports back through Qt signals."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.compose.compositor import OutputSettings
from core.engines import EngineChoice
from core.engines.strength import MotionStrength
from core.errors import UserError
from core.frames import OutputFrame
from core.live.builder import LiveSetup, build_pipeline, needs_avatar_face, prepare_avatar
from core.live.ndi import NdiSink
from core.live.pipeline import LivePipeline
from core.live.sinks import CallbackSink, RecorderSink, VirtualCameraSink


class LiveSession(QObject):
    """Owns at most one running pipeline. Frames reach the UI newest-wins: while the UI has not drawn the
    last one, newer frames replace it instead of queueing signals."""

    frame = Signal(object)  # OutputFrame
    event = Signal(object)  # core.live.events.Event: from the worker threads, delivered on the UI thread

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pipeline: LivePipeline | None = None
        self._pending: OutputFrame | None = None
        self._pending_lock = threading.Lock()
        self._virtual_camera: VirtualCameraSink | None = None
        self._recorder: RecorderSink | None = None
        self._ndi: NdiSink | None = None
        self.avatar_path: str | None = None
        self.output = OutputSettings()
        self.mirror = False
        self.smoothing = 0.5
        self.motion = MotionStrength()
        self.hidden = False
        self.hide_text: str | None = None

    # Building and stopping.

    def start(self, camera: str, avatar_path: str, choice: EngineChoice, output: OutputSettings) -> None:
        """(Re)start on ``camera`` with ``avatar_path``; raises UserError with a message for the window."""
        self.stop()
        self.output = output
        setup = LiveSetup(camera=camera, avatar=Path(avatar_path), choice=choice, loop=Path(camera).is_file(),
                          output=output)
        pipeline = build_pipeline(setup, [CallbackSink(self._on_frame)], on_event=self.event.emit)
        pipeline.set_smoothing(self.smoothing)
        pipeline.set_motion(self.motion)
        pipeline.set_hidden(self.hidden, self.hide_text, fade=False)  # a restart while hidden stays hidden
        self.pipeline = pipeline.start()
        self.avatar_path = avatar_path

    def stop(self) -> None:
        """Stop the threads and release the camera, the virtual camera, NDI and a recording (finalised)."""
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None
        self._virtual_camera = self._recorder = self._ndi = None

    # Controls.

    def set_avatar(self, path: str) -> None:
        if self.pipeline is None:
            raise UserError("start a camera first")
        engine = self.pipeline.engine
        self.pipeline.set_avatar(*prepare_avatar(path, engine.resolution, output=self.output,
                                                 needs_face=needs_avatar_face(engine)))
        self.avatar_path = path

    def set_output(self, output: OutputSettings) -> None:
        """A new call picture (size, fit, background) for the running avatar; the virtual camera follows."""
        self.output = output
        if self.pipeline is None or self.avatar_path is None:
            return
        self.set_avatar(self.avatar_path)
        if self._virtual_camera is not None:
            factory = self._virtual_camera.camera_factory
            self.stop_virtual_camera()
            self.start_virtual_camera(factory)

    def calibrate(self) -> None:
        if self.pipeline is not None:
            self.pipeline.calibrate()

    def set_smoothing(self, strength: float) -> None:
        self.smoothing = strength
        if self.pipeline is not None:
            self.pipeline.set_smoothing(strength)

    def set_motion(self, strength: MotionStrength) -> None:
        self.motion = strength
        if self.pipeline is not None:
            self.pipeline.set_motion(strength)

    def set_hidden(self, hidden: bool, text: str | None = None) -> None:
        """The card instead of the live picture (``text``: its line; None keeps it), kept across restarts."""
        self.hidden = hidden
        if text is not None:
            self.hide_text = text
        if self.pipeline is not None:
            self.pipeline.set_hidden(hidden, text)

    def set_mirror(self, on: bool) -> None:
        self.mirror = on
        if self._virtual_camera is not None:
            self._virtual_camera.mirror = on

    @property
    def virtual_camera_device(self) -> str | None:
        return self._virtual_camera.device if self._virtual_camera else None

    def start_virtual_camera(self, factory=None) -> str:
        """Returns the device name; raises VirtualCameraUnavailable with how-to-install advice."""
        if self.pipeline is None:
            raise UserError("start a camera first")
        if self._virtual_camera is None:
            self._virtual_camera = VirtualCameraSink(size=self.pipeline.output_size, fps=self.pipeline.source.fps,
                                                     mirror=self.mirror, camera_factory=factory)
            self.pipeline.add_sink(self._virtual_camera)
        return self._virtual_camera.device

    def stop_virtual_camera(self) -> None:
        if self._virtual_camera is not None and self.pipeline is not None:
            self.pipeline.remove_sink(self._virtual_camera)
        self._virtual_camera = None

    def start_ndi(self, name: str) -> str:
        """Send the call picture as the NDI source ``name``; returns its full name (``HOST (name)``). Raises
        UserError (NdiUnavailable says how to get NDI)."""
        if self.pipeline is None:
            raise UserError("start a camera first")
        if self._ndi is None:
            self._ndi = NdiSink(name, fps=self.pipeline.source.fps)
            self.pipeline.add_sink(self._ndi)
        return self._ndi.source

    def stop_ndi(self) -> None:
        if self._ndi is not None and self.pipeline is not None:
            self.pipeline.remove_sink(self._ndi)
        self._ndi = None

    @property
    def recording(self) -> Path | None:
        return self._recorder.path if self._recorder else None

    @property
    def recording_failed(self) -> bool:
        """A recording was started and its recorder has been switched off after an error."""
        return (self._recorder is not None and self.pipeline is not None
                and not self.pipeline.has_sink(self._recorder))

    def start_recording(self, path: str | Path) -> None:
        if self.pipeline is None:
            raise UserError("start a camera first")
        if self._recorder is not None:
            raise UserError(f"already recording to {self._recorder.path}")
        self._recorder = RecorderSink(path, self.pipeline.source.fps, self.pipeline.output_size)
        self.pipeline.add_sink(self._recorder)

    def stop_recording(self) -> RecorderSink | None:
        """Finalise the recording and check that it plays; raises UserError (saying what was kept) if not."""
        recorder, self._recorder = self._recorder, None
        if recorder is not None and self.pipeline is not None:
            self.pipeline.remove_sink(recorder)
        return recorder

    # Frames, newest wins.

    def _on_frame(self, frame: OutputFrame) -> None:
        with self._pending_lock:
            idle = self._pending is None
            self._pending = frame
        if idle:
            self.frame.emit(None)  # a nudge; the UI takes the newest frame when it gets to it

    def take_frame(self) -> OutputFrame | None:
        with self._pending_lock:
            frame, self._pending = self._pending, None
        return frame
