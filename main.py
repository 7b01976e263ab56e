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
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16"))
    parser.add_argument("--absolute", action="store_true", help="absolute keypoints instead of relative motion")
    parser.add_argument("--adapt-scale", action="store_true", help="scale the motion to the avatar's face size")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="facade", description="Facade: your webcam drives an animated avatar.")
    parser.add_argument("--version", action="version", version=f"facade {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks and debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    animate = commands.add_parser("animate", help="animate an avatar from a driving clip, offline")
    animate.add_argument("--avatar", required=True, type=Path, help="portrait image")
    animate.add_argument("--driving", required=True, type=Path, help="video file or folder of frames")
    animate.add_argument("--out", required=True, type=Path, help="OUT.mp4, or a folder for PNG frames")
    animate.add_argument("--no-align", action="store_true", help="resize whole frames; no face alignment")
    _add_engine_options(animate)
    animate.set_defaults(handler=_animate)

    bench = commands.add_parser("bench", help="time an engine, print JSON")
    _add_engine_options(bench)
    bench.add_argument("--frames", type=int, default=50)
    bench.add_argument("--json", action="store_true", help="print one JSON object (the only output format)")
    bench.set_defaults(handler=_bench)

    convert = commands.add_parser("convert", help="convert a .pth.tar checkpoint to .safetensors")
    convert.add_argument("checkpoint", type=Path)
    convert.add_argument("out", type=Path)
    convert.set_defaults(handler=_convert)
    return parser


def _fomm_options(args, checkpoint):
    from core.engines.fomm import FommOptions

    return FommOptions(checkpoint=checkpoint, config=args.config, device=args.device, precision=args.precision,
                       relative=not args.absolute, adapt_scale=args.adapt_scale)


def _make_engine(args, allow_random: bool = False):
    """The engine the arguments ask for: FOMM when a checkpoint is given or found, else mesh."""
    from core.checkpoints import find_checkpoint, missing_checkpoint_message
    from core.errors import UserError

    checkpoint = find_checkpoint(args.checkpoint) if args.engine in (None, "fomm") else None
    engine = args.engine or ("fomm" if checkpoint else "mesh")
    if engine == "fomm":
        if checkpoint is None and not allow_random:
            raise UserError(missing_checkpoint_message())
        from core.engines.fomm import FommEngine

        return FommEngine(_fomm_options(args, checkpoint), profile=allow_random)
    raise UserError(f"--engine {engine}: not available in this build")


def _animate(args) -> int:
    from core.animate import animate_clip
    from core.images import read_image
    from core.video_io import open_clip

    avatar = read_image(args.avatar)
    clip = open_clip(args.driving)
    engine = _make_engine(args)
    written = animate_clip(engine, avatar, clip, args.out)
    print(f"wrote {written} frames to {args.out}", file=sys.stderr)
    return 0


def _bench(args) -> int:
    from core.bench import time_engine
    from core.errors import UserError

    if args.frames < 1:
        raise UserError(f"--frames {args.frames}: must be at least 1")
    engine = _make_engine(args, allow_random=True)
    result = time_engine(engine, args.frames)
    result["checkpoint"] = str(args.checkpoint) if args.checkpoint else "random weights"
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _convert(args) -> int:
    from core.errors import UserError
    from models.checkpoint import read_state_dicts, save_safetensors

    if args.out.suffix != ".safetensors":
        raise UserError(f"{args.out}: the output name must end in .safetensors")
    save_safetensors(read_state_dicts(args.checkpoint), args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    from core.errors import UserError
    from models.checkpoint import CheckpointError
    from models.config import ConfigError

    try:
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
