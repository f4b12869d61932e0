"""Question 2 of the study: a DNN with about as many parameters as the CNN, compared with it.

Builds the ``compact`` CNN, asks :func:`emotionkit.models.dnn_matching` for a fully connected
net whose trainable parameters are within ``--tolerance`` of the CNN's (three hidden layers as
in the reports; fewer when a small CNN cannot be matched with three), trains both with their
zoo recipes for the same number of epochs, draws both training curves in one figure and prints
both accuracies on PublicTest.

Run on the real data (a GPU run; on a CPU see ``study_1_cnn.py`` for the cost of an epoch):

    python examples/study_2_dnn.py --data fer2013.csv.gz --epochs 30 --width 1 --out study/2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import emotionkit as ek
from emotionkit.evaluation import Evaluator, plot_training_curves
from emotionkit.models import count_params, dnn_matching


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Question 2: a parameter-matched DNN vs the CNN.")
    parser.add_argument("--data", default="synthetic",
                        help="fer2013.csv.gz (or any file Dataset.load reads), or synthetic[:N]")
    parser.add_argument("--out", type=Path, default=Path("study-examples/2-dnn"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--width", type=float, default=0.5, help="channel multiplier of the CNN")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="allowed relative difference of the parameter counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    data = ek.Dataset.load(args.data)
    train, val = data.train_val_split()  # PublicTest, else a stratified tenth of Training

    cnn = ek.ModelZoo.create("compact", width=args.width, seed=args.seed)
    dnn = None
    for depth in (3, 2, 1):  # widths shrink by half per layer: a tiny CNN may need fewer layers
        try:
            dnn = dnn_matching(cnn, depth=depth, tolerance=args.tolerance)
            break
        except ek.ConfigError as exc:
            print(f"no DNN with {depth} hidden layers: {exc}")
    if dnn is None:
        raise SystemExit("no DNN matches the CNN: try a larger --tolerance")
    cnn_params, dnn_params = count_params(cnn)["trainable"], count_params(dnn)["trainable"]
    print(f"DNN hidden widths: {dnn.emotionkit_config['hidden']}")
    print(f"CNN trainable parameters: {cnn_params}")
    print(f"DNN trainable parameters: {dnn_params}")
    print(f"parameter ratio DNN/CNN: {dnn_params / cnn_params:.4f}")

    histories = {}
    for name, model in (("CNN", cnn), ("DNN", dnn)):
        histories[name] = ek.Trainer(model, epochs=args.epochs, seed=args.seed).fit(train, val)
        print(f"{name} accuracy: {Evaluator(model).evaluate(val).accuracy:.4f}")
    plot_training_curves(histories, args.out / "cnn_vs_dnn.png",
                         title="CNN vs a DNN with the same number of parameters")
    print(f"curves in {args.out}/cnn_vs_dnn.png")


if __name__ == "__main__":
    main()
