"""The FER study behind ``emotionkit report``: eight stages, public API only, one result dict.

Each stage is a function ``stage(study) -> section`` that reads what earlier stages left on the
:class:`Study` and returns a JSON-ready section (numbers, tables, figure paths, sentences). A
stage that raises is recorded as failed with its one-line reason, and the report still renders;
stages that need a failed stage's result fail with a line that says which.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._json import json_ready
from .budget import Budget, get_budget

DISPLAY_METHODS = ("saliency", "guided-backprop")
TRUST_METHODS = ("saliency", "guided-backprop", "grad-cam")


class StageSkipped(Exception):
    """Raised by a stage that has nothing to do (recorded as skipped, not failed)."""


@dataclass
class Study:
    """Inputs and the results the stages hand to each other.

    Attributes:
        data: The whole dataset.
        train: Training images.
        val: Validation images (PublicTest when present, else a stratified tenth of Training).
        val_name: What ``val`` is, in words.
        out: Output directory (figures go to ``out/figures``).
        budget: The :class:`~emotionkit.report.budget.Budget`.
        cnn_name: Zoo name of the CNN to train.
        cnn_config: Options of the CNN (``ModelZoo.create(cnn_name, **cnn_config)``).
        model_spec: A model to report on instead of training one (``--model``), or ``None``.
        device: Torch device.
        seed: Seed of everything random.
        progress: Callback ``(stage, units)`` for the progress display.
    """

    data: Any
    train: Any
    val: Any
    val_name: str
    out: Path
    budget: Budget
    cnn_name: str = "compact"
    cnn_config: dict[str, Any] = field(default_factory=dict)
    model_spec: Any = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    progress: Callable[[str, float], None] | None = None
    cnn: nn.Module | None = None
    cnn_history: Any = None
    cnn_result: Any = None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    current: dict[str, Any] = field(default_factory=dict)  # the running stage's partial results

    @property
    def figures(self) -> Path:
        path = self.out / "figures"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def figure(self, name: str) -> Path:
        return self.figures / f"{name}.png"

    def need_cnn(self) -> nn.Module:
        if self.cnn is None:
            raise RuntimeError("needs the CNN, which stage 1 did not produce")
        return self.cnn

    def tick(self, stage: str, units: float = 1.0) -> None:
        if self.progress is not None:
            self.progress(stage, units)


# ----------------------------------------------------------------------------- helpers
def _train(study: Study, model: nn.Module, epochs: int | None, train: Any, stage: str,
           **settings: Any) -> Any:
    """Fit ``model`` with its recipe (plus ``settings``); progress ticks once per epoch."""
    from ..training import LambdaCallback, Trainer

    tick = LambdaCallback(on_epoch_end=lambda trainer, epoch, record, **kw: study.tick(stage))
    trainer = Trainer(model, epochs=epochs, device=study.device, seed=study.seed, quiet=True,
                      progress=False, callbacks=[tick], **settings)
    history = trainer.fit(train, study.val)
    return history, trainer.options


def _evaluate(study: Study, model: nn.Module, tta: str = "none") -> Any:
    from ..evaluation import Evaluator

    return Evaluator(model, device=study.device, progress=False).evaluate(study.val, tta=tta)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _history_dict(history: Any) -> dict[str, Any] | None:
    return history.to_dict() if history is not None else None


def _curves(study: Study, histories: dict[str, Any], name: str, title: str) -> str:
    from ..evaluation import plot_training_curves

    return str(plot_training_curves(histories, study.figure(name), title=title))


def epochs_of(budget: Budget, model_name: str) -> int:
    """Epochs of the CNN under ``budget`` (``None`` in the budget: the model's recipe)."""
    if budget.cnn_epochs is not None:
        return budget.cnn_epochs
    from ..models import ModelZoo

    return int(ModelZoo.get_info(model_name).recipe.get("epochs", 30))


def _examples_per_class(study: Study, result: Any) -> list[int]:
    """One validation image per class: the most confident correct one, else any of the class."""
    labels = np.asarray(study.val.labels)
    chosen = []
    for c in range(len(result.class_names)):
        idx = np.flatnonzero(labels == c)
        if not len(idx):
            continue
        right = idx[result.correct[idx]] if result.correct is not None else idx[:0]
        pool = right if len(right) else idx
        chosen.append(int(pool[np.argmax(result.confidences[pool])]))
    return chosen


def _val_images(study: Study, idx: list[int]) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(study.val.images[idx])).float().div(255.0)
    return x.unsqueeze(1)


