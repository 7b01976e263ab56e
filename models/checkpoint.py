"""Checkpoint files: the authors' .pth.tar and .safetensors, read as tensors only, never unpickled objects."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from .config import FommConfig
from .generator import OcclusionAwareGenerator
from .keypoint_detector import KeypointDetector

NETWORKS = ("kp_detector", "generator")
_MISMATCHES_SHOWN = 3


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the fault."""


def build_networks(config: FommConfig) -> tuple[KeypointDetector, OcclusionAwareGenerator]:
    """Freshly initialised networks for ``config``, in eval mode."""
    return KeypointDetector(config).eval(), OcclusionAwareGenerator(config).eval()


def read_state_dicts(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """``{"kp_detector": ..., "generator": ...}`` from a .pth.tar or .safetensors file, ``module.`` prefixes removed."""
    raw = read_checkpoint(path)
    return {n: unprefixed(raw[n]) for n in NETWORKS}


def read_checkpoint(path: str | Path) -> dict:
    """All a checkpoint holds (a training run's also has the discriminator, optimisers and epoch), read
    without unpickling objects; it must have both networks' state dicts."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: checkpoint file is empty")
    raw = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
    missing = [n for n in NETWORKS if not isinstance(raw.get(n), dict)]
    if missing:
        raise CheckpointError(f"{path}: not a FOMM checkpoint: no {' or '.join(missing)} state dict in it")
    return raw


def check_finite(path: str | Path, raw: dict) -> None:
    """Refuse NaN or infinite weights, naming the first such tensor: a run resumed from them trains NaN from
    its first step to its last."""
    for network, state in raw.items():
        if not isinstance(state, dict):
            continue  # the epoch, or an optimiser's nested state: not weights
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise CheckpointError(f"{path}: {network} {key} holds NaN or infinite values")


def unprefixed(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict without the ``module.`` prefix that DataParallel adds to every key."""
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def load_networks(path: str | Path, config: FommConfig) -> tuple[KeypointDetector, OcclusionAwareGenerator]:
    """Build the networks for ``config`` and load a checkpoint into them strictly."""
    states = read_state_dicts(path)
    networks = build_networks(config)
    for name, net in zip(NETWORKS, networks):
        _check_layout(path, name, net, states[name], config)
        net.load_state_dict(states[name], strict=True)
    return networks


def save_safetensors(states: dict[str, dict[str, torch.Tensor]], out) -> None:
    """Write state dicts as one .safetensors file with ``network.key`` names, to a path or a binary file object
    (written by Python, so that a full disk is an OSError rather than safetensors' own error)."""
    from safetensors.torch import save, save_file

    flat = {f"{n}.{k}": v.detach().contiguous().cpu() for n in NETWORKS for k, v in states[n].items()}
    metadata = {"format": "facade-fomm", "networks": ",".join(NETWORKS)}
    if hasattr(out, "write"):
        out.write(save(flat, metadata=metadata))
    else:
        save_file(flat, str(out), metadata=metadata)


def save_pth(networks: tuple[nn.Module, nn.Module], out: str | Path) -> None:
    """Write networks in the authors' .pth.tar layout (used to make test checkpoints)."""
    torch.save({n: net.state_dict() for n, net in zip(NETWORKS, networks)}, str(out))


def _read_torch(path: Path) -> dict:
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower():
            # weights_only stopped at an object that is not a tensor; say so, never retry unsafely.
            raise CheckpointError(f"{path}: refused: the file holds Python objects, not only tensors, "
                                  f"and is not loaded for safety") from None
        raise CheckpointError(f"{path}: not a checkpoint: not a torch file of tensors") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint, truncated or corrupt ({_first_line(exc)})") from None
    except Exception:  # the unpickler, fed bytes that are no pickle, fails with KeyError, IndexError and kin
        raise CheckpointError(f"{path}: not a checkpoint: not a torch file of tensors") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a FOMM checkpoint: holds a {type(data).__name__}, not a dict")
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        flat = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({_first_line(exc)})") from None
    nested: dict[str, dict] = {}
    for key, tensor in flat.items():
        network, _, name = key.partition(".")
        nested.setdefault(network, {})[name] = tensor
    return nested


def _check_layout(path, name: str, net: nn.Module, state: dict, config: FommConfig) -> None:
    reference = net.state_dict()
    expected = {k: tuple(v.shape) for k, v in reference.items()}
    problems = []
    for key, shape in expected.items():
        if key not in state:
            problems.append(f"missing {key} {list(shape)}")
        elif not isinstance(state[key], torch.Tensor):
            problems.append(f"{key} is not a tensor")
        elif tuple(state[key].shape) != shape:
            problems.append(f"{key} is {list(state[key].shape)}, expected {list(shape)}")
        elif reference[key].is_floating_point() and not state[key].is_floating_point():
            problems.append(f"{key} holds {str(state[key].dtype).replace('torch.', '')} numbers, not floating point")
        elif state[key].is_floating_point() and not bool(torch.isfinite(state[key]).all()):
            problems.append(f"{key} holds NaN or infinite values")
    problems += [f"unexpected {k} {list(getattr(v, 'shape', []))}" for k, v in state.items() if k not in expected]
    if problems:
        shown = "; ".join(problems[:_MISMATCHES_SHOWN])
        more = f" (+{len(problems) - _MISMATCHES_SHOWN} more)" if len(problems) > _MISMATCHES_SHOWN else ""
        raise CheckpointError(f"{path}: {name} does not match the {config.name} architecture: {shown}{more}")
