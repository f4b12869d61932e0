"""One context manager that sets up, and always undoes, everything an explainer changes.

Explainers need a model in eval mode, with parameters that do not require gradients (only the
input does; parameter ``.grad`` is never touched because gradients are taken with
:func:`torch.autograd.grad`), and sometimes with hooks or temporarily swapped child modules.
:class:`ModelState` records the original state on entry and restores all of it on exit, in
``finally`` blocks, whether the explanation succeeded or raised. Hooks and swaps are kept on the
``ModelState`` of one call, never on the explainer, so nothing accumulates across calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import ExplainError

__all__ = ["ModelState", "HookSet", "model_state"]


class HookSet:
    """Hooks registered for one step of an explanation; all removed when the block exits.

    Created by :meth:`ModelState.hooks`; use as a context manager.
    """

    def __init__(self) -> None:
        self._handles: list[Any] = []

    def forward(self, module: nn.Module, fn: Callable) -> None:
        """Add a forward hook ``fn(module, args, output)``.

        Args:
            module: The module to hook.
            fn: The hook; returning a value replaces the module's output.
        """
        self._handles.append(module.register_forward_hook(fn))

    def forward_pre(self, module: nn.Module, fn: Callable) -> None:
        """Add a forward pre-hook ``fn(module, args)``.

        Args:
            module: The module to hook.
            fn: The hook; returning a value replaces the module's positional inputs.
        """
        self._handles.append(module.register_forward_pre_hook(fn))

    def __len__(self) -> int:
        return len(self._handles)

    def remove(self) -> None:
        """Remove every hook of this set (idempotent)."""
        handles, self._handles = self._handles, []
        for handle in reversed(handles):
            handle.remove()

    def __enter__(self) -> HookSet:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


def _refuse_inference_tensors(model: nn.Module) -> None:
    """Refuse a model whose tensors were made inside ``torch.inference_mode()``.

    Autograd cannot use such tensors (and their ``requires_grad`` cannot be restored outside
    inference mode), so no explainer could work on the model.
    """
    named = [*model.named_parameters(), *model.named_buffers()]
    bad = [name for name, tensor in named if tensor.is_inference()]
    if bad:
        raise ExplainError(
            f"the model's tensors were created inside torch.inference_mode() ({bad[0]!r}"
            f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}), and autograd cannot use "
            "them; create or load the model outside inference_mode (torch.no_grad() is fine)"
        )


class ModelState:
    """Puts a model into the state explainers need and restores it exactly.

    On entry: every module in eval mode, every parameter with ``requires_grad=False``, gradient
    recording enabled and :func:`torch.inference_mode` off (a model whose tensors were made in
    inference mode is refused with :class:`~emotionkit.errors.ExplainError`). On exit
    (always): hooks removed, swapped modules put back, each module's ``training`` flag and each
    parameter's ``requires_grad`` restored, grad mode restored.

    Args:
        model: The model to explain.
    """

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise ExplainError(f"expected a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self._training: list[tuple[nn.Module, bool]] = []
        self._requires_grad: list[tuple[nn.Parameter, bool]] = []
        self._hooksets: list[HookSet] = []
        self._swaps: list[tuple[nn.Module, str, nn.Module]] = []
        self._grad_mode: contextlib.ExitStack | None = None
        self._cache: dict[str, Any] = {}

    # -------------------------------------------------------------- hooks and swaps
    def hooks(self) -> HookSet:
        """Return a new :class:`HookSet`; its hooks go when its block ends (or this state does).

        Returns:
            The hook set, to be used as a context manager.
        """
        hookset = HookSet()
        self._hooksets.append(hookset)
        return hookset

    def swap(self, parent: nn.Module, child_name: str, replacement: nn.Module) -> None:
        """Replace ``parent.<child_name>`` until the state exits.

        Args:
            parent: The module that owns the child.
            child_name: The attribute name of the child.
            replacement: The module to put in its place.
        """
        original = parent.get_submodule(child_name)
        self._swaps.append((parent, child_name, original))
        parent.register_module(child_name, replacement)

    def owner(self, name: str) -> tuple[nn.Module, str]:
        """The parent module and attribute name of the submodule called ``name``.

        Args:
            name: A dotted module name, as in ``model.named_modules()``.

        Returns:
            ``(parent, child_name)``, ready for :meth:`swap`.
        """
        parent_name, _, child = name.rpartition(".")
        return (self.model.get_submodule(parent_name) if parent_name else self.model), child

    @contextlib.contextmanager
    def swapped(self, replacements: Mapping[str, nn.Module]) -> Iterator[None]:
        """Replace named submodules for the ``with`` block only (e.g. to try a rewrite out).

        The originals are back when the block exits, also when it raises.

        Args:
            replacements: Dotted module name -> the module to put in its place.

        Yields:
            Nothing; the replacements are in place inside the block.
        """
        done: list[tuple[nn.Module, str, nn.Module]] = []
        try:
            for name, module in replacements.items():
                parent, child = self.owner(name)
                done.append((parent, child, parent.get_submodule(child)))
                parent.register_module(child, module)
            yield
        finally:
            for parent, child, original in reversed(done):
                parent.register_module(child, original)

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute a value once per state (e.g. a forward trace shared by several steps).

        Args:
            key: Cache key.
            compute: Called on the first request.

        Returns:
            The cached value.
        """
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # -------------------------------------------------------------- enter / exit
    def __enter__(self) -> ModelState:
        _refuse_inference_tensors(self.model)
        try:
            self._training = [(m, m.training) for m in self.model.modules()]
            self._requires_grad = [(p, p.requires_grad) for p in self.model.parameters()]
            self.model.eval()
            for p, _ in self._requires_grad:
                p.requires_grad_(False)
            self._grad_mode = contextlib.ExitStack()
            # explanations need autograd, also when the caller is inside torch.inference_mode()
            self._grad_mode.enter_context(torch.inference_mode(False))
            self._grad_mode.enter_context(torch.enable_grad())
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._restore()

    def _restore(self) -> None:
        """Undo everything; each step runs even if an earlier one fails."""
        try:
            hooksets, self._hooksets = self._hooksets, []
            for hookset in reversed(hooksets):
                hookset.remove()
        finally:
            try:
                swaps, self._swaps = self._swaps, []
                for parent, name, original in reversed(swaps):
                    parent.register_module(name, original)
            finally:
                try:
                    for p, flag in self._requires_grad:
                        p.requires_grad_(flag)
                finally:
                    try:
                        for m, flag in self._training:
                            m.training = flag
                    finally:
                        self._training, self._requires_grad, self._cache = [], [], {}
                        if self._grad_mode is not None:
                            grad_mode, self._grad_mode = self._grad_mode, None
                            grad_mode.close()


@contextlib.contextmanager
def model_state(model: nn.Module) -> Iterator[ModelState]:
    """Context-manager form of :class:`ModelState`.

    Args:
        model: The model to explain.

    Yields:
        The active :class:`ModelState`.
    """
    with ModelState(model) as state:
        yield state
