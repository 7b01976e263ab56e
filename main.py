"""Facade's command line: the GUI by default, and ``animate``, ``run``, ``serve``, ``bench``, ``train``,
``prepare-data``, ``evaluate``, ``doctor``, ``convert``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback
from pathlib import Path

__version__ = "0.1.0"


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as the one ``error: ...`` line of the command-line contract."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    from core.engines.choice import DEVICES, ENGINES, MESH_RESOLUTIONS, OFFLINE_REPLY_TIMEOUT, PRECISIONS, EngineChoice

    default = EngineChoice()
    parser.add_argument("--engine", choices=ENGINES, help="fomm when a checkpoint is found, else mesh")
    parser.add_argument("--checkpoint", type=Path, help="FOMM checkpoint (.pth.tar or .safetensors)")
    parser.add_argument("--config", default=default.config, help=_config_help())
    parser.add_argument("--device", default=default.device, help=f"{', '.join(DEVICES)} or cuda:N")
    parser.add_argument("--precision", default=default.precision, choices=PRECISIONS,
                        help="auto: fp16 on CUDA, fp32 on the CPU; bf16 for CPUs with native bf16")
    parser.add_argument("--absolute", action="store_true", help="absolute keypoints instead of relative motion")
    parser.add_argument("--adapt-scale", action="store_true", help="scale the motion to the avatar's face size")
    parser.add_argument("--resolution", type=int, default=default.resolution, choices=MESH_RESOLUTIONS,
                        help="mesh engine warp grid (FOMM runs at its config's size)")
    parser.add_argument("--remote", metavar="PAIRING", default="",
                        help="run FOMM on a remote worker: the line `serve` printed, or a file holding it. animate "
                             f"and bench wait up to {OFFLINE_REPLY_TIMEOUT:.0f} s for each frame's answer and fail "
                             "without it; run carries on with the mesh engine, saying so, while the worker is away")
    parser.add_argument("--remote-lossless", action="store_true", help="send frames to the worker as PNG, not JPEG")


def _percent(text: str) -> float:
    from core.engines.strength import MAX_PERCENT

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 <= value <= MAX_PERCENT:
        raise argparse.ArgumentTypeError(f"{text}: must be between 0 and {MAX_PERCENT} (percent)")
    return value


def _add_motion_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--head-motion", type=_percent, default=100, metavar="PCT",
                        help="how far the avatar's head turns, moves and leans in, in percent of yours: 0 keeps it "
                             "still, 200 doubles it (default 100; FOMM: relative motion only)")
    parser.add_argument("--expressions", type=_percent, default=100, metavar="PCT",
                        help="how strongly the avatar plays your expressions, in percent (0 to 200, default 100)")


def _motion(args):
    from core.engines.strength import MotionStrength

    return MotionStrength.from_percent(args.head_motion, args.expressions)


def _add_alignment_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-align", action="store_true", help="resize whole frames; no face alignment")
    parser.add_argument("--avatar-whole-image", action="store_true",
                        help="use the whole avatar image centred instead of finding its face")


def _add_clip_calibration(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calibrate", choices=("neutral", "first"), default="neutral",
                        help="the neutral pose motion is measured from: neutral (default) the clip's most neutral "
                             "face (frontal, upright, lips together, eyes open; a first pass over the clip), "
                             "first: its first frame with a face")


def _output_size(text: str) -> tuple[int, int]:
    from core.compose.compositor import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _background(text: str) -> str:
    from core.compose.compositor import background_colour

    try:
        background_colour(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip().lower()


def _add_output_options(parser: argparse.ArgumentParser, size_help: str) -> None:
    from core.compose.compositor import FITS, OutputSettings

    parser.add_argument("--output-size", type=_output_size, metavar="WxH", help=size_help)
    parser.add_argument("--fit", choices=FITS, default=OutputSettings.fit,
                        help="cover: fill the picture (crop the portrait); contain: the whole portrait over a backdrop")
    parser.add_argument("--background", type=_background, default=OutputSettings.background,
                        help="portrait (its own), blur, a colour for chroma key (green, blue, #RRGGBB), or "
                             "transparent: the person alone, for run --ndi (NDI carries alpha)")


def _config_help(prefix: str = "") -> str:
    """Every --config takes the same names, listed from the shipped files so the help never goes stale."""
    from models.config import available_configs

    return f"{prefix}{', '.join(available_configs())} or a YAML file"


def _check_config(name_or_path: str) -> None:
    """A --config name or file resolved as animate resolves it, before anything slower is checked."""
    from core.errors import model_files
    from models.config import config_path

    with model_files():
        config_path(name_or_path)


def build_parser() -> argparse.ArgumentParser:
    from core.live.ndi import DEFAULT_SOURCE_NAME

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
    animate.add_argument("--crop-only", action="store_true",
                         help="write the engine's face crop instead of the whole portrait")
    _add_output_options(animate, "default: the portrait's own size (long side at most 2048)")
    _add_alignment_options(animate)
    _add_clip_calibration(animate)
    _add_motion_options(animate)
    _add_engine_options(animate)
    animate.set_defaults(handler=_animate)

    run = commands.add_parser("run", help="live: camera or video in, avatar out, headless")
    run.add_argument("--camera", required=True, help="camera index, video file or stream URL")
    run.add_argument("--avatar", required=True, type=Path, help="portrait image")
    run.add_argument("--loop", action="store_true", help="loop a video file used as the camera")
    run.add_argument("--virtual-cam", nargs="?", const="", default=None, metavar="DEVICE",
                     help="send to a virtual camera (optionally a device such as /dev/video10)")
    run.add_argument("--mirror", action="store_true", help="mirror the virtual camera picture")
    run.add_argument("--ndi", nargs="?", const=DEFAULT_SOURCE_NAME, default=None, metavar="NAME",
                     help=f"send the call picture as an NDI source (for OBS, vMix...) named NAME (default "
                          f"{DEFAULT_SOURCE_NAME}); "
                          "needs requirements-ndi.txt")
    run.add_argument("--record", type=Path, help="record the call picture to OUT.mp4")
    run.add_argument("--max-frames", type=int, help="stop after this many output frames")
    run.add_argument("--stats-json", type=Path, help="write the run statistics here at the end")
    run.add_argument("--calibrate", choices=("auto", "first"), default="auto",
                     help="the neutral pose: auto (default) the first steady, frontal face, as the window does; "
                          "first: the first frame with a face (a short clip may end before auto calibrates)")
    _add_output_options(run, "the call picture's size (default 1280x720; even sides)")
    _add_alignment_options(run)
    _add_motion_options(run)
    _add_engine_options(run)
    run.set_defaults(handler=_run)

    bench = commands.add_parser("bench", help="time an engine (or score its animation: --quality), print JSON")
    _add_engine_options(bench)
    bench.add_argument("--frames", type=int, help="frames to time (default 50); --quality: driving frames to "
                                                  "score (default all)")
    bench.add_argument("--quality", action="store_true",
                       help="score the call picture with dlib's face model (requirements-bench.txt): identity, "
                            "distortion, expressions, jitter, face loss; needs --driving")
    bench.add_argument("--driving", type=Path, help="--quality: the driving video or folder of frames")
    bench.add_argument("--avatar", type=Path, help="--quality: the portrait (default: the bundled astronaut)")
    _add_clip_calibration(bench)
    bench.add_argument("--json", action="store_true", help="print one JSON object (the only output format)")
    bench.add_argument("--remote-loopback", action="store_true",
                       help="FOMM: also serve it on a loopback worker; report the latency the link adds and "
                            "the worker's frames per second with 1, 2, 4 and 8 clients")
    bench.add_argument("--compare", action="store_true",
                       help="FOMM: also time the plain fp32 eager path in the same run; report ratio and difference")
    bench.set_defaults(handler=_bench)

    doctor = commands.add_parser("doctor", help="check torch, CUDA, face models, cameras, virtual camera",
                                 description="Check what Facade needs on this machine. Exit status: 0 when no "
                                             "check failed (warnings allowed), 1 when any check FAILED.")
    doctor.add_argument("--checkpoint", type=Path, help="also check this checkpoint")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(handler=_doctor)

    serve = commands.add_parser("serve", help="be a remote GPU worker for Facade clients elsewhere")
    serve.add_argument("--bind", required=True, help="tcp://HOST:PORT to listen on (tcp://0.0.0.0:5555: every address)")
    serve.add_argument("--checkpoint", type=Path, help="FOMM checkpoint (.pth.tar or .safetensors)")
    serve.add_argument("--config", default="vox-256", help=_config_help())
    serve.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    serve.add_argument("--precision", default="auto", help="auto: fp16 on CUDA, fp32 on the CPU")
    serve.add_argument("--pairing-file", type=Path, help="also write the pairing string to this file")
    serve.add_argument("--keys", type=Path, help="the worker's key file (default: in Facade's data folder); "
                                                  "kept between runs so clients stay paired")
    serve.set_defaults(handler=_serve)

    train = commands.add_parser("train", help="train (or fine-tune) a FOMM model on videos, the authors' way")
    train.add_argument("--config", required=True,
                       help=_config_help("the authors' YAML (model, train and dataset params): "))
    train.add_argument("--data", required=True, type=Path, help="DIR with train/ and test/ (videos or frame folders)")
    train.add_argument("--out", required=True, type=Path, help="MODEL.pth.tar to write (and update every "
                                                               "checkpoint_freq epochs)")
    train.add_argument("--checkpoint", type=Path, help="start from (or resume) this checkpoint")
    train.add_argument("--max-steps", type=int, help="stop after this many steps")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--vgg19", type=Path, help="torchvision's VGG-19 weights file for the perceptual loss")
    train.set_defaults(handler=_train)

    prepare = commands.add_parser("prepare-data", help="crop your own clips for training, the way vox was cropped")
    prepare.add_argument("videos", nargs="+", type=Path, help="video files (or folders of frames)")
    prepare.add_argument("--out", required=True, type=Path, help="DIR to fill with train/ and test/")
    prepare.add_argument("--size", type=int, default=256, help="frame size (the config's frame_shape)")
    prepare.set_defaults(handler=_prepare_data)

    evaluate = commands.add_parser("evaluate", help="the paper's reconstruction L1 on test videos, as JSON")
    evaluate.add_argument("--config", required=True, help=_config_help())
    evaluate.add_argument("--checkpoint", required=True, type=Path)
    evaluate.add_argument("--data", required=True, type=Path)
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(handler=_evaluate)

    convert = commands.add_parser("convert", help="convert a .pth.tar checkpoint to .safetensors")
    convert.add_argument("checkpoint", type=Path, help="the .pth.tar checkpoint to read")
    convert.add_argument("out", type=Path, help="the .safetensors file to write")
    convert.set_defaults(handler=_convert)
    return parser


def _engine_choice(args):
    """The engine options, every one checked (whatever the engine) before a camera or a clip is opened."""
    from core.engines.choice import EngineChoice, check_choice
    from core.link.pairing import parse_pairing

    if args.remote:
        parse_pairing(args.remote)
    choice = EngineChoice(engine=args.engine, checkpoint=args.checkpoint, config=args.config, device=args.device,
                          precision=args.precision, relative=not args.absolute, adapt_scale=args.adapt_scale,
                          resolution=args.resolution, remote=args.remote, lossless=args.remote_lossless)
    check_choice(choice)
    return choice


def _note_unused_options(choice, engine: str) -> None:
    from core.engines.choice import unused_options

    unused = unused_options(choice, engine)
    if unused:
        _say(f"note: {', '.join(unused)} {'has' if len(unused) == 1 else 'have'} no effect on the {engine} engine"
             + (" (the worker's own options decide: give them to `serve`)" if engine == "remote" else ""))


def _output(args, default_size):
    from core.compose.compositor import OutputSettings

    return OutputSettings(size=args.output_size or default_size, fit=args.fit, background=args.background)


def _check_background(args, ndi: bool) -> None:
    """A transparent background only where NDI sends it: anywhere else it would silently be opaque."""
    from core.compose.compositor import TRANSPARENT
    from core.errors import UserError

    if args.background == TRANSPARENT and not ndi:
        raise UserError("--background transparent: only NDI output carries transparency (run --ndi NAME); "
                        "videos and the virtual camera would show the portrait's own background",
                        "add --ndi, or choose portrait, blur or a colour")


def _animate(args) -> int:
    from core.engines import create_engine
    from core.face.avatar import load_avatar
    from core.live.builder import needs_avatar_face, prepare_avatar
    from core.media.images import read_image
    from core.media.video_io import check_not_an_input, check_video_name, open_clip
    from core.tools.animate import aligned_faces, animate_clip, neutral_of_clip, plain_faces

    read_image(args.avatar)  # a bad avatar is reported before the engine loads
    _check_background(args, ndi=False)
    clip = open_clip(args.driving)
    check_video_name(args.out, frames_folder=True)  # before the engine loads, not after
    check_not_an_input(args.out, args.driving, args.avatar)
    choice = _engine_choice(args)
    engine = create_engine(choice)
    engine.set_motion(_motion(args))
    _note_unused_options(choice, engine.name)
    compositor = None
    if args.crop_only or args.no_align:
        avatar = load_avatar(args.avatar, engine.resolution, not args.no_align, args.avatar_whole_image,
                             needs_avatar_face(engine))
    else:
        avatar, compositor = prepare_avatar(args.avatar, engine.resolution, whole_image=args.avatar_whole_image,
                                            output=_output(args, None), needs_face=needs_avatar_face(engine))
    found = None if args.no_align or args.calibrate == "first" else neutral_of_clip(clip, engine.resolution)
    frames = clip.frames()
    faces = (plain_faces(frames, engine.resolution) if args.no_align
             else aligned_faces(frames, engine.resolution, clip.fps))
    written = animate_clip(engine, avatar, clip, args.out, faces, compositor, neutral=found and found[1])
    print(f"wrote {written} frames to {args.out}", file=sys.stderr)
    return 0


def _run(args) -> int:
    from core.compose.canvas import CALL_SIZE
    from core.errors import UserError
    from core.live.builder import LiveSetup, build_pipeline
    from core.media.files import write_text_file
    from core.live.ndi import NdiSink, check_source_name, ndi_library
    from core.live.sinks import RecorderSink, VirtualCameraSink, VirtualCameraUnavailable
    from core.media.images import read_image
    from core.media.video_io import check_not_an_input, check_output_file, check_video_name

    if args.max_frames is not None and args.max_frames < 1:
        raise UserError(f"--max-frames {args.max_frames}: must be at least 1")
    if args.virtual_cam is None and args.ndi is None and args.record is None and args.stats_json is None:
        raise UserError("run: no output: the animation would go nowhere",
                        "give --virtual-cam, --ndi, --record OUT.mp4 or --stats-json FILE (any of them, or several)")
    _check_background(args, ndi=args.ndi is not None)
    if args.ndi is not None:
        check_source_name(args.ndi)
        ndi_library()  # missing: an error line saying how to get it, before any work
    read_image(args.avatar)
    if args.record:
        check_video_name(args.record)  # as animate's --out: RecorderSink would write an MP4 under any name
        check_not_an_input(args.record, Path(args.camera), args.avatar)
        check_output_file(args.record)
    if args.stats_json:
        check_not_an_input(args.stats_json, Path(args.camera), args.avatar)
        if args.record and args.stats_json.resolve() == args.record.resolve():
            raise UserError(f"{args.stats_json}: is also the --record file", "choose another name for the statistics")
        check_output_file(args.stats_json)
    choice = _engine_choice(args)
    setup = LiveSetup(camera=args.camera, avatar=args.avatar, choice=choice, loop=args.loop,
                      align=not args.no_align, whole_image=args.avatar_whole_image, check_camera=True,
                      output=_output(args, CALL_SIZE))
    pipeline = build_pipeline(setup, on_event=lambda event: print(f"{event.kind.value}: {event.message}",
                                                                  file=sys.stderr))
    _note_unused_options(choice, pipeline.engine.name)
    pipeline.set_motion(_motion(args))
    fps = pipeline.source.fps
    if args.virtual_cam is not None:
        try:
            sink = VirtualCameraSink(args.virtual_cam or None, size=pipeline.output_size, fps=fps, mirror=args.mirror)
            pipeline.add_sink(sink)
            print(f"virtual camera: {sink.device}", file=sys.stderr)
        except VirtualCameraUnavailable as exc:
            print(f"warning: {exc}", file=sys.stderr)  # the run goes on with its other sinks
    if args.ndi is not None:
        ndi = NdiSink(args.ndi, fps)
        pipeline.add_sink(ndi)
        _say(f"NDI: sending as {ndi.source}")
    recorder = None
    if args.record:
        recorder = RecorderSink(args.record, fps, pipeline.output_size)
        pipeline.add_sink(recorder)
    if args.calibrate == "first":
        pipeline.calibrate()  # before start: the first frame with a face is the neutral pose
    pipeline.start()
    try:
        while not pipeline.wait(args.max_frames, timeout=0.5):
            if recorder is not None and recorder.error is not None and args.virtual_cam is None:
                break  # the recording was the run's only output
    except KeyboardInterrupt:
        _say("stopping: finishing the recording" if args.record else "stopping")
    finally:
        # A second Ctrl+C, SIGTERM or SIGHUP while the recording is finalised must not cut it short.
        previous = {n: signal.signal(n, lambda *_: _say("still finishing, one moment")) for n in _STOP_SIGNALS}
        pipeline.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
    summary = pipeline.summary()
    if args.stats_json:
        write_text_file(args.stats_json, json.dumps(summary, indent=2))
    _say(json.dumps(summary))
    if not pipeline.calibrated:  # the avatar stayed at rest all along: a frozen recording must not go unexplained
        seen = summary["frames_out"] > summary["frames_no_face"]
        _say("note: never calibrated, so the avatar stayed at rest: " + (
            "no steady, frontal face came before the end (--calibrate first takes the first face as the neutral "
            "pose)" if seen and args.calibrate == "auto" else "no face was seen"))
    if recorder is not None:
        recorder.close()  # again: a recording that failed is a UserError (exit 2) saying what was kept
        if recorder.frames_written:
            _say(f"recorded {recorder.seconds:.1f} s to {recorder.path}")
    return 1 if pipeline.error else 0


def _bench(args) -> int:
    from core.tools.bench import compare_fomm, time_engine
    from core.errors import UserError

    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames {args.frames}: must be at least 1")
    if args.quality:
        return _bench_quality(args)
    if args.driving or args.avatar:
        raise UserError(f"--{'driving' if args.driving else 'avatar'}: only with --quality")
    args.frames = args.frames or 50
    from core.engines import create_engine

    choice = _engine_choice(args)
    engine = create_engine(choice, allow_random_weights=True)
    _note_unused_options(choice, engine.name)
    if (args.compare or args.remote_loopback) and engine.name != "fomm":
        raise UserError(f"--{'compare' if args.compare else 'remote-loopback'}: only for --engine fomm")
    if args.remote_loopback:
        from core.tools.bench_remote import time_remote

        result = time_remote(engine, args.frames)
    elif args.compare:
        result = compare_fomm(engine, args.frames)
    else:
        result = time_engine(engine, args.frames)
    if engine.name == "fomm":
        result["checkpoint"] = str(args.checkpoint) if args.checkpoint else "random weights"
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _bench_quality(args) -> int:
    from core.engines import create_engine
    from core.errors import UserError
    from core.media.images import read_image
    from core.media.video_io import open_clip
    from core.paths import BUNDLED_AVATARS
    from core.tools.quality import check_face_model, score_quality

    if args.driving is None:
        raise UserError("--quality needs --driving: a video of a real face")
    if args.compare or args.remote_loopback:
        raise UserError(f"--{'compare' if args.compare else 'remote-loopback'}: not with --quality")
    avatar = args.avatar or BUNDLED_AVATARS / "astronaut.png"
    read_image(avatar)
    clip = open_clip(args.driving)
    check_face_model()
    choice = _engine_choice(args)
    engine = create_engine(choice)  # random FOMM weights would score nothing but noise
    _note_unused_options(choice, engine.name)
    result = score_quality(engine, avatar, clip, args.frames, neutral=args.calibrate)
    if engine.name == "fomm":
        result["checkpoint"] = str(engine.checkpoint)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _serve(args) -> int:
    import threading

    from core.engines.checkpoints import find_checkpoint, missing_checkpoint
    from core.engines.choice import EngineChoice
    from core.engines.fomm import FommEngine
    from core.link.pairing import bind_host, load_or_create_keys, reachable_host
    from core.media.files import write_text_file
    from core.media.video_io import check_output_file
    from core.paths import user_data_dir
    from core.tools.serve import Worker

    host = bind_host(args.bind)
    checkpoint = find_checkpoint(args.checkpoint)
    if checkpoint is None:
        raise missing_checkpoint()
    if args.pairing_file:
        check_output_file(args.pairing_file)
    engine = FommEngine(EngineChoice(engine="fomm", config=args.config, device=args.device,
                                     precision=args.precision), checkpoint)
    keys = load_or_create_keys(args.keys or user_data_dir("worker") / "keys.json")
    worker = Worker(engine, keys, args.bind)
    try:
        pairing = keys.pairing(reachable_host(host), worker.port)
        if args.pairing_file:
            write_text_file(args.pairing_file, f"{pairing}\n", private=True)  # it holds the client's key
        print(pairing, flush=True)
        _say(f"serving FOMM ({engine.precision}) on {engine.device} at {worker.endpoint}. Give the line above "
             "to the client (--remote, or Engine: Remote GPU in the window); it is a key: keep it private.")
        worker.serve(threading.Event())
    except KeyboardInterrupt:
        _say("stopping")
    finally:
        worker.close()
    return 0


def _train(args) -> int:
    from core.errors import UserError
    from core.media.video_io import check_output_file
    from core.tools.train import TrainRun, train

    if args.max_steps is not None and args.max_steps < 1:
        raise UserError(f"--max-steps {args.max_steps}: must be at least 1")
    _check_config(args.config)
    for option, path in (("--data", args.data), ("--checkpoint", args.checkpoint), ("--vgg19", args.vgg19)):
        if path is not None and not path.exists():
            raise UserError(f"{option} {path}: not found")
    check_output_file(args.out)
    losses = train(TrainRun(args.config, args.data, args.out, args.checkpoint, args.max_steps, args.device,
                            args.vgg19))
    _say(f"wrote {args.out}  " + "  ".join(f"{k} {v:.4g}" for k, v in losses.items()))
    return 0


def _prepare_data(args) -> int:
    from core.errors import UserError
    from core.tools.prepare_data import prepare_data

    if not 64 <= args.size <= 1024:
        raise UserError(f"--size {args.size}: must be between 64 and 1024")
    written = prepare_data(args.videos, args.out, args.size)
    _say(f"wrote {written['train']} training and {written['test']} test frames to {args.out}")
    return 0


def _evaluate(args) -> int:
    from core.errors import UserError
    from core.tools.evaluate import evaluate

    _check_config(args.config)
    for option, path in (("--data", args.data), ("--checkpoint", args.checkpoint)):
        if not path.exists():
            raise UserError(f"{option} {path}: not found")
    print(json.dumps(evaluate(args.config, args.checkpoint, args.data, args.device)))
    return 0


def _doctor(args) -> int:
    from core.tools.doctor import as_dicts, format_table, run_checks

    checks = run_checks(args.checkpoint)
    print(json.dumps({"version": __version__, "checks": as_dicts(checks)}, indent=2) if args.json
          else format_table(checks))
    return 1 if any(check.status == "failed" for check in checks) else 0  # scripts can tell without parsing


def _convert(args) -> int:
    from core.tools.convert import convert_checkpoint

    convert_checkpoint(args.checkpoint, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _gui(args, previous_crash=None) -> int:
    from core.live.capture import parse_source
    from core.media.images import read_image
    from core.tools.display import display_problem

    if args.avatar is not None:
        read_image(args.avatar)  # a bad portrait is an error line here, not a window stuck on "Opening"
    if args.camera is not None:
        parse_source(args.camera)
    problem = display_problem()
    if problem is not None:  # Qt would abort with its own reason lost among other lines
        raise problem
    from app.run import run_gui  # Qt is loaded only once the window is known to be able to open

    return run_gui(args.camera, args.avatar, previous_crash)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


# What ends a command as Ctrl+C does, so that outputs are finalised or removed: never left half-written.
_STOP_SIGNALS = [signal.SIGINT] + [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]


def _say(text: str) -> None:
    """A line on stderr; a terminal that has gone (SIGHUP) must not stop the run from finishing its files."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous_crash = None
    if argv is None:  # a process of its own (tests call main in theirs)
        from core.tools.crash_log import keep_previous_crash, watch_for_crashes
        from core.tools.native_logs import route_native_stderr

        fatal_log = None
        if args.command is None:  # the window: a crash is logged, and reported at the next start
            previous_crash = keep_previous_crash()
            fatal_log = watch_for_crashes()
        route_native_stderr(drop_noise=not args.verbose, fatal_log=fatal_log)
    from core.errors import UserError

    try:
        if args.command is None:
            return _gui(args, previous_crash)
        if argv is None:  # a process of its own (tests call main in theirs)
            for number in _STOP_SIGNALS[1:]:
                signal.signal(number, _interrupt)
        return args.handler(args)
    except UserError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
