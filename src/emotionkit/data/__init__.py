"""emotionkit.data: the FER2013 classes, readers, the Dataset container, audit, normalization,
augmentation and the built-in synthetic face set."""

from .audit import AuditReport, CleanReport, DuplicateGroup
from .augment import AugmentConfig, Augmenter
from .classes import CLASS_COLORS, CLASS_NAMES, DISPLAY_NAMES, NUM_CLASSES, class_index
from .dataset import IMAGE_SIZE, Dataset
from .normalize import compute_stats
from .problems import DataWarning
from .synthetic_faces import synthetic

__all__ = [
    "CLASS_COLORS",
    "CLASS_NAMES",
    "DISPLAY_NAMES",
    "NUM_CLASSES",
    "IMAGE_SIZE",
    "AugmentConfig",
    "Augmenter",
    "AuditReport",
    "CleanReport",
    "DataWarning",
    "Dataset",
    "DuplicateGroup",
    "class_index",
    "compute_stats",
    "synthetic",
]