# ----------------------------------------------------------------------------- stages
def stage_cnn(study: Study) -> dict[str, Any]:
    """1. The CNN: its summary table, training curves and accuracy with and without TTA."""
    from ..inference import resolve_model
    from ..models import ModelZoo, summary

    section = study.current  # what is done survives a later failure of this stage
    if study.model_spec is not None:
        study.cnn = resolve_model(study.model_spec, study.device)
        section["trained"] = False
        section["model"] = str(study.model_spec)
        study.tick("CNN")
    else:
        epochs = epochs_of(study.budget, study.cnn_name)
        model = ModelZoo.create(study.cnn_name, seed=study.seed, **study.cnn_config)
        t0 = time.perf_counter()
        history, options = _train(study, model, epochs, study.train, "training the CNN")
        study.cnn, study.cnn_history = model.eval(), history
        section.update(trained=True, model=study.cnn_name, options=options,
                       seconds=time.perf_counter() - t0, history=_history_dict(history),
                       best_epoch=history.best_epoch,
                       curves=_curves(study, {"CNN": history}, "cnn_curves",
                                      f"CNN ({study.cnn_name}) on {study.val_name}"))
    model = study.cnn
    table = summary(model)
    section["summary"] = table.to_dict()
    section["summary_text"] = table.to_text()
    section["params"] = _params(model)
    accuracy = {}
    for tta in ("none", "flip", "tencrop"):
        result = _evaluate(study, model, tta)
        accuracy[tta] = result.accuracy
        if tta == "none":
            study.cnn_result = result
    section["accuracy"] = accuracy
    section["model_name"] = getattr(model, "emotionkit_name", None)
    return section


def stage_dnn(study: Study) -> dict[str, Any]:
    """2. A DNN with about as many parameters as the CNN, trained and compared."""
    from ..errors import ConfigError
    from ..models import dnn_matching

    cnn = study.need_cnn()
    torch.manual_seed(study.seed)
    dnn, tried = None, []
    # three hidden layers as the reports had; a small CNN may need fewer layers or more slack
    for depth, tolerance in ((3, 0.01), (2, 0.01), (1, 0.01), (3, 0.05), (1, 0.05)):
        try:
            dnn = dnn_matching(cnn, depth=depth, tolerance=tolerance)
            break
        except ConfigError as exc:
            tried.append(str(exc))
    if dnn is None:
        raise ConfigError(tried[0])
    t0 = time.perf_counter()
    history, options = _train(study, dnn, study.budget.dnn_epochs, study.train, "training the DNN")
    result = _evaluate(study, dnn.eval())
    cnn_params = sum(p.numel() for p in cnn.parameters() if p.requires_grad)
    dnn_params = sum(p.numel() for p in dnn.parameters() if p.requires_grad)
    section = {
        "hidden": list(dnn.emotionkit_config["hidden"]), "options": options,
        "tolerance": tolerance,
        "seconds": time.perf_counter() - t0, "history": _history_dict(history),
        "cnn_trainable_params": cnn_params, "dnn_trainable_params": dnn_params,
        "param_ratio": dnn_params / cnn_params, "accuracy": result.accuracy,
        "cnn_accuracy": study.cnn_result.accuracy if study.cnn_result is not None else None,
    }
    histories = ({"CNN": study.cnn_history, "DNN": history} if study.cnn_history
                 else {"DNN": history})
    section["curves"] = _curves(study, histories, "cnn_vs_dnn", "CNN vs parameter-matched DNN")
    return section


def _without_normalization(model: nn.Module) -> nn.Module:
    """The model with its input normalization removed (it then sees pixels in [0, 1])."""
    if hasattr(model, "input_norm"):
        model.input_norm = nn.Identity()
    return model


