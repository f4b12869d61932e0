"""The figures of the user guides, drawn with emotionkit's public API when the docs are built.

``docs/conf.py`` calls :func:`build` when Sphinx starts (``builder-inited``); by hand::

    python docs/figures.py [OUTDIR]          # default OUTDIR: docs/_generated/figures
    python docs/figures.py OUTDIR --force    # redraw even when the stamp says they are current
    python docs/figures.py OUTDIR --only augmentation,sanity_check

Each figure is one function ``NAME(path)`` writing ``NAME.png``, listed in :data:`FIGURES`.
Every function is deterministic (fixed seeds, no wall-clock or machine-dependent content) and
draws on a white background, so the figures read on furo's dark theme as well.

:func:`build` redraws only what is needed: a missing PNG, or all of them when the stamp
(``.stamp.json`` next to the PNGs) no longer matches this file, the emotionkit version, the
shipped weights or the evaluation data found (see :func:`evaluation_data`). Any failure raises,
so a docs build with ``-W`` stops instead of publishing a guide without its figure.
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("EMOTIONKIT_LOAD_PLUGINS", "")

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "_generated" / "figures"
STAMP = ".stamp.json"
#: The FER2013 file the evaluation figure uses when it exists (the project's usual place, next to
#: the checkout); ``EMOTIONKIT_DOCS_FER2013`` names another one, or ``none`` to never use it.
FER2013 = HERE.parent.parent / "shared" / "data" / "fer2013.csv.gz"
#: matplotlib settings for every figure: opaque white, whatever the reader's theme
RC = {"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
      "savefig.transparent": False, "font.size": 10}
DPI = 100


# ---------------------------------------------------------------------- shared inputs
@functools.lru_cache(maxsize=1)
def shipped_model():
    """The shipped ``compact`` model (weights inside the package), in eval mode."""
    import emotionkit as ek

    return ek.ModelZoo.create("compact", pretrained=True).eval()


@functools.lru_cache(maxsize=1)
def astronaut_result():
    """``emotionkit.predict()`` on scikit-image's astronaut photo, with the shipped model."""
    import emotionkit as ek

    results = ek.predict(model=shipped_model(), device="cpu")
    result = results[0]
    if not result.ok or not result.faces:
        raise RuntimeError(f"no face found in the astronaut photo: {result.to_dict()}")
    return result


def evaluation_data() -> Path | None:
    """The FER2013 file for the evaluation figure, or None (then synthetic faces are used)."""
    chosen = os.environ.get("EMOTIONKIT_DOCS_FER2013")
    if chosen is not None:
        if chosen.lower() in ("", "none", "0", "off"):
            return None
        if not Path(chosen).is_file():
            raise FileNotFoundError(f"EMOTIONKIT_DOCS_FER2013={chosen}: no such file")
        return Path(chosen)
    return FER2013 if FER2013.is_file() else None


def _save(fig, path: Path) -> None:
    fig.savefig(path, format="png", dpi=DPI, facecolor="white")


