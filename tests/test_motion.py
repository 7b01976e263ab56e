"""Relative motion, checked against values worked out by hand."""

import numpy as np
import pytest
import torch

from models.motion import convex_hull_area, movement_scale, relative_keypoints


def test_convex_hull_area_ignores_interior_points():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [0.5, 1.5]])
    assert convex_hull_area(square) == pytest.approx(4.0)
    triangle = np.array([[0, 0], [4, 0], [0, 3], [1, 1]])
    assert convex_hull_area(triangle) == pytest.approx(6.0)
    assert convex_hull_area(np.array([[0, 0], [1, 1], [2, 2]])) == pytest.approx(0.0)


def test_relative_value_and_jacobian_by_hand():
    ks = {"value": torch.tensor([[[0.1, 0.2]]]), "jacobian": torch.tensor([[[[2.0, 0.0], [0.0, 1.0]]]])}
    kd0 = {"value": torch.tensor([[[0.0, 0.0]]]), "jacobian": torch.tensor([[[[1.0, 0.0], [0.0, 2.0]]]])}
    kd = {"value": torch.tensor([[[0.3, -0.1]]]), "jacobian": torch.tensor([[[[1.0, 1.0], [0.0, 2.0]]]])}
    out = relative_keypoints(ks, kd, kd0)
    assert torch.allclose(out["value"], torch.tensor([[[0.4, 0.1]]]))
    # J(kd) inv(J(kd0)) = [[1, 0.5], [0, 1]];  times J(ks) = [[2, 0.5], [0, 1]]
    assert torch.allclose(out["jacobian"], torch.tensor([[[[2.0, 0.5], [0.0, 1.0]]]]))
    scaled = relative_keypoints(ks, kd, kd0, scale=2.0)
    assert torch.allclose(scaled["value"], torch.tensor([[[0.7, 0.0]]]))


def test_adapt_scale_is_the_ratio_of_square_roots_of_hull_areas():
    square = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])  # area 1
    big = square * 3  # area 9
    assert movement_scale({"value": big}, {"value": square}) == pytest.approx(3.0)
    assert movement_scale({"value": square}, {"value": big}) == pytest.approx(1 / 3)


def test_driving_equal_to_neutral_gives_back_the_source_keypoints():
    ks = {"value": torch.rand(1, 10, 2), "jacobian": torch.rand(1, 10, 2, 2) + torch.eye(2)}
    kd = {"value": torch.rand(1, 10, 2), "jacobian": torch.rand(1, 10, 2, 2) + torch.eye(2)}
    out = relative_keypoints(ks, kd, kd)
    assert torch.allclose(out["value"], ks["value"])
    assert torch.allclose(out["jacobian"], ks["jacobian"], atol=1e-5)
