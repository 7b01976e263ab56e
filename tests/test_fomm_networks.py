"""The FOMM networks: the published layout, the building blocks' numbers, and the forward shapes."""

import json

import pytest
import torch
import torch.nn.functional as F

from conftest import DATA, TINY_CONFIG, randomize
from models.blocks import AntiAliasInterpolation, coordinate_grid, gaussian_kernel
from models.checkpoint import build_networks
from models.config import ConfigError, available_configs, config_from_dict, load_config
from models.dense_motion import sparse_motions


def test_vox256_state_dict_matches_published_layout_key_for_key_and_shape_for_shape():
    manifest = json.loads((DATA / "vox-256-state-dict.json").read_text())
    kp, gen = build_networks(load_config("vox-256"))
    for name, net in (("kp_detector", kp), ("generator", gen)):
        ours = {k: list(v.shape) for k, v in net.state_dict().items()}
        assert ours == manifest[name]


def test_published_configs_are_shipped_and_differ_only_where_the_authors_differ():
    assert {"vox-256", "taichi-256", "mgif-256"} <= set(available_configs())
    vox, mgif = load_config("vox-256"), load_config("mgif-256")
    assert vox.kp_detector.single_jacobian_map is False and mgif.kp_detector.single_jacobian_map is True
    kp, _ = build_networks(mgif)
    assert kp.jacobian.weight.shape == (4, 35, 7, 7)


def test_unknown_config_names_the_choices():
    with pytest.raises(ConfigError, match="unknown config 'vox-512'.*vox-256"):
        load_config("vox-512")


def test_config_with_unknown_keys_is_refused():
    bad = json.loads(json.dumps(TINY_CONFIG))
    bad["model_params"]["kp_detector_params"]["num_kps"] = 3
    with pytest.raises(ConfigError, match="num_kps"):
        config_from_dict(bad, "bad")


def test_coordinate_grid_follows_the_convention():
    grid = coordinate_grid(3, 5)
    assert grid.shape == (3, 5, 2)
    assert torch.allclose(grid[0, :, 0], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))
    assert torch.allclose(grid[:, 0, 1], torch.tensor([-1.0, 0.0, 1.0]))


def test_quarter_scale_antialias_kernel_is_13x13_sums_to_one_and_downsamples_256_to_64():
    kernel = gaussian_kernel(0.25)
    assert kernel.shape == (13, 13)
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-6)
    sigma = 1.5
    expected_ratio = torch.exp(torch.tensor(-(6.0 ** 2) / (2 * sigma ** 2))).item()
    assert (kernel[6, 0] / kernel[6, 6]).item() == pytest.approx(expected_ratio, rel=1e-5)
    down = AntiAliasInterpolation(3, 0.25)
    assert down.weight.shape == (3, 1, 13, 13)
    flat = torch.full((1, 3, 256, 256), 0.5)
    out = down(flat)
    assert out.shape == (1, 3, 64, 64)
    assert out[0, :, 10, 10] == pytest.approx([0.5] * 3, abs=1e-6)  # inside the zero padding's reach: unchanged


def test_identical_keypoints_with_identity_jacobians_give_identity_sparse_motions():
    kp = {"value": torch.rand(2, 10, 2) * 2 - 1, "jacobian": torch.eye(2).expand(2, 10, 2, 2)}
    motions = sparse_motions(kp, kp, 16, 16)
    assert motions.shape == (2, 11, 16, 16, 2)
    assert torch.allclose(motions, coordinate_grid(16, 16).expand(2, 11, 16, 16, 2), atol=1e-6)


def test_sparse_motion_applies_the_first_order_map():
    # z -> ks + Js inv(Jd) (z - kd): with Jd = 2I, Js = I, kd = 0, ks = (0.5, 0) a point z maps to ks + z/2.
    kd = {"value": torch.zeros(1, 1, 2), "jacobian": 2 * torch.eye(2).view(1, 1, 2, 2)}
    ks = {"value": torch.tensor([[[0.5, 0.0]]]), "jacobian": torch.eye(2).view(1, 1, 2, 2)}
    motions = sparse_motions(kd, ks, 5, 5)
    z = coordinate_grid(5, 5)
    assert torch.allclose(motions[0, 1], torch.tensor([0.5, 0.0]) + z / 2, atol=1e-6)


def test_zero_order_config_has_no_jacobian_and_translates():
    zero = json.loads(json.dumps(TINY_CONFIG))
    zero["model_params"]["common_params"]["estimate_jacobian"] = False
    kp, gen = build_networks(config_from_dict(zero, "zero"))
    assert kp.jacobian is None and not any("jacobian" in k for k in kp.state_dict())
    with torch.inference_mode():
        out = kp(torch.rand(1, 3, 256, 256))
    assert set(out) == {"value"}
    kd, ks = {"value": torch.zeros(1, 10, 2)}, {"value": torch.full((1, 10, 2), 0.25)}
    motions = sparse_motions(kd, ks, 4, 4)
    assert torch.allclose(motions[0, 3], coordinate_grid(4, 4) + 0.25)


def test_keypoints_are_a_heatmap_weighted_mean_in_the_grid_and_jacobians_start_at_identity():
    kp, _ = build_networks(load_config("vox-256"))
    with torch.inference_mode():
        out = kp(torch.rand(2, 3, 256, 256))
    assert out["value"].shape == (2, 10, 2) and out["value"].dtype == torch.float32
    assert out["value"].abs().max() <= 1
    # Freshly built, the Jacobian conv is zero with bias (1, 0, 0, 1): a convex combination of identities.
    assert torch.allclose(out["jacobian"], torch.eye(2).expand(2, 10, 2, 2), atol=1e-5)


def test_generator_forward_shapes_and_range_on_the_tiny_layout(tiny_config_path):
    config = load_config(tiny_config_path)
    kp, gen = build_networks(config)
    randomize(kp, gen)
    source, driving = torch.rand(1, 3, 256, 256), torch.rand(1, 3, 256, 256)
    with torch.inference_mode():
        out = gen(source, kp(driving), kp(source))
        again = gen.decode(gen.encode(source), kp(driving), kp(source))
    assert out["prediction"].shape == (1, 3, 256, 256)
    assert 0 <= out["prediction"].min() and out["prediction"].max() <= 1
    assert out["deformation"].shape == (1, 64, 64, 2) and out["occlusion_map"].shape == (1, 1, 64, 64)
    assert torch.allclose(out["mask"].sum(1), torch.ones(1, 64, 64), atol=1e-5)
    assert torch.equal(out["prediction"], again["prediction"])


def test_warp_resizes_a_coarser_deformation_bilinearly():
    from models.generator import _warp

    features = torch.rand(1, 2, 8, 8)
    identity = coordinate_grid(4, 4).unsqueeze(0)
    resized = F.interpolate(identity.permute(0, 3, 1, 2), size=(8, 8), mode="bilinear",
                            align_corners=False).permute(0, 2, 3, 1)
    assert torch.allclose(_warp(features, identity), F.grid_sample(features, resized, align_corners=False))