def stage_ablation(study: Study) -> dict[str, Any]:
    """3. Normalization and augmentation: three short runs of the CNN, and augmented examples."""
    from ..data.augment import AugmentConfig, Augmenter
    from ..models import ModelZoo

    name, config = study.cnn_name, dict(study.cnn_config)
    if study.model_spec is not None:
        name = getattr(study.cnn, "emotionkit_name", None) or study.cnn_name
        config = dict(getattr(study.cnn, "emotionkit_config", None) or {})
    recipe_augment = ModelZoo.get_info(name).recipe.get("augment") or "standard"
    train = study.train
    cap = study.budget.ablation_images
    if cap is not None and len(train) > cap:
        train = train.stratified_split(cap / len(train), seed=study.seed)[1]
    runs = {"none": {"normalize": False, "augment": "none"},
            "normalize": {"normalize": True, "augment": "none"},
            "normalize + augment": {"normalize": True, "augment": recipe_augment}}
    rows, histories = [], {}
    for label, how in runs.items():
        model = ModelZoo.create(name, seed=study.seed, **config)
        if not how["normalize"]:
            _without_normalization(model)
        history, options = _train(study, model, study.budget.ablation_epochs, train,
                                  f"ablation: {label}", augment=how["augment"])
        histories[label] = history
        best = history.best or history[-1]
        rows.append({"run": label, "normalize": how["normalize"],
                     "augment": options["augment"] is not None,
                     "best_val_acc": best["val_acc"], "final_train_acc": history[-1]["train_acc"],
                     "epochs": len(history)})
    from .figures import bar_chart, image_grid

    chart = bar_chart([r["run"] for r in rows], [r["best_val_acc"] for r in rows],
                      study.figure("ablation"), ylabel=f"best accuracy on {study.val_name}",
                      title=f"Normalization and augmentation ({study.budget.ablation_epochs} "
                            f"epochs, {len(train)} training images)")
    curves = _curves(study, histories, "ablation_curves", "Ablation runs")
    # the same faces, augmented four times
    config = AugmentConfig.parse(recipe_augment) if isinstance(recipe_augment, str) else \
        AugmentConfig(**recipe_augment)
    faces = torch.from_numpy(np.ascontiguousarray(study.train.images[:6])).float().div(255)
    faces = faces.unsqueeze(1)
    augmenter = Augmenter(config, seed=study.seed)
    views = [augmenter(faces.clone()) for _ in range(4)]
    grid = [[faces[i, 0].numpy()] + [v[i, 0].numpy() for v in views] for i in range(len(faces))]
    examples = image_grid(grid, study.figure("augmented"),
                          col_titles=["original"] + [f"augmented {k + 1}" for k in range(4)],
                          title="Augmentation: the same faces, four random draws")
    return {"rows": rows, "images": len(train), "epochs": study.budget.ablation_epochs,
            "augment": config.to_dict() if hasattr(config, "to_dict") else str(config),
            "chart": str(chart), "curves": curves, "examples": str(examples)}


def confusion_sentences(result: Any, k: int = 3) -> list[str]:
    """The most-confused pairs in words, from the normalized confusion matrix."""
    names = result.class_names
    sentences = []
    for true, pred, share in result.most_confused(k):
        sentences.append(f"{share:.0%} of the {names[true].capitalize()} faces are predicted "
                         f"as {names[pred].capitalize()}.")
    per_class, support = result.per_class_accuracy, result.support
    if per_class is not None and support is not None and (support > 0).sum() > 1:
        acc = np.where(support > 0, np.asarray(per_class, dtype=float), np.nan)
        worst, best = int(np.nanargmin(acc)), int(np.nanargmax(acc))
        sentences.append(f"{names[best].capitalize()} is recognized best ({acc[best]:.0%} "
                         f"correct), {names[worst].capitalize()} worst ({acc[worst]:.0%}).")
    return sentences


def stage_confusion(study: Study) -> dict[str, Any]:
    """4. The normalized confusion matrix, the most-confused pairs in words, mistakes shown."""
    from ..evaluation import plot_confusion_matrix, plot_mistakes

    study.need_cnn()
    result = study.cnn_result
    if result is None:
        raise RuntimeError("needs the CNN's evaluation from stage 1")
    matrix = plot_confusion_matrix(result, study.figure("confusion"))
    mistakes = plot_mistakes(result, study.val, study.figure("mistakes"),
                             n=study.budget.mistakes)
    return {"matrix": np.asarray(result.confusion_matrix_normalized).round(4).tolist(),
            "class_names": list(result.class_names),
            "per_class_accuracy": [float(a) for a in result.per_class_accuracy],
            "most_confused": [{"true": result.class_names[t], "predicted": result.class_names[p],
                               "share": float(s)} for t, p, s in result.most_confused(5)],
            "sentences": confusion_sentences(result), "figure": str(matrix),
            "mistakes_figure": str(mistakes), "n_wrong": int(len(result.misclassified))}


