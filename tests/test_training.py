"""The paper's training: every loss term against a hand computation, a step that learns, checkpoints in
the published format, two data-parallel processes, and the train/evaluate commands end to end."""

import json
import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
import yaml

from conftest import ROOT, TINY_CONFIG, moved
from ddp_step import TRAIN
from main import main
from models.checkpoint import load_networks
from models.config import config_from_dict
from models.discriminator import DiscriminatorConfig, MultiScaleDiscriminator
from models.losses import (RandomTransform, Vgg19, discriminator_loss, equivariance_losses, generator_gan_losses,
                           perceptual_loss)
from models.training import Trainer, train_config_from_dict


def _tiny_trainer(**train):
    torch.manual_seed(0)
    return Trainer(config_from_dict(TINY_CONFIG, "tiny"), train_config_from_dict({"train_params": {
        "scales": [1, 0.5], "batch_size": 2, **train}}))


def test_equivariance_of_an_exact_affine_transform_is_zero():
    transform = RandomTransform(2, sigma_affine=0.0, sigma_tps=0.0, points_tps=5)
    transform.theta = torch.tensor([[[0.9, 0.1, 0.05], [-0.2, 1.1, -0.1]]] * 2)
    a, b = transform.theta[:, :, :2], transform.theta[:, :, 2]
    value = torch.rand(2, 10, 2) * 1.6 - 0.8
    jacobian = torch.eye(2).repeat(2, 10, 1, 1) + 0.1 * torch.randn(2, 10, 2, 2)
    # The keypoints of the warped frame, exactly as an equivariant detector would find them.
    inverse = torch.inverse(a)
    kp_t = {"value": ((inverse.unsqueeze(1) @ (value - b.unsqueeze(1)).unsqueeze(-1)).squeeze(-1)).requires_grad_(),
            "jacobian": inverse.unsqueeze(1) @ jacobian}
    losses = equivariance_losses({"value": value, "jacobian": jacobian}, kp_t, transform)
    assert losses["equivariance_value"] < 1e-6 and losses["equivariance_jacobian"] < 1e-5


def test_the_spline_jacobian_is_the_derivative_of_the_transform():
    transform = RandomTransform(1, sigma_affine=0.05, sigma_tps=0.05, points_tps=5,
                                generator=torch.Generator().manual_seed(1))
    points = (torch.rand(1, 6, 2, dtype=torch.float64) * 1.6 - 0.8).requires_grad_()
    transform.theta, transform.control_params = transform.theta.double(), transform.control_params.double()
    analytic = transform.jacobian(points)
    step = 1e-6
    for axis in range(2):
        shift = torch.zeros_like(points)
        shift[..., axis] = step
        numeric = (transform.warp_coordinates(points + shift) - transform.warp_coordinates(points - shift)) / (2 * step)
        assert torch.allclose(analytic[..., :, axis], numeric, atol=1e-6)


def test_the_perceptual_loss_without_vgg_is_an_l1_pyramid_and_with_vgg_is_zero_for_equal_images():
    pred = {1: torch.zeros(1, 3, 8, 8), 0.5: torch.zeros(1, 3, 4, 4)}
    driving = {1: torch.full((1, 3, 8, 8), 0.5), 0.5: torch.full((1, 3, 4, 4), 0.25)}
    # sum(weights) * (0.5 + 0.25)
    assert float(perceptual_loss(pred, driving, [10, 10, 10, 10, 10], None)) == pytest.approx(50 * 0.75)
    vgg = Vgg19()
    torchvision_layout = {f"features.{k}": torch.randn_like(v) for k, v in vgg.features.state_dict().items()}
    vgg.load_torchvision({**torchvision_layout, "classifier.0.weight": torch.zeros(1)})
    image = {1: torch.rand(1, 3, 32, 32)}
    assert float(perceptual_loss(image, image, [1] * 5, vgg)) == 0.0
    assert float(perceptual_loss({1: torch.rand(1, 3, 32, 32)}, image, [1] * 5, vgg)) > 0


