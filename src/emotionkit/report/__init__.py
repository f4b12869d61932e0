"""emotionkit.report: the whole FER study in one call, as one HTML page and ``report.json``.

::

    from emotionkit.report import build_report
    report = build_report("synthetic", "study/", budget="quick")
    print(report["sections"]["cnn"]["accuracy"])

Stages (each one's failure is recorded and the page still renders): the CNN, a
parameter-matched DNN, normalization/augmentation ablations, the confusion matrix, saliency
maps, filter visualization, sanity checks and faithfulness, and the math of the CNN.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .budget import BUDGETS, Budget, get_budget
from .study import STAGES, Study, confusion_sentences, make_study, run_stages, work_units

#: File name of the page in the output folder.
REPORT_HTML = "report.html"
#: File name of the numbers in the output folder.
REPORT_JSON = "report.json"


def build_report(data: Any, out: str | Path, *, budget: str | Budget = "quick",
                 cnn: str = "compact", cnn_config: dict[str, Any] | None = None,
                 model: Any = None, device: Any = "auto", seed: int = 0,
                 progress: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Run the study on ``data`` and write ``out/report.html``, ``out/report.json``, figures.

    Args:
        data: A :class:`~emotionkit.data.Dataset` or anything ``Dataset.load`` accepts (a
            FER2013 CSV, a folder, ``"synthetic"``). Validation is PublicTest when present,
            else a stratified tenth of Training.
        out: Output directory (created).
        budget: ``"quick"``, ``"standard"`` or ``"full"`` (see :data:`BUDGETS`).
        cnn: Zoo name of the CNN to train.
        cnn_config: Its options (``ModelZoo.create(cnn, **cnn_config)``), e.g. ``{"width": 0.5}``.
        model: Report on this model instead of training the CNN (a checkpoint path, a shipped
            model's name, or a module); the DNN and ablation stages still train.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        seed: Seed of everything random; the same seed gives the same numbers on the CPU.
        progress: Called as ``progress(stage, units)`` as work completes (see
            :func:`~emotionkit.report.study.work_units` for the total).

    Returns:
        The report dict (what ``report.json`` holds).

    Raises:
        ConfigError: Unknown budget, unlabelled data.
        DataFormatError: ``data`` cannot be read.
    """
    import torch

    from .. import __version__
    from .._io import atomic_write_json, atomic_write_text
    from ..data import Dataset
    from ..runtime import describe_machine
    from .html import render
    from .study import finite

    t0 = time.perf_counter()
    dataset = data if isinstance(data, Dataset) else Dataset.load(data)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    study = make_study(dataset, out, budget=budget, cnn=cnn, cnn_config=cnn_config, model=model,
                       device=device,
                       seed=seed, progress=progress)
    run_stages(study)
    report = {
        "title": f"{cnn if model is None else model} on {Path(str(dataset.source)).name}",
        "data": str(dataset.source), "n_train": len(study.train), "n_val": len(study.val),
        "validation": study.val_name, "budget": study.budget.to_dict(), "seed": seed,
        "device": str(study.device), "model": None if model is None else str(model),
        "cnn": cnn, "cnn_config": dict(cnn_config or {}), "version": __version__,
        "machine": describe_machine(),
        "seconds": time.perf_counter() - t0,
        "sections": finite(study.sections),
        "failed": [k for k, s in study.sections.items() if s["status"] == "failed"],
    }
    atomic_write_json(out / REPORT_JSON, report)
    atomic_write_text(out / REPORT_HTML, render(report))
    return report


__all__ = ["build_report", "BUDGETS", "Budget", "get_budget", "STAGES", "Study", "make_study",
           "run_stages", "work_units", "confusion_sentences", "REPORT_HTML", "REPORT_JSON"]
