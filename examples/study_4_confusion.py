"""Question 4 of the study: the normalized confusion matrix; which classes are confused.

Evaluates a CNN on PublicTest, draws the row-normalized confusion matrix (each true class sums
to 1), prints it, writes the most-confused pairs as sentences, and draws the most confident
mistakes with their true and predicted classes.

Run on the real data, with the CNN trained by ``study_1_cnn.py`` (or ``--model compact``, the
model shipped with emotionkit, trained on FER2013's Training split):

    python examples/study_4_confusion.py --data fer2013.csv.gz --model study/1/cnn.safetensors \\
        --out study/4

Without ``--model`` it first trains a CNN for ``--epochs``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import emotionkit as ek
from emotionkit.evaluation import Evaluator, plot_confusion_matrix, plot_mistakes
from emotionkit.inference import resolve_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Question 4: the confusion matrix.")
    parser.add_argument("--data", default="synthetic",
                        help="fer2013.csv.gz (or any file Dataset.load reads), or synthetic[:N]")
    parser.add_argument("--model", default=None,
                        help="a checkpoint (study_1's OUT/cnn.safetensors) or a shipped model name")
    parser.add_argument("--out", type=Path, default=Path("study-examples/4-confusion"))
    parser.add_argument("--epochs", type=int, default=5, help="training epochs without --model")
    parser.add_argument("--width", type=float, default=0.5, help="CNN width without --model")
    parser.add_argument("--mistakes", type=int, default=25, help="mistakes to draw")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    data = ek.Dataset.load(args.data)
    train, val = data.train_val_split()  # PublicTest, else a stratified tenth of Training
    if args.model:
        model = resolve_model(args.model)
    else:
        model = ek.ModelZoo.create("compact", width=args.width, seed=0)
        ek.Trainer(model, epochs=args.epochs, quiet=True).fit(train, val)

    result = Evaluator(model).evaluate(val)
    print(f"accuracy: {result.accuracy:.4f}")
    plot_confusion_matrix(result, args.out / "confusion.png")  # normalized=True by default
    names = ek.DISPLAY_NAMES
    print("rows: true class, columns: predicted class (" + " ".join(n[:3] for n in names) + ")")
    for name, row in zip(names, result.confusion_matrix_normalized, strict=True):
        print(f"{name:>8}: " + " ".join(f"{share:.2f}" for share in row))

    # The largest off-diagonal shares: of the faces of class `true`, this share is called `pred`.
    for true, pred, share in result.most_confused(3):
        print(f"{share:.0%} of the {names[true]} faces are predicted as {names[pred]}.")
    accuracy = result.per_class_accuracy
    best, worst = accuracy.argmax(), accuracy.argmin()
    print(f"{names[best]} is recognized best ({accuracy[best]:.0%}), "
          f"{names[worst]} worst ({accuracy[worst]:.0%}).")

    plot_mistakes(result, val, args.out / "mistakes.png", n=args.mistakes)
    print(f"{len(result.misclassified)} of {result.n} faces are misclassified; "
          f"figures in {args.out}/")


if __name__ == "__main__":
    main()
