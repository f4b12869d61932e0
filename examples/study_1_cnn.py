"""Question 1 of the study: build a CNN; its architecture, training procedure and accuracy.

Trains emotionkit's ``compact`` CNN with its zoo recipe (AdamW, one-cycle learning rate, label
smoothing 0.1, standard augmentation), prints its Keras-style summary, draws the training curves
and prints the validation accuracy without test-time augmentation (TTA), with horizontal-flip
TTA and with ten-crop TTA. The trained model is saved as ``OUT/cnn.safetensors``: the scripts
of questions 4 to 7 take it as ``--model``.

Run on the real data (the Training split trains, PublicTest validates):

    python examples/study_1_cnn.py --data fer2013.csv.gz --epochs 30 --width 1 --out study/1

That is the zoo recipe, best run on a GPU: on 2 idle CPU cores one epoch over the 28,709
training faces took about 30 s at ``--width 0.25`` and 80 s at ``--width 0.5``, and
``--width 1`` has 4 times the multiplications of ``--width 0.5``. Without options the script
trains on the built-in synthetic faces (about half a minute).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import emotionkit as ek
from emotionkit.evaluation import Evaluator, plot_training_curves
from emotionkit.models import count_params, summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Question 1: train a CNN and report it.")
    parser.add_argument("--data", default="synthetic",
                        help="fer2013.csv.gz (or any file Dataset.load reads), or synthetic[:N]")
    parser.add_argument("--out", type=Path, default=Path("study-examples/1-cnn"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--width", type=float, default=0.5,
                        help="channel multiplier of the compact CNN (1.0: about 1.2 M parameters)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    data = ek.Dataset.load(args.data)
    train, val = data.train_val_split()  # PublicTest, else a stratified tenth of Training
    print(data)

    # 1. The architecture: conv-BN-ReLU stages, max-pooling, global average pooling, linear.
    model = ek.ModelZoo.create("compact", width=args.width, seed=args.seed)
    print(summary(model).to_text())

    # 2. The training procedure: the model's recipe; the best epoch on PublicTest is kept.
    trainer = ek.Trainer(model, epochs=args.epochs, seed=args.seed)
    for key in ("optimizer", "lr", "weight_decay", "batch_size", "scheduler", "label_smoothing",
                "augment"):
        print(f"  {key} = {trainer.options[key]}")
    history = trainer.fit(train, val)  # one line per epoch on stderr
    plot_training_curves({"CNN": history}, args.out / "curves.png", title="compact CNN")
    ek.save(model, args.out / "cnn.safetensors", history=history)

    # 3. The accuracy on PublicTest, without and with test-time augmentation.
    print(f"trainable parameters: {count_params(model)['trainable']}")
    print(f"best epoch: {history.best_epoch}")
    for tta in ("none", "flip", "tencrop"):
        result = Evaluator(model).evaluate(val, tta=tta)
        print(f"accuracy tta={tta}: {result.accuracy:.4f}")
    print(f"figures and the model are in {args.out}/")


if __name__ == "__main__":
    main()
