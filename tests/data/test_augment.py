"""Augmentation: config parsing/validation, exact geometry, determinism, devices and resume."""

from __future__ import annotations

import json
import math

import pytest
import torch

from emotionkit import ConfigError
from emotionkit.data import AugmentConfig, Augmenter

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand((16, 1, 48, 48), generator=g)


# ------------------------------------------------------------------------------------ config
def test_parse_cli_string():
    cfg = AugmentConfig.parse("rotation=10,shift=0.1,flip")
    assert cfg.rotation_range == 10 and cfg.width_shift_range == cfg.height_shift_range == 0.1
    assert cfg.horizontal_flip and cfg.zoom_range == (1.0, 1.0) and cfg.erasing_prob == 0
    cfg = AugmentConfig.parse("standard, rotation=5, zoom=0.9:1.2, flip=false, erasing=0.3, "
                              "fill=constant, cval=0.5")
    assert cfg.rotation_range == 5 and cfg.width_shift_range == 0.15  # from the preset
    assert cfg.zoom_range == (0.9, 1.2) and not cfg.horizontal_flip
    assert cfg.erasing_prob == 0.3 and cfg.fill_mode == "constant" and cfg.cval == 0.5
    assert AugmentConfig.parse("").is_identity and AugmentConfig.parse("none").is_identity
    assert AugmentConfig.parse("zoom=0.2").zoom_range == (0.8, 1.2)


