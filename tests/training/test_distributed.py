"""Distributed data parallel: sharding, and a real 2-process CPU run under torchrun."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from emotionkit.errors import ConfigError
from emotionkit.training import distributed, load
from emotionkit.training.distributed import DistEnv

HERE = Path(__file__).resolve().parent


def test_shard_pads_like_distributed_sampler():
    idx = torch.tensor([4, 0, 3, 1, 2])
    assert distributed.shard(idx, DistEnv(0, 2, 0)).tolist() == [4, 3, 2]
    assert distributed.shard(idx, DistEnv(1, 2, 0)).tolist() == [0, 1, 4]  # padded with idx[0]
    parts = [distributed.shard(idx, DistEnv(r, 3, r)).tolist() for r in range(3)]
    assert parts == [[4, 1], [0, 2], [3, 4]]
    assert distributed.shard(idx, DistEnv()).tolist() == idx.tolist()
    tiny = torch.tensor([7])
    assert [distributed.shard(tiny, DistEnv(r, 3, 0)).tolist() for r in range(3)] == [[7]] * 3


def test_detect(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert distributed.detect() == DistEnv(0, 1, 0) and not DistEnv().is_distributed
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    env = distributed.detect()
    assert env == DistEnv(3, 4, 1) and env.is_distributed and not env.is_main
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ConfigError, match="inconsistent torchrun environment: RANK=4"):
        distributed.detect()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ConfigError, match="RANK='x' is not an integer"):
        distributed.detect()


SCRIPT = """
import hashlib, json, sys
from pathlib import Path
sys.path.insert(0, {here!r})
import torch.distributed as dist
import ek_training_tiny as tiny
from emotionkit.training import LambdaCallback, Trainer

tiny.register()
out = Path(sys.argv[1])
dist.init_process_group("gloo")  # created here, so both runs below share it
rank = dist.get_rank()
steps = []
trainer = Trainer(tiny.make(rank), epochs=2, batch_size=16, device="cpu", precision="fp32",
                  quiet=True, out_dir=out / "api",
                  callbacks=[LambdaCallback(on_batch_end=lambda t, **kw: steps.append(1))])
hist = trainer.fit(tiny.data(96, seed=0), tiny.data(40, seed=1))
h = hashlib.sha256()
for k, v in sorted(trainer.model.state_dict().items()):
    h.update(k.encode() + v.numpy().tobytes())
(out / f"rank{{rank}}.json").write_text(json.dumps(
    {{"hash": h.hexdigest(), "steps": len(steps), "world": trainer.dist.world_size,
      "history": [{{k: v for k, v in e.items() if k != "seconds"}} for e in hist]}}))
from emotionkit.cli.main import cli
cli.main(["train", "--data", "synthetic:3", "--model", "test-tiny", "--epochs", "1",
          "--batch-size", "8", "--out", str(out / "cli"), "--precision", "fp32"],
         standalone_mode=False)
dist.destroy_process_group()
"""


def _hash(model):
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode() + v.numpy().tobytes())
    return h.hexdigest()


def test_two_processes_with_torchrun(tiny_registered, tiny_data, tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT.format(here=str(HERE)))
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(script), str(out)], capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world"] == r1["world"] == 2
    assert r0["steps"] == r1["steps"] == 2 * 3  # 96 images / 2 ranks / batch 16, 2 epochs
    assert r0["hash"] == r1["hash"]  # same weights and buffers, although initialised apart
    assert r0["history"] == r1["history"]  # metrics reduced across ranks
    # exactly one checkpoint set, written by rank 0, and it holds the agreed weights
    assert sorted(p.name for p in (out / "api").iterdir()) == [
        "history.json", "last.safetensors", "model.safetensors"]
    model = load(out / "api" / "model.safetensors")
    assert _hash(model) == r0["hash"]
    # the all-reduced validation accuracy is the accuracy on the whole validation set
    _, val = tiny_data
    with torch.no_grad():
        acc = float((model(val[0].float() / 255).argmax(1) == val[1]).float().mean())
    best = max(e["val_acc"] for e in r0["history"])
    assert acc == pytest.approx(best)
    # the CLI under torchrun: one run directory, one summary line (rank 0 only)
    assert sorted(p.name for p in (out / "cli").iterdir()) == [
        "curves.png", "history.json", "last.safetensors", "model.safetensors", "run.json"]
    assert proc.stdout.count("Trained test-tiny for 1 epochs") == 1
    assert json.loads((out / "cli" / "run.json").read_text())["options"]["world_size"] == 2
