"""emotionkit.data: the FER2013 classes, readers, the Dataset container, audit, normalization,
augmentation and the built-in synthetic face set."""

from .classes import CLASS_COLORS, CLASS_NAMES, DISPLAY_NAMES, NUM_CLASSES, class_index
from .dataset import IMAGE_SIZE, Dataset
from .synthetic import synthetic

__all__ = [
    "CLASS_COLORS",
    "CLASS_NAMES",
    "DISPLAY_NAMES",
    "NUM_CLASSES",
    "IMAGE_SIZE",
    "Dataset",
    "class_index",
    "synthetic",
]
