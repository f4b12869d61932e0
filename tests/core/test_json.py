"""The one JSON conversion (emotionkit._json.json_ready), exact outputs."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import torch

from emotionkit._json import json_ready


@dataclasses.dataclass
class Point:
    x: float
    label: str


def test_values_exactly():
    value = {1: (np.float32(0.5), np.int64(3)), "t": torch.tensor([1.0, 2.0]),
             "nan": math.nan, "inf": [float("inf")], "p": Point(1.5, "a"), "o": object}
    out = json_ready(value)
    assert out == {"1": [0.5, 3], "t": [1.0, 2.0], "nan": None, "inf": [None],
                   "p": {"x": 1.5, "label": "a"}, "o": repr(object)}
    json.dumps(out, allow_nan=False)  # strict JSON


def test_large_arrays_and_other_objects():
    big = torch.ones(2, 40)
    assert json_ready(big) == {"shape": [2, 40], "dtype": "float32", "mean": 1.0}
    assert json_ready(big, large="shape") == "tensor(2, 40)"
    assert json_ready(np.zeros((3, 30)), large="shape") == "array(3, 30)"
    assert json_ready(torch.arange(4), limit=3) == {"shape": [4], "dtype": "int64", "mean": 1.5}
    assert json_ready(torch.nn.ReLU(), other="type") == "ReLU"
