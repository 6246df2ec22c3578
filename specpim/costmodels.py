"""Choosing the cost model: the default roofline, an object passed through
the API, or a ``module:Class`` named by the instance file.

Importing a module named in a file runs that module's code, so it happens
only when the caller allows it (``allow_imports=True`` or the CLI's
``--allow-imports``): a shared instance file must never execute code just
by being solved.
"""

from __future__ import annotations

import importlib

from specpim.errors import InstanceError
from specpim.hardware.costs import CostModel, RooflineCostModel

from .instance import Instance


def resolve_cost_model(instance: Instance, cost_model: CostModel | None = None,
                       *, allow_imports: bool = False) -> CostModel:
    if cost_model is not None:
        _require_protocol(cost_model, "the cost_model argument")
        return cost_model
    ref = instance.cost_model
    if ref is None:
        return RooflineCostModel()
    if not allow_imports:
        raise InstanceError(
            f"the instance names the cost model {ref!r}; importing it runs its code, so it is done only "
            "when allowed (CLI: --allow-imports, API: allow_imports=True)",
            path=instance.source, field="cost_model")
    module_name, _, class_name = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InstanceError(f"cannot import module {module_name!r} ({exc})", path=instance.source,
                            field="cost_model") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise InstanceError(f"module {module_name!r} has no attribute {class_name!r}", path=instance.source,
                            field="cost_model")
    try:
        model = cls()
    except Exception as exc:  # user code: report, don't crash
        raise InstanceError(f"{ref}() failed: {exc}", path=instance.source, field="cost_model") from None
    _require_protocol(model, ref)
    return model


def _require_protocol(model: object, what: str) -> None:
    missing = [m for m in ("host", "pim", "collective") if not callable(getattr(model, m, None))]
    if missing:
        raise InstanceError(f"{what} lacks the cost-model method(s) {', '.join(missing)}", field="cost_model")
