"""The preset catalog: models, hosts, memories, PIM options and systems.

    from specpim.presets import catalog_entries, preset
    catalog_entries()["hosts"]["a100-80gb"]     # the same objects instance files use
    kind, obj = preset("hbm3-pim-bank")

``specpim presets [NAME] [--json]`` prints the same catalog.
"""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from typing import Any

from specpim.core.errors import InstanceError
from specpim.hardware import catalog
from specpim.workload.models import model_presets


def catalog_entries() -> dict[str, dict[str, Any]]:
    """Every preset by kind, then by name."""
    return {
        "models": model_presets(),
        "hosts": dict(catalog.HOSTS),
        "memories": dict(catalog.MEMORIES),
        "pim_options": dict(catalog.PIM_OPTIONS),
        "systems": dict(catalog.SYSTEMS),
    }


def preset(name: str) -> tuple[str, Any]:
    """(kind, preset) for a preset name of any kind."""
    for kind, items in catalog_entries().items():
        if name in items:
            return kind, items[name]
    known = sorted(n for items in catalog_entries().values() for n in items)
    raise InstanceError(f"unknown preset {name!r}; known: {', '.join(known)}", field="presets")


def _key_figures(kind: str, p: Any) -> str:
    if kind == "models":
        return (f"{p.layers} layers, hidden {p.hidden}, {p.heads}/{p.kv_heads} heads, FFN {p.ffn}"
                f"{' gated' if p.gated_ffn else ''}, vocab {p.vocab}, {p.params / 1e9:.2f} B params")
    if kind == "hosts":
        link = catalog.LINKS.get(p.name, 0.0)
        return (f"{p.peak_flops:g} TFLOP/s × {p.compute_efficiency:g}, {p.energy_per_flop:g} pJ/FLOP, "
                + (f"link {link:g} GB/s" if link else "no device link"))
    if kind == "memories":
        return (f"{p.technology or '?'}: {p.stacks} × {p.channels_per_stack} channels, "
                f"{p.channel_bandwidth:.4g} GB/s and {p.channel_capacity:g} GB per channel "
                f"({p.channels * p.channel_bandwidth:,.0f} GB/s, {p.capacity_bytes / 1e9:g} GB) × "
                f"{p.bandwidth_efficiency:g}, {p.energy_per_bit:g} pJ/b")
    if kind == "pim_options":
        return (f"{p.technology or '?'} {p.granularity}: {p.internal_bandwidth:.4g} GB/s, "
                f"{p.peak_flops:.4g} GFLOP/s, {p.area:g} mm² per channel, {p.energy_per_bit:g} pJ/b, "
                f"{p.energy_per_flop:g} pJ/FLOP")
    pims = ", ".join(o.name for o in p.pim_options) or "no PIM"
    return (f"{p.devices} × {p.host.name} + {p.memory.name} ({p.memory.channels} channels); {pims}; "
            f"link {p.link_bandwidth:g} GB/s")


def listing(as_json: bool = False) -> str:
    entries = catalog_entries()
    if as_json:
        return json.dumps({k: {n: _plain(p) for n, p in v.items()} for k, v in entries.items()}, indent=2)
    lines = []
    for kind, items in entries.items():
        lines.append(f"{kind.replace('_', ' ')}:")
        for name, p in items.items():
            lines.append(f"  {name:<24} {_key_figures(kind, p)}")
            lines.append(f"  {'':<24} source: {p.source}")
    return "\n".join(lines)


def describe(name: str, as_json: bool = False) -> str:
    kind, p = preset(name)
    data = _plain(p)
    if kind == "hosts":
        data["link_bandwidth"] = catalog.LINKS.get(name, 0.0)
        data["link_source"] = catalog.LINK_SOURCES.get(name, "")
    elif kind == "pim_options":
        data["memory_technology"] = p.technology   # kept under its earlier name too
    if as_json:
        return json.dumps({"kind": kind, **data}, indent=2)
    head = f"{name} ({kind[:-1].replace('_', ' ')}): {_key_figures(kind, p)}"
    return "\n".join([head] + [f"  {k}: {v}" for k, v in _flat(data)])


def _plain(p: Any) -> dict[str, Any]:
    return asdict(p) if is_dataclass(p) and not isinstance(p, type) else dict(p)


