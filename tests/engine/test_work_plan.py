"""The planned work of a `reproduce` experiment: counts from the spec by hand, FLOPs of a
forward pass by hand, and the GPU-hour estimate from its documented constants."""

from __future__ import annotations

import pytest

from engine import work_plan as W
from engine.presets import REPRODUCE


def test_a_forward_pass_is_counted_as_two_flops_per_multiply_add():
    lenet = REPRODUCE["lenet-mnist5k"][1]
    assert W.forward_flops(lenet) == 2 * (784 * 300 + 300 * 100 + 100 * 10)
    conv2 = REPRODUCE["conv2-mnist5k"][1]
    # two 3x3 convs of 64 at 28x28 ("same" padding), then 3 linear layers on the pooled map
    convs = 2 * 28 * 28 * (64 * 1 * 9 + 64 * 64 * 9)
    linear = 2 * (14 * 14 * 64 * 256 + 256 * 256 + 256 * 10)
    assert W.forward_flops(conv2) == convs + linear


def test_the_paper_experiments_count_every_training_and_spectrum():
    spec = REPRODUCE["paper-resnet20-cifar10"][1]
    w = W.plan_work(spec, 100, 2048)
    assert w.trainings == 11 + 1 + 10 + 3  # IMP 0-10, one-shot, FT's chain, RIPN, RPN_1/2
    assert w.copies == 11 + 1  # a copy B per level, and level 0's copy A (rewind 1000it)
    assert w.epochs == (w.trainings + w.copies) * 160  # rewind in iterations: an upper bound
    assert w.spectra == 1 + 2 * 10 + 5 + 10  # min_0, min_L and Pr_L, baselines, matched
    fwd = W.forward_flops(spec)
    flops = w.epochs * (3 * 50_000 + 10_000) * fwd
    flops += w.spectra * 3 * 100 * 6 * 2048 * fwd
    flops += (31 * 11 + 20) * (2 * 50_000 + 10_000) * fwd
    assert w.flops == pytest.approx(flops)
    assert w.gpu_hours(4.0) == pytest.approx(flops / 4e12 / 3600)
    assert w.gpu_hours(8.0) == pytest.approx(w.gpu_hours(4.0) / 2)
    vgg = W.plan_work(REPRODUCE["paper-vgg16-cifar10"][1], 100, 2048)
    assert vgg.trainings == w.trainings and vgg.forward_gflops > 5 * w.forward_gflops


def test_the_plan_reads_as_lines_with_the_assumed_rate():
    spec = REPRODUCE["paper-resnet20-cifar10"][1]
    w = W.plan_work(spec, 100, 2048)
    lines = W.describe(spec, w, 3, 2.0)
    assert "25 trainings" in lines[0] and "12 instability copies" in lines[0]
    assert "36 top-100 Hessian spectra on 2,048 images" in lines[1]
    assert "assumed 2 TFLOP/s" in lines[2]
    assert f"{w.gpu_hours(2.0) * 3:.3g} for 3 seed(s)" in lines[3]
