"""Instance files → validated, frozen :class:`Instance` objects.

Order of work: read the YAML with the safe loader, validate it against the
JSON Schema in schema.py, then build the frozen objects and check
what a schema cannot (divisibility, references to presets and files, the
size of the design space).  Every problem raises InstanceError naming the
file and the field path; no other exception escapes for bad input.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from specpim.core.enums import Allocation, MemoryModel, Metric
from specpim.core.errors import InstanceError, parse_int, quote, read_input_text
from specpim.hardware import catalog
from specpim.hardware.devices import ElementwiseKernels, Host, Memory, PimOption, SoftmaxSite, System
from specpim.workload.models import ModelConfig, model_from_hf_config, model_preset, model_presets
from specpim.workload.speculation import Speculation

from .design_space import DesignSpace
from .instance import Instance, Objective, Workload
from .schema import HOST_FILE, INSTANCE, MODEL_FIELDS
from .validation import MAGNITUDE, MAX_NODES, SchemaValidator, check_size, found

_INSTANCE_SCHEMA = SchemaValidator(INSTANCE, "an instance must be a mapping of fields")
_HOST_FILE_SCHEMA = SchemaValidator(HOST_FILE, "a host file must be a mapping of fields")


def host_from_fields(fields: dict[str, Any], default_name: str = "host") -> Host:
    """A Host from the (already validated) fields of ``system.host`` or a host file."""
    values = {"name": default_name, **fields}
    if "elementwise_kernels" in values:
        values["elementwise_kernels"] = ElementwiseKernels(values["elementwise_kernels"])
    return Host(**values)

# Channel-group sizes per design (largest PIM channel count / channel_step);
# the MILP grows with their square, and realistic spaces use tens.
MAX_CHANNEL_GROUPS = 1024


def load_instance(source: str | Path | dict, *, base_dir: str | Path | None = None) -> Instance:
    """Load an instance from a YAML file path or an already-parsed dict.

    Relative paths inside the instance (Hugging Face configs, the
    ``cost_model`` module) resolve against the file's folder, or ``base_dir``
    for a dict (default: the working directory).  Raises InstanceError, and
    nothing else, for any problem with the input.
    """
    folder = _base_dir(base_dir)
    if isinstance(source, dict):
        data, file = source, None
        base = folder or Path.cwd()
    elif isinstance(source, (str, Path)):
        if "\0" in str(source):
            raise InstanceError(f"expected the path of an instance file, found {quote(str(source))}: a file name "
                                "cannot hold a NUL character", field="instance")
        path = Path(source)
        file = str(path)
        data = read_yaml(path)
        base = path.resolve().parent
    else:
        raise InstanceError(f"expected the path of an instance file or a dict, found {found(source)}",
                            field="instance")
    return build_instance(data, file=file, base=base, default_name=Path(file).stem if file else "instance")


def _base_dir(base_dir: Any) -> Path | None:
    """The folder relative paths of a dict instance resolve against (None: the working directory)."""
    folder = os.fspath(base_dir) if isinstance(base_dir, os.PathLike) else base_dir
    if folder is None or folder == "":
        return None
    if not isinstance(folder, str):
        raise InstanceError(f"expected the path of a folder or None, found {found(base_dir)}", field="base_dir")
    if "\0" in folder:
        raise InstanceError("a folder name cannot hold a NUL character", field="base_dir")
    return Path(folder)


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _TooManyNodes(Exception):
    """Raised while composing a document that holds more than MAX_NODES values."""


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys (YAML would let the last one
    silently win) and documents of more than MAX_NODES values, which it
    counts while it reads, before anything is built.  It reads merge keys
    (``<<: *base``), numbers in exponent notation without a dot (``5e-05``,
    which YAML 1.1 would read as text) and integers of any length."""

    def __init__(self, stream):
        super().__init__(stream)
        self.nodes = 0

    def compose_node(self, parent, index):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooManyNodes
        return super().compose_node(parent, index)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    first: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:   # merged keys may be overridden: only the explicit ones must be unique
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            seen = key in first
        except TypeError:   # unhashable: the base constructor reports it
            continue
        if seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {quote(key)} (first given on line {first[key] + 1})", key_node.start_mark)
        first[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)   # flattens the merge keys first


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    try:
        value: int = yaml.SafeLoader.construct_yaml_int(loader, node)
        return value
    except ValueError:   # over Python's 4,300 digits for int(text): build it anyway, the schema names it
        try:
            return parse_int(str(loader.construct_scalar(node)))
        except ValueError:
            raise yaml.constructor.ConstructorError(None, None, "cannot read this integer", node.start_mark) \
                from None


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
# YAML 1.1 reads 5e-05 and 1.5e3 as text (its floats need a dot and a signed
# exponent); YAML 1.2 and JSON read them as numbers, and so does specpim.
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"))