def finish_png(path: Path) -> None:
    """Rewrite a PNG compactly on an opaque white background (gray images as 8-bit gray).

    Transparency would show furo's dark background through a figure; an RGBA file of gray
    faces is also four times the bytes it needs.
    """
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        image.load()
    if image.mode == "P":  # already a palette image (the annotated photo): keep it
        return
    rgba = np.asarray(image.convert("RGBA")).astype(np.float32)
    alpha = rgba[..., 3:] / 255.0
    rgb = (rgba[..., :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    gray = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
    out = Image.fromarray(rgb[..., 0]) if gray else Image.fromarray(rgb)
    out.save(path, format="PNG", optimize=True)


def _with_white_background(draw: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(draw)
    def wrapper(path: Path, *args, **kwargs) -> None:
        import matplotlib

        with matplotlib.rc_context(RC):
            draw(Path(path), *args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------- data guide
@_with_white_background
def synthetic_faces(path: Path) -> None:
    """Seven synthetic faces of every class (``emotionkit.data.synthetic``), one row per class."""
    from emotionkit.data import synthetic
    from emotionkit.data.sheet import contact_sheet

    data = synthetic(20, seed=0)
    fig = contact_sheet(data, n=49, seed=0,
                        title="emotionkit.data.synthetic(20, seed=0): 7 faces per class")
    _save(fig, path)


@_with_white_background
def augmentation(path: Path) -> None:
    """One synthetic face and eight random draws of each augmentation preset."""
    import numpy as np
    import torch
    from matplotlib.figure import Figure

    from emotionkit.data import AugmentConfig, Augmenter, synthetic

    data = synthetic(20, seed=0)
    index = int(np.flatnonzero(data.labels == 3)[0])  # a happy face: the mouth shows shifts
    face = torch.from_numpy(data.images[index:index + 1].astype(np.float32) / 255.0)[:, None]
    presets = ("light", "standard", "strong")
    n = 8
    fig = Figure(figsize=(1.0 + 0.85 * (n + 1), 0.55 + 0.9 * len(presets)))
    axes = fig.subplots(len(presets), n + 1, squeeze=False)
    for row, name in enumerate(presets):
        augmenter = Augmenter(AugmentConfig.preset(name), seed=0)
        views = augmenter(face.repeat(n, 1, 1, 1))
        panels = [face[0, 0]] + [views[i, 0] for i in range(n)]
        for col, (ax, panel) in enumerate(zip(axes[row], panels, strict=True)):
            ax.imshow(panel.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("original" if col == 0 else f"draw {col}", fontsize=8)
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle('Augmenter(AugmentConfig.preset(name), seed=0) on one face', fontsize=10)
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=1.0 / width, right=1 - 0.05 / width, bottom=0.05 / height,
                        top=1 - 0.55 / height, wspace=0.06, hspace=0.08)
    _save(fig, path)


# ---------------------------------------------------------------------- predicting guide
@_with_white_background
def predict_astronaut(path: Path) -> None:
    """The astronaut photo as ``emotionkit predict --out`` draws it (box, landmarks, label)."""
    from PIL import Image

    from emotionkit.inference import annotate

    result = astronaut_result()
    photo = result.photo
    rgb = annotate(photo.rgb, result.faces, scale=photo.scale)
    # a 256-colour palette keeps the photo under 200 KB; the drawing itself is unchanged
    image = Image.fromarray(rgb).quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                          dither=Image.Dither.NONE)
    image.save(path, format="PNG", optimize=True)


# ---------------------------------------------------------------------- explaining guide
EXPLAIN_METHODS = ("saliency", "guided-backprop", "grad-cam")


@_with_white_background
def explain_astronaut(path: Path) -> None:
    """Saliency, guided backpropagation and Grad-CAM of the shipped model on the astronaut."""
    from matplotlib.figure import Figure

    from emotionkit import CLASS_NAMES, DISPLAY_NAMES, explain
    from emotionkit.explain.plotting import colorize, overlay

    face = astronaut_result().faces[0]
    crop = face.crop[None]  # (1, 48, 48) uint8: the face exactly as the model saw it
    fig = Figure(figsize=(6.4, 1.2 + 2.0 * len(EXPLAIN_METHODS)))
    axes = fig.subplots(len(EXPLAIN_METHODS), 3, squeeze=False)
    for row, method in enumerate(EXPLAIN_METHODS):
        expl = explain.run(method, shipped_model(), crop, target="predicted")
        signed = expl.is_signed()
        shown = expl.normalized("percentile", signed=signed)[0].sum(0).clamp(-1, 1).numpy()
        image = expl.images[0].mean(0).numpy()
        panels = [image, colorize(shown, signed), overlay(image, shown, signed)]
        for col, (ax, panel) in enumerate(zip(axes[row], panels, strict=True)):
            kw = {"cmap": "gray", "vmin": 0, "vmax": 1} if col == 0 else {}
            ax.imshow(panel, interpolation="nearest", **kw)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(("face (48x48)", "heatmap", "overlay")[col], fontsize=10)
        axes[row, 0].set_ylabel(method + ("\n(signed)" if signed else ""), fontsize=10)
    target = DISPLAY_NAMES[CLASS_NAMES.index(face.emotion)]
    fig.suptitle(f"Shipped compact model, astronaut's face, target: {target} "
                 f"({face.probabilities[face.emotion]:.0%})", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


# ---------------------------------------------------------------------- evaluation guide
@_with_white_background
def confusion_matrix(path: Path, data: str | os.PathLike | None = "auto") -> None:
    """The shipped model's normalized confusion matrix.

    On FER2013 PublicTest when the file is found (:func:`evaluation_data`; ``data`` may also name
    it), otherwise on synthetic faces, which are not FER2013 and which the model never saw; the
    title says which.
    """
    import emotionkit as ek
    from emotionkit.evaluation import Evaluator, plot_confusion_matrix

    source = evaluation_data() if data == "auto" else (None if data is None else Path(data))
    # a copy: the Evaluator puts a model's weights in channels_last (faster on CPU) in place,
    # and the other figures use the shared model as loaded
    evaluator = Evaluator(copy.deepcopy(shipped_model()), device="cpu", progress=False)
    if source is not None:
        dataset = ek.Dataset.load(source)
        result = evaluator.evaluate(dataset, split="PublicTest", tta="none")
        title = (f"Shipped compact on FER2013 PublicTest ({len(result.labels)} faces, no TTA): "
                 f"accuracy {result.accuracy:.3f}")
    else:
        result = evaluator.evaluate("synthetic:70", split="PublicTest", tta="flip")
        title = (f"Shipped compact on synthetic faces, not FER2013 ({len(result.labels)}, "
                 f"flip TTA): accuracy {result.accuracy:.3f}")
    plot_confusion_matrix(result, path, title=title)


# ---------------------------------------------------------------------- trust guide
SANITY_METHODS = ("saliency", "guided-backprop")


@_with_white_background
def sanity_check(path: Path) -> None:
    """Cascading randomization of the shipped model: saliency against guided backpropagation.

    The numbers are :func:`emotionkit.explain.sanity_check_many`'s; the plot is drawn here
    rather than by :func:`emotionkit.explain.plot_sanity`, whose 15 layer names need a figure
    too wide to read at the width of a guide's page.
    """
    import numpy as np
    from matplotlib.figure import Figure

    from emotionkit import explain
    from emotionkit.data import synthetic

    images = synthetic(2, seed=0).images[:8]  # 8 faces, 1-2 per class
    results = explain.sanity_check_many(shipped_model(), SANITY_METHODS, images, seed=0,
                                        mode="cascading", similarity="spearman", n_examples=0)
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.subplots()
    layers = next(iter(results.values())).layers
    for result in results.values():
        mean = [row["spearman_abs_mean"] for row in result.rows()]
        ax.plot(np.arange(len(mean)), mean, marker="o", label=result.method)
    ax.set_xticks(np.arange(len(layers)), layers, rotation=60, ha="right", fontsize=8)
    ax.set_xlabel("randomized layers, output to input (cumulative)")
    ax.set_ylabel("Spearman correlation with\nthe original |map|")
    ax.set_ylim(-0.3, 1.05)
    ax.axhline(0.0, color="gray", lw=0.6)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right")
    ax.set_title(f"Shipped compact model, {len(images)} synthetic faces, seed 0", fontsize=10)
    _save(fig, path)


#: name -> function; each writes ``NAME.png``
FIGURES: dict[str, Callable[[Path], None]] = {
    "synthetic_faces": synthetic_faces,
    "augmentation": augmentation,
    "predict_astronaut": predict_astronaut,
    "explain_astronaut": explain_astronaut,
    "confusion_matrix": confusion_matrix,
    "sanity_check": sanity_check,
}


# ---------------------------------------------------------------------- building
def stamp() -> dict[str, str | None]:
    """What the figures depend on: this file, the emotionkit version, weights, evaluation data."""
    import emotionkit
    from emotionkit.models import pretrained

    weights = {name: pretrained.metadata(name)["sha256"] for name in pretrained.available()}
    data = evaluation_data()
    if data is not None:
        info = data.stat()
        data_key = f"{data.resolve()} {info.st_size} {int(info.st_mtime)}"
    else:
        data_key = None
    return {
        "figures.py": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "emotionkit": emotionkit.__version__,
        "weights": json.dumps(weights, sort_keys=True),
        "evaluation_data": data_key,
    }


def build(out_dir: str | os.PathLike = DEFAULT_OUT, force: bool = False,
          names: list[str] | None = None, log: Callable[[str], None] | None = None,
          ) -> dict[str, float]:
    """Draw the figures that are missing or out of date into ``out_dir``.

    Args:
        out_dir: Folder of the PNGs (created if missing).
        force: Redraw every figure.
        names: Only these figures (default: all of :data:`FIGURES`).
        log: Called with one line per figure drawn.

    Returns:
        ``{name: seconds}`` of the figures drawn (empty when all were current).

    Raises:
        Exception: Whatever a figure function raised; the stamp is then not updated.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wanted = list(FIGURES) if names is None else list(names)
    unknown = [n for n in wanted if n not in FIGURES]
    if unknown:
        raise KeyError(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    current = stamp()
    stamp_path = out / STAMP
    try:
        previous = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        previous = None
    stale = force or previous != current
    todo = [n for n in wanted if stale or not (out / f"{n}.png").is_file()]
    if stale and stamp_path.exists():
        stamp_path.unlink()  # a failure below leaves no stamp, so the next build redraws
    seconds: dict[str, float] = {}
    for name in todo:
        start = time.perf_counter()
        target = out / f"{name}.png"
        partial = out / f".{name}.png.part"
        FIGURES[name](partial)
        if not partial.is_file() or partial.stat().st_size == 0:
            raise RuntimeError(f"figure {name} wrote nothing")
        finish_png(partial)
        partial.replace(target)
        seconds[name] = time.perf_counter() - start
        if log is not None:
            log(f"figure {target.name}: {target.stat().st_size / 1024:.0f} KiB, "
                f"{seconds[name]:.1f} s")
    if names is None or not stale:
        stamp_path.write_text(json.dumps(current, indent=1) + "\n")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the figures of the emotionkit guides.")
    parser.add_argument("out_dir", nargs="?", default=str(DEFAULT_OUT),
                        help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--force", action="store_true", help="redraw even if current")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated figure names ({', '.join(FIGURES)})")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else None
    start = time.perf_counter()
    drawn = build(args.out_dir, force=args.force, names=names, log=print)
    print(f"{len(drawn)} figure(s) drawn in {time.perf_counter() - start:.1f} s "
          f"into {args.out_dir}" + ("" if drawn else " (all current)"))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.exit(main())
