"""End-to-end tour of the public API on the built-in synthetic faces (about a minute on 2 cores).

Train a compact CNN and a parameter-matched dense net, evaluate both, explain the CNN, check
whether its saliency maps can be trusted, and compute the math of its conv layers.

Run:  python examples/quickstart.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import emotionkit as ek
from emotionkit import explain
from emotionkit.evaluation import Evaluator
from emotionkit.evaluation.figures import plot_confusion_matrix, plot_training_curves
from emotionkit.math import analyze
from emotionkit.models import dnn_matching


def main(out: Path) -> None:
    data = ek.Dataset.load("synthetic:150")
    train, test = data.split("Training"), data.split("PublicTest")
    print(data)

    cnn = ek.ModelZoo.create("compact", width=0.5, seed=0)
    dnn = dnn_matching(cnn, depth=3)
    histories = {}
    for label, model in (("CNN", cnn), ("DNN", dnn)):
        trainer = ek.Trainer(model, epochs=12, lr=2e-3, batch_size=64, scheduler="onecycle",
                             seed=0, quiet=True)
        histories[label] = trainer.fit(train, test)
        result = Evaluator(model).evaluate(test)
        print(f"{label}: {sum(p.numel() for p in model.parameters()):,} parameters, "
              f"PublicTest accuracy {result.accuracy:.3f}")
        plot_confusion_matrix(result, out / f"confusion_{label.lower()}.png")
    plot_training_curves(histories, out / "curves.png")

    expl = explain.run("guided-backprop", cnn, test[:8])
    expl.save(out / "guided-backprop")
    check = explain.sanity_check(cnn, "saliency", test[:16])
    print(check.to_markdown())

    print(analyze(cnn).to_text())
    print(f"figures in {out}/")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "quickstart-out")
    target.mkdir(parents=True, exist_ok=True)
    main(target)
