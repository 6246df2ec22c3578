"""Decoder-only transformer model descriptions and the model presets.

A model is given in an instance file as a preset name, as the path of a
Hugging Face ``config.json``, or by explicit fields. All three become the
same frozen :class:`ModelConfig`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from specpim.core.errors import InstanceError, parse_int, quote, read_input_text

DTYPE_BYTES = {"fp32": 4, "float32": 4, "fp16": 2, "float16": 2, "bf16": 2, "bfloat16": 2, "fp8": 1, "int8": 1}


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a decoder-only transformer (Hugging Face field meanings)."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    gated_ffn: bool
    vocab: int
    dtype: str = "fp16"
    tied_embeddings: bool = False
    source: str = field(default="", compare=False)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def layer_params(self) -> int:
        kv = self.kv_heads * self.head_dim
        attn = 2 * self.hidden * self.hidden + 2 * self.hidden * kv
        ffn = (3 if self.gated_ffn else 2) * self.hidden * self.ffn
        return attn + ffn

    @property
    def params(self) -> int:
        """Matrix parameters: all layers, the embedding and the LM head."""
        embed = self.vocab * self.hidden
        return self.layers * self.layer_params + embed * (1 if self.tied_embeddings else 2)

    @property
    def weight_bytes(self) -> int:
        return self.params * self.dtype_bytes


def _opt(name: str, layers: int, hidden: int, heads: int) -> ModelConfig:
    return ModelConfig(
        name=name, layers=layers, hidden=hidden, heads=heads, kv_heads=heads,
        ffn=4 * hidden, gated_ffn=False, vocab=50272, tied_embeddings=True,
        source=f"Hugging Face facebook/{name} config.json (Zhang et al., OPT, 2022)",
    )


def _llama(name: str, repo: str, layers: int, hidden: int, heads: int, kv_heads: int,
           ffn: int, vocab: int, paper: str, dtype: str = "fp16") -> ModelConfig:
    return ModelConfig(
        name=name, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
        ffn=ffn, gated_ffn=True, vocab=vocab, dtype=dtype,
        source=f"Hugging Face {repo} config.json ({paper})",
    )


_L2 = "Touvron et al., Llama 2, 2023"
_L3 = "Meta, Llama 3 model card, 2024"
_VICUNA = "Chiang et al., Vicuna, 2023; LLaMA-1 shapes"

# Figures are the config.json values of each public checkpoint (copies of several
# are in instances/hf/, and tests/test_catalog.py checks the presets against them).
# OPT-350m's embeddings are 512-wide with in/out projections; ModelConfig counts them
# at the hidden size (≈25 M extra parameters, 7%).
_PRESETS: dict[str, ModelConfig] = {m.name: m for m in [
    _opt("opt-125m", 12, 768, 12),
    _opt("opt-350m", 24, 1024, 16),
    _opt("opt-1.3b", 24, 2048, 32),
    _opt("opt-2.7b", 32, 2560, 32),
    _opt("opt-6.7b", 32, 4096, 32),
    _opt("opt-13b", 40, 5120, 40),
    _opt("opt-30b", 48, 7168, 56),
    _opt("opt-66b", 64, 9216, 72),
    _llama("llama2-7b", "meta-llama/Llama-2-7b-hf", 32, 4096, 32, 32, 11008, 32000, _L2),
    _llama("llama2-13b", "meta-llama/Llama-2-13b-hf", 40, 5120, 40, 40, 13824, 32000, _L2),
    _llama("llama2-70b", "meta-llama/Llama-2-70b-hf", 80, 8192, 64, 8, 28672, 32000, _L2),
    _llama("llama3-8b", "meta-llama/Meta-Llama-3-8B", 32, 4096, 32, 8, 14336, 128256, _L3, "bf16"),
    _llama("llama3-70b", "meta-llama/Meta-Llama-3-70B", 80, 8192, 64, 8, 28672, 128256, _L3, "bf16"),
    _llama("tinyllama-1.1b", "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T", 22, 2048, 32, 4,
           5632, 32000, "Zhang et al., TinyLlama, 2024", "bf16"),
    _llama("llama-68m", "JackFram/llama-68m", 2, 768, 12, 12, 3072, 32000,
           "Miao et al., SpecInfer, ASPLOS 2024"),
    _llama("vicuna-7b", "lmsys/vicuna-7b-v1.3", 32, 4096, 32, 32, 11008, 32000, _VICUNA),
    _llama("vicuna-33b", "lmsys/vicuna-33b-v1.3", 60, 6656, 52, 52, 17920, 32000, _VICUNA),
    _llama("mistral-7b", "mistralai/Mistral-7B-v0.1", 32, 4096, 32, 8, 14336, 32000,
           "Jiang et al., Mistral 7B, 2023", "bf16"),
    _llama("qwen2-7b", "Qwen/Qwen2-7B", 28, 3584, 28, 4, 18944, 152064, "Qwen team, Qwen2, 2024", "bf16"),
]}


def model_presets() -> dict[str, ModelConfig]:
    """All model presets, by name."""
    return dict(_PRESETS)


def model_preset(name: str, *, field_path: str = "model", file: str | None = None) -> ModelConfig:
    try:
        return _PRESETS[name]
    except KeyError:
        raise InstanceError(
            f"unknown model preset {name!r}; known presets: {', '.join(sorted(_PRESETS))}",
            path=file, field=field_path,
        ) from None


# Hugging Face config.json keys, per model family, for each ModelConfig field.
_HF_KEYS = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "hidden": ("hidden_size", "n_embd", "d_model"),
    "heads": ("num_attention_heads", "n_head"),
    "ffn": ("intermediate_size", "ffn_dim", "n_inner"),
    "vocab": ("vocab_size",),
}
_GATED_TYPES = {"llama", "mistral", "qwen2", "gemma", "gemma2", "phi3"}
# Mixtures of experts: keys giving the number of experts (Mixtral, Qwen-MoE,
# OLMoE, DeepSeek, ERNIE 4.5, JetMoE, DBRX's ffn_config, ...), and keys that
# only a mixture has (experts per token, the experts' FFN size).
_MOE_COUNT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "num_routed_experts",
                   "moe_num_experts", "n_experts", "num_moe_experts")
_MOE_ONLY_KEYS = ("num_experts_per_tok", "num_experts_per_token", "moe_k", "moe_top_k", "moe_topk",
                  "top_k_experts", "moe_intermediate_size", "expert_intermediate_size", "n_shared_experts",
                  "num_shared_experts", "shared_expert_intermediate_size")
# Nested sections some families keep these keys in.
_MOE_SECTIONS = ("ffn_config", "moe_config", "text_config", "language_config")


def _text(value: object, limit: int = 60) -> str:
    """A text field of config.json, or "" when it is absent or not text."""
    return value[:limit] if isinstance(value, str) else ""


def _positive(value: object) -> int:
    """The largest positive whole number in a config value (a count, or a list of counts), else 0."""
    items = value if isinstance(value, list) else [value]
    counts = [v for v in items if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    return max(counts, default=0)


def _mixture_of_experts(cfg: dict) -> str | None:
    """The key (and value) that makes ``cfg`` a mixture of experts, or None for a dense model."""
    sections = [("", cfg)] + [(f"{k}.", cfg[k]) for k in _MOE_SECTIONS if isinstance(cfg.get(k), dict)]
    for prefix, sec in sections:
        counts = [(k, _positive(sec[k])) for k in _MOE_COUNT_KEYS if k in sec and _positive(sec[k])]
        if counts:   # the number of experts decides: one expert is a dense FFN
            key, n = max(counts, key=lambda kv: kv[1])
            if n > 1:
                return f"{prefix}{key}: {quote(n)} experts"
            continue
        only = next((k for k in _MOE_ONLY_KEYS if _positive(sec.get(k))), None)
        if only is not None:
            return f"{prefix}{only}: {quote(_positive(sec[only]))}"
    return None


def model_from_hf_config(path: Path, *, field_path: str, file: str | None) -> ModelConfig:
    """Build a ModelConfig from a Hugging Face ``config.json``.

    Supported: dense decoder-only models whose head size is hidden / heads
    (OPT, GPT-2 style, LLaMA 1–3, TinyLlama, Mistral, Qwen2, ...).  Mixtures of
    experts and explicit head sizes that differ from hidden / heads are
    refused rather than modelled wrongly, and so are files over 1 MiB and
    JSON nested too deeply to read.
    """
    def fail(message: str) -> InstanceError:
        return InstanceError(message, path=file, field=field_path)

    if not path.is_file():
        raise fail(f"Hugging Face config file not found: {path}")
    text = read_input_text(path, file=file, field=field_path)
    try:
        cfg = json.loads(text, parse_int=parse_int)
    except json.JSONDecodeError as exc:
        raise fail(f"{path} is not valid JSON ({exc})") from None
    except RecursionError:
        raise fail(f"{path} is nested too deeply to be a model config") from None
    if not isinstance(cfg, dict):
        raise fail(f"{path} must hold a JSON object")
    values: dict[str, int] = {}
    for name, keys in _HF_KEYS.items():
        found = next((cfg[k] for k in keys if k in cfg), None)
        if found is None and name == "ffn" and "hidden" in values:
            found = 4 * values["hidden"]  # GPT-2 style configs leave n_inner null
        if not isinstance(found, int) or isinstance(found, bool):
            present = sorted(cfg)
            listing = ", ".join(k[:40] for k in present[:60]) + \
                (f" and {len(present) - 60} more" if len(present) > 60 else "")
            raise fail(f"{path} has no usable {' / '.join(keys)} (needed for {name}); keys present: {listing}")
        values[name] = found
    model_type = _text(cfg.get("model_type"))
    moe = _mixture_of_experts(cfg)
    if moe is not None:
        raise fail(f"{path} describes a mixture of experts ({moe}, model_type {model_type!r}); "
                   "only dense models are supported")
    head_dim = cfg.get("head_dim")
    if values["heads"] and isinstance(head_dim, int) and head_dim * values["heads"] != values["hidden"]:
        try:
            ratio = f"{values['hidden'] / values['heads']:g}"
        except OverflowError:
            ratio = "out of range"
        raise fail(f"{path} sets head_dim {quote(head_dim)}, but hidden_size / num_attention_heads is "
                   f"{ratio}; such models are not supported")
    kv = cfg.get("num_key_value_heads") or values["heads"]
    if not isinstance(kv, int) or isinstance(kv, bool):
        raise fail(f"{path} has num_key_value_heads {quote(kv)}; expected a whole number of heads")
    # Newer transformers write "dtype", older ones "torch_dtype".
    dtype = _text(cfg.get("dtype") or cfg.get("torch_dtype")) or "float16"
    if dtype not in DTYPE_BYTES:
        dtype = "fp16"
    return ModelConfig(
        name=_text(cfg.get("_name_or_path"), 200) or path.parent.name or path.stem,
        layers=values["layers"], hidden=values["hidden"], heads=values["heads"], kv_heads=kv,
        ffn=values["ffn"], gated_ffn=model_type in _GATED_TYPES or cfg.get("hidden_act") == "silu",
        vocab=values["vocab"], dtype=dtype,
        # transformers ties the LM head to the embedding unless the config says otherwise
        tied_embeddings=bool(cfg.get("tie_word_embeddings", True)),
        source=f"Hugging Face config {path}",
    )