def test_gan_terms_by_hand():
    real = {1: ([torch.ones(1, 2, 4, 4)], torch.full((1, 1, 2, 2), 0.75))}
    fake = {1: ([torch.zeros(1, 2, 4, 4)], torch.full((1, 1, 2, 2), 0.25))}
    generator = generator_gan_losses(real, fake, gan_weight=2.0, matching=[10])
    assert float(generator["generator_gan"]) == pytest.approx(2 * 0.75 ** 2)
    assert float(generator["feature_matching"]) == pytest.approx(10 * 1.0)
    assert float(discriminator_loss(real, fake, 1.0)) == pytest.approx(0.25 ** 2 + 0.25 ** 2)


def test_the_discriminator_has_the_published_keys():
    plain = MultiScaleDiscriminator(3, 10, DiscriminatorConfig(block_expansion=4, max_features=16, num_blocks=4))
    keys = set(plain.state_dict())
    assert {"discs.1.down_blocks.0.conv.weight", "discs.1.down_blocks.1.norm.weight", "discs.1.conv.bias"} <= keys
    assert "discs.1.down_blocks.0.norm.weight" not in keys  # no norm on the first block
    spectral = MultiScaleDiscriminator(3, 10, DiscriminatorConfig(block_expansion=4, max_features=16, sn=True))
    assert {"discs.1.conv.weight_orig", "discs.1.conv.weight_u", "discs.1.conv.weight_v"} <= set(spectral.state_dict())


def _batch(avatar, count=2, size=256):
    small = cv2.resize(avatar, (size, size), interpolation=cv2.INTER_AREA)
    pairs = [(small, moved(small, dx=6 * (i + 1), angle=4 * i)) for i in range(count)]
    tensor = lambda images: torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    return tensor([p[0] for p in pairs]), tensor([p[1] for p in pairs])


def test_training_steps_lower_the_loss_in_both_recipes(avatar_256):
    source, driving = _batch(avatar_256)
    for extra in ({}, {"loss_weights": {"generator_gan": 1}}):
        trainer = _tiny_trainer(lr_generator=1e-3, lr_kp_detector=1e-3, **extra)

        def total():
            losses, _ = trainer.losses(source, driving, torch.Generator().manual_seed(7))
            return float(losses["perceptual"].detach())

        before = total()
        for _ in range(6):
            report = trainer.step(source, driving, torch.Generator().manual_seed(7))
        assert total() < before
        assert ("discriminator_gan" in report) == bool(extra)


def test_a_checkpoint_is_published_format_loads_strictly_and_resumes(tmp_path, tiny_config_path, avatar_256):
    trainer = _tiny_trainer(epoch_milestones=[1])
    source, driving = _batch(avatar_256)
    trainer.step(source, driving)
    trainer.end_epoch()
    path = tmp_path / "model.pth.tar"
    trainer.save(path)
    state = torch.load(path, weights_only=True)
    assert set(state) == {"generator", "kp_detector", "discriminator", "optimizer_generator",
                          "optimizer_kp_detector", "optimizer_discriminator", "epoch"} and state["epoch"] == 1
    load_networks(path, config_from_dict(TINY_CONFIG, "tiny"))  # what animate, run and the window use (strict)
    again = _tiny_trainer(epoch_milestones=[1])
    again.resume(state)
    assert again.epoch == 1 and again.optimizer_generator.param_groups[0]["lr"] == pytest.approx(2e-5)
    assert again.optimizer_generator.state_dict()["state"]  # Adam's moments came back
    for a, b in zip(again.generator.parameters(), trainer.generator.parameters()):
        assert torch.equal(a, b)


