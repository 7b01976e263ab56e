"""The live pipeline: capture -> align -> engine -> sinks, each stage on its own thread, newest frame wins.

A slow engine lowers the frame rate; it never adds delay: the camera hand-off keeps only the newest frame,
and alignment works at most one frame ahead of the engine (frame N+1 is aligned while N renders).
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from core.compose.card import HideCard
from core.compose.compositor import Compositor
from core.compose.presence import Presence
from core.face.alignment import AlignedFrame, AlignmentSettings, FaceAligner
from core.face.plausibility import Implausible
from core.live.capture import FrameSource
from core.live.events import Event, EventKind, SourceState, Stage, Stall
from core.engines.base import Engine
from core.engines.strength import MotionStrength
from core.frames import DrivingFace
from core.frames import CapturedFrame, OutputFrame
from core.media.images import resize_square
from core.live.latest import Latest
from core.live.memory import TRIM_SECONDS, release_free_memory
from core.live.neutral import NeutralPose
from core.live.overlay import is_low_light
from core.live.sinks import Sink
from core.live.stats import RunStats

log = logging.getLogger(__name__)

STALL_SECONDS = 2.0  # no new picture for this long while the camera sends frames: the picture has stalled
# A camera silent this long (lost, not yet open): the outputs get the avatar at rest, this many times a
# second, so a call sees a still portrait instead of a frozen grimace or a dead camera.
IDLE_SECONDS = 1.0
IDLE_FPS = 10


@dataclass(frozen=True)
class PipelineSettings:
    align: bool = True
    auto_calibrate: bool = True
    alignment: AlignmentSettings = field(default_factory=AlignmentSettings)


@dataclass(frozen=True)
class _Prepared:
    """Align's hand-off to the engine: the frame, its engine input (None: no face), which neutral pose is
    current and the engine's input for it, and why a face that was found is not used."""

    captured: CapturedFrame
    face: DrivingFace | None
    aligned: AlignedFrame | None
    calibration: int
    neutral: DrivingFace | None
    rejected: Implausible | None = None


class _StageTiming:
    """Running averages of alignment and engine times, to start aligning just before the engine is free."""

    _WEIGHT = 0.2

    def __init__(self):
        self._align: float | None = None
        self._engine: float | None = None
        self._engine_start = 0.0

    def aligned(self, seconds: float) -> None:
        self._align = self._average(self._align, seconds)

    def engine_started(self, at: float) -> None:
        self._engine_start = at

    def rendered(self, seconds: float) -> None:
        self._engine = self._average(self._engine, seconds)

    def _average(self, current: float | None, sample: float) -> float:
        return sample if current is None else current + self._WEIGHT * (sample - current)

    def align_start_at(self) -> float:
        """When alignment of the next frame should start: the engine's expected end less alignment's time."""
        return self._engine_start + (self._engine or 0.0) - (self._align or 0.0)


