"""Where FOMM checkpoints are found: a given path, else the ``checkpoints/`` folders Facade looks in."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.paths import ROOT, user_data_dir

CHECKPOINT_SUFFIXES = (".pth.tar", ".pth", ".safetensors")
# The adversarially fine-tuned vox checkpoint looks best on faces; prefer it when several are present.
_PREFERRED = ("vox-adv-cpk", "vox-cpk")

HOW_TO_GET_ONE = (
    "get vox-adv-cpk.pth.tar (published by the First Order Motion Model authors and the avatarify project; "
    "`doctor --checkpoint FILE` says which copy a file is), "
    "put it in a checkpoints/ folder next to Facade or in {user_dir}, or pass --checkpoint; "
    "until then the mesh engine works without one")




@dataclass(frozen=True)
class PublishedCopy:
    """One circulating copy of the published checkpoint: its sizes in bytes (cheap to read, so a file of
    another size is never hashed) and its digest."""

    description: str
    sizes: range
    algorithm: str
    digest: str


# vox-adv-cpk.pth.tar circulates as two files with the same networks. The authors' whole file; and avatarify's
# copy without the discriminator and optimisers, published as "228 MB" with its md5 but not its exact byte
# count, so any size from 200 to 250 MB is hashed (MB or MiB, and avatarify's later "229MB" all fall inside).
PUBLISHED_COPIES = (
    PublishedCopy("the authors' vox-adv-cpk.pth.tar (750,926,934 bytes, with the discriminator and optimisers)",
                  range(750_926_934, 750_926_935), "sha256",
                  "6792d6810d7f46e3c5c487a1cfec916b96fad8912c3c6cc81baa1fc300c820d3"),
    PublishedCopy("avatarify's vox-adv-cpk.pth.tar (228 MB: the authors' networks without the discriminator and "
                  "optimisers)", range(200_000_000, 250_000_001), "md5", "8a45a24037871c045fbb8a6a8aa95ebc"),
)
NOT_PUBLISHED = "not a published copy of vox-adv-cpk.pth.tar (size or hash differ)"
_HASH_CHUNK = 1 << 20  # hashed a megabyte at a time: a 750 MB file never sits in memory whole


def identify_checkpoint(path: Path) -> str:
    """Which published copy ``path`` is (by size, then hash), or NOT_PUBLISHED; the doctor and the window's
    Load model... both say it, so a user can tell a good download from a damaged or different one."""
    size = path.stat().st_size
    for copy in PUBLISHED_COPIES:
        if size in copy.sizes and _digest(path, copy.algorithm) == copy.digest:
            return copy.description
    return NOT_PUBLISHED


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def user_checkpoint_dir() -> Path:
    """The per-user folder Facade searches for checkpoints."""
    return user_data_dir("checkpoints")


log = logging.getLogger(__name__)


def search_dirs() -> list[Path]:
    """The documented places: ``checkpoints/`` beside Facade and the user's folder (never the current one)."""
    return [ROOT / "checkpoints", user_checkpoint_dir()]


def find_checkpoint(explicit: str | Path | None = None) -> Path | None:
    """The checkpoint to use: ``explicit`` (must exist) or the best one in the search folders, or None."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: checkpoint file not found")
        return path
    found = []
    for p in (p for d in search_dirs() if d.is_dir() for p in sorted(d.iterdir())):
        if p.is_file() and p.name.endswith(CHECKPOINT_SUFFIXES):
            if _looks_like_fomm(p):
                found.append(p)
            else:  # nobody asked for this file: a note, not an error
                log.warning("skipped %s: not a FOMM checkpoint (no generator and kp_detector)", p)
    if not found:
        return None
    return min(found, key=lambda p: next((i for i, n in enumerate(_PREFERRED) if p.name.startswith(n)),
                                         len(_PREFERRED)))


def _looks_like_fomm(path: Path) -> bool:
    """A cheap look inside, without loading the weights: the networks' names in a safetensors header or in a
    torch zip's pickle, or the magic number of torch's legacy format (its pickle is not read)."""
    try:
        if path.name.endswith(".safetensors"):
            with path.open("rb") as file:
                size = int.from_bytes(file.read(8), "little")
                keys = json.loads(file.read(min(size, 50_000_000)))
            return any(k.startswith(("generator.", "kp_detector.")) for k in keys)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                pickled = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                data = archive.read(pickled) if pickled else b""
            return b"kp_detector" in data and b"generator" in data
        with path.open("rb") as file:  # neither safetensors nor zip: torch's legacy format, or a stranger
            return file.read(len(_LEGACY_TORCH)) == _LEGACY_TORCH
    except (OSError, ValueError, zipfile.BadZipFile):
        return False


# torch.save's format before zip files (the authors' checkpoints may be in it): a pickle of protocol 2 whose
# first object is torch's magic number. Anything else that is not a zip (an HTML page saved by a failed
# download, notes, a truncated file) would block every command that finds it, so it is skipped.
_LEGACY_TORCH = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)


def missing_checkpoint() -> UserError:
    """The error (with how to get a checkpoint as its advice) for a FOMM engine with no checkpoint."""
    return UserError("no FOMM checkpoint found", HOW_TO_GET_ONE.format(user_dir=user_checkpoint_dir()))
