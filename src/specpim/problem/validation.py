"""Validating parsed YAML/JSON against a JSON Schema, with messages a user
can act on: the field path, what was expected (with its unit and bounds)
and what was found.  Instance files and mapping files both go through here.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

import jsonschema

from specpim.core.errors import InstanceError, quote

from .schema import bounds_text

# Physical quantities in the file's units (GB/s, TFLOP/s, GB, pJ, mm², µs,
# ms, W) all lie far inside this range; values outside it are typing
# accidents, and they would reach CBC as coefficients it treats as infinite.
MAGNITUDE = (1e-12, 1e12)
# A parsed file may hold at most this many values, counting every use of a
# YAML alias: an alias bomb is refused instead of exhausting memory.
MAX_NODES = 100_000

def _is_number(_checker, x: Any) -> bool:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        f = float(x)
    except OverflowError:
        return False
    return math.isfinite(f) and (f == 0 or MAGNITUDE[0] <= abs(f) <= MAGNITUDE[1])


def _is_integer(_checker, x: Any) -> bool:
    # JSON Schema counts 4.0 as an integer; the builders need a real int.
    return isinstance(x, int) and not isinstance(x, bool) and abs(x) <= MAGNITUDE[1]


_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
    {"number": _is_number, "integer": _is_integer})


_VALIDATOR_CLASS = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)


def check_size(data: Any, file: str | None) -> None:
    """Refuse self-referencing or alias-bombed documents before anything walks them."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        key = id(node)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        if done:
            busy.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[key] > MAX_NODES:
                raise InstanceError(f"the document expands to more than {MAX_NODES} values (YAML aliases?)",
                                    path=file)
            continue
        if key in busy:
            raise InstanceError("a YAML alias refers to itself", path=file)
        if key in sizes:
            continue
        busy.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children)


def key_text(key: Any) -> str:
    """A mapping key as it appears in a field path (a key need not be text in YAML)."""
    return key if isinstance(key, str) else quote(key)


def _check_huge_integers(data: Any, file: str | None) -> None:
    """Refuse integers too long to print (Python converts at most 4,300 digits
    to text, and the schema's own messages would try), naming their field.
    No value in these units comes near: anything over MAGNITUDE is refused anyway."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, int) and not isinstance(k, bool) and k.bit_length() > _HUGE_BITS:
                    raise InstanceError(f"unknown key: {quote(k)}", path=file, field=_field(path))
                stack.append((v, (*path, k)))
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node).bit_length() > _HUGE_BITS:
            raise InstanceError(f"found {quote(node)}, outside the range {MAGNITUDE[0]:g} to {MAGNITUDE[1]:g} "
                                "(in magnitude) that physical values take in these units", path=file,
                                field=_field(path))


# Integers longer than this (about 3,000 digits) are refused before the schema formats them.
_HUGE_BITS = 10_000


def _field(path) -> str:
    out = ""
    for p in path:
        out += f"[{quote(p)}]" if isinstance(p, int) else (f".{key_text(p)}" if out else key_text(p))
    return out or "(top level)"


_NOUNS = {"integer": ("an integer", "integers"), "number": ("a number", "numbers"),
          "string": ("a string", "strings"), "boolean": ("true or false", "true or false"),
          "object": ("a mapping", "mappings"), "array": ("a list", "lists"), "null": ("nothing", "nothing")}


def _describe(schema: dict[str, Any], plural: bool = False) -> str:
    """What a schema expects, in words, with its bounds and unit."""
    if "enum" in schema:
        return "one of " + ", ".join(repr(e) for e in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_describe(b) for b in schema["anyOf"])
    kind = schema.get("type", "value")
    noun = _NOUNS.get(kind, (str(kind), str(kind)))[plural]
    if kind == "array":
        noun = ("a non-empty list" if schema.get("minItems") else noun) + \
            (f" of {_describe(schema['items'], plural=True)}" if "items" in schema else "")
    bounds = bounds_text(schema)
    text = " ".join([noun, " and ".join(bounds)]).strip()
    if schema.get("unit"):
        text += f" ({schema['unit']})"
    return text


def found(value: Any) -> str:
    """A value the user gave, for a message: its repr, short and safe (an
    integer of thousands of digits is described by its length)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    return quote(value)


_PY_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None), "integer": int,
    "number": (int, float)}


