"""Instance files → validated, frozen :class:`Instance` objects.

Order of work: read the YAML with the safe loader, validate it against the
JSON Schema in specpim/schema.py, then build the frozen objects and check
what a schema cannot (divisibility, references to presets and files).  Every
problem raises InstanceError naming the file and the field path.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from specpim.errors import InstanceError
from specpim.hardware import catalog
from specpim.hardware.devices import Host, Memory, PimOption, System
from specpim.workload.models import ModelConfig, model_from_hf_config, model_preset, model_presets
from specpim.workload.speculation import Speculation

from .instance import LATENCY, PARTITION, DesignSpace, Instance, Objective, Workload
from .schema import INSTANCE, MODEL_FIELDS

_VALIDATOR = jsonschema.Draft202012Validator(INSTANCE)


def load_instance(source: str | Path | dict, *, base_dir: str | Path | None = None) -> Instance:
    """Load an instance from a YAML file path or an already-parsed dict.

    Relative paths inside the instance (Hugging Face configs) resolve against
    the file's folder, or ``base_dir`` for a dict.
    """
    if isinstance(source, dict):
        data, file = source, None
        base = Path(base_dir) if base_dir else Path.cwd()
    else:
        path = Path(source)
        file = str(path)
        data = read_yaml(path)
        base = path.resolve().parent
    return build_instance(data, file=file, base=base, default_name=Path(file).stem if file else "instance")


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InstanceError("file not found", path=str(path)) from None
    except IsADirectoryError:
        raise InstanceError("is a folder, not an instance file", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InstanceError(f"cannot read the file ({exc})", path=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InstanceError(f"YAML syntax error at {where}{problem}", path=str(path)) from None


# -- schema errors -----------------------------------------------------------

def _field(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _describe(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(e) for e in schema["enum"])
    kind = schema.get("type", "value")
    noun = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
            "object": "a mapping", "array": "a list", "null": "nothing"}.get(kind, str(kind))
    parts = [noun]
    if "exclusiveMinimum" in schema:
        parts.append(f"> {schema['exclusiveMinimum']:g}")
    if "minimum" in schema:
        parts.append(f"≥ {schema['minimum']:g}")
    if "maximum" in schema:
        parts.append(f"≤ {schema['maximum']:g}")
    text = " ".join(parts)
    if schema.get("unit"):
        text += f" ({schema['unit']})"
    return text


def _found(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


_PY_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
             "integer": int, "number": (int, float)}


def _branch_matches(schema: dict[str, Any], value: Any) -> bool:
    kind = schema.get("type")
    if kind is None:
        return "enum" in schema and isinstance(value, str)
    ok = isinstance(value, _PY_TYPES[kind])
    return ok and not (isinstance(value, bool) and kind in ("integer", "number"))


def _explain(error: jsonschema.ValidationError, file: str | None) -> InstanceError:
    """The most useful single message for a schema error."""
    if error.validator in ("anyOf", "oneOf"):
        branches = error.validator_value
        for i, branch in enumerate(branches):
            if _branch_matches(branch, error.instance):
                sub = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == i]
                if sub:
                    return _explain(max(sub, key=lambda e: len(e.absolute_path)), file)
        options = " or ".join(_describe(b) for b in branches)
        return InstanceError(f"expected {options}, found {_found(error.instance)}", path=file,
                             field=_field(error.absolute_path))
    where = _field(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        key = extra[0]
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(allowed)}"
        path = f"{where}.{key}" if error.absolute_path else str(key)
        return InstanceError(f"unknown key {key!r}{hint}", path=file, field=path)
    if error.validator == "required":
        missing = next(k for k in error.validator_value if k not in error.instance)
        desc = error.schema.get("properties", {}).get(missing, {})
        what = f" ({desc['description']})" if desc.get("description") else ""
        path = f"{where}.{missing}" if error.absolute_path else missing
        return InstanceError(f"missing required field{what}", path=file, field=path)
    if error.validator == "pattern" and "cost_model" in where:
        return InstanceError(f"expected module:Class, found {error.instance!r}", path=file, field=where)
    return InstanceError(f"expected {_describe(error.schema)}, found {_found(error.instance)}", path=file, field=where)


def _validate(data: Any, file: str | None) -> None:
    if not isinstance(data, dict):
        raise InstanceError(f"an instance must be a mapping of fields, found {_found(data)}", path=file)
    errors = list(_VALIDATOR.iter_errors(data))
    if errors:
        # Report the error at the shallowest path first: a wrong section type before its contents.
        first = min(errors, key=lambda e: (len(e.absolute_path), str(list(e.absolute_path))))
        raise _explain(first, file)


# -- building objects ----------------------------------------------------------

class _Builder:
    def __init__(self, data: dict[str, Any], file: str | None, base: Path):
        self.data, self.file, self.base = data, file, base

    def fail(self, field: str, message: str) -> InstanceError:
        return InstanceError(message, path=self.file, field=field)

    def unknown(self, field: str, kind: str, name: str, known: list[str]) -> InstanceError:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return self.fail(field, f"unknown {kind} {name!r}{hint}; known: {', '.join(sorted(known))}")

    def model(self, key: str) -> ModelConfig:
        spec = self.data[key]
        if isinstance(spec, str):
            if spec not in model_presets():
                raise self.unknown(key, "model preset", spec, list(model_presets()))
            return model_preset(spec)
        if "preset" in spec and "hf_config" in spec:
            raise self.fail(key, "give either preset or hf_config, not both")
        overrides = {k: v for k, v in spec.items() if k in MODEL_FIELDS}
        if "preset" in spec:
            if spec["preset"] not in model_presets():
                raise self.unknown(f"{key}.preset", "model preset", spec["preset"], list(model_presets()))
            base = model_preset(spec["preset"])
        elif "hf_config" in spec:
            base = model_from_hf_config(self.base / spec["hf_config"], field_path=f"{key}.hf_config", file=self.file)
        else:
            missing = [f for f in ("layers", "hidden", "heads", "ffn", "vocab") if f not in spec]
            if missing:
                raise self.fail(f"{key}.{missing[0]}", "missing required field (give a preset, an hf_config, "
                                "or all of layers, hidden, heads, ffn, vocab)")
            overrides.setdefault("name", key)
            overrides.setdefault("kv_heads", spec["heads"])
            overrides.setdefault("gated_ffn", False)
            return self.check_model(key, ModelConfig(**overrides))
        return self.check_model(key, replace(base, **overrides))

    def check_model(self, key: str, m: ModelConfig) -> ModelConfig:
        if m.hidden % m.heads:
            raise self.fail(f"{key}.heads", f"heads ({m.heads}) must divide hidden ({m.hidden})")
        if m.heads % m.kv_heads:
            raise self.fail(f"{key}.kv_heads", f"kv_heads ({m.kv_heads}) must divide heads ({m.heads})")
        for name in ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab"):
            if getattr(m, name) < 1:
                raise self.fail(f"{key}.{name}", f"expected an integer ≥ 1, found {getattr(m, name)}")
        return m

    def preset(self, field: str, table: dict[str, Any], kind: str, name: str):
        if name not in table:
            raise self.unknown(field, kind, name, list(table))
        return table[name]

    def system(self) -> System:
        spec = self.data["system"]
        if isinstance(spec, str):
            return self.preset("system", catalog.SYSTEMS, "system preset", spec)
        base = self.preset("system.preset", catalog.SYSTEMS, "system preset", spec["preset"]) \
            if "preset" in spec else None
        if base is None:
            for req in ("host", "memory"):
                if req not in spec:
                    raise self.fail(f"system.{req}", "missing required field (or start from a system preset)")
        host = self.part(spec, "host", catalog.HOSTS, Host, "host preset") if "host" in spec else base.host
        memory = self.part(spec, "memory", catalog.MEMORIES, Memory, "memory preset") \
            if "memory" in spec else base.memory
        if "pim_options" in spec:
            pims = tuple(self.pim(i, p) for i, p in enumerate(spec["pim_options"]))
        else:
            pims = base.pim_options if base else ()
        names = [p.name for p in pims]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise self.fail("system.pim_options", f"the PIM option name {dup!r} appears twice")
        fields = {k: spec[k] for k in ("devices", "link_bandwidth", "link_latency", "link_energy_per_bit") if k in spec}
        if base is not None:
            return replace(base, host=host, memory=memory, pim_options=pims, name=spec.get("name", base.name), **fields)
        if fields.get("devices", 1) > 1 and "link_bandwidth" not in fields:
            raise self.fail("system.link_bandwidth", "missing: devices > 1 need a link bandwidth (GB/s)")
        return System(name=spec.get("name", "system"), host=host, memory=memory, pim_options=pims, **fields)

    def part(self, spec, key, table, cls, kind):
        value = spec[key]
        if isinstance(value, str):
            return self.preset(f"system.{key}", table, kind, value)
        return cls(**{"name": key, **value})

    def pim(self, i: int, value) -> PimOption:
        if isinstance(value, str):
            return self.preset(f"system.pim_options[{i}]", catalog.PIM_OPTIONS, "PIM option preset", value)
        return PimOption(**{"granularity": "custom", **value})

    def speculation(self, has_draft: bool) -> Speculation:
        spec = self.data.get("speculation")
        if not has_draft:
            return Speculation((0,), 1.0)
        if spec is None:
            raise self.fail("speculation", "missing: a draft model needs speculation.draft_len and .acceptance")
        lens = spec["draft_len"]
        lens = tuple(sorted(set(lens))) if isinstance(lens, list) else (lens,)
        acc = spec["acceptance"]
        if isinstance(acc, list):
            if len(acc) < max(lens):
                raise self.fail("speculation.acceptance", f"per-position acceptance lists {len(acc)} rates, "
                                f"but draft lengths go up to {max(lens)}")
            acc = tuple(float(a) for a in acc)
        else:
            acc = float(acc)
        return Speculation(lens, acc)

    def design_space(self, system: System, speculative: bool) -> DesignSpace:
        spec = self.data.get("design_space", {})
        menu = [p.name for p in system.pim_options]
        names = spec.get("pim_options", menu)
        for i, n in enumerate(names):
            if n not in menu:
                raise self.unknown(f"design_space.pim_options[{i}]", "PIM option", n, menu)
        total = system.memory.channels
        channels = tuple(sorted(set(spec.get("pim_channels", [total]))))
        for c in channels:
            if c > total:
                raise self.fail("design_space.pim_channels",
                                f"{c} PIM channels asked for, but a device has {total} channels")
        step = spec.get("channel_step", math.gcd(*channels))
        bad = [c for c in channels if c % step]
        if bad:
            raise self.fail("design_space.channel_step",
                            f"every PIM channel count must be a multiple of channel_step {step}; {bad} are not")
        return DesignSpace(
            pim_options=tuple(names), pim_channels=channels, channel_step=step,
            allocation=spec.get("allocation", PARTITION), area_budget=spec.get("area_budget"),
            include_no_pim=spec.get("include_no_pim", True),
        )

    def objective(self) -> Objective:
        spec = self.data.get("objective", LATENCY)
        if isinstance(spec, str):
            return Objective(spec)
        bound = spec.get("latency_bound")
        return Objective(spec["metric"], None if bound is None else bound * 1e-3)


def build_instance(data: Any, *, file: str | None, base: Path, default_name: str) -> Instance:
    _validate(data, file)
    b = _Builder(data, file, base)
    target = b.model("target")
    draft = b.model("draft") if data.get("draft") is not None else None
    system = b.system()
    w = data["workload"]
    inst = Instance(
        name=data.get("name", default_name),
        target=target, draft=draft,
        workload=Workload(w["batch"], w["prompt_len"], w["gen_len"]),
        speculation=b.speculation(draft is not None),
        system=system,
        design_space=b.design_space(system, draft is not None),
        objective=b.objective(),
        cost_model=data.get("cost_model"),
        source=file,
    )
    if system.devices > 1 and system.link_bandwidth <= 0:
        raise b.fail("system.link_bandwidth", "expected a number > 0 (GB/s) for a multi-device system")
    return inst
