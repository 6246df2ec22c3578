"""JSON Schema of instance files.

Each property carries ``description`` and, where it has one, ``unit``: the
loader quotes both in error messages and docs/instances.md lists them.
"""

from __future__ import annotations

from typing import Any


def _num(desc: str, unit: str, *, minimum: float | None = None, exclusive: float | None = None,
         maximum: float | None = None, integer: bool = False) -> dict[str, Any]:
    s: dict[str, Any] = {"type": "integer" if integer else "number", "description": desc, "unit": unit}
    if minimum is not None:
        s["minimum"] = minimum
    if exclusive is not None:
        s["exclusiveMinimum"] = exclusive
    if maximum is not None:
        s["maximum"] = maximum
    return s


# Largest values a field may take: physical maxima with a wide margin, each
# said (with why it is generous) in the field's description.  They catch
# values typed in the wrong unit (a link bandwidth in B/s where GB/s belong)
# that the general magnitude rule (10⁻¹² … 10¹², validation.py) lets through.
def _cap(desc: str, bound: str) -> str:
    return f"{desc} (at most {bound})"


# Memory technologies a memory or a PIM option may name (others: leave the field out).
MEMORY_TECHNOLOGIES = ["hbm2", "hbm2e", "hbm3", "hbm3e", "hbm4", "gddr6", "gddr6x", "gddr7", "lpddr4", "lpddr4x",
                       "lpddr5", "lpddr5x", "lpddr6", "ddr4", "ddr5"]


def _pos_int(desc: str, unit: str = "count") -> dict[str, Any]:
    return _num(desc, unit, minimum=1, integer=True)


def _obj(props: dict[str, Any], required: list[str] | tuple[str, ...] = (), desc: str = "") -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": False, "description": desc}


def _preset_or(obj: dict[str, Any], desc: str) -> dict[str, Any]:
    return {"anyOf": [{"type": "string", "description": "preset name"}, obj], "description": desc}


MODEL_FIELDS = {
    "name": {"type": "string", "description": "label used in reports"},
    "layers": _pos_int("decoder layers"),
    "hidden": _pos_int("hidden size", "elements"),
    "heads": _pos_int("attention (query) heads"),
    "kv_heads": _pos_int("key/value heads (= heads without grouped-query attention)"),
    "ffn": _pos_int("FFN intermediate size", "elements"),
    "gated_ffn": {"type": "boolean", "description": "FFN has a gate projection (LLaMA-style SwiGLU)"},
    "vocab": _pos_int("vocabulary size", "tokens"),
    "dtype": {"enum": ["fp32", "float32", "fp16", "float16", "bf16", "bfloat16", "fp8", "int8"],
              "description": "weight and activation type"},
    "tied_embeddings": {"type": "boolean", "description": "LM head shares the embedding matrix"},
}
MODEL = _preset_or({
    "type": "object",
    "properties": {"preset": {"type": "string", "description": "a model preset name"},
                   "hf_config": {"type": "string", "description": "path of a Hugging Face config.json, "
                                 "relative to the instance file"},
                   **MODEL_FIELDS},
    "additionalProperties": False,
    "description": "a preset, a Hugging Face config, or explicit fields",
}, "a decoder-only transformer")

