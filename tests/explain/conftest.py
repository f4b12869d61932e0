"""Explainer tests run their tiny models on one thread: on a loaded 2-core machine, thread
hand-offs made calls of a few microseconds of work take hundreds of milliseconds."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
