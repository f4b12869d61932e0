"""Question 3 of the study: data normalization and data augmentation, and what each changes.

Three short runs of the same ``compact`` CNN on the same training images: without input
normalization (the net sees pixels in [0, 1]), with normalization by the training set's mean
and standard deviation (what every zoo model does in its first layer, ``input_norm``), and with
normalization plus the ``standard`` augmentation (random rotation, shifts, zoom, horizontal
flip, applied to each batch). Prints the best PublicTest accuracy of each run, draws their
curves, and draws six training faces each augmented four times.

Run on the real data (three runs of 10 epochs on 10,000 images; short runs understate what
augmentation buys, which shows most in long training):

    python examples/study_3_normalization_augmentation.py --data fer2013.csv.gz \\
        --epochs 10 --images 10000 --width 1 --out study/3
"""

from __future__ import annotations

import argparse
from pathlib import Path

from torch import nn

import emotionkit as ek
from emotionkit.data import Augmenter
from emotionkit.evaluation import plot_training_curves
from emotionkit.explain.plotting import gray_rgb, grid_figure, save_figure


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Question 3: normalization and augmentation.")
    parser.add_argument("--data", default="synthetic",
                        help="fer2013.csv.gz (or any file Dataset.load reads), or synthetic[:N]")
    parser.add_argument("--out", type=Path, default=Path("study-examples/3-normalization"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--images", type=int, default=None, help="train on at most this many")
    parser.add_argument("--width", type=float, default=0.5, help="channel multiplier of the CNN")
    parser.add_argument("--augment", default="standard", help="none, light, standard or strong")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    data = ek.Dataset.load(args.data)
    train, val = data.train_val_split()  # PublicTest, else a stratified tenth of Training
    if args.images and args.images < len(train):  # the same classes mix, fewer images
        train = train.stratified_split(args.images / len(train), seed=args.seed)[1]
    print(f"{len(train)} training images, pixel mean {train.images.mean() / 255:.4f}, "
          f"std {train.images.std() / 255:.4f} (in [0, 1] units)")

    runs = {"no normalization": (False, "none"), "normalization": (True, "none"),
            "normalization + augmentation": (True, args.augment)}
    histories = {}
    for label, (normalize, augment) in runs.items():
        model = ek.ModelZoo.create("compact", width=args.width, seed=args.seed)
        if not normalize:
            model.input_norm = nn.Identity()  # the Trainer then has no statistics to fill in
        history = ek.Trainer(model, epochs=args.epochs, augment=augment, seed=args.seed,
                             quiet=True).fit(train, val)
        histories[label] = history
        print(f"best accuracy, {label}: {history.best['val_acc']:.4f}")
        print(f"final training accuracy, {label}: {history[-1]['train_acc']:.4f}")
    plot_training_curves(histories, args.out / "curves.png", title="Normalization and augmentation")

    # Augmentation draws new random versions of each training face at every epoch.
    faces = train[:6].to_tensor()[0]  # (6, 1, 48, 48) in [0, 1]
    augmenter = Augmenter(args.augment, seed=args.seed)
    views = [augmenter(faces.clone()) for _ in range(4)]
    panels, titles = [], []
    for i in range(len(faces)):
        panels += [gray_rgb(faces[i, 0].numpy())] + [gray_rgb(v[i, 0].numpy()) for v in views]
        titles += ["original"] + [f"augmented {k + 1}" for k in range(4)]
    save_figure(grid_figure(panels, titles, ncols=5, suptitle=f"augmentation '{args.augment}'"),
                args.out / "augmented.png")
    print(f"figures in {args.out}/")


if __name__ == "__main__":
    main()
