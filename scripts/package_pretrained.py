"""Turn an ``emotionkit train`` run directory into weights shipped in the package.

Usage::

    python scripts/package_pretrained.py runs/compact-e36 --data ../shared/data/fer2013.csv.gz

Loads ``RUN/model.safetensors`` (the epoch selected on PublicTest by the Trainer), scores it on
PublicTest without TTA and with flip and ten-crop TTA (emotionkit's Evaluator, fp32), and writes
``src/emotionkit/models/weights/<model>.safetensors`` with a ``pretrained`` metadata record
(class names, preprocessing, the exact training command and seed, versions, wall time and
hardware, accuracies, parameter count, data set) plus its sha256 in ``weights/index.json``.
``--dtype float16`` halves the file (accuracies are then measured on the fp16-rounded weights).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "src/emotionkit/models/weights"


def _step(run: dict) -> dict:
    """One training run of a lineage: its command, wall time, hardware and post-processing."""
    return {"command": "emotionkit " + " ".join(shlex.quote(a) for a in run.get("argv") or []),
            "wall_seconds": round(float((run.get("result") or {}).get("wall_seconds") or 0), 1),
            "hardware": run.get("machine"), "post_processing": run.get("post_processing")}


def _lineage(run_dir: Path, run: dict) -> list[dict]:
    """The runs a fine-tuned run started from (``init`` in run.json), oldest first."""
    steps, seen = [], {run_dir.resolve()}
    while run.get("init"):
        source = Path(run["init"])
        source = source if source.is_dir() else source.parent
        if source.resolve() in seen or not (source / "run.json").exists():
            steps.append({"command": f"(weights from {run['init']}, no run.json)",
                          "wall_seconds": 0.0})
            break
        seen.add(source.resolve())
        run = json.loads((source / "run.json").read_text())
        steps.append(_step(run))
    return steps[::-1]


def main() -> None:
    import emotionkit as ek
    from emotionkit._checkpoint import write_checkpoint
    from emotionkit.evaluation import Evaluator
    from emotionkit.models import count_params
    from emotionkit.runtime import describe_machine
    from emotionkit.training.checkpoint import model_identity

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", required=True, help="FER2013 file with a PublicTest split")
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    ap.add_argument("--notes", default="", help="Free text about the recipe, stored as is")
    ap.add_argument("--weights-dir", type=Path, default=WEIGHTS,
                    help="Where to write [the package's models/weights]")
    args = ap.parse_args()

    run = json.loads((args.run / "run.json").read_text())
    model = ek.load(args.run / "model.safetensors")
    meta = model.emotionkit_meta
    name = meta["model_name"]
    if args.dtype == "float16":  # measure what is shipped: round-trip the weights through fp16
        with torch.no_grad():
            for t in model.state_dict().values():
                if t.is_floating_point():
                    t.copy_(t.half().float())
    data = ek.Dataset.load(args.data)
    evaluator = Evaluator(model, device="cpu", precision="fp32")
    accuracy, timing = {}, {}
    for tta in ("none", "flip", "tencrop"):
        t0 = time.perf_counter()
        accuracy[tta] = round(float(evaluator.evaluate(data, split="PublicTest",
                                                        tta=tta).accuracy), 4)
        timing[tta] = round(time.perf_counter() - t0, 1)
        print(f"PublicTest accuracy, tta={tta}: {accuracy[tta]:.4f} ({timing[tta]} s)")
    history = meta.get("history") or {}
    epochs = history.get("epochs") or []
    argv = run.get("argv") or []
    lineage = _lineage(args.run, run)
    counts = count_params(model)
    record = {
        "class_names": list(meta.get("class_names") or ek.CLASS_NAMES),
        "preprocessing": {
            "input": "float32 (N, 1, 48, 48) gray in [0, 1] (uint8 / 255)",
            "normalization": meta.get("normalization"),
            "normalization_note": "applied inside the model (its input_norm layer)",
            "face_framing": "FER2013 framing; photos are cropped by emotionkit.faces.align_face",
        },
        "dataset": {"name": "FER2013", "train_split": "Training", "n_train": run.get("n_train"),
                    "selected_on": "PublicTest", "reported_on": "PublicTest",
                    "n_val": run.get("n_val")},
        "training": {
            "command": "emotionkit " + " ".join(shlex.quote(a) for a in argv),
            "seed": (meta.get("train_args") or {}).get("seed", 0),
            "train_args": meta.get("train_args"),
            "epochs_run": len(epochs) if isinstance(epochs, list) else None,
            "best_epoch": history.get("best_epoch"),
            "wall_seconds": round(float((run.get("result") or {}).get("wall_seconds") or 0), 1),
            "hardware": run.get("machine"),
            "started": run.get("started"),
            "notes": args.notes,
            "post_processing": run.get("post_processing"),
            # the runs whose weights this one started from (train --init), oldest first
            "started_from": lineage,
            "total_wall_seconds": round(sum(step["wall_seconds"] for step in lineage) + float(
                (run.get("result") or {}).get("wall_seconds") or 0), 1),
        },
        "accuracy": {"publictest": accuracy["none"], "publictest_flip": accuracy["flip"],
                     "publictest_tencrop": accuracy["tencrop"],
                     "measured_with": f"emotionkit Evaluator, fp32, CPU ({describe_machine()})"},
        "params": counts["total"],
        "trainable_params": counts["trainable"],
        "emotionkit": ek.__version__,
        "dtype": args.dtype,
    }
    tensors = {k: (v.half() if args.dtype == "float16" and v.is_floating_point()
                   and "num_batches" not in k else v)
               for k, v in model.state_dict().items()}
    identity = model_identity(model)
    out = args.weights_dir / f"{name}.safetensors"
    write_checkpoint(out, tensors, {"kind": "model", **identity,
                                    "class_names": record["class_names"],
                                    "train_args": meta.get("train_args") or {},
                                    "history": history, "pretrained": record})
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    index_path = args.weights_dir / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index[name] = {"file": out.name, "sha256": digest, "rank_accuracy": accuracy["tencrop"]}
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out} ({out.stat().st_size:,} bytes, sha256 {digest})")


if __name__ == "__main__":
    main()