def stage_maps(study: Study) -> dict[str, Any]:
    """5. Saliency and guided backprop per class (heatmap, overlay, masked, scalings), Grad-CAM."""
    from .. import explain
    from ..explain.display import normalize_maps, top_k_mask
    from ..explain.plotting import overlay
    from .figures import image_grid

    model = study.need_cnn()
    idx = _examples_per_class(study, study.cnn_result)
    x = _val_images(study, idx)
    faces = x[:, 0].numpy()
    names = [study.cnn_result.class_names[int(study.val.labels[i])] for i in idx]
    figures, stats = {}, {}
    for method in DISPLAY_METHODS:
        maps = explain.run(method, model, x).maps.abs().sum(1)
        minmax = normalize_maps(maps, mode="minmax").numpy()
        pct = normalize_maps(maps, mode="percentile", clip=(1.0, 99.0)).numpy()
        shared = normalize_maps(maps, mode="minmax", per="batch").numpy()
        mask = top_k_mask(maps.unsqueeze(1), top_k=0.1)[:, 0].numpy()
        rows = [[faces[i], minmax[i], pct[i], shared[i], overlay(faces[i], pct[i]),
                 faces[i] * mask[i]] for i in range(len(idx))]
        figures[method] = str(image_grid(
            rows, study.figure(f"maps_{method}"), row_titles=names,
            col_titles=["face", "min-max", "clip 1-99%", "one scale", "overlay", "top 10%"],
            cmaps=[None, "inferno", "inferno", "inferno", None, None],
            title=f"{method}: one face per class (the true class is explained)"))
        stats[method] = {"mean_abs": float(maps.abs().mean()),
                         "share_in_top_10pct": float((maps * torch.from_numpy(mask)).sum()
                                                     / maps.sum().clamp_min(1e-12))}
        study.tick("saliency maps")
    cam = explain.run("grad-cam", model, x)
    cam_maps = normalize_maps(cam.maps.sum(1), mode="minmax").numpy()
    rows = [[faces[i], cam_maps[i], overlay(faces[i], cam_maps[i])] for i in range(len(idx))]
    figures["grad-cam"] = str(image_grid(rows, study.figure("maps_grad-cam"), row_titles=names,
                                         col_titles=["face", "Grad-CAM", "overlay"],
                                         cmaps=[None, "inferno", None],
                                         title=f"Grad-CAM at {cam.layer}"
                                         if getattr(cam, "layer", None) else "Grad-CAM"))
    return {"examples": [int(i) for i in idx], "classes": names, "figures": figures,
            "stats": stats}


