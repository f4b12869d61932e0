"""Question 5 of the study: saliency maps, the pixels that drive the prediction.

For one PublicTest face per class, computes the vanilla gradient saliency map and the guided
backpropagation map of the predicted class, and shows each as a heatmap with three display
normalizations (min-max per image; clipped to the 1st-99th percentile; one min-max scale for
all faces, so faces can be compared), as an overlay, and as the face masked to its 10% most
salient pixels. The raw maps are never changed: normalization is for display only.

Run on the real data with the CNN trained by ``study_1_cnn.py`` (or ``--model compact``):

    python examples/study_5_saliency.py --data fer2013.csv.gz --model study/1/cnn.safetensors \\
        --out study/5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import emotionkit as ek
from emotionkit import explain
from emotionkit.explain.display import normalize_maps, top_k_mask
from emotionkit.explain.plotting import colorize, gray_rgb, grid_figure, overlay, save_figure
from emotionkit.inference import resolve_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Question 5: saliency maps.")
    parser.add_argument("--data", default="synthetic",
                        help="fer2013.csv.gz (or any file Dataset.load reads), or synthetic[:N]")
    parser.add_argument("--model", default=None,
                        help="a checkpoint (study_1's OUT/cnn.safetensors) or a shipped model name")
    parser.add_argument("--out", type=Path, default=Path("study-examples/5-saliency"))
    parser.add_argument("--epochs", type=int, default=5, help="training epochs without --model")
    parser.add_argument("--width", type=float, default=0.5, help="CNN width without --model")
    parser.add_argument("--top-k", type=float, default=0.1, help="share of pixels the mask keeps")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    data = ek.Dataset.load(args.data)
    train, val = data.train_val_split()  # PublicTest, else a stratified tenth of Training
    if args.model:
        model = resolve_model(args.model)
    else:
        model = ek.ModelZoo.create("compact", width=args.width, seed=0)
        ek.Trainer(model, epochs=args.epochs, quiet=True).fit(train, val)

    labels = np.asarray(val.labels)
    idx = [int(np.flatnonzero(labels == c)[0]) for c in range(7) if (labels == c).any()]
    faces = val[idx]  # a Dataset of one face per class
    names = ek.DISPLAY_NAMES
    for method in ("saliency", "guided-backprop"):
        expl = explain.run(method, model, faces)  # explains the predicted class
        expl.save(args.out / method, figure=False)  # per face: heatmap, overlay, masked PNGs
        keep = top_k_mask(expl.maps, top_k=args.top_k)[:, 0]  # True on the most salient pixels
        maps = expl.maps.abs().sum(1)  # raw maps (N, 1, 48, 48) -> magnitude (N, 48, 48)
        views = {"min-max": normalize_maps(maps, mode="minmax"),
                 "clip 1-99%": normalize_maps(maps, mode="percentile", clip=(1.0, 99.0)),
                 "one scale": normalize_maps(maps, mode="minmax", per="batch")}
        panels, titles = [], []
        for i, (true, pred) in enumerate(zip(labels[idx], expl.targets.tolist(), strict=True)):
            face = expl.images[i, 0].numpy()
            panels += [gray_rgb(face)] + [colorize(v[i].numpy()) for v in views.values()]
            masked = face * keep[i].numpy()
            panels += [overlay(face, views["clip 1-99%"][i].numpy()), gray_rgb(masked)]
            titles += [f"{names[true]}: predicted {names[pred]}", *views, "overlay",
                       f"top {args.top_k:.0%}"]
        save_figure(grid_figure(panels, titles, ncols=6, suptitle=method),
                    args.out / f"{method}.png")
        share = float((maps * keep).sum() / maps.sum())
        print(f"{method} mean |map|: {float(maps.mean()):.3g}")
        print(f"{method} share of the map in the top {args.top_k:.0%} pixels: {share:.4f}")
    print(f"figures in {args.out}/")


if __name__ == "__main__":
    main()
