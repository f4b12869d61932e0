"""One rule for what an explainer makes: its ``kind`` class attribute."""

from __future__ import annotations

import pytest
import torch

from emotionkit import explain
from emotionkit.explain import Explainer, Explanation
from emotionkit.explain._similarity import is_attribution
from emotionkit.models import ModelZoo

OPTIONS = {"activation-max": {"steps": 1, "channels": [0]}, "integrated-gradients": {"steps": 2},
           "smoothgrad": {"samples": 2}, "occlusion": {"window": 24, "stride": 24}}


@pytest.fixture(scope="module")
def model():
    return ModelZoo.create("hw17-cnn", seed=0).eval()


@pytest.mark.parametrize("name", explain.available())
def test_the_explanation_has_the_explainers_kind(model, name):
    explainer = explain.get(name)
    result = explain.run(name, model, torch.rand(1, 1, 48, 48), **OPTIONS.get(name, {}))
    assert result.kind == explainer.kind
    assert explainer.describe()["kind"] == explainer.kind
    assert is_attribution(explainer) == (explainer.kind == "attribution")


def test_kind_of_builtins_and_of_classes_that_do_not_say():
    kinds = {name: explain.get(name).kind for name in explain.available()}
    assert kinds["activation-max"] == "synthesis" and kinds["layer-outputs"] == "layers"
    assert kinds["saliency"] == kinds["grad-cam"] == "attribution"

    class Quiet(Explainer):
        name = "quiet"

        def explain(self, model, images, target=None, **options) -> Explanation:
            raise NotImplementedError

    assert Quiet.kind == "other" and not is_attribution(Quiet())
    assert is_attribution(object())  # a duck-typed plugin object without `kind`
