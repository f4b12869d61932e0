"""Emotions over time in a video file (optional extra: ``pip install 'emotionkit[video]'``).

Frames are decoded with PyAV (FFmpeg inside its wheel), sampled at a fixed rate, and each sampled
frame goes through the same :class:`~emotionkit.inference.Predictor` as a photo. The result lists
the faces per sampled frame; :func:`write_video_outputs` writes them as CSV and JSON and plots the
probabilities of the largest face over time.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from .images import VIDEO_SUFFIXES, InputError, _fit


def is_video(path: Any) -> bool:
    """True for a path whose suffix is a common video container."""
    return isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() in VIDEO_SUFFIXES


def _open(path: Path):
    try:
        import av
    except ImportError:
        raise InputError(f"{path}: reading videos needs the optional extra: "
                         "pip install 'emotionkit[video]'") from None
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except Exception as exc:  # PyAV raises its own error classes per FFmpeg error
        raise InputError(f"{path}: not a readable video ({' '.join(str(exc).split())[:160]})"
                         ) from None


def predict_video(predictor: Any, path: str | os.PathLike, *, per_second: float = 2.0,
                  max_frames: int = 10_000) -> dict[str, Any]:
    """Predict the faces of sampled frames of one video.

    Args:
        predictor: A :class:`~emotionkit.inference.Predictor`.
        path: The video file.
        per_second: Frames analysed per second of video.
        max_frames: Stop after this many analysed frames.

    Returns:
        ``{"path", "fps", "frames": [{"frame", "time", "faces": [...]}], "error"?}``.
    """
    p = Path(path)
    out: dict[str, Any] = {"path": str(p), "frames": []}
    try:
        container = _open(p)
    except InputError as exc:
        out["error"] = str(exc)
        return out
    with container:
        stream = container.streams.video[0] if container.streams.video else None
        if stream is None:
            out["error"] = f"{p}: holds no video stream"
            return out
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        out["fps"] = round(fps, 3)
        step = max(1, round(fps / max(per_second, 1e-6)))
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index % step:
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                photo = _fit(f"{p}#frame{index}", rgb)
                result = predictor.predict_photo(photo)
                time_s = float(frame.time) if frame.time is not None else index / fps
                out["frames"].append({"frame": index, "time": round(time_s, 3),
                                      "faces": [f.to_dict() for f in result.faces]})
                if len(out["frames"]) >= max_frames:
                    break
        except Exception as exc:  # a damaged stream: keep what was decoded
            out["error"] = f"{p}: video decoding stopped ({' '.join(str(exc).split())[:160]})"
    if not out["frames"] and "error" not in out:
        out["error"] = f"{p}: no frames could be decoded"
    return out


def write_video_outputs(result: dict[str, Any], out_dir: str | os.PathLike,
                        class_names: tuple[str, ...]) -> list[Path]:
    """Write ``<stem>.frames.csv``, ``<stem>.frames.json`` and ``<stem>.emotions.png``.

    Returns:
        The files written.
    """
    import json

    from .._io import atomic_write_bytes, atomic_write_text

    out = Path(out_dir)
    stem = Path(result["path"]).stem
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["frame", "time", "face", "x", "y", "w", "h", "emotion", *class_names])
    for fr in result["frames"]:
        for k, face in enumerate(fr["faces"]):
            writer.writerow([fr["frame"], fr["time"], k, *face["box"], face["emotion"],
                             *(face["probabilities"][c] for c in class_names)])
    files = [out / f"{stem}.frames.csv", out / f"{stem}.frames.json", out / f"{stem}.emotions.png"]
    atomic_write_text(files[0], buf.getvalue())
    atomic_write_text(files[1], json.dumps(result, indent=2))
    atomic_write_bytes(files[2], _plot(result, class_names))
    return files


def _plot(result: dict[str, Any], class_names: tuple[str, ...]) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..data.classes import CLASS_COLORS, DISPLAY_NAMES

    times = [fr["time"] for fr in result["frames"]]
    probs = np.full((len(times), len(class_names)), np.nan)
    for i, fr in enumerate(result["frames"]):
        if fr["faces"]:  # the largest face (faces come largest first)
            probs[i] = [fr["faces"][0]["probabilities"][c] for c in class_names]
    fig, ax = plt.subplots(figsize=(9, 3.5), dpi=110)
    for k, name in enumerate(class_names):
        ax.plot(times, probs[:, k], color=CLASS_COLORS[k % len(CLASS_COLORS)],
                label=DISPLAY_NAMES[k] if k < len(DISPLAY_NAMES) else name, lw=1.6)
    ax.set(xlabel="time (s)", ylabel="probability", ylim=(0, 1),
           title=f"{Path(result['path']).name}: emotions of the largest face")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


__all__ = ["is_video", "predict_video", "write_video_outputs"]