class _JsonDuplicate(Exception):
    pass


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _JsonDuplicate(key)
        out[key] = value
    return out


def _read_json(text: str, path: Path) -> Any:
    """``text`` as JSON, or None when it is not JSON."""
    try:
        return json.loads(text, parse_int=parse_int, object_pairs_hook=_json_object)
    except _JsonDuplicate as exc:
        raise InstanceError(f"duplicate key {quote(exc.args[0])}", path=str(path)) from None
    except (ValueError, RecursionError):
        return None


def read_yaml(path: Path) -> Any:
    """Parse a YAML (or JSON) file with the safe loader; problems raise InstanceError.

    Files over MAX_INPUT_BYTES are refused before they are read, documents of
    more than MAX_NODES values while they are read.  Text YAML cannot read
    but JSON can (JSON indented with tabs, as ``jq --tab`` writes) is read as
    JSON.
    """
    text = read_input_text(path)
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        data = _read_json(text, path)
        if data is None:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise InstanceError(f"YAML syntax error at {where}{problem}", path=str(path)) from None
    except _TooManyNodes:
        raise InstanceError(f"the document holds more than {MAX_NODES} values; no instance or mapping needs "
                            "that many", path=str(path)) from None
    except RecursionError:
        raise InstanceError("YAML nested too deeply", path=str(path)) from None
    check_size(data, str(path))
    return data


# -- building objects ----------------------------------------------------------

_MODEL_COUNTS = ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab")