HOST_FIELDS = {
    "name": {"type": "string", "description": "label"},
    "peak_flops": _num(_cap("peak dense FP16/BF16 compute", "1,000,000 TFLOP/s, over 400× a B200's 2,250"),
                       "TFLOP/s", exclusive=0, maximum=1e6),
    "compute_efficiency": _num("achievable fraction of peak compute in fp16 GEMMs", "fraction", exclusive=0,
                               maximum=1),
    "compute_efficiency_bf16": _num("achievable fraction of peak compute in bf16 GEMMs (default: as fp16)",
                                    "fraction", exclusive=0, maximum=1),
    "fc_kernel_overhead": _num("fixed time of one weight GEMM/GEMV kernel", "µs", minimum=0, maximum=1e4),
    "attention_kernel_overhead": _num("fixed time of one attention GEMM kernel", "µs", minimum=0, maximum=1e4),
    "elementwise_kernel_overhead": _num("fixed time of one element-wise kernel", "µs", minimum=0, maximum=1e4),
    "elementwise_bandwidth_efficiency": _num("fraction of peak memory bandwidth element-wise kernels reach",
                                             "fraction", exclusive=0, maximum=1),
    "elementwise_kernels": {"enum": ["eager", "fused", "none"],
                            "description": "element-wise kernels: one per PyTorch primitive (eager), one per "
                                           "operation (fused), or not charged (none)"},
    "energy_per_flop": _num(_cap("host compute energy", "1,000 pJ/FLOP, over 1,000× what GPUs spend (~0.3–1)"),
                            "pJ/FLOP", minimum=0, maximum=1e3),
    "static_power": _num("static power of the host, charged over the whole iteration", "W", minimum=0,
                         maximum=1e4),
    "source": {"type": "string", "description": "where the figures come from"},
}
HOST_FILE = _obj(HOST_FIELDS, ["peak_flops"], "a host preset file")
HOST = {"anyOf": [
    {"type": "string", "description": "preset name"},
    {"type": "object", "properties": {"file": {"type": "string", "description": "a host preset file (YAML), "
                                               "relative to the instance file, e.g. written by "
                                               "benchmarks/calibrate_host.py"}},
     "required": ["file"], "additionalProperties": False, "description": "a host preset file"},
    _obj(HOST_FIELDS, ["peak_flops"]),
], "description": "the host processor (xPU)"}

MEMORY = _preset_or(_obj({
    "name": {"type": "string", "description": "label"},
    "stacks": _pos_int("memory stacks per device"),
    "channels_per_stack": _pos_int("channels per stack"),
    "channel_bandwidth": _num(_cap("external bandwidth of one channel", "100,000 GB/s, over 10× a whole B200's "
                                   "8,000 GB/s; an HBM3 channel has ~42"), "GB/s", exclusive=0, maximum=1e5),
    "channel_capacity": _num(_cap("capacity of one channel", "10,000 GB, over 30× a whole B300's 288 GB; an HBM3 "
                                  "channel holds 1–3"), "GB", exclusive=0, maximum=1e4),
    "bandwidth_efficiency": _num("achievable fraction of external bandwidth", "fraction", exclusive=0, maximum=1),
    "energy_per_bit": _num(_cap("energy of a host access (cell to host)", "1,000 pJ/b, over 50× the costliest "
                                "DRAM access (~4–20)"), "pJ/b", minimum=0, maximum=1e3),
    "static_power": _num("background power of one channel (standby and refresh)", "W", minimum=0, maximum=100),
    "technology": {"enum": MEMORY_TECHNOLOGIES,
                   "description": "memory technology; a PIM option that names another one is refused (omit it "
                                  "for a technology not listed)"},
}, ["stacks", "channels_per_stack", "channel_bandwidth", "channel_capacity"]), "memory of one device")