def _conv_layers(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def stage_filters(study: Study) -> dict[str, Any]:
    """6. Activation maximization of an early and a late conv layer; one image's feature maps."""
    from .. import explain
    from .figures import feature_map_grid, image_grid

    model = study.need_cnn()
    convs = _conv_layers(model)
    if not convs:
        raise StageSkipped("the model has no conv layers")
    layers = [convs[0], convs[-1]] if len(convs) > 1 else convs
    out: dict[str, Any] = {"layers": layers, "figures": {}, "steps": study.budget.activation_steps}
    for layer in layers:
        n = min(study.budget.filters, dict(model.named_modules())[layer].out_channels)
        result = explain.run("activation-max", model, None, layer=layer,
                             channels=list(range(n)), steps=study.budget.activation_steps,
                             seed=study.seed)
        images = result.maps[:, 0].numpy()
        images = [(im - im.min()) / max(float(im.max() - im.min()), 1e-12) for im in images]
        out["figures"][layer] = str(image_grid(
            [images], study.figure(f"activation_{layer}"),
            col_titles=[f"filter {k}" for k in range(n)],
            title=f"Inputs that most activate filters of {layer} "
                  f"({study.budget.activation_steps} gradient-ascent steps)"))
        study.tick("filter visualization")
    face = _val_images(study, [0])
    maps = explain.run("layer-outputs", model, face, layer=convs[0]).maps
    first = next(iter(maps.values())) if isinstance(maps, dict) else maps
    out["feature_maps"] = str(feature_map_grid(first[0], study.figure("feature_maps"),
                                               title=f"Feature maps of {convs[0]} for one face"))
    out["feature_map_shape"] = list(first.shape[1:])
    return out


def stage_trust(study: Study) -> dict[str, Any]:
    """7. Sanity check (cascading randomization) and faithfulness of each map method."""
    from ..explain import faithfulness, sanity_check

    model = study.need_cnn()
    n = min(study.budget.trust_images, len(study.val))
    x = _val_images(study, list(range(n)))
    rows = []
    for method in TRUST_METHODS:
        row: dict[str, Any] = {"method": method}
        try:
            check = sanity_check(model, method, x, seed=study.seed, n_examples=0)
            final = check.final()
            row["sanity_spearman"] = final.get("spearman_abs")
            row["sanity_ssim"] = final.get("ssim_abs")
            faith = faithfulness(model, method, x, steps=study.budget.faithfulness_steps,
                                 seed=study.seed).summary()
            row["deletion_gain"] = faith["deletion_gain"]
            row["insertion_gain"] = faith["insertion_gain"]
            row["deletion_auc"] = faith["deletion_auc"]
            row["insertion_auc"] = faith["insertion_auc"]
        except Exception as exc:  # noqa: BLE001  (one method's failure is a row, not the stage)
            row["error"] = _one_line(exc)
        rows.append(row)
        study.tick("sanity and faithfulness")
    return {"rows": rows, "images": n, "steps": study.budget.faithfulness_steps}


def stage_math(study: Study) -> dict[str, Any]:
    """8. Per-layer output shapes, parameters, multiply/adds and the big-O of the CNN."""
    from ..math import analyze, complexity

    model = study.need_cnn()
    table = analyze(model)
    big_o = complexity(model)
    return {"layers": [r.to_dict() for r in table], "totals": table.totals(),
            "text": table.to_text(), "big_o": getattr(big_o, "text", str(big_o)),
            "big_o_latex": getattr(big_o, "latex", None),
            "complexity": big_o.to_dict() if hasattr(big_o, "to_dict") else None}


#: The stages in order: ``(key, title, function)``; ``report.json``'s sections use the keys.
STAGES: list[tuple[str, str, Callable[[Study], dict[str, Any]]]] = [
    ("cnn", "1. The CNN", stage_cnn),
    ("dnn", "2. A parameter-matched DNN", stage_dnn),
    ("ablation", "3. Normalization and augmentation", stage_ablation),
    ("confusion", "4. Which classes are confused", stage_confusion),
    ("maps", "5. Saliency maps", stage_maps),
    ("filters", "6. What the filters respond to", stage_filters),
    ("trust", "7. Can the maps be trusted?", stage_trust),
    ("math", "8. The math of the CNN", stage_math),
]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def work_units(budget: Budget, cnn_name: str, trained: bool) -> float:
    """Progress units of a whole study (an epoch or a figure is about one unit)."""
    cnn = epochs_of(budget, cnn_name) if trained else 1
    return cnn + budget.dnn_epochs + 3 * budget.ablation_epochs + 2 + 2 + len(TRUST_METHODS) + 4


def run_stages(study: Study) -> dict[str, dict[str, Any]]:
    """Run every stage in order; each section records status, seconds and its results."""
    for key, title, fn in STAGES:
        t0 = time.perf_counter()
        study.current = {}
        try:
            section = {"status": "ok", **fn(study)}
        except StageSkipped as exc:
            section = {"status": "skipped", "reason": str(exc)}
        except Exception as exc:  # noqa: BLE001  (the report renders whatever failed)
            section = {**study.current, "status": "failed", "error": _one_line(exc),
                       "traceback": traceback.format_exc(limit=6)}
        section["title"] = title
        section["seconds"] = section.get("seconds", time.perf_counter() - t0)
        section["stage_seconds"] = time.perf_counter() - t0
        study.sections[key] = section
        study.tick(title, 0.0)
    return study.sections


def finite(value: Any) -> Any:
    """JSON-ready numbers: ``None`` for NaN/inf floats (JSON has no NaN), recursively."""
    return json_ready(value)


def make_study(data: Any, out: Path, *, budget: str | Budget = "quick", cnn: str = "compact",
               cnn_config: dict[str, Any] | None = None, model: Any = None,
               device: Any = "auto", seed: int = 0,
               progress: Callable[[str, float], None] | None = None) -> Study:
    """Split the data and set up a :class:`Study` (validation: PublicTest, else a tenth)."""
    from ..errors import ConfigError
    from ..runtime import resolve_device

    if data.labels is None:
        raise ConfigError(f"{data.source}: the report needs labelled images")
    train, val = data.train_val_split("auto", seed=seed)
    val_name = "PublicTest" if "PublicTest" in data.split_names else "a stratified 10% of Training"
    return Study(data=data, train=train, val=val, val_name=val_name, out=Path(out),
                 budget=get_budget(budget), cnn_name=cnn, cnn_config=dict(cnn_config or {}),
                 model_spec=model,
                 device=resolve_device(device), seed=seed, progress=progress)
