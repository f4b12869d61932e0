"""Former home of the runtime policy; everything now lives in :mod:`emotionkit.runtime`."""

from .runtime import (  # noqa: F401
    cpu_capability,
    cpu_has_fast_bf16,
    cpu_model,
    describe_machine,
    resolve_device,
)