PIM_OPTION = _preset_or(_obj({
    "name": {"type": "string", "description": "name the design space refers to"},
    "granularity": {"enum": ["bank", "bank_group", "buffer_die", "custom"],
                    "description": "where the PIM units sit"},
    "internal_bandwidth": _num(_cap("bandwidth from the banks to the PIM units of one channel",
                                    "1,000,000 GB/s, nearly 2,000× GDDR6-AiM's 512, the most published"),
                               "GB/s", exclusive=0, maximum=1e6),
    "peak_flops": _num(_cap("PIM compute of one channel", "10,000,000 GFLOP/s, nearly 20,000× GDDR6-AiM's 512, "
                            "the most published"), "GFLOP/s", exclusive=0, maximum=1e7),
    "area": _num(_cap("PIM area added per channel; 0 means not known, and then no area budget may apply",
                      "10,000 mm², more than ten reticle-sized dies"), "mm²", minimum=0, maximum=1e4),
    "energy_per_bit": _num(_cap("energy of an in-memory access", "1,000 pJ/b, over 50× the costliest DRAM "
                                "access"), "pJ/b", minimum=0, maximum=1e3),
    "energy_per_flop": _num(_cap("PIM compute energy", "1,000 pJ/FLOP, about 1,000× published PIM units "
                                 "(0.16–0.5)"), "pJ/FLOP", minimum=0, maximum=1e3),
    "offload_overhead": _num("fixed memory-side time of one offload (mode switches, command issue)", "µs",
                             minimum=0, maximum=1e4),
    "softmax": {"enum": ["host", "pim"],
                "description": "where the softmax before an offloaded score·V runs: the host, or a unit next "
                               "to the memory"},
    "static_power": _num("static power of the PIM logic of one channel", "W", minimum=0, maximum=100),
    "technology": {"enum": MEMORY_TECHNOLOGIES,
                   "description": "memory technology the PIM units are built into; it must match the memory's "
                                  "when both are given (omit it for a technology not listed)"},
}, ["name", "internal_bandwidth", "peak_flops"]), "one PIM unit design")

SYSTEM = _preset_or(_obj({
    "name": {"type": "string", "description": "label"},
    "preset": {"type": "string", "description": "a system preset to start from; other fields override it"},
    "devices": _pos_int("devices running tensor-parallel"),
    "link_bandwidth": _num(_cap("device-to-device bandwidth per device", "100,000 GB/s, over 50× NVLink 5's "
                                "1,800"), "GB/s", exclusive=0, maximum=1e5),
    "link_latency": _num(_cap("latency of one collective step", "100,000 µs (0.1 s), 1,000× a hop between "
                              "nodes (~100 µs)"), "µs", minimum=0, maximum=1e5),
    "link_energy_per_bit": _num(_cap("link energy", "1,000 pJ/b, over 30× an optical or network link (~5–30)"),
                                "pJ/b", minimum=0, maximum=1e3),
    "memory_model": {"enum": ["striped", "partitioned"],
                     "description": "where host data lives: striped over every channel (host reads compete with "
                                    "PIM work), or only in the channels without PIM"},
    "host": HOST,
    "memory": MEMORY,
    "pim_options": {"type": "array", "items": PIM_OPTION, "description": "the PIM menu"},
}), "the hardware")

INT_OR_LIST = {"anyOf": [{"type": "integer", "minimum": 1},
                         {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1}],
               "description": "draft length γ, or the list the solver chooses from", "unit": "tokens"}
ACCEPTANCE = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
                        {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 1}],
              "description": "i.i.d. per-token acceptance rate α, or per-position rates a₁…a_γ",
              "unit": "probability in [0, 1]"}

