"""The synthetic faces: deterministic, balanced, learnable by a small CNN, not by a linear model."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch

from emotionkit import ConfigError
from emotionkit.data import NUM_CLASSES, synthetic


@pytest.fixture(scope="module")
def learn_set():
    return synthetic(300, seed=0)


def test_deterministic_and_seeded():
    a, b, c = synthetic(5, seed=3), synthetic(5, seed=3), synthetic(5, seed=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert a.images.dtype == np.uint8 and a.images.shape == (35, 48, 48)
    assert a.source == "synthetic:5"


def test_balanced_classes_and_splits():
    ds = synthetic(10, seed=0, test_fraction=0.3)
    assert ds.class_counts() == dict.fromkeys(ds.class_counts(), 10)
    test = ds.split("PublicTest")
    assert test.class_counts() == dict.fromkeys(test.class_counts(), 3)
    assert ds.split_names == ["Training", "PublicTest"]
    with pytest.raises(ConfigError, match="n_per_class must be >= 1"):
        synthetic(0)


def test_images_vary_within_a_class():
    ds = synthetic(20, seed=0)
    happy = ds.images[ds.labels == 3].astype(float)
    assert happy.std(axis=0).mean() > 10  # pose, lighting and noise differ per face
    assert len({img.tobytes() for img in ds.images}) == len(ds)  # no duplicates


def _tiny_cnn() -> torch.nn.Module:
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 6 * 6, NUM_CLASSES),
    )


@pytest.fixture
def one_thread():
    """One intra-op thread: the CPU time measured is then the work itself, not spin-waiting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_small_cnn_learns_it_quickly(learn_set, one_thread):
    torch.manual_seed(0)
    x, y = learn_set.split("Training").to_tensor()
    xt, yt = learn_set.split("PublicTest").to_tensor()
    net = _tiny_cnn()
    epochs, batch = 6, 64
    steps = epochs * ((len(x) + batch - 1) // batch)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    start = time.process_time()  # CPU time: robust to other jobs sharing the machine
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(x)).split(batch):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
            sched.step()
    elapsed = time.process_time() - start
    net.eval()
    with torch.no_grad():
        acc = float((net(xt).argmax(1) == yt).float().mean())
    assert acc >= 0.90, f"small CNN reached only {acc:.3f}"
    assert elapsed < 60, f"training took {elapsed:.1f} s of CPU time"


def test_linear_model_on_raw_pixels_is_clearly_worse(learn_set):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train, test = learn_set.split("Training"), learn_set.split("PublicTest")
    scaler = StandardScaler().fit(train.images.reshape(len(train), -1).astype(float))
    xtr = scaler.transform(train.images.reshape(len(train), -1).astype(float))
    xte = scaler.transform(test.images.reshape(len(test), -1).astype(float))
    from threadpoolctl import threadpool_limits

    # one BLAS thread: lbfgs on 1,680 x 2,304 takes ~2 s; oversubscribed threads take a minute
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=0.01, max_iter=150).fit(xtr, train.labels)
    assert model.score(xtr, train.labels) > 0.9  # it can fit the training faces...
    acc = model.score(xte, test.labels)
    assert acc < 0.70, f"linear model reached {acc:.3f}; the set is too easy"  # ...not generalize
