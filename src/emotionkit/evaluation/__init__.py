"""emotionkit.evaluation: batched evaluation with TTA, metrics, leakage-aware scores and figures.

::

    from emotionkit.evaluation import Evaluator, plot_confusion_matrix
    result = Evaluator(model).evaluate(data, split="PublicTest", tta="flip", train=train_data)
    print(result.summary())
    plot_confusion_matrix(result, "confusion_matrix.png")
"""

from .evaluator import Evaluator, eval_mode
from .figures import (
    plot_confusion_matrix,
    plot_contact_sheet,
    plot_mistakes,
    plot_per_class_accuracy,
    plot_training_curves,
)
from .leakage import TrainOverlap, train_overlap
from .metrics import (
    classification_metrics,
    confusion_matrix,
    log_loss,
    normalize_rows,
    top_k_accuracy,
)
from .result import EvaluationResult
from .tta import TTA_MODES, make_views, n_views

__all__ = [
    "Evaluator",
    "EvaluationResult",
    "eval_mode",
    "TTA_MODES",
    "make_views",
    "n_views",
    "classification_metrics",
    "confusion_matrix",
    "normalize_rows",
    "top_k_accuracy",
    "log_loss",
    "TrainOverlap",
    "train_overlap",
    "plot_training_curves",
    "plot_confusion_matrix",
    "plot_per_class_accuracy",
    "plot_mistakes",
    "plot_contact_sheet",
]
