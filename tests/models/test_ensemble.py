"""Ensemble, a model of the zoo package: averaged probabilities, importable without training."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from emotionkit.errors import ConfigError
from emotionkit.models import Ensemble


class Fixed(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits), requires_grad=False)

    def forward(self, x):
        return self.logits.expand(len(x), -1)


def test_forward_is_log_of_mean_probability():
    a = [2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    b = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    ens = Ensemble([Fixed(a), Fixed(b)])
    out = ens(torch.zeros(3, 1, 48, 48))
    pa = torch.softmax(torch.tensor(a), 0)
    pb = torch.softmax(torch.tensor(b), 0)
    expected = (pa + pb) / 2
    assert out.shape == (3, 7)
    assert torch.allclose(torch.softmax(out, 1), expected.expand(3, -1), atol=1e-6)
    assert torch.allclose(out.exp(), expected.expand(3, -1), atol=1e-6)  # already log-probs
    assert len(ens) == 2 and isinstance(ens.members, nn.ModuleList)
    with pytest.raises(ConfigError, match="at least one member"):
        Ensemble([])


def test_old_import_paths_are_the_same_class():
    import emotionkit.training
    import emotionkit.training.ensemble
    from emotionkit.models.ensemble import Ensemble as home

    assert Ensemble is home
    assert emotionkit.training.Ensemble is home
    assert emotionkit.training.ensemble.Ensemble is home


def test_models_do_not_load_training():
    code = ("import sys, json\nimport emotionkit.models\nfrom emotionkit.models import Ensemble\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('emotionkit'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "emotionkit.models.ensemble" in loaded
    assert [m for m in loaded if m.startswith("emotionkit.training")] == []
