"""Inference rewrites keep the networks' function: folded batch norms and channels-last give the same numbers."""

import json

import pytest
import torch

from conftest import randomize
from main import main
from models.checkpoint import build_networks
from models.config import load_config
from models.inference import PLAIN, InferenceOptions, prepare


@pytest.mark.parametrize("options", [InferenceOptions(fold_batchnorm=True, channels_last=False),
                                     InferenceOptions(fold_batchnorm=False, channels_last=True),
                                     InferenceOptions()])
def test_rewritten_networks_match_the_plain_ones(tiny_config_path, options):
    config = load_config(tiny_config_path)
    plain, fast = build_networks(config), build_networks(config)
    for a, b in zip(plain, fast):
        randomize(a)
        b.load_state_dict(a.state_dict())
        prepare(a, PLAIN)
        prepare(b, options)
    inputs = torch.Generator().manual_seed(0)  # unseeded, one draw in a few dozen came out at the bound
    source, driving = torch.rand(1, 3, 256, 256, generator=inputs), torch.rand(1, 3, 256, 256, generator=inputs)
    layout = torch.channels_last if options.channels_last else torch.contiguous_format
    with torch.inference_mode():
        expected = plain[1](source, plain[0](driving), plain[0](source))["prediction"]
        s, d = source.contiguous(memory_format=layout), driving.contiguous(memory_format=layout)
        got = fast[1](s, fast[0](d), fast[0](s))["prediction"]
    assert (got - expected).abs().max() < 1e-4


def test_folding_removes_every_foldable_batchnorm(tiny_config_path):
    kp, gen = build_networks(load_config(tiny_config_path))
    prepare(gen, InferenceOptions(channels_last=False))
    norms = [name for name, m in gen.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(name.endswith("norm1") for name in norms)  # only the pre-activation ones stay


def test_bench_compare_reports_speedup_and_difference(capsys, tiny_checkpoint, tiny_config_path):
    code = main(["bench", "--engine", "fomm", "--checkpoint", str(tiny_checkpoint), "--config",
                 str(tiny_config_path), "--frames", "2", "--compare", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["plain_ms_per_frame"] > 0 and result["speedup"] == pytest.approx(
        result["plain_ms_per_frame"] / result["ms_per_frame"], rel=0.01)
    assert result["max_abs_diff"] < 1e-2 and result["mean_abs_diff"] < 2e-3


def test_winograd_convolution_matches_the_direct_one_and_falls_back_when_it_must():
    from models.inference import Winograd3x3

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 48, 3, padding=1)
    fast = Winograd3x3(conv)
    with torch.inference_mode():
        for shape in ((2, 64, 16, 24), (1, 64, 10, 10)):  # the second is not a multiple of 4: direct path
            x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
            expected = conv(x)
            assert (fast(x) - expected).abs().max() < 1e-4 * expected.abs().max()
        half = torch.randn(1, 64, 16, 16, dtype=torch.bfloat16)
        assert torch.equal(fast.to(torch.bfloat16)(half), torch.nn.functional.conv2d(
            half, conv.weight.to(torch.bfloat16), conv.bias.to(torch.bfloat16), padding=1))