def _flat(d: dict[str, Any], prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flat(v, f"{prefix}{k}.")
        elif isinstance(v, (list, tuple)) and v and isinstance(v[0], dict):
            for i, item in enumerate(v):
                yield from _flat(item, f"{prefix}{k}[{i}].")
        else:
            yield f"{prefix}{k}", v


# -- docs/catalog.md's preset tables ----------------------------------------------

def _row(cells: list[object]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _tables() -> list[str]:
    e = catalog_entries()
    out = ["### Models", "",
           _row(["preset", "layers", "hidden", "heads / KV heads", "FFN", "vocab", "params", "source"]),
           _row(["---"] * 8)]
    out += [_row([f"`{n}`", m.layers, m.hidden, f"{m.heads} / {m.kv_heads}",
                  f"{m.ffn}{' gated' if m.gated_ffn else ''}", m.vocab, f"{m.params / 1e9:.2f} B", m.source])
            for n, m in e["models"].items()]
    out += ["", "### Hosts", "",
            _row(["preset", "dense FP16", "achievable (fp16 / bf16)", "kernel overheads µs (FC / attention / "
                  "element-wise)", "element-wise bandwidth", "static W", "device link", "source"]),
            _row(["---"] * 8)]
    for n, h in e["hosts"].items():
        bf16 = h.compute_efficiency if h.compute_efficiency_bf16 is None else h.compute_efficiency_bf16
        overheads = ("none charged" if h.elementwise_kernels == "none" else
                     f"{h.fc_kernel_overhead:g} / {h.attention_kernel_overhead:g} / "
                     f"{h.elementwise_kernel_overhead:g} ({h.elementwise_kernels})")
        out.append(_row([f"`{n}`", f"{h.peak_flops:g} TFLOP/s", f"{h.compute_efficiency:g} / {bf16:g}", overheads,
                         f"{h.elementwise_bandwidth_efficiency:g}", f"{h.static_power:g}",
                         catalog.LINK_SOURCES.get(n, ""), h.source]))
    out += ["", "### Memories (one device)", "",
            _row(["preset", "tech", "stacks × channels", "GB/s per channel", "GB per channel", "device total",
                  "achievable", "pJ/b host access", "static W per channel", "source"]),
            _row(["---"] * 10)]
    out += [_row([f"`{n}`", m.technology or "?", f"{m.stacks} × {m.channels_per_stack}",
                  f"{m.channel_bandwidth:.4g}", f"{m.channel_capacity:g}",
                  f"{m.channels * m.channel_bandwidth:,.0f} GB/s, {m.capacity_bytes / 1e9:g} GB",
                  f"{m.bandwidth_efficiency:g}", f"{m.energy_per_bit:g}", f"{m.static_power:.4g}", m.source])
            for n, m in e["memories"].items()]
    out += ["", "### PIM options (per channel)", "",
            _row(["preset", "for", "level", "internal GB/s", "GFLOP/s", "mm²", "pJ/b in-memory", "pJ/FLOP",
                  "offload µs", "softmax", "source"]),
            _row(["---"] * 11)]
    out += [_row([f"`{n}`", p.technology or "?", p.granularity, f"{p.internal_bandwidth:.4g}",
                  f"{p.peak_flops:.4g}", f"{p.area:g}", f"{p.energy_per_bit:g}", f"{p.energy_per_flop:g}",
                  f"{p.offload_overhead:g}", str(p.softmax), p.source])
            for n, p in e["pim_options"].items()]
    out += ["", "### Systems", "",
            _row(["preset", "devices", "host", "memory", "PIM menu", "link", "where host data lives"]),
            _row(["---"] * 7)]
    out += [_row([f"`{n}`", s.devices, f"`{s.host.name}`", f"`{s.memory.name}`",
                  ", ".join(f"`{o.name}`" for o in s.pim_options) or "none", f"{s.link_bandwidth:g} GB/s",
                  str(s.memory_model) if s.pim_options else "–"])
            for n, s in e["systems"].items()]
    return out


def catalog_markdown() -> str:
    """The preset tables of docs/catalog.md, generated from the catalog."""
    return "\n".join(_tables()) + "\n"


if __name__ == "__main__":
    print(catalog_markdown(), end="")
