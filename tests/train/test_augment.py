"""Batch augmentation (mixup, cutmix, random erasing), drop path, soft-target losses, recipes."""

from __future__ import annotations

import argparse
import importlib.util

import pytest
import torch

from stablespike.core.errors import ConfigError
from stablespike.models.transformers import DropPath
from stablespike.train.augment import (
    BatchAugment,
    cutmix,
    mix_targets,
    mixup,
    randaugment,
    random_erasing,
)
from stablespike.train.config import TrainConfig, add_config_arguments, resolve_config
from stablespike.train.losses import mean_ce_loss, tet_loss
from stablespike.train.recipes import RECIPES, recipe_values


def test_mixup_mixes_inputs_and_labels_with_the_same_lambda():
    x = torch.stack([torch.full((1, 2, 2), float(i)) for i in range(4)])  # sample i == i
    y = torch.tensor([0, 1, 2, 0])
    out = mixup(x, 0.7)
    torch.testing.assert_close(
        out[:, 0, 0, 0], 0.7 * torch.arange(4.0) + 0.3 * torch.arange(3.0, -1, -1)
    )
    t = mix_targets(y, 3, 0.7)
    torch.testing.assert_close(t.sum(1), torch.ones(4))
    torch.testing.assert_close(t[1], torch.tensor([0.0, 0.7, 0.3]))  # partner of 1 is 2


@pytest.mark.parametrize("lam", [0.1, 0.5, 0.9])
def test_cutmix_lambda_is_the_kept_area_fraction(lam):
    g = torch.Generator().manual_seed(3)
    x = torch.zeros(2, 1, 20, 16)
    x[1] = 1.0  # sample 0 gets a box from sample 1
    out, kept = cutmix(x, lam, g)
    pasted = float(out[0].sum())
    assert pasted == pytest.approx((1.0 - kept) * 20 * 16)
    assert float((1 - out[1]).sum()) == pytest.approx(pasted)  # and sample 1 from sample 0
    assert abs(kept - lam) < 0.35  # the box is about (1 - lam) of the area unless clipped


def test_random_erasing_zeroes_one_box_per_chosen_sample_at_every_timestep():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(3, 6, 2, 16, 16)  # time-major [T, B, C, H, W]
    out = random_erasing(x, 1.0, g, batch_dim=1)
    for b in range(6):
        zero = out[:, b] == 0
        assert torch.equal(zero, zero[:1].expand_as(zero))  # same box at every step, channel
        area = int(zero[0, 0].sum())
        assert 0.02 * 256 - 8 <= area <= 256 / 3 + 8
        rows, cols = torch.nonzero(zero[0, 0], as_tuple=True)
        assert area == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # a box
    assert torch.equal(random_erasing(x, 0.0, g, batch_dim=1), x)


def test_batch_augment_is_a_function_of_the_step():
    aug = BatchAugment(num_classes=4, mixup=0.8, cutmix=1.0, erase_prob=0.5, seed=1)
    x, y = torch.randn(8, 1, 12, 12), torch.arange(8) % 4
    a1, t1 = aug(x, y, step=5)
    a2, t2 = aug(x, y, step=5)
    b1, _ = aug(x, y, step=6)
    assert torch.equal(a1, a2) and torch.equal(t1, t2)
    assert not torch.equal(a1, b1)
    torch.testing.assert_close(t1.sum(1), torch.ones(8))
    assert BatchAugment(num_classes=4).active is False


def test_soft_targets_in_both_losses():
    logits = torch.randn(3, 4, 5)
    y = torch.tensor([0, 1, 2, 3])
    onehot = torch.nn.functional.one_hot(y, 5).float()
    torch.testing.assert_close(mean_ce_loss(logits, onehot, 0.1), mean_ce_loss(logits, y, 0.1))
    torch.testing.assert_close(tet_loss(logits, onehot, 0.1), tet_loss(logits, y, 0.1))
    with pytest.raises(ValueError, match="class probabilities"):
        mean_ce_loss(logits, torch.zeros(4, 3))


def test_drop_path_drops_whole_samples_and_keeps_the_expectation_in_training():
    torch.manual_seed(0)
    dp = DropPath(0.25)
    x = torch.ones(2, 4000, 3)
    out = dp(x)
    per_sample = out[0, :, 0]
    kept = per_sample[per_sample != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1.0 / 0.75))  # scaled by 1 / (1 - p)
    assert torch.equal(out, out[:1, :, :1].expand_as(out))  # same draw for all steps, features
    assert abs(float(out.mean()) - 1.0) < 0.05
    assert abs(float((per_sample == 0).float().mean()) - 0.25) < 0.03
    assert torch.equal(dp.eval()(x), x)


def test_drop_path_reaches_the_transformer_blocks():
    from stablespike.models import build_model

    net = build_model("spikformer-tiny", num_classes=3, in_channels=1, drop_path=0.2)
    assert [m.p for m in net.modules() if isinstance(m, DropPath)] == [0.2]
    net = build_model("qkformer-tiny", num_classes=3, in_channels=1, drop_path=0.2)
    assert [m.p for m in net.modules() if isinstance(m, DropPath)] == pytest.approx([0.0, 0.1, 0.2])


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="has torchvision")
def test_randaugment_without_torchvision_names_the_extra():
    with pytest.raises(ImportError, match="torchvision.*'vision' extra"):
        randaugment("rand-m9-n1-mstd0.4-inc1")
    with pytest.raises(ConfigError, match="torchvision"):
        TrainConfig(randaugment="rand-m9-n1").batch_augment(10)


def test_randaugment_spec_is_checked():
    with pytest.raises(ValueError, match="rand-m9-n1"):
        randaugment("m9")


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return resolve_config(parser.parse_args(argv))


def test_recipe_sets_the_official_values_below_the_flags(tmp_path):
    cfg = _parse(["--recipe", "qkformer-cifar10", "--epochs", "30", "--randaugment", ""])
    want = recipe_values("qkformer-cifar10")
    assert cfg.recipe == "qkformer-cifar10" and cfg.epochs == 30 and cfg.randaugment == ""
    assert (cfg.model, cfg.lr, cfg.weight_decay, cfg.batch_size) == (
        "qkformer-hst-4-384",
        1e-3,
        0.06,
        64,
    )
    assert (cfg.mixup, cfg.random_erasing, cfg.label_smoothing) == (0.5, 0.25, 0.1)
    assert cfg.warmup_epochs == want["warmup_epochs"]
    path = tmp_path / "c.yaml"
    path.write_text("recipe: spikformer-cifar100\nlr: 0.01\n")
    cfg = _parse(["--config", str(path)])
    assert (cfg.model, cfg.dataset, cfg.lr, cfg.batch_size) == (
        "spikformer-4-384",
        "cifar100",
        0.01,
        128,
    )
    assert set(RECIPES) >= {"spikingresformer-cifar10", "spikformer-cifar10"}
    with pytest.raises(ConfigError, match="unknown recipe 'nope'; available: qkformer-cifar10"):
        _parse(["--recipe", "nope"])