def test_two_data_parallel_processes_make_the_update_of_their_averaged_gradients(tmp_path, avatar_256):
    """Two gloo processes under torchrun, a sample each, against one process averaging the two samples'
    gradients. Batch norm statistics are per process (as the README says), so that is the update to match."""
    source, driving = _batch(avatar_256)
    torch.save({"source": source, "driving": driving}, tmp_path / "batch.pt")
    out = tmp_path / "ddp.pt"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", "29517", str(ROOT / "tests" / "ddp_step.py"), str(tmp_path / "batch.pt"),
                             str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    torch.manual_seed(0)
    reference = Trainer(config_from_dict(TINY_CONFIG, "tiny"), train_config_from_dict(TRAIN))
    halves, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)  # as torchrun runs each process: a random tiny network's batch norms on 1x1
    try:                      # maps are sensitive enough to the order of summation to differ by a percent
        for rank in range(2):
            reference.zero_grad()
            losses, _ = reference.losses(source[rank:rank + 1], driving[rank:rank + 1],
                                         torch.Generator().manual_seed(100 + rank))
            sum(losses.values()).backward()
            halves.append({name: p.grad.clone() for name, p in reference.named_parameters() if p.grad is not None})
    finally:
        torch.set_num_threads(threads)
    averaged = torch.load(out)
    assert averaged and set(averaged) <= set(halves[0])
    for name, gradient in averaged.items():
        expected = (halves[0][name] + halves[1][name]) / 2
        assert torch.allclose(gradient, expected, rtol=1e-3, atol=1e-6), name
        if expected.abs().max() > 1e-4:  # and it is not one process's own gradient
            assert not torch.allclose(gradient, halves[0][name], rtol=1e-3, atol=1e-6) or torch.allclose(
                halves[0][name], halves[1][name], rtol=1e-3, atol=1e-6)


def _video(path, frames):
    from core.media.video_io import Mp4Writer

    writer = Mp4Writer(path, 25, (256, 256))
    for frame in frames:
        writer.write(frame)
    writer.close()