class LivePipeline:
    """Runs a source through an engine into sinks until stopped. Thread-safe controls: ``calibrate``,
    ``set_neutral``, ``set_avatar``, ``add_sink``, ``remove_sink``, ``set_smoothing``, ``set_motion``.
    ``on_event`` reports status changes (``events.Event``) from the worker threads. ``fallback(failed_engine, error)`` may return an engine to
    carry on with after a failure.
    """

    def __init__(self, source: FrameSource, engine: Engine, avatar: np.ndarray, sinks: list[Sink] = (),
                 settings: PipelineSettings = PipelineSettings(),
                 on_event: Callable[[Event], None] | None = None,
                 fallback: Callable[[Engine, Exception], Engine | None] | None = None,
                 compositor: Compositor | None = None):
        self.source = source
        self.engine = engine
        self.settings = settings
        self.stats = RunStats(engine.name, engine.device)
        self._sinks: list[Sink] = list(sinks)
        self._sinks_lock = threading.Lock()
        # Held while the engine's thread writes to the sinks: a sink is closed only once no write to it is under
        # way (NDI's sender, destroyed during an asynchronous send, hung the window's thread for good).
        self._writing = threading.Lock()
        self._on_event = on_event or (lambda event: None)
        self._fallback = fallback
        self._prepared: Latest[_Prepared] = Latest()
        self._stop = threading.Event()
        self._calibration_wanted = threading.Event()
        self._calibration = 0  # bumped by the align thread each time a neutral pose is taken
        self._engine_calibration = 0
        self._neutral: NeutralPose | None = None
        self._neutral_face: DrivingFace | None = None  # the engine's input for the current neutral pose
        self._neutral_wanted: Latest[NeutralPose] = Latest()  # one taken before, to take again
        self._motion = MotionStrength()
        self._avatar = avatar
        self._pending_avatar: tuple[np.ndarray, Compositor | None] | None = None
        self._compositor = compositor
        self._avatar_lock = threading.Lock()
        self._last_output: np.ndarray = self._avatar
        self._presence = Presence()
        self._trimmed_at = time.monotonic()
        self._card = HideCard()
        self._face_seen: tuple[bool, Implausible | None] | None = None
        self._dark = False
        self._aligner = FaceAligner(engine.resolution, settings.alignment) if settings.align else None
        self._threads = [threading.Thread(target=self._guard(self._align_loop), name="align", daemon=True),
                         threading.Thread(target=self._guard(self._engine_loop), name="engine", daemon=True)]
        self._done = threading.Event()
        self._timing = _StageTiming()
        self._busy: dict[Stage, tuple[float, str]] = {}  # stage -> (since when, which output)
        self._started_at: float | None = None
        self.error: str | None = None

    # Controls, callable from any thread.

    def start(self) -> "LivePipeline":
        self.engine.set_avatar(self._avatar)
        self._started_at = time.monotonic()
        if self.source.state == SourceState.STARTING:
            self.source.start()
        for thread in self._threads:
            thread.start()
        return self

    def calibrate(self) -> None:
        """Take the next frame with a face as the neutral pose."""
        self._calibration_wanted.set()

    def set_avatar(self, rgb: np.ndarray, compositor: Compositor | None = None) -> None:
        """Switch avatars (the face crop, and the compositor that pastes it back into its portrait); the
        engine thread takes it before its next frame."""
        with self._avatar_lock:
            self._pending_avatar = (rgb, compositor)
        if self._card.hidden:  # its card too, here rather than on the engine's thread
            self._card.prepare(*self._still())

    def set_hidden(self, hidden: bool, text: str | None = None, fade: bool = True) -> None:
        """Hide: the sinks get a still card (the avatar at rest, blurred, with ``text``) instead of the live
        picture, after a short fade (``fade`` False: at once); False shows the live picture again. Hiding makes
        the card on the caller's thread, so that the picture never waits for it."""
        if hidden:
            self._card.prepare(*self._still(), text)
        self._card.set(hidden, text, fade)

    @property
    def hidden(self) -> bool:
        return self._card.hidden

    @property
    def output_size(self) -> tuple[int, int]:
        """The size (width, height) of the pictures the sinks get (once an avatar just set is taken up)."""
        _, compositor = self._newest_avatar()
        return compositor.size if compositor else (self.engine.resolution, self.engine.resolution)

    def set_smoothing(self, strength: float) -> None:
        if self._aligner is not None:
            self._aligner.set_smoothing(strength)

    @property
    def motion(self) -> MotionStrength:
        return self._motion

    def set_motion(self, strength: MotionStrength) -> None:
        """Play the head's motion and the expressions this strongly, from the next frame."""
        self._motion = strength
        self.engine.set_motion(strength)

    @property
    def neutral(self) -> NeutralPose | None:
        """The neutral pose taken last (None before the first, or without face alignment)."""
        return self._neutral

    def set_neutral(self, pose: NeutralPose) -> None:
        """Take ``pose`` (one ``neutral`` gave before, or read back from the settings) as the neutral pose at
        the next frame; it is passed over when it cannot serve: another camera size, no face alignment, or no
        picture for an engine that needs one."""
        self._neutral_wanted.put(pose)

    def add_sink(self, sink: Sink) -> None:
        with self._sinks_lock:
            self._sinks.append(sink)

    def has_sink(self, sink: Sink) -> bool:
        """Whether ``sink`` still gets frames (a sink that failed is switched off)."""
        with self._sinks_lock:
            return sink in self._sinks

    def remove_sink(self, sink: Sink) -> None:
        with self._sinks_lock:
            if sink in self._sinks:
                self._sinks.remove(sink)
        with self._writing:  # a write that had begun has ended; the next ones no longer see it
            pass
        sink.close()

    def rest_picture(self) -> np.ndarray:
        """The call picture with the avatar at rest (the newest one set): what to show before a camera frame."""
        rgb, compositor = self._newest_avatar()
        return self._compose(rgb, compositor) if compositor else rgb

    def _newest_avatar(self) -> tuple[np.ndarray, Compositor | None]:
        """The avatar and compositor set last, before the engine thread has taken them up if it has not."""
        with self._avatar_lock:
            pending = self._pending_avatar
        if pending is None:
            return self._avatar, self._compositor
        return pending[0], pending[1] or self._compositor

    def _compose(self, face: np.ndarray, compositor: Compositor) -> np.ndarray:
        """The call picture: ``face`` pasted into the portrait, blended unless the engine pins its border."""
        return compositor.compose(face, blend=not self.engine.pinned_border)

    def _matte(self, face: np.ndarray) -> np.ndarray | None:
        """The alpha of the picture made from ``face``: None unless the background is transparent."""
        return self._compositor.matte(face) if self._compositor else None

    @property
    def avatar(self) -> np.ndarray:
        """The avatar at rest, as the engine sees it."""
        return self._avatar

    @property
    def calibrated(self) -> bool:
        return self._engine_calibration > 0

    @property
    def calibrations(self) -> int:
        """How many neutral poses the engine has taken so far."""
        return self._engine_calibration

    @property
    def running(self) -> bool:
        """Whether any of the pipeline's threads (its own and the source's) is still alive."""
        return any(t.is_alive() for t in self._threads) or self.source.running

    @property
    def frames_dropped(self) -> int:
        return self.source.frames.dropped + self._prepared.dropped

    def stall(self) -> Stall | None:
        """The watchdog: a Stall when no picture has come out for STALL_SECONDS while the camera sends frames
        (a silent camera is the source's own event), naming the stage busy the longest."""
        if self._started_at is None or not self.running:
            return None
        now = time.monotonic()
        quiet = now - (self.stats.last_output_at or self._started_at)
        camera = self.source.last_frame_at
        if quiet < STALL_SECONDS or camera is None or now - camera > STALL_SECONDS:
            return None
        busy = dict(self._busy)
        if not busy:
            return Stall(quiet)
        stage, (since, detail) = min(busy.items(), key=lambda item: item[1][0])
        return Stall(quiet, stage, detail)

    @contextmanager
    def _working(self, stage: Stage, detail: str = ""):
        self._busy[stage] = (time.monotonic(), detail)
        try:
            yield
        finally:
            self._busy.pop(stage, None)

    def summary(self) -> dict:
        summary = self.stats.summary(self.source.frames_captured, self.frames_dropped)
        telemetry = getattr(self.engine, "telemetry", None)  # an engine with a link reports on it
        return {**summary, **telemetry()} if telemetry else summary

    def wait(self, max_frames: int | None = None, timeout: float | None = None) -> bool:
        """Block until ``max_frames`` are out, the source has ended, or stop; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.is_set():
            if max_frames is not None and self.stats.frames_out >= max_frames:
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            self._done.wait(0.02)
        return True

    def stop(self) -> None:
        """Stop every thread, then close the sinks (a recording is finalised)."""
        self._stop.set()
        self.source.stop()
        self._prepared.close()
        for thread in self._threads:
            thread.join(5)
        with self._sinks_lock:
            sinks, self._sinks = self._sinks, []
        for sink in sinks:
            try:
                sink.close()
            except Exception as exc:  # one sink failing to close must not keep the others open
                self._on_event(Event(EventKind.SINK, f"{sink.name}: closing failed ({exc})", problem=True))
        if self._aligner is not None:
            self._aligner.close()
        self.engine.close()

    # Worker threads.

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run():
            try:
                loop()
            except Exception as exc:
                log.exception("%s thread failed", threading.current_thread().name)
                self.error = f"{threading.current_thread().name} stopped: {exc}"
                self._on_event(Event(EventKind.ERROR, self.error, problem=True))
            finally:
                self._prepared.close()
                self._done.set()
        return run

    def _align_loop(self) -> None:
        while not self._stop.is_set():
            # Align at most one frame ahead of the engine, and just in time: frames the engine would only
            # drop are never aligned (they would starve it of the CPU), and the frame it gets next is the
            # newest one the camera had when that frame's alignment had to start.
            if not self._prepared.wait_taken(timeout=0.5):
                continue
            self._stop.wait(max(0.0, self._timing.align_start_at() - time.monotonic()))
            captured = self.source.frames.take(timeout=0.5)
            if captured is None:
                if self.source.ended:
                    return
                continue
            self._check_light(captured)
            self._restore_neutral(captured.rgb)
            align_start = time.monotonic()
            aligned = None
            if self._aligner is not None:
                with self._working(Stage.ALIGN):
                    aligned = self._aligner.process(captured.rgb, captured.timestamp)
                features = aligned.face if aligned else None
            else:
                features = DrivingFace(image=resize_square(captured.rgb, self.engine.resolution))
            if features is not None and self._should_calibrate(aligned):
                if self._aligner is not None:
                    self._aligner.lock()
                self._calibration += 1
                self._neutral_face = features
                height, width = captured.rgb.shape[:2]
                self._neutral = aligned and NeutralPose(features.landmarks, features.image.shape[0], aligned.crop,
                                                        (width, height), features.image)
            self._timing.aligned(time.monotonic() - align_start)
            rejected = self._aligner.rejected if self._aligner is not None else None
            self._prepared.put(_Prepared(captured, features, aligned, self._calibration, self._neutral_face, rejected))

    def _restore_neutral(self, frame: np.ndarray) -> None:
        """Take the neutral pose ``set_neutral`` asked for, if it can serve with this camera and engine."""
        pose = self._neutral_wanted.take(timeout=0)
        if pose is None:
            return
        if (self._aligner is None or pose.frame_size != (frame.shape[1], frame.shape[0])
                or (pose.image is None and not getattr(self.engine, "calibrates_from_landmarks", False))):
            log.info("a neutral pose kept from before does not serve here; the next one is taken")
            return
        self._aligner.lock_at(pose.crop, pose.frame_points())
        self._calibration += 1
        self._neutral, self._neutral_face = pose, pose.face(self.engine.resolution, frame)

    def _check_light(self, captured: CapturedFrame) -> None:
        if captured.index % 15:
            return
        dark = is_low_light(captured.rgb)
        if dark != self._dark:
            self._dark = dark
            self._on_event(Event(EventKind.LIGHT, "Low light: add light in front of you for steadier tracking"
                                 if dark else "Light is fine", problem=dark))

    def _should_calibrate(self, aligned: AlignedFrame | None) -> bool:
        if self._calibration_wanted.is_set():
            self._calibration_wanted.clear()
            return True
        if self._calibration or not self.settings.auto_calibrate:
            return False
        if aligned is None:  # no alignment: the first frame is the neutral pose, as in animate
            return True
        return aligned.steady_frontal or self._aligner.frames_with_face >= self.settings.alignment.auto_calibrate_after

    def _engine_loop(self) -> None:
        while not self._stop.is_set():
            item = self._prepared.take(timeout=1 / IDLE_FPS)
            if item is None:
                if self._prepared.closed:
                    return
                if time.monotonic() - (self.source.last_frame_at or self._started_at) > IDLE_SECONDS:
                    self._apply_pending_avatar()
                    self._write_sinks(OutputFrame(avatar=self._avatar, captured_at=time.monotonic(), index=-1,
                                                  face_found=False, picture=self.rest_picture(),
                                                  alpha=self._matte(self._avatar)))
                continue
            self._timing.engine_started(time.monotonic())
            self._apply_pending_avatar()
            self._report_face(item.face is not None, item.rejected)
            engine_ms = None
            if item.face is None:
                self.stats.record_no_face()
            elif item.calibration == 0:
                self._last_output = self._avatar  # at rest until the first neutral pose is taken
            else:
                with self._working(Stage.ENGINE):
                    engine_ms = self._render(item)
                if engine_ms is not None:
                    self._timing.rendered(engine_ms / 1000)
            self._trim_now_and_then()
            self._presence.update(item.face is not None and engine_ms is not None, item.captured.timestamp)
            self._emit(item, self._presence.blend(self._avatar, self._last_output, getattr(self.engine, "ease", None)),
                       engine_ms)

    def _render(self, item: _Prepared) -> float | None:
        start = time.perf_counter()
        try:
            if item.calibration != self._engine_calibration:
                self.engine.calibrate(item.neutral)
                self._engine_calibration = item.calibration
                self._on_event(Event(EventKind.CALIBRATED, "Neutral pose set"))
            self._last_output = self.engine.animate(item.face)
        except Exception as exc:
            self.stats.record_failure()
            self._handle_engine_error(exc)
            return None
        return (time.perf_counter() - start) * 1000

    def _handle_engine_error(self, exc: Exception) -> None:
        replacement = self._fallback(self.engine, exc) if self._fallback else None
        if replacement is None:
            self._on_event(Event(EventKind.ENGINE, f"frame skipped: {type(exc).__name__}: {exc}", problem=True))
            return
        self._on_event(Event(EventKind.ENGINE, f"{self.engine.name} on {self.engine.device} failed "
                                               f"({type(exc).__name__}); switched to {replacement.name} on "
                                               f"{replacement.device}", problem=True))
        self.engine = replacement
        self.stats.engine, self.stats.device = replacement.name, replacement.device
        replacement.set_avatar(self._avatar)
        replacement.set_motion(self._motion)
        self._engine_calibration = 0  # the new engine takes the same neutral pose

    def _trim_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._trimmed_at > TRIM_SECONDS:
            self._trimmed_at = now
            release_free_memory()

    def _apply_pending_avatar(self) -> None:
        with self._avatar_lock:
            pending, self._pending_avatar = self._pending_avatar, None
        if pending is not None:
            rgb, compositor = pending
            self.engine.set_avatar(rgb)
            self._avatar = self._last_output = rgb
            if compositor is not None:
                self._compositor = compositor

    def _report_face(self, found: bool, rejected: Implausible | None) -> None:
        seen = (found, rejected)
        if seen == self._face_seen:
            return
        self._face_seen = seen
        if found:
            message = "Face found"
        elif rejected is None or rejected == Implausible.UNCONFIRMED:
            message = "No face in view: look at the camera"
        else:
            message = f"Ignoring what looks like a face ({rejected.value}): look at the camera"
        self._on_event(Event(EventKind.FACE, message, problem=not found))

    def _emit(self, item: _Prepared, avatar: np.ndarray, engine_ms: float | None) -> None:
        aligned = item.aligned
        with self._working(Stage.COMPOSE):
            picture = self._compose(avatar, self._compositor) if self._compositor else None
            alpha = self._matte(avatar)
        frame = OutputFrame(avatar=avatar, captured_at=item.captured.timestamp, index=item.captured.index,
                            face_found=item.face is not None, camera=item.captured.rgb,
                            crop=aligned.crop if aligned else None, landmarks=aligned.landmarks if aligned else None,
                            picture=picture, alpha=alpha)
        self._write_sinks(frame)
        self.stats.record_output(item.captured.timestamp, engine_ms, self.frames_dropped)

    def _still(self) -> tuple[Callable[[], np.ndarray], tuple, tuple]:
        """What the card is made from: the picture at rest (a function, called only for a new card), what
        identifies it, and the shape of the pictures it covers."""
        rest, compositor = self._newest_avatar()
        key = (id(rest), id(compositor))
        if compositor is None:
            return lambda: rest, key, rest.shape
        return self.rest_picture, key, (compositor.size[1], compositor.size[0], 3)

    def _covered(self, frame: OutputFrame) -> OutputFrame:
        """``frame`` as the sinks get it while hidden (or fading): the card, and no animated face left in it."""
        still, key, _ = self._still()
        if frame.picture is None:
            covered = self._card.cover(frame.avatar, still, key)
            return frame if covered is frame.avatar else replace(frame, avatar=covered)
        rest, _ = self._newest_avatar()
        covered = self._card.cover(frame.picture, still, key)
        # The card is opaque: it covers the whole picture, whatever the background.
        return frame if covered is frame.picture else replace(frame, avatar=rest, picture=covered, alpha=None)

    def _write_sinks(self, frame: OutputFrame) -> None:
        frame = self._covered(frame)
        with self._writing:
            with self._sinks_lock:
                sinks = list(self._sinks)
            for sink in sinks:
                try:
                    with self._working(Stage.OUTPUT, sink.name):
                        sink.write(frame)
                except Exception as exc:
                    # One broken sink is switched off; the others, and the preview, carry on.
                    with self._sinks_lock:
                        if sink in self._sinks:
                            self._sinks.remove(sink)
                    self._on_event(Event(EventKind.SINK, f"{sink.name} stopped: {exc}", problem=True))
