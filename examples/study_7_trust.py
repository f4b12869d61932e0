"""Question 7 of the study (section 7 of ``emotionkit report``): can the saliency maps be trusted?

Two checks of each map method (vanilla gradient, guided backpropagation, Grad-CAM) on the first
``--images`` PublicTest faces:

- the sanity check of Adebayo et al.: re-initialize the layers one after another, from the
  output back to the input, and compare the maps with the trained model's. A method whose maps
  stay similar (Spearman rank correlation near 1) does not depend on what the model learned;
- faithfulness: delete (or insert) pixels in the map's order, most important first, and watch
  the predicted class's probability; the gain over a random order should be above 0.

Prints one table row per method (also written to ``OUT/trust.md``) and draws the similarity
against the randomized layers (``OUT/sanity.png``) and each method's deletion/insertion curves.
Run on the real data with the CNN of ``study_1_cnn.py``:

    python examples/study_7_trust.py --data fer2013.csv.gz --model study/1/cnn.safetensors \\
        --images 16 --steps 50
"""

from __future__ import annotations

import argparse
from pathlib import Path

import emotionkit as ek
from emotionkit.explain import faithfulness, plot_sanity, sanity_check
from emotionkit.inference import resolve_model

METHODS = ("saliency", "guided-backprop", "grad-cam")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Question 7: sanity checks and faithfulness.")
    parser.add_argument("--data", default="synthetic",
                        help="fer2013.csv.gz (or any file Dataset.load reads), or synthetic[:N]")
    parser.add_argument("--model", default=None,
                        help="a checkpoint (study_1's OUT/cnn.safetensors) or a shipped model name")
    parser.add_argument("--out", type=Path, default=Path("study-examples/7-trust"))
    parser.add_argument("--epochs", type=int, default=5, help="training epochs without --model")
    parser.add_argument("--width", type=float, default=0.5, help="CNN width without --model")
    parser.add_argument("--images", type=int, default=8, help="faces to explain")
    parser.add_argument("--steps", type=int, default=20, help="deletion/insertion steps")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    data = ek.Dataset.load(args.data)
    train, val = data.train_val_split()  # PublicTest, else a stratified tenth of Training
    if args.model:
        model = resolve_model(args.model)
    else:
        model = ek.ModelZoo.create("compact", width=args.width, seed=0)
        ek.Trainer(model, epochs=args.epochs, quiet=True).fit(train, val)

    faces = val[: args.images]
    table = ["| method | sanity Spearman | sanity SSIM | deletion gain | insertion gain |",
             "|---|---|---|---|---|"]
    checks = {}
    for method in METHODS:
        checks[method] = sanity_check(model, method, faces, n_examples=0)
        final = checks[method].final()  # similarity once every layer is randomized
        faith = faithfulness(model, method, faces, steps=args.steps)
        faith.plot(args.out / f"faithfulness_{method}.png")
        gains = faith.summary()
        table.append(f"| {method} | {final['spearman_abs']:.4f} | {final['ssim_abs']:.4f} "
                     f"| {gains['deletion_gain']:.4f} | {gains['insertion_gain']:.4f} |")
    plot_sanity(checks, args.out / "sanity.png")
    (args.out / "trust.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    print("Spearman and SSIM near 0 after randomization, and gains above 0, speak for a method.")


if __name__ == "__main__":
    main()
