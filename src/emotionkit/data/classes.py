"""The seven FER2013 emotion classes in the dataset's own label order (the one place saying so)."""

from __future__ import annotations

from .._names import unknown_name_message
from ..errors import UnknownNameError

#: Machine names in FER2013 label order (label 0 is ``angry``, 6 is ``neutral``).
CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Human-readable names, same order.
DISPLAY_NAMES: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")

NUM_CLASSES: int = len(CLASS_NAMES)

#: One colour per class (matplotlib tab10 picks), used by every figure so a class looks the same
#: everywhere.
CLASS_COLORS: tuple[str, ...] = (
    "#d62728", "#8c564b", "#9467bd", "#2ca02c", "#1f77b4", "#ff7f0e", "#7f7f7f",
)

# Spellings seen in image-folder copies of FER2013 and in other datasets.
_ALIASES = {
    "anger": "angry", "disgusted": "disgust", "fearful": "fear", "scared": "fear",
    "happiness": "happy", "sadness": "sad", "surprised": "surprise", "calm": "neutral",
}


def class_index(name: str | int) -> int:
    """Map a class name (any case, common aliases) or index to its FER2013 label.

    Args:
        name: ``"Happy"``, ``"happiness"``, ``3`` or ``"3"``.

    Returns:
        The label in 0..6.

    Raises:
        UnknownNameError: The name or index is not a FER2013 class.
    """
    if isinstance(name, int) or (isinstance(name, str) and name.strip().isdigit()):
        idx = int(name)
        if 0 <= idx < NUM_CLASSES:
            return idx
        raise UnknownNameError(f"class index {idx} is outside 0..{NUM_CLASSES - 1}")
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key in CLASS_NAMES:
        return CLASS_NAMES.index(key)
    raise UnknownNameError(unknown_name_message("class", str(name), CLASS_NAMES))