def test_train_evaluate_and_resume_from_the_command_line(tmp_path, capsys, avatar_256):
    data = tmp_path / "data"
    for split, count in (("train", 2), ("test", 1)):
        (data / split).mkdir(parents=True)
        for v in range(count):
            _video(data / split / f"id{v}#clip.mp4", [moved(avatar_256, dx=3 * i * (v + 1), angle=i) for i in range(6)])
    config = tmp_path / "tiny-train.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "dataset_params": {
        "frame_shape": [256, 256, 3], "id_sampling": True,
        "augmentation_params": {"flip_param": {"horizontal_flip": True, "time_flip": True},
                                "jitter_param": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1}}},
        "train_params": {"num_epochs": 1, "num_repeats": 2, "batch_size": 2, "scales": [1, 0.5],
                         "checkpoint_freq": 1, "epoch_milestones": [5]}}))
    out = tmp_path / "model.pth.tar"
    assert main(["train", "--config", str(config), "--data", str(data), "--out", str(out), "--max-steps", "2",
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "L1 image pyramid" in err and f"wrote {out}" in err
    assert main(["evaluate", "--config", str(config), "--checkpoint", str(out), "--data", str(data),
                 "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["videos"] == 1 and report["frames"] == 6 and 0 <= report["l1"] <= 1 and report["l1_still_source"] > 0
    assert main(["train", "--config", str(config), "--data", str(data), "--out", str(out), "--checkpoint",
                 str(out), "--max-steps", "1", "--device", "cpu"]) == 0
    frames = tmp_path / "animated"
    assert main(["animate", "--avatar", str(ROOT / "assets/avatars/astronaut.png"), "--driving",
                 str(data / "test" / "id0#clip.mp4"), "--out", str(frames), "--checkpoint", str(out),
                 "--config", str(config), "--crop-only"]) == 0


@pytest.mark.parametrize("key, value, message", [
    ("num_epochs", "ten", "train_params.num_epochs: needs a whole number"), ("batch_size", 0, "at least 1"),
    ("scales", "big", "needs a list of numbers"), ("learning_rate", 1, "unknown keys learning_rate")])
def test_bad_training_configs_are_one_error_line_naming_the_key(tmp_path, capsys, key, value, message):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "train_params": {key: value}}))
    (tmp_path / "data" / "train").mkdir(parents=True)
    code = main(["train", "--config", str(config), "--data", str(tmp_path / "data"), "--out",
                 str(tmp_path / "m.pth.tar")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("spoil, message", [
    (lambda path: path.write_bytes(b"not torch"), "not a checkpoint: not a torch file of tensors"),
    (lambda path: torch.save({"generator": {}}, path), "no kp_detector state dict in it"),
    (lambda path: torch.save({"generator": {"final.weight": torch.zeros(1)}, "kp_detector": {}}, path),
     "does not fit")])
def test_a_checkpoint_to_resume_that_does_not_fit_is_one_error_line(tmp_path, capsys, tiny_config_path, spoil,
                                                                  message):
    checkpoint = tmp_path / "old.pth.tar"
    spoil(checkpoint)
    (tmp_path / "data" / "train").mkdir(parents=True)
    code = main(["train", "--config", str(tiny_config_path), "--data", str(tmp_path / "data"), "--out",
                 str(tmp_path / "m.pth.tar"), "--checkpoint", str(checkpoint)])
    err = capsys.readouterr().err.splitlines()[-1]  # after the note that no VGG weights were given, if any
    assert code == 2 and err.startswith("error: ") and message in err


def test_prepare_data_crops_faces_into_the_training_layout(tmp_path, capsys, camera_video):
    out = tmp_path / "mine"
    clips = []
    for i in range(2):
        clips.append(tmp_path / f"clip{i}.mp4")
        clips[-1].write_bytes(camera_video.read_bytes())
    assert main(["prepare-data", *map(str, clips), "--out", str(out), "--size", "128"]) == 0
    frames = sorted((out / "train" / "clip0").iterdir())
    assert len(frames) == 90 and cv2.imread(str(frames[0])).shape == (128, 128, 3)
    assert (out / "train" / "clip1").is_dir()
    flat = tmp_path / "flat.mp4"
    from core.media.video_io import Mp4Writer

    writer = Mp4Writer(flat, 25, (64, 64))
    writer.write(np.full((64, 64, 3), 90, np.uint8))
    writer.close()
    assert main(["prepare-data", str(flat), "--out", str(tmp_path / "none")]) == 2
    assert "no face found" in capsys.readouterr().err


def _train_with(tmp_path, config: dict, *extra: str) -> int:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    (tmp_path / "data" / "train").mkdir(parents=True, exist_ok=True)
    code = main(["train", "--config", str(path), "--data", str(tmp_path / "data"), "--out",
                 str(tmp_path / "m.pth.tar"), *extra])
    return code


@pytest.mark.parametrize("sections, message", [
    ({"dataset_params": [1, 2]}, "dataset_params: needs a mapping of keys, not [1, 2]"),
    ({"dataset_params": {"augmentation_params": [1]}},
     "dataset_params.augmentation_params: needs a mapping of keys, not [1]"),
    ({"dataset_params": {"augmentation_params": {"flip_param": True}}},
     "dataset_params.augmentation_params.flip_param: needs a mapping of keys, not True"),
    ({"dataset_params": {"augmentation_params": {"jitter_param": {"brightness": "x"}}}},
     "dataset_params.augmentation_params.jitter_param.brightness: needs a number of at least 0, not 'x'"),
    ({"dataset_params": {"id_sampling": "often"}}, "dataset_params.id_sampling: needs true or false"),
    ({"train_params": [1]}, "train_params: needs a mapping of keys, not [1]"),
    ({"dataset_params": {"frame_shape": [64, 64, 3]}},
     "dataset_params.frame_shape: 64 pixels cannot run through kp_detector_params: its 5 hourglass blocks at "
     "scale_factor 0.25 need a multiple of 32 pixels after scaling; the smallest that can is 125")])
def test_training_config_sections_of_the_wrong_kind_are_one_error_line_naming_the_key(tmp_path, capsys, sections,
                                                                                     message):
    code = _train_with(tmp_path, {**TINY_CONFIG, **sections})
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_a_frame_size_the_hourglass_accepts_runs(tmp_path):
    """The size the frame_shape message offers (125: a quarter rounds up to 32) does run through the networks."""
    from models.checkpoint import build_networks

    config = config_from_dict({**TINY_CONFIG, "dataset_params": {"frame_shape": [125, 125, 3]}}, "tiny")
    kp_detector, generator = build_networks(config)
    with torch.no_grad():
        frames = torch.rand(1, 3, 125, 125)
        keypoints = kp_detector(frames)
        generator(frames, keypoints, keypoints)


def test_train_names_an_unknown_device_and_the_allowed_ones(tmp_path, capsys, tiny_config_path):
    code = _train_with(tmp_path, yaml.safe_load(tiny_config_path.read_text()), "--device", "tpu")
    err = capsys.readouterr().err
    assert code == 2 and err == "error: --device tpu: unknown device; use auto, cpu, cuda or cuda:N\n"


def test_train_refuses_a_checkpoint_with_nan_weights_before_training(tmp_path, capsys, tiny_checkpoint,
                                                                     tiny_config_path):
    state = torch.load(tiny_checkpoint, weights_only=True)
    key = sorted(state["kp_detector"])[3]
    state["kp_detector"][key] = torch.full_like(state["kp_detector"][key], float("nan"))
    broken = tmp_path / "nan.pth.tar"
    torch.save(state, broken)
    code = _train_with(tmp_path, yaml.safe_load(tiny_config_path.read_text()), "--checkpoint", str(broken),
                       "--device", "cpu")
    err = capsys.readouterr().err
    assert code == 2 and err.splitlines()[-1] == f"error: {broken}: kp_detector {key} holds NaN or infinite values"
    assert not (tmp_path / "m.pth.tar").exists()


def test_the_shipped_training_configs_have_the_authors_values():
    from core.tools.train import load_training_config
    from models.config import FommConfig
    from models.training import TrainConfig

    vox_model, vox, vox_data = load_training_config("vox-256")
    adv_model, adv, adv_data = load_training_config("vox-adv-256")
    # the published networks (FommConfig's defaults are vox-256's) under both names
    assert vox_model == FommConfig(name="vox-256") and adv_model == FommConfig(name="vox-adv-256")
    assert vox_data == adv_data and vox_data.id_sampling and vox_data.augmentation.hue == 0.1
    assert vox == replace(TrainConfig(), discriminator=replace(TrainConfig().discriminator, sn=True))
    assert (adv.num_epochs, adv.batch_size, adv.epoch_milestones, adv.loss_weights.generator_gan,
            adv.discriminator.use_kp) == (150, 36, (), 1, True)
    tiny_model, tiny, _ = load_training_config("tiny-cpu")
    assert tiny_model.image_size == 64 and tiny.batch_size == 8 and tiny_model.generator.block_expansion == 16


def test_the_readme_recipe_trains_the_tiny_config_by_name(tmp_path, capsys, astronaut):
    """prepare-data on five clips (every fifth goes to test/), then train and evaluate tiny-cpu by name."""
    from conftest import camera_clip

    clips = [camera_clip(tmp_path / f"clip{i}.mp4", astronaut, 8, motion=lambda f, i=i: {"dx": f * (i + 1)})
             for i in range(5)]
    data, model = tmp_path / "my_data", tmp_path / "me.pth.tar"
    assert main(["prepare-data", *map(str, clips), "--out", str(data), "--size", "64"]) == 0
    assert sorted(p.name for p in (data / "test").iterdir()) == ["clip4"]
    assert main(["train", "--config", "tiny-cpu", "--data", str(data), "--out", str(model), "--max-steps", "2",
                 "--device", "cpu"]) == 0
    assert f"wrote {model}" in capsys.readouterr().err
    assert main(["evaluate", "--config", "tiny-cpu", "--checkpoint", str(model), "--data", str(data),
                 "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["videos"] == 1 and report["frames"] == len(list((data / "test" / "clip4").iterdir())) > 1