class _Builder:
    def __init__(self, data: dict[str, Any], file: str | None, base: Path):
        self.data, self.file, self.base = data, file, base

    def fail(self, field: str, message: str) -> InstanceError:
        return InstanceError(message, path=self.file, field=field)

    def unknown(self, field: str, kind: str, name: str, known: list[str]) -> InstanceError:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listing = f"known: {', '.join(sorted(known))}" if known else "there are none"
        return self.fail(field, f"unknown {kind} {name!r}{hint}; {listing}")

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
            base = self.hf_config(key, spec["hf_config"])
            # Values read from config.json are checked like typed ones, naming their origin.
            self.check_model(key, base, origin=f" (read from {spec['hf_config']})")
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

    def hf_config(self, key: str, ref: str) -> ModelConfig:
        field = f"{key}.hf_config"
        path = self.resolve(ref, field)
        if not path.is_file():
            folder = path.parent
            if folder.is_dir():
                present = sorted(p.name for p in folder.glob("*.json"))
                shown = ", ".join(present[:20]) + (f" and {len(present) - 20} more" if len(present) > 20 else "")
                listing = f".json files there: {shown}" if present else "the folder holds no .json file"
            else:
                listing = f"the folder {folder} does not exist"
            raise self.fail(field, f"Hugging Face config file not found: {path}; {listing}")
        try:
            return model_from_hf_config(path, field_path=field, file=self.file)
        except InstanceError:
            raise
        except (OSError, TypeError, ValueError, ArithmeticError, RecursionError) as exc:   # odd values inside
            raise self.fail(field, f"cannot use {path}: {type(exc).__name__}: {str(exc)[:200]}") from None

    def resolve(self, ref: str, field: str) -> Path:
        """A path from the file, relative to the file's folder."""
        if "\0" in ref:
            raise self.fail(field, "a file name cannot hold a NUL character")
        try:
            p = Path(ref).expanduser()
        except RuntimeError:   # ~user of a user that does not exist
            raise self.fail(field, f"cannot expand {quote(ref)}: no such user's home folder") from None
        return p if p.is_absolute() else self.base / p

    def check_model(self, key: str, m: ModelConfig, origin: str = "") -> ModelConfig:
        for name in _MODEL_COUNTS:
            v = getattr(m, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAGNITUDE[1]:
                raise self.fail(f"{key}.{name}", f"expected an integer ≥ 1 (count), found {found(v)}{origin}")
        if m.hidden % m.heads:
            raise self.fail(f"{key}.heads", f"heads ({m.heads}) must divide hidden ({m.hidden}){origin}")
        if m.heads % m.kv_heads:
            raise self.fail(f"{key}.kv_heads", f"kv_heads ({m.kv_heads}) must divide heads ({m.heads}){origin}")
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
        for req in ("host", "memory"):
            if base is None and req not in spec:
                raise self.fail(f"system.{req}", "missing required field (or start from a system preset)")
        host = self.part(spec, "host", catalog.HOSTS, Host, "host preset") if "host" in spec else None
        memory = self.part(spec, "memory", catalog.MEMORIES, Memory, "memory preset") if "memory" in spec else None
        if base is not None:
            host, memory = host or base.host, memory or base.memory
        assert host is not None and memory is not None   # one of the two sources is required above
        if "pim_options" in spec:
            pims = tuple(self.pim(i, p) for i, p in enumerate(spec["pim_options"]))
        else:
            pims = base.pim_options if base else ()
        names = [p.name for p in pims]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise self.fail("system.pim_options", f"the PIM option name {dup!r} appears twice")
        for i, p in enumerate(pims):
            # A PIM design is built into one memory technology's dies: GDDR6-AiM cannot sit on HBM3 channels.
            if p.technology and memory.technology and p.technology != memory.technology:
                raise self.fail(f"system.pim_options[{i}]",
                                f"the PIM option {p.name!r} is built for {p.technology} memory, but the system's "
                                f"memory {memory.name!r} is {memory.technology}; choose a PIM option for "
                                f"{memory.technology} (or a {p.technology} memory)")
        fields = {k: spec[k] for k in ("devices", "link_bandwidth", "link_latency", "link_energy_per_bit") if k in spec}
        if "memory_model" in spec:
            fields["memory_model"] = MemoryModel(spec["memory_model"])
        if base is not None:
            return replace(base, host=host, memory=memory, pim_options=pims, name=spec.get("name", base.name), **fields)
        fields.setdefault("devices", 1)
        if fields["devices"] > 1 and "link_bandwidth" not in fields:
            raise self.fail("system.link_bandwidth", "missing: devices > 1 need a link bandwidth (GB/s)")
        return System(name=spec.get("name", "system"), host=host, memory=memory, pim_options=pims, **fields)

    def part(self, spec, key, table, cls, kind):
        value = spec[key]
        if isinstance(value, str):
            return self.preset(f"system.{key}", table, kind, value)
        if key == "host":
            if "file" in value:
                return self.host_file(value["file"])
            return host_from_fields(value)
        return cls(**{"name": key, **value})

    def host_file(self, ref: str) -> Host:
        """A host preset file: the fields of ``system.host``, validated the same way."""
        path = self.resolve(ref, "system.host.file")
        data = read_yaml(path)
        _HOST_FILE_SCHEMA.validate(data, str(path))
        return host_from_fields(data, default_name=path.stem)

    def pim(self, i: int, value) -> PimOption:
        if isinstance(value, str):
            return self.preset(f"system.pim_options[{i}]", catalog.PIM_OPTIONS, "PIM option preset", value)
        fields = {"granularity": "custom", **value}
        if "softmax" in fields:
            fields["softmax"] = SoftmaxSite(fields["softmax"])
        return PimOption(**fields)

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

    def design_space(self, system: System) -> DesignSpace:
        spec = self.data.get("design_space", {})
        menu = [p.name for p in system.pim_options]
        names = spec.get("pim_options", menu)
        for i, n in enumerate(names):
            if n not in menu:
                raise self.unknown(f"design_space.pim_options[{i}]", "PIM option", n, menu)
            if n in names[:i]:
                raise self.fail(f"design_space.pim_options[{i}]", f"the PIM option {n!r} is listed twice")
        budget = spec.get("area_budget")
        if budget is not None:
            for i, n in enumerate(names):
                option = system.pim_option(n)
                if option.area <= 0:
                    where = f"design_space.pim_options[{i}]" if "pim_options" in spec else "design_space.area_budget"
                    raise self.fail(where, f"the PIM option {n!r} has area 0 mm² per channel: its area is not "
                                    "published (or not given), so the area budget cannot apply to it; give its "
                                    "area (system.pim_options[].area), leave it out of design_space.pim_options, "
                                    "or drop the area budget")
        include_no_pim = spec.get("include_no_pim", True)
        if not names and not include_no_pim:
            raise self.fail("design_space.include_no_pim", "nothing to choose from: include_no_pim is false "
                            "and the design space has no PIM option")
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
        if max(channels) // step > MAX_CHANNEL_GROUPS:
            raise self.fail("design_space.channel_step",
                            f"channel groups of {step} up to {max(channels)} channels give "
                            f"{max(channels) // step} group sizes; at most {MAX_CHANNEL_GROUPS} are supported, "
                            "so raise channel_step")
        return DesignSpace(
            pim_options=tuple(names), pim_channels=channels, channel_step=step,
            allocation=Allocation(spec.get("allocation", Allocation.PARTITION)), area_budget=budget,
            include_no_pim=include_no_pim,
        )

    def objective(self) -> Objective:
        spec = self.data.get("objective", Metric.LATENCY)
        if isinstance(spec, str):
            return Objective(Metric(spec))
        bound = spec.get("latency_bound")
        if bound is not None and spec["metric"] != Metric.ENERGY:
            # Minimising latency (or maximising throughput) already finds the
            # fastest design; a bound there would be silently ignored.
            raise self.fail("objective.latency_bound",
                            f"a latency bound applies to the energy objective only, found metric {spec['metric']!r}")
        energy = spec.get("energy_bound")
        if energy is not None and spec["metric"] == Metric.ENERGY:
            raise self.fail("objective.energy_bound",
                            "an energy bound applies to the latency and throughput objectives; minimising "
                            "energy already finds the most frugal design")
        return Objective(Metric(spec["metric"]), None if bound is None else bound * 1e-3,
                         None if energy is None else energy * 1e-3)


def build_instance(data: Any, *, file: str | None, base: Path, default_name: str) -> Instance:
    """Validate parsed instance data and build the frozen Instance."""
    _INSTANCE_SCHEMA.validate(data, file)
    b = _Builder(data, file, base)
    target = b.model("target")
    draft = b.model("draft") if data.get("draft") is not None else None
    system = b.system()
    if system.devices > 1 and system.link_bandwidth <= 0:
        raise b.fail("system.link_bandwidth", "expected a number > 0 (GB/s) for a multi-device system")
    w = data["workload"]
    return Instance(
        name=data.get("name", default_name),
        target=target, draft=draft,
        workload=Workload(w["batch"], w["prompt_len"], w["gen_len"]),
        speculation=b.speculation(draft is not None),
        system=system,
        design_space=b.design_space(system),
        objective=b.objective(),
        cost_model=data.get("cost_model"),
        source=file,
        base_dir=str(base),
    )