INSTANCE = _obj({
    "name": {"type": "string", "description": "label used in reports (default: file name)"},
    "description": {"type": "string", "description": "free text"},
    "target": MODEL,
    "draft": {"anyOf": [{"type": "null"}, MODEL], "description": "the draft model; omit for autoregressive decoding"},
    "workload": _obj({
        "batch": _pos_int("requests decoded together", "requests"),
        "prompt_len": _num("prompt length", "tokens", minimum=0, integer=True),
        "gen_len": _pos_int("tokens generated per request", "tokens"),
    }, ["batch", "prompt_len", "gen_len"], "the requests"),
    "speculation": _obj({"draft_len": INT_OR_LIST, "acceptance": ACCEPTANCE},
                        ["draft_len", "acceptance"], "speculative decoding"),
    "system": SYSTEM,
    "design_space": _obj({
        "pim_options": {"type": "array", "items": {"type": "string"},
                        "description": "names of the PIM options to consider (default: the whole menu)"},
        "pim_channels": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1,
                         "description": "candidate numbers of PIM-carrying channels per device",
                         "unit": "channels"},
        "channel_step": _pos_int("granularity of channel groups and of the draft/target split", "channels"),
        "allocation": {"enum": ["partition", "shared"],
                       "description": "static draft/target partition of the PIM channels, or shared"},
        "area_budget": _num(_cap("PIM area allowed per device; every PIM option it applies to needs a known "
                                 "area (> 0)", "1,000,000 mm², over 1,000 reticle-sized dies"), "mm²",
                            minimum=0, maximum=1e6),
        "include_no_pim": {"type": "boolean", "description": "also consider building no PIM (default true)"},
    }, desc="what the solver may choose"),
    "objective": {"anyOf": [
        {"enum": ["latency", "energy", "throughput"]},
        _obj({"metric": {"enum": ["latency", "energy", "throughput"], "description": "what to optimise"},
              "latency_bound": _num(_cap("largest allowed latency per token (energy objective)",
                                         "1,000,000 ms, over 15 minutes per token"), "ms",
                                    exclusive=0, maximum=1e6),
              "energy_bound": _num(_cap("largest allowed energy per token (latency and throughput objectives)",
                                        "1,000,000 mJ (1 kJ) per token"), "mJ", exclusive=0, maximum=1e6)},
             ["metric"]),
    ], "description": "latency (default), energy or throughput"},
    "cost_model": {"type": "string", "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                   "description": "custom cost model as module:Class (imported only when allowed)"},
}, ["target", "workload", "system"], "a specpim instance")


def bounds_text(schema: dict[str, Any]) -> list[str]:
    """A numeric field's bounds in words: ["> 0", "≤ 1"]."""
    out = []
    if "exclusiveMinimum" in schema:
        out.append(f"> {schema['exclusiveMinimum']:g}")
    if "minimum" in schema:
        out.append(f"≥ {schema['minimum']:g}")
    if "maximum" in schema:
        top = schema["maximum"]
        out.append(f"≤ {top:,.0f}" if top >= 1e3 and top == int(top) else f"≤ {top:g}")
    return out


# -- mapping files (mapping.json / mapping.yaml, as ``solve -o`` writes them) --

_COUNT = {"type": "integer", "minimum": 0, "description": "channels per device", "unit": "channels"}
PLACEMENT = _obj({
    "engine": {"enum": ["host", "pim"], "description": "where the operator runs"},
    "channels": {"anyOf": [{"type": "null"}, _COUNT], "description": "size of its PIM channel group (0 on the host)",
                 "unit": "channels"},
    "tier": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 0}],
             "description": "its tier in the layer (null for the LM head)", "unit": "tier index"},
    "first_channel": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 0}],
                      "description": "first of its consecutive PIM channels (null: the evaluator lays the "
                                     "groups out as the solver does)", "unit": "channel index"},
}, ["engine"], "where one operator runs")
MAPPING = _obj({
    "architecture": _obj({
        "pim_option": {"anyOf": [{"type": "null"}, {"type": "string"}],
                       "description": "the PIM option built, or null for none"},
        "pim_channels": {**_COUNT, "description": "channels per device that carry PIM units"},
        "draft_channels": {**_COUNT, "description": "PIM channels the draft model may use"},
        "target_channels": {**_COUNT, "description": "PIM channels the target model may use"},
        "draft_len": {"type": "integer", "minimum": 0, "description": "draft length γ", "unit": "tokens"},
    }, ["pim_channels", "draft_channels", "target_channels", "draft_len"], "the hardware choice"),
    "phases": {"type": "object", "description": "per phase, per operator, its placement",
               "propertyNames": {"enum": ["draft", "verify"]},
               "additionalProperties": {"type": "object", "additionalProperties": PLACEMENT,
                                        "description": "the operators of one phase"}},
    # What ``solve -o`` writes around the mapping; read and ignored.
    "instance": {"type": "string", "description": "the instance's name"},
    "status": {"type": "string", "description": "the solver's status"},
    "objective": {"type": "object", "description": "the objective's metric, value and unit"},
}, ["architecture", "phases"], "a specpim mapping")
