"""Batched results equal per-image results; chunking by max_batch changes nothing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from emotionkit import explain


class SmallNet(nn.Module):
    """A small conv net with BatchNorm (left in train mode: explainers must switch to eval)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
            nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 7))
        with torch.no_grad():
            self.features[1].running_mean.uniform_(-0.1, 0.1)
            self.features[1].running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        return self.head(self.features(x))


OPTIONS = {
    "saliency": {},
    "guided-backprop": {},
    "grad-cam": {},
    "guided-grad-cam": {},
    "smoothgrad": {"samples": 3},
    "integrated-gradients": {"steps": 5},
    "occlusion": {"window": 4, "stride": 2},
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_batched_equals_per_image_and_chunking(name):
    model = SmallNet().train()
    x = torch.rand(5, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    targets = [0, 3, 6, 2, 3]
    batched = explain.run(name, model, x, target=targets, **OPTIONS[name])
    chunked = explain.run(name, model, x, target=targets, max_batch=2, **OPTIONS[name])
    torch.testing.assert_close(chunked.maps, batched.maps, rtol=1e-4, atol=1e-6)
    for i in range(len(x)):
        single = explain.run(name, model, x[i:i + 1], target=targets[i], **OPTIONS[name])
        torch.testing.assert_close(single.maps[0], batched.maps[i], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(single.scores["logit"][0], batched.scores["logit"][i])
    assert batched.targets.tolist() == targets
    assert model.training


def test_predicted_target_is_per_image():
    from emotionkit.testing import TinyCNN

    model = TinyCNN()  # bright images favour class 0, dark ones class 1
    x = torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    x = x * torch.linspace(0.05, 1.0, 6).reshape(6, 1, 1, 1)
    with torch.no_grad():
        predicted = model.eval()(x).argmax(1)
    result = explain.run("saliency", model, x, max_batch=4)
    assert result.targets.tolist() == predicted.tolist()
    assert len(set(predicted.tolist())) > 1, "test batch should predict several classes"


def test_layer_outputs_batched_and_reused_module_keys():
    model = SmallNet()
    x = torch.rand(3, 1, 12, 12)
    result = explain.run("layer-outputs", model, x, max_batch=2)
    assert list(result.maps) == ["features.0", "features.4"]
    assert result.maps["features.4"].shape == (3, 8, 6, 6)
    single = explain.run("layer-outputs", model, x[1:2])
    torch.testing.assert_close(single.maps["features.0"][0], result.maps["features.0"][1])

    from emotionkit.testing import TinyCNN

    tiny = TinyCNN(reuse=True)
    out = explain.run("layer-outputs", tiny, torch.rand(2, 1, 5, 5), layer=["act", "mix"])
    assert list(out.maps) == ["act", "mix", "act#2"]


def test_activation_max_batch_equals_one_channel_at_a_time():
    model = SmallNet()
    options = {"layer": "features.4", "steps": 4, "input_shape": (1, 12, 12), "seed": 3}
    together = explain.run("activation-max", model, channels=[5, 1, 7], **options)
    assert together.maps.shape == (3, 1, 12, 12)
    for k, channel in enumerate([5, 1, 7]):
        alone = explain.run("activation-max", model, channels=channel, **options)
        torch.testing.assert_close(alone.maps[0], together.maps[k], rtol=1e-4, atol=1e-5)
    chunked = explain.run("activation-max", model, channels=[5, 1, 7], max_batch=2, **options)
    torch.testing.assert_close(chunked.maps, together.maps, rtol=1e-4, atol=1e-5)


def test_smoothgrad_noise_depends_on_seed_and_image_only():
    model = SmallNet()
    x = torch.rand(3, 1, 12, 12)
    a = explain.run("smoothgrad", model, x, samples=4, seed=1)
    b = explain.run("smoothgrad", model, x.flip(0), samples=4, seed=1)
    torch.testing.assert_close(a.maps, b.maps.flip(0), rtol=1e-4, atol=1e-6)
    c = explain.run("smoothgrad", model, x, samples=4, seed=2)
    assert not torch.allclose(a.maps, c.maps)