def _branch_matches(schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` has the shape of this anyOf branch, so that the
    branch's own errors are the ones to explain."""
    if "anyOf" in schema:
        return any(_branch_matches(b, value) for b in schema["anyOf"])
    kind = schema.get("type")
    if kind is None:
        return "enum" in schema and isinstance(value, str)
    if kind == "integer" and isinstance(value, float):
        return True   # 4.0 where an integer belongs: explain that, not the other branches
    ok = isinstance(value, _PY_TYPES[kind])
    return ok and not (isinstance(value, bool) and kind in ("integer", "number"))


def _known_keys(schema: dict[str, Any], value: Any) -> int:
    """How many of an object's keys a branch's properties name."""
    if not isinstance(value, dict):
        return 0
    return sum(1 for k in value if k in schema.get("properties", {}))


def _bad_number(error: jsonschema.ValidationError) -> str | None:
    """Why a value of numeric Python type failed a number/integer type check."""
    x = error.instance
    if error.validator_value not in ("number", "integer") or isinstance(x, bool) \
            or not isinstance(x, (int, float)):
        return None
    if error.validator_value == "integer" and isinstance(x, float):
        return f"found {found(x)}, not a whole number"
    if isinstance(x, float) and not math.isfinite(x):
        return f"found {found(x)}, not a finite number"
    return (f"found {found(x)}, outside the range {MAGNITUDE[0]:g} to {MAGNITUDE[1]:g} "
            "(in magnitude) that physical values take in these units")


def _schema_at(error: jsonschema.ValidationError, root: dict[str, Any]) -> dict[str, Any]:
    """The failing schema, given the unit of the nearest enclosing schema
    that has one (list items and anyOf branches carry it on their parent)."""
    node: Any = root
    unit = None
    for step in error.absolute_schema_path:
        if not isinstance(node, (dict, list)) or (isinstance(node, dict) and step not in node):
            break
        node = node[step]
        if isinstance(node, dict) and node.get("unit"):
            unit = node["unit"]
    schema = error.schema
    return schema if schema.get("unit") or not unit else {**schema, "unit": unit}


def _explain(error: jsonschema.ValidationError, file: str | None, root: dict[str, Any]) -> InstanceError:
    """The most useful single message for a schema error."""
    where = _field(error.absolute_path)
    if error.validator in ("anyOf", "oneOf"):
        branches = error.validator_value
        # Of the branches the value has the shape of, explain the one that knows most of its keys.
        matching = sorted((i for i, b in enumerate(branches) if _branch_matches(b, error.instance)),
                          key=lambda i: -_known_keys(branches[i], error.instance))
        for i in matching:
            sub = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == i]
            if sub:
                return _explain(max(sub, key=lambda e: len(e.absolute_path)), file, root)
        return InstanceError(f"expected {_describe(error.schema)}, found {found(error.instance)}", path=file,
                             field=where)
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        key = next(k for k in error.instance if k not in allowed)
        close = difflib.get_close_matches(key_text(key), allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(allowed)}"
        path = f"{where}.{key_text(key)}" if error.absolute_path else key_text(key)
        return InstanceError(f"unknown key {quote(key)}{hint}", path=file, field=path)
    if error.validator == "required":
        missing = next(k for k in error.validator_value if k not in error.instance)
        desc = error.schema.get("properties", {}).get(missing, {})
        what = f": expected {_describe(desc)}" if desc else ""
        meaning = f" ({desc['description']})" if desc.get("description") else ""
        path = f"{where}.{missing}" if error.absolute_path else missing
        return InstanceError(f"missing required field{meaning}{what}", path=file, field=path)
    expected = _describe(_schema_at(error, root))
    if error.validator == "type":
        why = _bad_number(error)
        if why:
            return InstanceError(f"expected {expected}, {why}", path=file, field=where)
    if error.validator == "enum":
        close = difflib.get_close_matches(key_text(error.instance), [str(e) for e in error.validator_value],
                                          n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return InstanceError(f"expected {expected}, found {found(error.instance)}{hint}", path=file, field=where)
    if error.validator == "pattern" and "cost_model" in where:
        return InstanceError(f"expected module:Class, found {found(error.instance)}", path=file, field=where)
    return InstanceError(f"expected {expected}, found {found(error.instance)}", path=file, field=where)


class SchemaValidator:
    """A JSON Schema with specpim's number rules, whose errors become one
    InstanceError naming the field, what was expected (with its unit) and
    what was found."""

    def __init__(self, schema: dict[str, Any], not_an_object: str):
        self.schema, self.not_an_object = schema, not_an_object
        self._validator = _VALIDATOR_CLASS(schema)

    def validate(self, data: Any, file: str | None) -> None:
        if not isinstance(data, dict):
            raise InstanceError(f"{self.not_an_object}, found {found(data)}", path=file)
        check_size(data, file)
        _check_huge_integers(data, file)
        errors = list(self._validator.iter_errors(data))
        if errors:
            # Report the error at the shallowest path first (a wrong section type before its
            # contents), and a misspelt key before the required key it was meant to be.
            first = min(errors, key=lambda e: (len(e.absolute_path), e.validator != "additionalProperties",
                                               str(list(e.absolute_path))))
            raise _explain(first, file, self.schema)
