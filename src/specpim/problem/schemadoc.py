"""docs/instances.md, generated from the instance schema so the two never drift.

    python -m specpim.problem.schemadoc > docs/instances.md
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .schema import INSTANCE, bounds_text

_INTRO = """# Instance files

An instance is one YAML file (loaded with the safe loader). It names the
target model, the optional draft model, the workload, the speculation model,
the system and the design space. `specpim validate FILE` checks one.
Unknown keys are errors. Paths inside a file resolve relative to the file.

Models, hosts, memories, PIM options and systems can be given as preset
names (`specpim presets` lists them) or as explicit fields; a model can also
be a Hugging Face `config.json` (`target: {hf_config: hf/llama-2-7b.json}`),
and a system can start from a preset and override fields
(`system: {preset: a100-hbm3pim, devices: 2}`).

This page is generated from the schema (`python -m specpim.problem.schemadoc`).

## A minimal instance

```yaml
target: llama2-70b
draft: llama2-7b            # omit for autoregressive decoding
workload: {batch: 16, prompt_len: 1024, gen_len: 256}
speculation: {draft_len: [1, 2, 3, 4, 5, 6, 7, 8], acceptance: 0.8}
system: a100-hbm3pim-x4
design_space: {pim_channels: [16, 32, 48, 64, 80], channel_step: 8, allocation: partition}
objective: latency          # or energy, throughput, {metric: energy, latency_bound: 20}
```

## Fields

| field | type | unit | meaning |
|---|---|---|---|
"""


def _kind(s: dict[str, Any]) -> str:
    if "enum" in s:
        return " \\| ".join(f"`{e}`" for e in s["enum"])
    if "anyOf" in s:
        return " or ".join(_kind(b) for b in s["anyOf"])
    kind = s.get("type", "")
    if kind == "array":
        return f"list of {_kind(s.get('items', {}))}"
    bounds = bounds_text(s)
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _objects(s: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if s.get("type") == "object":
        yield s
    for b in s.get("anyOf", []):
        yield from _objects(b)
    if s.get("type") == "array":
        yield from _objects(s.get("items", {}))


def fields(schema: dict[str, Any] = INSTANCE, prefix: str = "") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(dotted path, schema, required) of every documented field."""
    for obj in _objects(schema):
        for name, sub in obj.get("properties", {}).items():
            path = f"{prefix}{name}"
            yield path, sub, name in obj.get("required", [])
            yield from fields(sub, path + ("[]." if sub.get("type") == "array" else "."))


def markdown() -> str:
    rows = []
    seen = set()
    for path, s, required in fields():
        if path in seen:
            continue
        seen.add(path)
        desc = s.get("description", "") + (" **(required)**" if required else "")
        rows.append(f"| `{path}` | {_kind(s)} | {s.get('unit', '')} | {desc} |")
    return _INTRO + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
