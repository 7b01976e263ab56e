"""Checkpoint files: round trips, strict loading, and every way a file can be wrong."""

import pickle
from pathlib import Path

import pytest
import torch

from conftest import randomize
from models.checkpoint import (CheckpointError, build_networks, load_networks, read_state_dicts, save_pth,
                               save_safetensors)
from models.config import load_config


def _outputs(networks, seed=1):
    kp, gen = networks
    torch.manual_seed(seed)
    source, driving = torch.rand(1, 3, 256, 256), torch.rand(1, 3, 256, 256)
    with torch.inference_mode():
        return gen(source, kp(driving), kp(source))["prediction"]


def test_authors_layout_with_module_prefix_loads_strictly(tiny_checkpoint, tiny_config_path):
    config = load_config(tiny_config_path)
    states = read_state_dicts(tiny_checkpoint)
    assert not any(k.startswith("module.") for k in states["generator"])
    kp, gen = load_networks(tiny_checkpoint, config)
    assert torch.equal(gen.state_dict()["final.weight"], states["generator"]["final.weight"])


def test_pth_and_safetensors_round_trips_give_identical_outputs(tiny_checkpoint, tiny_config_path, tmp_path):
    config = load_config(tiny_config_path)
    original = load_networks(tiny_checkpoint, config)
    save_pth(original, tmp_path / "again.pth.tar")
    save_safetensors(read_state_dicts(tiny_checkpoint), tmp_path / "again.safetensors")
    reference = _outputs(original)
    for name in ("again.pth.tar", "again.safetensors"):
        assert torch.equal(_outputs(load_networks(tmp_path / name, config)), reference)


def test_full_size_vox_checkpoint_round_trips(tmp_path):
    config = load_config("vox-256")
    networks = build_networks(config)
    randomize(*networks)
    save_pth(networks, tmp_path / "vox-cpk.pth.tar")
    kp, gen = load_networks(tmp_path / "vox-cpk.pth.tar", config)
    assert torch.equal(kp.state_dict()["jacobian.weight"], networks[0].state_dict()["jacobian.weight"])


def _error(path, config) -> str:
    with pytest.raises(CheckpointError) as info:
        load_networks(path, config)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_missing_and_empty_files(tmp_path, tiny_config_path):
    config = load_config(tiny_config_path)
    assert "not found" in _error(tmp_path / "nope.pth.tar", config)
    (tmp_path / "empty.pth.tar").write_bytes(b"")
    assert "empty" in _error(tmp_path / "empty.pth.tar", config)


