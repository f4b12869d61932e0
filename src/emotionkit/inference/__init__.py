"""Predicting emotions in photos: reading inputs, detecting and framing faces, classifying.

The entry point is :func:`emotionkit.predict` (this package's :func:`predict`); a
:class:`Predictor` keeps the model and detector loaded across calls::

    import emotionkit as ek
    results = ek.predict(["photo.jpg", "folder/"])      # one ImageResult per image
    print(results[0].to_dict())
"""

from __future__ import annotations

from .drawing import annotate, overlay_on_photo, save_png
from .images import InputError, Photo, read_photo
from .model_spec import describe_model, resolve_model
from .predictor import Face, ImageResult, Predictor, astronaut, predict

__all__ = ["Face", "ImageResult", "InputError", "Photo", "Predictor", "annotate", "astronaut",
           "describe_model", "overlay_on_photo", "predict", "read_photo", "resolve_model",
           "save_png"]
