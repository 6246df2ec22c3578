"""Choosing the cost model: the default roofline, an object passed through
the API, or a ``module:Class`` named by the instance file.

Importing a module named in a file runs that module's code, so it happens
only when the caller allows it (``allow_imports=True`` or the CLI's
``--allow-imports``): a shared instance file must never execute code just
by being validated, solved or evaluated.  The module is looked up in the
instance file's folder first, then on the Python path.

Whatever the model, its answers are checked before any solver sees them:
an exception, a wrong shape, a non-finite or negative value, or a zero
operator time becomes an InstanceError naming the model and the method.
User code that ends the process instead of raising (``sys.exit(0)`` at
import, in ``__init__`` or in a method, or any other BaseException but
KeyboardInterrupt) is reported the same way: a run must never end with
exit code 0 because a cost model asked it to.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from specpim.core.errors import InstanceError, quote
from specpim.hardware.devices import PimOption, System
from specpim.problem.instance import Instance
from specpim.workload.operators import PhaseWorkload

from .protocol import CostModel, FixedCosts, HostCosts, PimCosts
from .roofline import RooflineCostModel

METHODS = ("host", "pim", "fixed")


def _what_happened(exc: BaseException) -> str:
    """What user code did instead of answering, in words."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({quote(exc.code)})"
    try:
        text = str(exc)
    except Exception:   # an exception whose __str__ fails
        text = ""
    return f"raised {type(exc).__name__}" + (f": {text[:200]}" if text else "")


def resolve_cost_model(instance: Instance, cost_model: CostModel | None = None,
                       *, allow_imports: bool = False) -> CostModel:
    """The cost model to use, wrapped so that any bad answer raises InstanceError."""
    if cost_model is not None:
        _require_protocol(cost_model, "the cost_model argument", instance)
        return CheckedCostModel(cost_model, type(cost_model).__name__, instance.source)
    ref = instance.cost_model
    if ref is None:
        return RooflineCostModel()
    if not allow_imports:
        raise InstanceError(
            f"the instance names the cost model {ref!r}; importing it runs its code, so it is done only "
            "when allowed (CLI: --allow-imports, API: allow_imports=True)",
            path=instance.source, field="cost_model")
    module_name, _, class_name = ref.partition(":")
    module = _import(module_name, instance)
    try:
        cls = getattr(module, class_name, None)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:   # a module __getattr__ that misbehaves
        raise InstanceError(f"looking up {class_name!r} in module {module_name!r} {_what_happened(exc)}",
                            path=instance.source, field="cost_model") from None
    if cls is None:
        raise InstanceError(f"module {module_name!r} has no attribute {class_name!r}", path=instance.source,
                            field="cost_model")
    try:
        model = cls()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # user code, sys.exit included: report, don't crash or exit
        raise InstanceError(f"{ref}() failed: it {_what_happened(exc)}", path=instance.source,
                            field="cost_model") from None
    _require_protocol(model, ref, instance)
    return CheckedCostModel(model, ref, instance.source)


def _import(module_name: str, instance: Instance):
    folder = instance.base_dir
    if folder:
        sys.path.insert(0, folder)
    try:
        return importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # ImportError, or anything the module raises (or sys.exit) while it runs
        where = f" (searched {folder} first, then the Python path)" if folder else ""
        what = _what_happened(exc)
        what = what.removeprefix("raised ") if what.startswith("raised ") else f"it {what}"
        raise InstanceError(f"cannot import module {module_name!r}{where}: {what}",
                            path=instance.source, field="cost_model") from None
    finally:
        if folder:
            sys.path.remove(folder)


def _require_protocol(model: object, what: str, instance: Instance) -> None:
    missing = []
    for m in METHODS:
        try:
            ok = callable(getattr(model, m, None))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:   # a property or __getattr__ of user code
            raise InstanceError(f"{what}.{m} {_what_happened(exc)} when looked up", path=instance.source,
                                field="cost_model") from None
        if not ok:
            missing.append(m)
    if missing:
        raise InstanceError(f"{what} lacks the cost-model method(s) {', '.join(missing)}",
                            path=instance.source, field="cost_model")


class CheckedCostModel:
    """A user cost model whose every answer is validated.

    Guarantees: ``host`` and ``pim`` return float arrays of the documented
    shapes (costs/protocol.py), finite, with operator times > 0 and every
    other value ≥ 0; ``fixed`` returns eight finite values ≥ 0.  Anything
    else raises InstanceError naming the model and the method.
    """

    def __init__(self, model: Any, name: str, source: str | None):
        self.model, self.name, self.source = model, name, source

    def _fail(self, method: str, message: str) -> InstanceError:
        return InstanceError(f"cost model {self.name}.{method} {message}", path=self.source, field="cost_model")

    def _call(self, method: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:   # user code, sys.exit included
            raise self._fail(method, _what_happened(exc)) from None

    def _arrays(self, method: str, out: Any, fields: tuple[str, ...], shape: tuple[int, ...]) -> list[np.ndarray]:
        try:
            arrays = [np.asarray(getattr(out, f), dtype=float) for f in fields]
        except (AttributeError, TypeError, ValueError, OverflowError):
            raise self._fail(method, f"returned {type(out).__name__}, expected an object with the arrays "
                             f"{', '.join(fields)} of shape {shape}") from None
        except KeyboardInterrupt:
            raise
        except BaseException as exc:   # user code run by the conversion (__array__, __float__, a property)
            raise self._fail(method, f"returned {type(out).__name__}, whose arrays {_what_happened(exc)} when "
                             "read") from None
        for what, arr in zip(fields, arrays, strict=True):
            if arr.shape != shape:
                raise self._fail(method, f"returned {what} of shape {arr.shape}, expected {shape}")
            if not np.all(np.isfinite(arr)):
                raise self._fail(method, f"returned a non-finite {what}")
            if np.any(arr < 0):
                raise self._fail(method, f"returned a negative {what}")
        if np.any(arrays[0] <= 0):
            raise self._fail(method, "returned an operator time ≤ 0 s; every operator takes time")
        return arrays

    def host(self, work: PhaseWorkload, system: System, host_channels: int) -> HostCosts:
        out = self._call("host", lambda: self.model.host(work, system, host_channels))
        return HostCosts(*self._arrays("host", out, ("time", "energy", "stream"), (len(work.all_ops),)))

    def pim(self, work: PhaseWorkload, system: System, option: PimOption, channels: np.ndarray,
            host_channels: int) -> PimCosts:
        out = self._call("pim", lambda: self.model.pim(work, system, option, channels, host_channels))
        return PimCosts(*self._arrays("pim", out, ("time", "energy", "host"), (len(work.all_ops), len(channels))))

    def fixed(self, work: PhaseWorkload, system: System, host_channels: int) -> FixedCosts:
        out = self._call("fixed", lambda: self.model.fixed(work, system, host_channels))
        names = [f.name for f in dataclasses.fields(FixedCosts)]
        try:
            values = [float(getattr(out, n)) for n in names]
        except (AttributeError, TypeError, ValueError, OverflowError):
            values = []
        except KeyboardInterrupt:
            raise
        except BaseException as exc:   # user code run by the conversion
            raise self._fail("fixed", f"returned {type(out).__name__}, whose values {_what_happened(exc)} when "
                             "read") from None
        if len(values) != len(names) or not all(np.isfinite(values)) or min(values) < 0:
            raise self._fail("fixed", f"must return a FixedCosts of {len(names)} finite values ≥ 0 "
                             f"({', '.join(names)}); returned {quote(out, 80)}")
        return FixedCosts(*values)
