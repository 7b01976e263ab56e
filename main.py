"""Facade's command line: the GUI by default, and ``animate``, ``run``, ``bench``, ``doctor``, ``convert``."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

__version__ = "0.1.0"


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as the one ``error: ...`` line of the command-line contract."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    from core.engines import ENGINES

    parser.add_argument("--engine", choices=ENGINES, help="fomm when a checkpoint is found, else mesh")
    parser.add_argument("--checkpoint", type=Path, help="FOMM checkpoint (.pth.tar or .safetensors)")
    parser.add_argument("--config", default="vox-256", help="vox-256, taichi-256, mgif-256 or a YAML file")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                        help="auto: fp16 on CUDA, fp32 on the CPU; bf16 for CPUs with native bf16")
    parser.add_argument("--absolute", action="store_true", help="absolute keypoints instead of relative motion")
    parser.add_argument("--adapt-scale", action="store_true", help="scale the motion to the avatar's face size")
    parser.add_argument("--resolution", type=int, default=256, choices=(256, 512),
                        help="mesh engine output size (FOMM runs at its config's size)")


def _add_alignment_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-align", action="store_true", help="resize whole frames; no face alignment")
    parser.add_argument("--avatar-whole-image", action="store_true",
                        help="use the whole avatar image centred instead of finding its face")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="facade", description="Facade: your webcam drives an animated avatar.")
    parser.add_argument("--version", action="version", version=f"facade {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks and debug logging")
    parser.add_argument("--camera", help="GUI: camera index or video file to start with")
    parser.add_argument("--avatar", help="GUI: portrait to start with")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    animate = commands.add_parser("animate", help="animate an avatar from a driving clip, offline")
    animate.add_argument("--avatar", required=True, type=Path, help="portrait image")
    animate.add_argument("--driving", required=True, type=Path, help="video file or folder of frames")
    animate.add_argument("--out", required=True, type=Path, help="OUT.mp4, or a folder for PNG frames")
    _add_alignment_options(animate)
    _add_engine_options(animate)
    animate.set_defaults(handler=_animate)

    run = commands.add_parser("run", help="live: camera or video in, avatar out, headless")
    run.add_argument("--camera", required=True, help="camera index, video file or stream URL")
    run.add_argument("--avatar", required=True, type=Path, help="portrait image")
    run.add_argument("--loop", action="store_true", help="loop a video file used as the camera")
    run.add_argument("--virtual-cam", nargs="?", const="", default=None, metavar="DEVICE",
                     help="send to a virtual camera (optionally a device such as /dev/video10)")
    run.add_argument("--mirror", action="store_true", help="mirror the virtual camera picture")
    run.add_argument("--record", type=Path, help="record the avatar to OUT.mp4")
    run.add_argument("--max-frames", type=int, help="stop after this many output frames")
    run.add_argument("--stats-json", type=Path, help="write the run statistics here at the end")
    _add_alignment_options(run)
    _add_engine_options(run)
    run.set_defaults(handler=_run)

    bench = commands.add_parser("bench", help="time an engine, print JSON")
    _add_engine_options(bench)
    bench.add_argument("--frames", type=int, default=50)
    bench.add_argument("--json", action="store_true", help="print one JSON object (the only output format)")
    bench.add_argument("--compare", action="store_true",
                       help="FOMM: also time the plain fp32 eager path in the same run; report ratio and difference")
    bench.set_defaults(handler=_bench)

    doctor = commands.add_parser("doctor", help="check torch, CUDA, face models, cameras, virtual camera")
    doctor.add_argument("--checkpoint", type=Path, help="also check this checkpoint")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(handler=_doctor)

    convert = commands.add_parser("convert", help="convert a .pth.tar checkpoint to .safetensors")
    convert.add_argument("checkpoint", type=Path)
    convert.add_argument("out", type=Path)
    convert.set_defaults(handler=_convert)
    return parser


def _make_engine(args, allow_random: bool = False):
    from core.engines.factory import EngineChoice, create_engine

    return create_engine(EngineChoice(engine=args.engine, checkpoint=args.checkpoint, config=args.config,
                                      device=args.device, precision=args.precision, relative=not args.absolute,
                                      adapt_scale=args.adapt_scale, resolution=args.resolution), allow_random)


def _frame_avatar(args, rgb, size: int):
    from core.avatar import frame_avatar
    from core.images import resize_square

    if args.no_align:
        return resize_square(rgb, size)
    return frame_avatar(rgb, size, whole_image=args.avatar_whole_image, name=str(args.avatar))


def _animate(args) -> int:
    from core.animate import aligned_features, animate_clip, plain_features
    from core.images import read_image
    from core.video_io import open_clip

    rgb = read_image(args.avatar)
    clip = open_clip(args.driving)
    engine = _make_engine(args)
    avatar = _frame_avatar(args, rgb, engine.resolution)
    frames = clip.frames()
    features = (plain_features(frames, engine.resolution) if args.no_align
                else aligned_features(frames, engine.resolution, clip.fps))
    written = animate_clip(engine, avatar, clip, args.out, features)
    print(f"wrote {written} frames to {args.out}", file=sys.stderr)
    return 0


def _run(args) -> int:
    import signal

    from core.capture import FrameSource
    from core.engines.factory import cpu_fallback
    from core.errors import UserError
    from core.images import read_image
    from core.pipeline import LivePipeline, PipelineSettings
    from core.sinks import RecorderSink, VirtualCameraSink, VirtualCameraUnavailable

    if args.max_frames is not None and args.max_frames < 1:
        raise UserError(f"--max-frames {args.max_frames}: must be at least 1")
    rgb = read_image(args.avatar)
    source = FrameSource(args.camera, loop=args.loop)
    source.check()
    engine = _make_engine(args)
    avatar = _frame_avatar(args, rgb, engine.resolution)
    sinks = []
    if args.virtual_cam is not None:
        try:
            sinks.append(VirtualCameraSink(args.virtual_cam or None, fps=source.fps, mirror=args.mirror))
            print(f"virtual camera: {sinks[-1].device}", file=sys.stderr)
        except VirtualCameraUnavailable as exc:
            print(f"warning: {exc}", file=sys.stderr)  # the run goes on with its other sinks
    if args.record:
        sinks.append(RecorderSink(args.record, source.fps, engine.resolution))
    events = lambda kind, text: print(f"{kind}: {text}", file=sys.stderr)  # noqa: E731
    pipeline = LivePipeline(source, engine, avatar, sinks, PipelineSettings(align=not args.no_align),
                            on_event=events, fallback=lambda exc: cpu_fallback(pipeline.engine, exc))
    # SIGTERM ends the run as Ctrl+C does: the recording is finalised either way.
    signal.signal(signal.SIGTERM, _interrupt)
    pipeline.start()
    try:
        pipeline.wait(args.max_frames)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        pipeline.stop()
    summary = pipeline.summary()
    if args.stats_json:
        args.stats_json.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary), file=sys.stderr)
    return 1 if pipeline.error else 0


def _bench(args) -> int:
    from core.bench import compare_fomm, time_engine
    from core.errors import UserError

    if args.frames < 1:
        raise UserError(f"--frames {args.frames}: must be at least 1")
    engine = _make_engine(args, allow_random=True)
    if args.compare:
        if engine.name != "fomm":
            raise UserError("--compare: only for --engine fomm")
        result = compare_fomm(engine.options, args.frames)
    else:
        result = time_engine(engine, args.frames)
    result["checkpoint"] = str(args.checkpoint) if args.checkpoint else "random weights"
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _doctor(args) -> int:
    from core.doctor import as_dicts, format_table, run_checks

    checks = run_checks(args.checkpoint)
    print(json.dumps({"version": __version__, "checks": as_dicts(checks)}, indent=2) if args.json
          else format_table(checks))
    return 0


def _convert(args) -> int:
    from core.errors import UserError
    from models.checkpoint import read_state_dicts, save_safetensors

    if args.out.suffix != ".safetensors":
        raise UserError(f"{args.out}: the output name must end in .safetensors")
    save_safetensors(read_state_dicts(args.checkpoint), args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _gui(args) -> int:
    from app.run import run_gui
    from core.capture import parse_source
    from core.errors import UserError

    if args.avatar is not None and not Path(args.avatar).is_file():
        raise UserError(f"{args.avatar}: image not found")
    if args.camera is not None:
        parse_source(args.camera)
    return run_gui(args.camera, args.avatar)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None and not args.verbose:
        from core.native_logs import filter_native_stderr

        filter_native_stderr()
    from core.errors import UserError
    from models.checkpoint import CheckpointError
    from models.config import ConfigError

    try:
        if args.command is None:
            return _gui(args)
        return args.handler(args)
    except (UserError, CheckpointError, ConfigError) as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