@pytest.mark.parametrize(
    "text, message",
    [
        ("rotaton=10", r"unknown augmentation option 'rotaton'; did you mean 'rotation'"),
        ("rotation=ten", r"augmentation option 'rotation=ten'"),
        ("rotation", r"needs a value"),
        ("flip=maybe", r"expected true or false"),
        ("shift=1.5", r"width_shift_range is a fraction of the image and must be in \[0, 1\)"),
        ("rotation=-5", r"rotation_range must be in \[0, 180\]"),
        ("fill=wrap", r"fill_mode must be one of constant, nearest, reflect"),
        ("erasing=2", r"erasing_prob must be in \[0, 1\]"),
        ("zoom=1.5:1.2", r"zoom_range pair must satisfy 0 < low <= high"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        AugmentConfig.parse(text)


def test_presets():
    assert AugmentConfig.preset("none").is_identity
    light, standard, strong = (AugmentConfig.preset(n) for n in ("light", "standard", "strong"))
    assert 0 < light.rotation_range < standard.rotation_range < strong.rotation_range
    assert strong.erasing_prob > 0 and standard.horizontal_flip
    with pytest.raises(ConfigError, match="unknown augmentation preset 'heavy'"):
        AugmentConfig.preset("heavy")


def test_config_is_frozen_and_roundtrips():
    cfg = AugmentConfig.preset("strong")
    with pytest.raises(AttributeError):
        cfg.rotation_range = 3  # type: ignore[misc]
    d = json.loads(json.dumps(cfg.to_dict()))
    assert AugmentConfig.from_dict(d) == cfg
    with pytest.raises(ConfigError, match="unknown augmentation option"):
        AugmentConfig.from_dict({"rotaton": 1})


# ------------------------------------------------------------------------------------ behavior
def test_identity_is_identity(batch):
    aug = Augmenter(AugmentConfig(), seed=0)
    assert aug(batch) is batch
    assert aug.calls == 0
    assert Augmenter("none")(batch) is batch


def test_input_validation(batch):
    aug = Augmenter("flip")
    with pytest.raises(ConfigError, match=r"float tensor \(N, C, H, W\)"):
        aug((batch * 255).to(torch.uint8))
    with pytest.raises(ConfigError, match=r"float tensor \(N, C, H, W\)"):
        aug(batch[0])


@pytest.mark.parametrize("device", DEVICES)
def test_seeded_reproducible_and_global_rng_untouched(batch, device):
    x = batch.to(device)
    cfg = AugmentConfig.preset("strong")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a1, a2 = Augmenter(cfg, seed=7), Augmenter(cfg, seed=7)
    out1, out2 = a1(x), a2(x)
    assert torch.equal(out1, out2)
    assert torch.equal(torch.get_rng_state(), before)
    assert not torch.equal(out1, Augmenter(cfg, seed=8)(x))
    assert not torch.equal(a1(x), out1)  # the stream moves on between batches
    assert out1.device == x.device and out1.dtype == x.dtype and out1.shape == x.shape
    assert a1._generator.device.type == x.device.type


def test_does_not_modify_input(batch):
    copy = batch.clone()
    Augmenter("strong", seed=0)(batch)
    assert torch.equal(batch, copy)


def test_flip_is_exact(batch):
    out = Augmenter("flip", seed=0)(batch)
    flipped = torch.tensor([torch.equal(o, x.flip(-1)) for o, x in zip(out, batch, strict=True)])
    same = torch.tensor([torch.equal(o, x) for o, x in zip(out, batch, strict=True)])
    assert bool((flipped | same).all())
    assert 0 < int(flipped.sum()) < len(batch)  # both outcomes occur in 16 draws with seed 0


def _controlled(aug: Augmenter, x: torch.Tensor, **columns: float) -> torch.Tensor:
    """Run the geometric step with chosen uniform draws (column index -> value)."""
    u = torch.full((x.shape[0], 10), 0.5)
    for k, v in columns.items():
        u[:, int(k[1:])] = v
    return aug._affine(x, u)


def test_rotation_by_90_degrees_is_rot90(batch):
    aug = Augmenter(AugmentConfig(rotation_range=90), seed=0)
    out = _controlled(aug, batch, u1=1.0)  # angle = +rotation_range
    torch.testing.assert_close(out, torch.rot90(batch, k=1, dims=(2, 3)), atol=1e-5, rtol=0)


def test_shift_moves_by_a_fraction_of_the_image():
    x = torch.rand((2, 1, 48, 96))
    aug = Augmenter(AugmentConfig(width_shift_range=0.25, fill_mode="constant", cval=0.5), seed=0)
    out = _controlled(aug, x, u2=1.0)  # tx = +0.25 of the width = 24 px on a 96 px wide image
    torch.testing.assert_close(out[..., :72], x[..., 24:], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[..., 73:], torch.full_like(out[..., 73:], 0.5), atol=1e-6,
                               rtol=0)
    nearest = Augmenter(AugmentConfig(height_shift_range=0.25), seed=0)
    out = _controlled(nearest, x, u3=0.0)  # ty = -0.25 of the height = -12 px
    torch.testing.assert_close(out[:, :, 12:], x[:, :, :36], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, :, :12], x[:, :, :1].expand(-1, -1, 12, -1), atol=1e-5,
                               rtol=0)  # nearest fill repeats the border row


def test_zoom_keeps_center_and_scales():
    x = torch.zeros((1, 1, 48, 48))
    x[..., 20:28, 20:28] = 1.0
    aug = Augmenter(AugmentConfig(zoom_range=(0.5, 0.5)), seed=0)
    out = _controlled(aug, x)
    assert float(out.sum()) == pytest.approx(4 * 64, rel=0.05)  # 0.5 = zoom in 2x: 4x area
    assert float(out[..., 24, 24]) == 1.0


@pytest.mark.parametrize("size", [48, 96])
def test_erasing_rectangles_scale_with_image(size):
    x = torch.ones((64, 1, size, size))
    cfg = AugmentConfig(erasing_prob=1.0, erasing_scale=(0.05, 0.1), erasing_value=0.0)
    out = Augmenter(cfg, seed=3)(x)
    erased = (out == 0).flatten(1).float().mean(1)
    assert bool((erased > 0.03).all()) and bool((erased < 0.13).all())
    for img in out[:, 0]:
        rows = (img == 0).any(1).nonzero().flatten()
        cols = (img == 0).any(0).nonzero().flatten()
        h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert int((img == 0).sum()) == int(h * w)  # one solid rectangle


def test_erasing_probability():
    x = torch.ones((400, 1, 48, 48))
    out = Augmenter(AugmentConfig(erasing_prob=0.25), seed=0)(x)
    share = float(((out == 0).flatten(1).any(1)).float().mean())
    assert abs(share - 0.25) < 0.08


def test_state_dict_resume_continues_the_stream(batch):
    cfg = AugmentConfig.preset("strong")
    a = Augmenter(cfg, seed=11)
    a(batch)
    state = a.state_dict()
    expected = [a(batch), a(batch)]
    b = Augmenter("none", seed=0)
    b.load_state_dict(state)
    assert b.config == cfg and b.calls == 1
    got = [b(batch), b(batch)]
    for e, g in zip(expected, got, strict=True):
        assert torch.equal(e, g)
    fresh = Augmenter(cfg, seed=0)
    fresh.load_state_dict(Augmenter(cfg, seed=11).state_dict())  # state before any call
    assert torch.equal(fresh(batch), Augmenter(cfg, seed=11)(batch))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_generator_and_device_switch(batch):
    a = Augmenter("strong", seed=0)
    out = a(batch.cuda())
    assert out.is_cuda and a._generator.device.type == "cuda"
    b = Augmenter("strong", seed=0)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(batch.cuda()), b(batch.cuda()))
    c = Augmenter("strong", seed=0)
    c.load_state_dict(a.state_dict())
    assert c(batch).device.type == "cpu"  # continues deterministically on another device


def test_rotation_range_is_degrees():
    cfg = AugmentConfig(rotation_range=30)
    aug = Augmenter(cfg, seed=0)
    x = torch.zeros((1, 1, 48, 48))
    x[..., 23:25, 30:46] = 1.0  # a horizontal bar right of the center
    out = _controlled(aug, x, u1=1.0)  # +30 degrees
    ys, xs = (out[0, 0] > 0.5).nonzero(as_tuple=True)
    angle = math.degrees(math.atan2(float((ys.float() - 23.5).mean()),
                                    float((xs.float() - 23.5).mean())))
    assert abs(abs(angle) - 30) < 4
