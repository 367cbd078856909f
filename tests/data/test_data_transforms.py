"""Transforms: exact crops/flips, one random draw per sample shared by its T frames."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stablespike.data.transforms import (
    CenterCrop,
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
    ToUnitFloat,
    crop_batch,
)


def test_crop_batch_takes_a_different_window_per_sample() -> None:
    x = torch.arange(2 * 16, dtype=torch.float32).view(2, 1, 4, 4)
    out = crop_batch(x, torch.tensor([0, 2]), torch.tensor([1, 0]), (2, 3))
    assert torch.equal(out[0, 0], x[0, 0, 0:2, 1:4])
    assert torch.equal(out[1, 0], x[1, 0, 2:4, 0:3])


def test_crop_batch_rejects_out_of_bounds_offsets() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        crop_batch(torch.zeros(1, 1, 4, 4), torch.tensor([3]), torch.tensor([0]), (2, 2))


def test_random_crop_matches_pad_then_slice_with_the_same_draws() -> None:
    x = torch.randint(0, 255, (6, 3, 8, 8), dtype=torch.uint8).float()
    out = RandomCrop(8, padding=2).batch(x, torch.Generator().manual_seed(3))
    replay = torch.Generator().manual_seed(3)
    tops = torch.randint(0, 5, (6,), generator=replay)
    lefts = torch.randint(0, 5, (6,), generator=replay)
    padded = F.pad(x, (2, 2, 2, 2))
    for i in range(6):
        t, left = int(tops[i]), int(lefts[i])
        assert torch.equal(out[i], padded[i, :, t : t + 8, left : left + 8])


def test_random_crop_pads_with_zeros() -> None:
    ones = torch.ones(200, 1, 2, 2)
    out = RandomCrop(2, padding=1).batch(ones, torch.Generator().manual_seed(0))
    sums = out.sum(dim=(1, 2, 3))
    # a 2x2 window in a 4x4 zero-padded image overlaps the 2x2 ones by 1, 2 or 4 pixels
    assert set(sums.tolist()) == {1.0, 2.0, 4.0}


def test_random_crop_uses_one_offset_for_all_frames_of_a_sample() -> None:
    base = torch.rand(5, 1, 1, 6, 6)
    frames = torch.cat([base + 100 * t for t in range(4)], dim=1)  # [B, T=4, C=1, 6, 6]
    out = RandomCrop(3).batch(frames, torch.Generator().manual_seed(1))
    assert out.shape == (5, 4, 1, 3, 3)
    for t in range(4):
        assert torch.allclose(out[:, t] - out[:, 0], torch.full_like(out[:, 0], 100.0 * t))
    offsets = set()
    for i in range(5):
        windows = base[i, 0, 0].unfold(0, 3, 1).unfold(1, 3, 1)  # [4, 4, 3, 3]
        match = (windows == out[i, 0, 0]).all(-1).all(-1).nonzero().tolist()
        assert len(match) == 1
        offsets.add(tuple(match[0]))
    assert len(offsets) > 1  # samples are cropped independently


def test_random_crop_is_reproducible_with_a_seeded_generator() -> None:
    x = torch.rand(16, 3, 10, 10)
    crop = RandomCrop(8, padding=1)
    a = crop.batch(x, torch.Generator().manual_seed(7))
    b = crop.batch(x, torch.Generator().manual_seed(7))
    c = crop.batch(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_random_crop_uses_global_rng_without_generator() -> None:
    x = torch.rand(16, 1, 6, 6)
    torch.manual_seed(5)
    a = RandomCrop(4).batch(x)
    torch.manual_seed(5)
    assert torch.equal(a, RandomCrop(4).batch(x))


def test_flip_probability_one_and_zero_are_exact() -> None:
    x = torch.arange(6.0).view(1, 2, 3)
    assert torch.equal(
        RandomHorizontalFlip(p=1.0)(x), torch.tensor([[[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]])
    )
    assert torch.equal(RandomHorizontalFlip(p=0.0)(x), x)


def test_flip_is_per_sample_and_shared_across_frames() -> None:
    row = torch.arange(4.0).view(1, 1, 1, 1, 4)
    x = row.expand(64, 3, 2, 1, 4).clone()  # [B, T, C, H, W], all frames identical
    out = RandomHorizontalFlip().batch(x, torch.Generator().manual_seed(0))
    flipped = out[:, :, :, 0, 0] == 3.0
    assert torch.equal(flipped, flipped[:, :1, :1].expand_as(flipped))  # all T, C agree
    assert 0 < int(flipped[:, 0, 0].sum()) < 64  # some samples flipped, some not
    mirror = torch.tensor([3.0, 2.0, 1.0, 0.0])
    for i in range(64):
        expected = mirror if flipped[i, 0, 0] else row.flatten()
        assert torch.equal(out[i].reshape(-1, 4), expected.expand(6, 4))


def test_to_unit_float_and_normalize() -> None:
    x = torch.tensor([[[0, 51, 255]], [[255, 0, 102]]], dtype=torch.uint8)
    y = Compose([ToUnitFloat(), Normalize([0.2, 0.4], [0.5, 2.0])])(x)
    assert y.dtype == torch.float32
    expected = torch.tensor([[[-0.4, 0.0, 1.6]], [[0.3, -0.2, 0.0]]])
    assert torch.allclose(y, expected, atol=1e-6)


def test_normalize_rejects_channel_mismatch() -> None:
    with pytest.raises(ValueError, match="1 channel"):
        Normalize([0.5], [0.5])(torch.zeros(3, 2, 2))


def test_resize_exact_size_and_shorter_side() -> None:
    frames = torch.ones(10, 2, 128, 128)
    out = Resize((48, 48))(frames)
    assert out.shape == (10, 2, 48, 48)
    assert torch.allclose(out, torch.ones_like(out))
    assert Resize(5)(torch.rand(3, 20, 10)).shape == (3, 10, 5)
    assert Resize(5)(torch.rand(3, 10, 20)).shape == (3, 5, 10)


def test_resize_area_averages_blocks() -> None:
    x = torch.arange(16.0).view(1, 4, 4)
    out = Resize((2, 2), mode="area")(x)
    assert torch.equal(out, torch.tensor([[[2.5, 4.5], [10.5, 12.5]]]))


def test_resize_refuses_integer_input() -> None:
    with pytest.raises(ValueError, match="ToUnitFloat"):
        Resize(4)(torch.zeros(1, 8, 8, dtype=torch.uint8))


def test_center_crop_is_exact() -> None:
    x = torch.arange(30.0).view(1, 5, 6)
    assert torch.equal(CenterCrop((3, 2))(x), x[:, 1:4, 2:4])
    with pytest.raises(ValueError, match="larger"):
        CenterCrop(7)(x)


def test_random_resized_crop_full_scale_square_is_identity() -> None:
    x = torch.rand(3, 9, 9)
    out = RandomResizedCrop(9, scale=(1.0, 1.0), ratio=(1.0, 1.0))(x)
    assert torch.allclose(out, x)


def test_random_resized_crop_shapes_and_reproducibility() -> None:
    x = torch.rand(4, 3, 30, 40)
    t = RandomResizedCrop((8, 6))
    a = t.batch(x, torch.Generator().manual_seed(2))
    assert a.shape == (4, 3, 8, 6)
    assert torch.equal(a, t.batch(x, torch.Generator().manual_seed(2)))


def test_sample_call_equals_batch_of_one() -> None:
    x = torch.rand(4, 2, 7, 7)  # [T, C, H, W]
    t = Compose([RandomCrop(5, padding=1), RandomHorizontalFlip()])
    a = t(x, torch.Generator().manual_seed(4))
    b = t.batch(x[None], torch.Generator().manual_seed(4))[0]
    assert torch.equal(a, b)


def test_transforms_reject_inputs_without_image_dims() -> None:
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        RandomCrop(2)(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="larger"):
        RandomCrop(5).batch(torch.zeros(1, 1, 4, 4))
