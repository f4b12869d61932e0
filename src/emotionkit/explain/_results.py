"""What the results of the trust checks (sanity checks, faithfulness) share."""

from __future__ import annotations

from typing import Any


class CheckResult:
    """Base of :class:`~emotionkit.explain.SanityCheckResult` and
    :class:`~emotionkit.explain.FaithfulnessResult`: JSON output from their ``to_dict``.

    Subclasses implement ``to_dict(per_image=...)`` and set :attr:`per_image_by_default`.
    """

    #: Whether :meth:`~emotionkit.explain._results.CheckResult.to_json` includes the per-image
    #: values unless told otherwise.
    per_image_by_default: bool = False

    def to_dict(self, per_image: bool = False) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_json(self, path: Any = None, per_image: bool | None = None) -> str:
        """Serialize to JSON; also write it atomically to ``path`` when given.

        Args:
            path: Optional destination file.
            per_image: Include the per-image values (see ``to_dict``); ``None`` uses the class's
                :attr:`per_image_by_default`.

        Returns:
            The JSON text.
        """
        from .._io import json_text

        if per_image is None:
            per_image = self.per_image_by_default
        return json_text(self.to_dict(per_image=per_image), path)
