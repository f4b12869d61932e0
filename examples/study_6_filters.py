"""Question 6 of the study: what the filters respond to.

Activation maximization: gradient ascent on the pixels of a random image, for ``--steps`` steps,
to the input that most activates a filter (the mean of one output channel), for the first
filters of the first (early) and the last (late) conv layer. Then the outputs (feature maps)
of the first conv layer for one PublicTest face. Prints each synthesized image's activation
next to the face's activation of the same filter.

Run on the real data with the CNN trained by ``study_1_cnn.py`` (or ``--model compact``):

    python examples/study_6_filters.py --data fer2013.csv.gz --model study/1/cnn.safetensors \\
        --steps 200 --filters 12 --out study/6
"""

from __future__ import annotations

import argparse
from pathlib import Path

from torch import nn

import emotionkit as ek
from emotionkit import explain
from emotionkit.inference import resolve_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Question 6: filter visualization.")
    parser.add_argument("--data", default="synthetic",
                        help="fer2013.csv.gz (or any file Dataset.load reads), or synthetic[:N]")
    parser.add_argument("--model", default=None,
                        help="a checkpoint (study_1's OUT/cnn.safetensors) or a shipped model name")
    parser.add_argument("--out", type=Path, default=Path("study-examples/6-filters"))
    parser.add_argument("--epochs", type=int, default=5, help="training epochs without --model")
    parser.add_argument("--width", type=float, default=0.5, help="CNN width without --model")
    parser.add_argument("--steps", type=int, default=150, help="gradient-ascent steps")
    parser.add_argument("--filters", type=int, default=8, help="filters per layer")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    data = ek.Dataset.load(args.data)
    train, val = data.train_val_split()  # PublicTest, else a stratified tenth of Training
    if args.model:
        model = resolve_model(args.model)
    else:
        model = ek.ModelZoo.create("compact", width=args.width, seed=0)
        ek.Trainer(model, epochs=args.epochs, quiet=True).fit(train, val)

    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    print(f"conv layers: {', '.join(convs)}")
    face = val[:1]
    for layer in (convs[0], convs[-1]):
        n = min(args.filters, model.get_submodule(layer).out_channels)
        synth = explain.run("activation-max", model, None, layer=layer,
                            channels=list(range(n)), steps=args.steps, seed=0)
        synth.save(args.out / f"activation-max-{layer}")  # one PNG per filter + summary.png
        # the same layer's response to a real face, for comparison
        response = explain.run("layer-outputs", model, face, layer=layer).maps[layer][0]
        for k in range(n):
            print(f"{layer} filter {k} activation: {float(synth.scores['activation'][k]):.4f} "
                  f"(face: {float(response[k].mean()):.4f})")

    feature_maps = explain.run("layer-outputs", model, face, layer=convs[0])
    feature_maps.save(args.out / "feature-maps")  # a grid of the first conv layer's channels
    shape = tuple(feature_maps.maps[convs[0]].shape[1:])
    print(f"feature maps of {convs[0]}: {shape[0]} channels of {shape[1]}x{shape[2]}")
    print(f"figures in {args.out}/")


if __name__ == "__main__":
    main()