def test_random_bytes_and_truncated_files(tmp_path, tiny_checkpoint, tiny_config_path):
    config = load_config(tiny_config_path)
    (tmp_path / "noise.pth.tar").write_bytes(bytes(range(256)) * 40)
    assert "not a" in _error(tmp_path / "noise.pth.tar", config)
    for name, junk in (("text", b"hi\n"), ("zeros", bytes(100))):  # the unpickler fails with a KeyError, ...
        (tmp_path / f"{name}.pth.tar").write_bytes(junk)
        assert "not a torch file of tensors" in _error(tmp_path / f"{name}.pth.tar", config)
    data = tiny_checkpoint.read_bytes()
    (tmp_path / "cut.pth.tar").write_bytes(data[: len(data) // 2])
    assert "truncated" in _error(tmp_path / "cut.pth.tar", config)
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1")
    assert "safetensors" in _error(tmp_path / "cut.safetensors", config)


class _Payload:
    def __reduce__(self):
        return (Path.touch, (Path(_Payload.marker),))


def test_pickle_with_arbitrary_objects_is_refused_and_nothing_in_it_runs(tmp_path, tiny_config_path):
    _Payload.marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.pth.tar"
    torch.save({"generator": {}, "kp_detector": {}, "x": _Payload()}, path)
    message = _error(path, load_config(tiny_config_path))
    assert "refused" in message
    assert not (tmp_path / "pwned").exists()
    # A plain pickle (not torch's zip format) is refused too.
    path.write_bytes(pickle.dumps({"generator": _Payload()}))
    _error(path, load_config(tiny_config_path))
    assert not (tmp_path / "pwned").exists()


def test_not_a_fomm_checkpoint(tmp_path, tiny_config_path):
    torch.save({"model": {"w": torch.zeros(1)}}, tmp_path / "other.pth")
    assert "no kp_detector or generator" in _error(tmp_path / "other.pth", load_config(tiny_config_path))
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    assert "holds a list" in _error(tmp_path / "list.pth", load_config(tiny_config_path))


def test_wrong_architecture_names_the_first_mismatched_keys_and_shapes(tiny_checkpoint):
    message = _error(tiny_checkpoint, load_config("vox-256"))
    assert "does not match the vox-256 architecture" in message
    assert "predictor.encoder.down_blocks.0.conv.weight is [8, 3, 3, 3], expected [64, 3, 3, 3]" in message
    assert "more)" in message


def test_weights_of_another_config_are_refused(tmp_path):
    networks = build_networks(load_config("vox-256"))
    save_pth(networks, tmp_path / "vox.pth.tar")
    message = _error(tmp_path / "vox.pth.tar", load_config("mgif-256"))
    assert "jacobian.weight is [40, 35, 7, 7], expected [4, 35, 7, 7]" in message


def _fake_copies(monkeypatch, authors: bytes, pruned: bytes):
    """The published copies' constants shrunk to small files: what is tested is the lookup, not 750 MB."""
    import hashlib

    from core.engines import checkpoints

    copies = (checkpoints.PublishedCopy("the authors' copy", range(len(authors), len(authors) + 1), "sha256",
                                        hashlib.sha256(authors).hexdigest()),
              checkpoints.PublishedCopy("the pruned copy", range(len(pruned) - 5, len(pruned) + 5), "md5",
                                        hashlib.md5(pruned).hexdigest()))
    monkeypatch.setattr(checkpoints, "PUBLISHED_COPIES", copies)
    monkeypatch.setattr(checkpoints, "_HASH_CHUNK", 7)  # several chunks, so the chunked digest is the whole one


def test_a_published_copy_is_named_by_size_then_hash(tmp_path, monkeypatch):
    from core.engines import checkpoints

    authors, pruned = b"authors" * 50, b"pruned" * 20
    _fake_copies(monkeypatch, authors, pruned)
    for name, data, expected in (("a.pth.tar", authors, "the authors' copy"), ("p.pth.tar", pruned, "the pruned copy"),
                                 ("same-size.pth.tar", b"x" * len(authors), checkpoints.NOT_PUBLISHED)):
        (tmp_path / name).write_bytes(data)
        assert checkpoints.identify_checkpoint(tmp_path / name) == expected
    (tmp_path / "other.pth.tar").write_bytes(b"y" * 1000)
    monkeypatch.setattr(checkpoints, "_digest", lambda *a: pytest.fail("hashed a file of another size"))
    assert checkpoints.identify_checkpoint(tmp_path / "other.pth.tar") == checkpoints.NOT_PUBLISHED


def test_doctor_names_the_copy_or_says_it_is_neither_but_loads(tmp_path, monkeypatch, tiny_checkpoint):
    from core.tools import doctor

    data = tiny_checkpoint.read_bytes()
    _fake_copies(monkeypatch, data, b"pruned" * 20)
    # the doctor loads with vox-256's networks; the tiny ones stand in for them here
    monkeypatch.setattr("models.checkpoint.load_networks", lambda path, config: None)
    check = doctor._checkpoint(tiny_checkpoint)
    assert check.status == "ok" and "the authors' copy; loads strictly" in check.detail
    other = tmp_path / "retrained.pth.tar"
    other.write_bytes(data + b"\0")
    check = doctor._checkpoint(other)
    assert check.status == "ok" and "not a published copy of vox-adv-cpk.pth.tar" in check.detail
    assert "but it loads strictly" in check.detail
