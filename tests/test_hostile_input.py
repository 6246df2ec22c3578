"""Input a user can give that once ended in a traceback, a silent success or
a silently wrong model (docs/errors.md): each case now gets one line naming
the field or the resource, with the documented exit code, or simply works
when the input is valid."""

from __future__ import annotations

import copy
import dataclasses
import errno
import json
import os
import shlex
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import specpim
from helpers import INSTANCES
from helpers.cli import cli_command, run_cli
from specpim.core.enums import Phase
from specpim.core.errors import (
    MAX_INPUT_BYTES,
    InstanceError,
    OutputError,
    escape_controls,
    os_error_message,
    parse_int,
    quote,
)
from specpim.export import OUTPUT_FILES, atomic_write, write_outputs
from specpim.hardware import catalog
from specpim.problem import schema
from specpim.problem.mapping import Mapping
from specpim.workload.models import model_from_hf_config

TINY_PATH = INSTANCES / "tiny.yaml"
TINY_TEXT = TINY_PATH.read_text()
TINY = yaml.safe_load(TINY_TEXT)
HF = INSTANCES / "hf"
HUGE = "7" * 5000
HUGE_INT = parse_int(HUGE)   # int(HUGE) is refused: Python converts at most 4,300 digits


def _one_line(r, code: int, expect: list[str]) -> None:
    """Exit ``code``, one line on stderr holding every fragment, no traceback."""
    assert r.code == code, (r.code, r.err)
    assert "Traceback" not in r.err and "Traceback" not in r.out
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("specpim: "), r.err
    for fragment in expect:
        assert fragment in lines[0], (fragment, lines[0])


def _write(folder: Path, data: dict | None = None, text: str | None = None, name: str = "instance.yaml") -> Path:
    path = folder / name
    path.write_text(text if text is not None else yaml.safe_dump(data))
    return path


def _tiny(**changes) -> dict:
    data = copy.deepcopy(TINY)
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return data


@pytest.fixture(scope="module")
def tiny_mapping(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny-result")
    r = run_cli("solve", TINY_PATH, "--no-baselines", "-o", out)
    assert r.code == 0, r.err
    return out / "mapping.json"


@pytest.fixture(scope="module")
def tiny_solution():
    return specpim.solve(TINY_PATH, baselines=False)


# -- 1. integers of thousands of digits ----------------------------------------

def test_quote_describes_huge_integers_and_survives_any_repr():
    class Bad:
        def __repr__(self):
            raise SystemExit(0)

    assert quote(HUGE_INT) == "an integer of 5000 digits"
    assert quote(-(10 ** 45)) == "a negative integer of 46 digits"
    assert quote(10 ** 15) == "1000000000000000"
    assert quote(Bad()) == "a Bad"
    assert quote("x" * 100).endswith("...") and len(quote("x" * 100)) == 60


@pytest.mark.parametrize("text,data,field", [
    (TINY_TEXT.replace("  batch: 8", f"  batch: {HUGE}"), _tiny(workload__batch=HUGE_INT), "workload.batch"),
    (TINY_TEXT.replace("draft_len: [1, 2, 3, 4]", f"draft_len: [1, {HUGE}]"),
     _tiny(speculation__draft_len=[1, HUGE_INT]), "speculation.draft_len[1]"),
    (TINY_TEXT.replace("  batch: 8", f"  batch: 8\n  ? {HUGE}\n  : 1"),
     {**TINY, "workload": {**TINY["workload"], HUGE_INT: 1}}, "workload"),
    (TINY_TEXT.replace("channel_capacity: 0.5", f"channel_capacity: -{HUGE}"),
     _tiny(system__memory__channel_capacity=-HUGE_INT), "system.memory.channel_capacity"),
], ids=["value", "list-item", "key", "negative"])
def test_a_5000_digit_integer_in_an_instance(text, data, field, tmp_path):
    path = _write(tmp_path, text=text)
    _one_line(run_cli("validate", path), 2, [str(path), field, "integer of 5000 digits"])
    with pytest.raises(InstanceError, match="integer of 5000 digits") as info:   # the same through the API
        specpim.load_instance(data)
    assert info.value.field == field


def test_a_5000_digit_tier_in_a_mapping(tmp_path, tiny_mapping, tiny_solution):
    text = tiny_mapping.read_text().replace('"tier": 0', f'"tier": {HUGE}', 1)
    bad = _write(tmp_path, text=text, name="mapping.json")
    _one_line(run_cli("evaluate", TINY_PATH, bad), 2, [str(bad), ".tier", "an integer of 5000 digits"])
    doc = tiny_solution.mapping.to_dict()
    doc["phases"]["verify"]["q"]["tier"] = HUGE_INT
    with pytest.raises(InstanceError, match="an integer of 5000 digits") as info:
        specpim.evaluate(TINY_PATH, doc)
    assert info.value.field == "phases.verify.q.tier"


def test_a_5000_digit_integer_in_a_config_json(tmp_path):
    cfg = json.loads((HF / "llama-68m" / "config.json").read_text())
    cfg["num_hidden_layers"] = 12345
    (tmp_path / "config.json").write_text(json.dumps(cfg).replace("12345", HUGE))
    path = _write(tmp_path, _tiny(target={"hf_config": "config.json"}))
    _one_line(run_cli("validate", path), 2, ["target.layers", "an integer of 5000 digits", "config.json"])


# -- 2. a config.json nested 200,000 deep -----------------------------------------

def test_a_deeply_nested_config_json(tmp_path):
    (tmp_path / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    path = _write(tmp_path, _tiny(target={"hf_config": "config.json"}))
    _one_line(run_cli("validate", path), 2, [str(path), "target.hf_config", "config.json", "nested too deeply"])


def test_a_deeply_nested_instance(tmp_path):
    path = _write(tmp_path, text="target: " + "[" * 100_000 + "]" * 100_000 + "\n")
    _one_line(run_cli("validate", path), 2, [str(path), "nested too deeply"])


# -- 3. standard output full or closed -----------------------------------------

def _shell(command: str, *args: str | Path) -> subprocess.CompletedProcess:
    line = " ".join(shlex.quote(str(a)) for a in [*cli_command(), *args]) + " " + command
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [("presets",), ("presets", "--json"), ("validate", TINY_PATH)],
                         ids=["presets", "presets-json", "validate"])
def test_stdout_full_exits_6_with_one_line(args):
    p = _shell("> /dev/full", *args)
    assert p.returncode == 6, p.stderr
    assert p.stderr.strip() == "specpim: cannot write to standard output: No space left on device", p.stderr


def test_stdout_closed_exits_6_before_doing_anything(tmp_path):
    out = tmp_path / "out"
    p = _shell(">&-", "solve", TINY_PATH, "-o", out)
    assert p.returncode == 6, p.stderr
    assert p.stderr.strip() == "specpim: cannot write to standard output: it is closed; nothing was done"
    assert not out.exists()


# -- 4. a cost model that calls sys.exit -----------------------------------------

_EXITING = """
import sys
from specpim.costs.roofline import RooflineCostModel

if {at_import}:
    sys.exit(0)

class AtInit(RooflineCostModel):
    def __init__(self):
        sys.exit(0)

class InMethod(RooflineCostModel):
    def pim(self, work, system, option, channels, host_channels):
        sys.exit(0)
"""


@pytest.mark.parametrize("module,ref,expect", [
    ("atimport", "atimport:AtInit", ["cannot import module 'atimport'", "called sys.exit(0)"]),
    ("exiting", "exiting:AtInit", ["exiting:AtInit() failed", "called sys.exit(0)"]),
    ("exiting", "exiting:InMethod", ["exiting:InMethod.pim called sys.exit(0)"]),
], ids=["at-import", "at-construction", "in-a-method"])
def test_cost_model_calling_sys_exit_is_bad_input(module, ref, expect, tmp_path, tiny_mapping):
    (tmp_path / f"{module}.py").write_text(_EXITING.format(at_import=module == "atimport"))
    path = _write(tmp_path, _tiny(cost_model=ref))
    for command in (["solve", path, "--no-baselines"], ["evaluate", path, tiny_mapping]):
        _one_line(run_cli(*command, "--allow-imports", cwd=tmp_path), 2, [str(path), "cost_model", *expect])


def test_cost_model_object_calling_sys_exit_through_the_api():
    from specpim.costs.roofline import RooflineCostModel

    class Exiting(RooflineCostModel):
        def host(self, work, system, host_channels):
            raise SystemExit(3)

    with pytest.raises(InstanceError, match=r"Exiting.host called sys.exit\(3\)") as info:
        specpim.solve(TINY_PATH, cost_model=Exiting(), baselines=False)
    assert info.value.field == "cost_model"


# -- 5. an empty output folder name --------------------------------------------

def test_empty_output_folder_name_is_refused(tmp_path):
    r = run_cli("solve", TINY_PATH, "-o", "", cwd=tmp_path)
    _one_line(r, 2, ["-o", "empty name"])
    assert r.out == "" and list(tmp_path.iterdir()) == []
    with pytest.raises(InstanceError):
        write_outputs(specpim.solve(TINY_PATH, baselines=False), "")


# -- 6. permissions of the files written ----------------------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_new_files_follow_the_umask_and_replaced_ones_keep_their_bits(mask, tmp_path, tiny_solution):
    old = os.umask(mask)
    try:
        write_outputs(tiny_solution, tmp_path)
        for name in OUTPUT_FILES:
            assert _mode(tmp_path / name) == 0o666 & ~mask, name
        (tmp_path / "mapping.json").chmod(0o600)
        (tmp_path / "operators.csv").chmod(0o664)
        write_outputs(tiny_solution, tmp_path)
        assert _mode(tmp_path / "mapping.json") == 0o600
        assert _mode(tmp_path / "operators.csv") == 0o664
        assert _mode(tmp_path / "mapping.yaml") == 0o666 & ~mask
        atomic_write(tmp_path / "note.txt", "new\n")
        assert _mode(tmp_path / "note.txt") == 0o666 & ~mask
    finally:
        os.umask(old)


def test_cli_force_keeps_the_permission_bits_of_the_files_it_replaces(tmp_path):
    out = tmp_path / "out"
    assert run_cli("solve", TINY_PATH, "--no-baselines", "-o", out).code == 0
    (out / "mapping.json").chmod(0o644)
    (out / "mapping.yaml").chmod(0o640)
    assert run_cli("solve", TINY_PATH, "--no-baselines", "-o", out, "--force").code == 0
    assert _mode(out / "mapping.json") == 0o644 and _mode(out / "mapping.yaml") == 0o640


# -- 7. a clash under --force ------------------------------------------------------

def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes() if p.is_file() else b"<dir>", p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_a_result_file_that_is_a_folder_is_refused_before_anything_is_replaced(tmp_path, tiny_solution):
    out = tmp_path / "out"
    assert run_cli("solve", TINY_PATH, "--no-baselines", "-o", out).code == 0
    (out / "operators.csv").unlink()
    (out / "operators.csv").mkdir()
    before = _snapshot(out)
    r = run_cli("solve", TINY_PATH, "--no-baselines", "-o", out, "--force")
    _one_line(r, 2, [str(out), "operators.csv is a folder"])
    assert r.out == ""   # refused before solving
    assert _snapshot(out) == before
    with pytest.raises(InstanceError, match="operators.csv is a folder"):   # and by the API, at write time
        write_outputs(tiny_solution, out)
    assert _snapshot(out) == before   # nothing replaced, no temporary file left


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write any file")
def test_a_read_only_result_file_is_refused_before_anything_is_replaced(tmp_path):
    out = tmp_path / "out"
    assert run_cli("solve", TINY_PATH, "--no-baselines", "-o", out).code == 0
    (out / "model.lp").chmod(0o444)
    before = _snapshot(out)
    _one_line(run_cli("solve", TINY_PATH, "--no-baselines", "-o", out, "--force"), 2, ["model.lp is read-only"])
    assert _snapshot(out) == before


# -- 8. the API raises InstanceError, naming the field ------------------------------

def _tier_as_text(solution) -> Mapping:
    """The solution's mapping with one tier that is text, built in Python (no file, no schema)."""
    ops = dict(solution.mapping.phases)
    verify = dict(ops[Phase.VERIFY])
    verify["q"] = dataclasses.replace(verify["q"], tier="x")
    ops[Phase.VERIFY] = verify
    return Mapping(solution.mapping.architecture, ops)


@pytest.mark.parametrize("call,field", [
    (lambda s: specpim.solve(TINY_PATH, workers="x"), "solver"),
    (lambda s: specpim.solve(TINY_PATH, workers=1.5), "solver"),
    (lambda s: specpim.solve(TINY_PATH, workers=True), "solver"),
    (lambda s: specpim.solve(TINY_PATH, solver="exhaustive", max_work="big"), "solver"),
    (lambda s: specpim.solve(TINY_PATH, monolithic="yes"), "solver"),
    (lambda s: specpim.solve(TINY_PATH, time_limit=10 ** 400), "time_limit"),
    (lambda s: specpim.solve(TINY_PATH, time_limit=np.float64("nan")), "time_limit"),
    (lambda s: specpim.load_instance(copy.deepcopy(TINY), base_dir=123), "base_dir"),
    (lambda s: specpim.load_instance(copy.deepcopy(TINY), base_dir="a\0b"), "base_dir"),
    (lambda s: specpim.load_instance("a\0b.yaml"), "instance"),
    (lambda s: specpim.evaluate(TINY_PATH, "a\0b.json"), "mapping"),
    (lambda s: specpim.evaluate(TINY_PATH, _tier_as_text(s)), "phases.verify.q.tier"),
], ids=["workers-text", "workers-fraction", "workers-bool", "max-work-text", "monolithic-text", "limit-10e400",
        "limit-nan", "base-dir-int", "base-dir-nul", "path-nul", "mapping-path-nul", "tier-text"])
def test_api_raises_instance_error_naming_the_field(call, field, tiny_solution):
    with pytest.raises(InstanceError) as info:
        call(tiny_solution)
    assert info.value.field == field, str(info.value)


@pytest.mark.parametrize("limit", [np.int64(30), np.float64(30.0), np.float32(30.0), 30, 30.0],
                         ids=["np.int64", "np.float64", "np.float32", "int", "float"])
def test_any_real_number_is_a_time_limit(limit):
    assert specpim.solve(TINY_PATH, time_limit=limit, baselines=False, workers=np.int64(1)).status == "optimal"


# -- 9. mixtures of experts under other names --------------------------------------

@pytest.mark.parametrize("keys,named", [
    ({"model_type": "ernie4_5_moe", "moe_num_experts": 64, "moe_k": 8, "moe_intermediate_size": 1536},
     "moe_num_experts: 64"),
    ({"moe_num_experts": [64, 64]}, "moe_num_experts: 64"),
    ({"n_routed_experts": 64, "num_experts_per_tok": 6}, "n_routed_experts: 64"),
    ({"num_routed_experts": 8}, "num_routed_experts: 8"),
    ({"num_experts_per_tok": 2}, "num_experts_per_tok: 2"),
    ({"moe_k": 2}, "moe_k: 2"),
    ({"moe_intermediate_size": 1408}, "moe_intermediate_size: 1408"),
    ({"ffn_config": {"moe_num_experts": 16, "moe_top_k": 4}}, "ffn_config.moe_num_experts: 16"),
], ids=["ernie-4.5", "ernie-vl-list", "deepseek", "num-routed", "per-token", "moe-k", "moe-ffn", "dbrx"])
def test_hf_mixtures_of_experts_are_refused(keys, named, tmp_path):
    cfg = {**json.loads((HF / "mistral-7b-v0.1" / "config.json").read_text()), **keys}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InstanceError, match="mixture of experts") as info:
        model_from_hf_config(tmp_path / "config.json", field_path="target.hf_config", file=None)
    assert named in str(info.value)


@pytest.mark.parametrize("keys", [{"num_local_experts": 1, "num_experts_per_tok": 1},
                                  {"num_experts_per_tok": None, "moe_intermediate_size": 0}],
                         ids=["one-expert", "null-and-zero"])
def test_hf_dense_configs_with_expert_keys_still_load(keys, tmp_path):
    cfg = {**json.loads((HF / "mistral-7b-v0.1" / "config.json").read_text()), **keys}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert model_from_hf_config(tmp_path / "config.json", field_path="x", file=None).layers == 32


# -- 10. a PIM option of another memory technology ---------------------------------

def test_presets_carry_their_memory_technology():
    for name, m in catalog.MEMORIES.items():
        assert m.technology == catalog.MEMORY_TECH[name] and m.technology in schema.MEMORY_TECHNOLOGIES
    for name, p in catalog.PIM_OPTIONS.items():
        assert p.technology == catalog.PIM_TECH[name] and p.technology in schema.MEMORY_TECHNOLOGIES


@pytest.mark.parametrize("pims", [["gddr6-aim"], ["hbm3-pim-bank", "lpddr5-pim"]], ids=["gddr6-aim", "lpddr5-pim"])
def test_a_pim_option_of_another_technology_is_refused(pims, tmp_path):
    path = _write(tmp_path, _tiny(system={"preset": "a100-hbm3pim-x4", "pim_options": pims}))
    index = len(pims) - 1
    _one_line(run_cli("validate", path), 2, [f"system.pim_options[{index}]", repr(pims[-1]), "hbm3",
                                             catalog.PIM_TECH[pims[-1]]])


def test_technology_of_custom_memories_and_options(tmp_path):
    mismatch = _tiny(system__memory__technology="hbm3", system__pim_options__1__technology="gddr6")
    with pytest.raises(InstanceError, match="'bufferdie' is built for gddr6 memory.*is hbm3") as info:
        specpim.load_instance(mismatch)
    assert info.value.field == "system.pim_options[1]"
    # the same technology, or one side not given: accepted
    specpim.load_instance(_tiny(system__memory__technology="hbm3", system__pim_options__1__technology="hbm3"))
    specpim.load_instance(_tiny(system__pim_options__1__technology="gddr6"))
    path = _write(tmp_path, _tiny(system__memory__technology="hbm-3"))
    _one_line(run_cli("validate", path), 2, ["system.memory.technology", "did you mean 'hbm3'"])


# -- 11. an area budget over options whose area is not published --------------------

@pytest.mark.parametrize("system,space,field", [
    ("a100-gddr6aim-x4", {"area_budget": 100, "pim_channels": [8]}, "design_space.area_budget"),
    ("a100-hbmpim-x4" if "a100-hbmpim-x4" in catalog.SYSTEMS else "a100-40gb-hbmpim-x4",
     {"area_budget": 100, "pim_channels": [8], "pim_options": ["samsung-hbm-pim"]}, "design_space.pim_options[0]"),
    ("orin-lpddr5pim", {"area_budget": 10, "pim_channels": [8]}, "design_space.area_budget"),
], ids=["gddr6-aim", "hbm-pim", "lpddr5-pim"])
def test_an_area_budget_over_an_option_without_area_is_refused(system, space, field, tmp_path):
    path = _write(tmp_path, _tiny(system=system, design_space=space))
    option = catalog.SYSTEMS[system].pim_options[0].name
    _one_line(run_cli("validate", path), 2, [field, repr(option), "area is not published", "give its area",
                                             "drop the area budget"])


def test_an_area_budget_works_once_the_area_is_given():
    specpim.load_instance(_tiny(design_space={"area_budget": 30, "pim_channels": [4, 8]}))
    data = _tiny(system__pim_options__1__area=0, design_space={"area_budget": 30, "pim_channels": [4, 8]})
    with pytest.raises(InstanceError, match="'bufferdie' has area 0"):
        specpim.load_instance(data)
    data["design_space"].pop("area_budget")
    specpim.load_instance(data)   # without a budget an unknown area is harmless


# -- 12. physical maxima ----------------------------------------------------------

@pytest.mark.parametrize("field,value,bound", [
    ("system__link_bandwidth", 6.0e11, "100,000"),
    ("system__memory__channel_bandwidth", 4.19e10, "100,000"),
    ("system__memory__channel_capacity", 5e8, "10,000"),
    ("system__host__peak_flops", 2e13, "1,000,000"),
    ("system__pim_options__0__peak_flops", 6.7e11, "10,000,000"),
    ("system__pim_options__0__internal_bandwidth", 6.7e11, "1,000,000"),
    ("system__memory__energy_per_bit", 3.59e12 / 1e1, "1,000"),
    ("system__host__energy_per_flop", 3.4e5, "1,000"),
    ("system__host__static_power", 1e6, "10,000"),
], ids=lambda v: str(v).split("__")[-1] if isinstance(v, str) and "__" in v else None)
def test_values_beyond_physical_maxima_are_refused(field, value, bound, tmp_path):
    path = _write(tmp_path, _tiny(**{field: value}))
    _one_line(run_cli("validate", path), 2, [field.replace("__", ".").replace(".0.", "[0]."), f"≤ {bound}"])


def _numbers(node, path=""):
    if isinstance(node, dict):
        if node.get("type") in ("number", "integer") and "unit" in node:
            yield path, node
        for k, v in node.items():
            yield from _numbers(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers(v, f"{path}[{i}]")


def test_every_bounded_physical_field_says_its_bound_and_why():
    for path, s in _numbers(schema.INSTANCE):
        if "maximum" in s and s["maximum"] >= 100 and s.get("unit") not in ("µs", "W"):
            assert "at most" in s["description"], path
    for unit in ("GB/s", "GB", "TFLOP/s", "GFLOP/s", "pJ/b", "pJ/FLOP", "mm²", "ms"):
        assert any(s.get("unit") == unit and "maximum" in s for _, s in _numbers(schema.INSTANCE)), unit


def test_every_preset_is_within_the_schema_bounds():
    """Each hardware preset, written out as explicit fields, passes the schema."""
    from dataclasses import asdict

    for sys_name, system in catalog.SYSTEMS.items():
        host = {k: v for k, v in asdict(system.host).items() if k not in ("source",) and v is not None}
        host["elementwise_kernels"] = str(system.host.elementwise_kernels)
        memory = {k: v for k, v in asdict(system.memory).items() if k != "source" and v is not None}
        pims = [{**{k: v for k, v in asdict(p).items() if k != "source" and v is not None},
                 "softmax": str(p.softmax)} for p in system.pim_options]
        data = _tiny(system={"devices": system.devices, "host": host, "memory": memory, "pim_options": pims,
                             "link_bandwidth": system.link_bandwidth or 1.0, "link_latency": system.link_latency,
                             "link_energy_per_bit": system.link_energy_per_bit},
                     design_space={"pim_channels": [system.memory.channels]})
        specpim.load_instance(data)   # raises, naming the field, if a preset breaks a bound
        assert sys_name


# -- 13–15. valid YAML and JSON that used to be refused -------------------------------

def test_yaml_merge_keys(tmp_path):
    text = TINY_TEXT.replace("  pim_options:\n    - name: bank\n      granularity: bank\n",
                             "  pim_options:\n    - &bank\n      name: bank\n      granularity: bank\n")
    text = text.replace("    - name: bufferdie\n      granularity: buffer_die\n",
                        "    - <<: *bank\n      name: bufferdie\n      granularity: buffer_die\n")
    path = _write(tmp_path, text=text)
    assert run_cli("validate", path).code == 0
    inst = specpim.load_instance(path)
    assert inst.system.pim_option("bufferdie").granularity == "buffer_die"
    # an explicit key given twice is still an error, merged or not
    dup = text.replace("      name: bufferdie\n", "      name: bufferdie\n      name: other\n")
    _one_line(run_cli("validate", _write(tmp_path, text=dup)), 2, ["duplicate key 'name'"])


def test_tab_indented_json(tmp_path):
    path = _write(tmp_path, text=json.dumps(TINY, indent="\t"), name="instance.json")
    r = run_cli("validate", path)
    assert r.code == 0, r.err
    dup = '{\n\t"name": "a",\n\t"name": "b"\n}\n'
    _one_line(run_cli("validate", _write(tmp_path, text=dup, name="dup.json")), 2, ["duplicate key 'name'"])
    bad = '{\n\t"name": \n'   # neither YAML nor JSON: YAML's message
    _one_line(run_cli("validate", _write(tmp_path, text=bad, name="bad.json")), 2, ["YAML syntax error"])


def test_exponent_notation_without_a_dot_is_a_number(tmp_path, tiny_mapping):
    text = TINY_TEXT.replace("channel_capacity: 0.5", "channel_capacity: 5e-1") \
        .replace("energy_per_flop: 0.34", "energy_per_flop: 3.4E-1").replace("peak_flops: 20\n", "peak_flops: 2e1\n") \
        .replace("static_power: 0.03", "static_power: 3e-02").replace("internal_bandwidth: 670.4",
                                                                         "internal_bandwidth: 6.704e2")
    path = _write(tmp_path, text=text)
    inst = specpim.load_instance(path)
    assert inst.system.memory.channel_capacity == 0.5 and inst.system.host.peak_flops == 20.0
    assert inst.system.pim_options[0].internal_bandwidth == 670.4 and inst.system.memory.static_power == 0.03
    mapping = yaml.safe_load(tiny_mapping.read_text())
    mapping["objective"]["value"] = 1.5
    text = yaml.safe_dump(mapping).replace("value: 1.5", "value: 1.5e0")
    assert run_cli("evaluate", TINY_PATH, _write(tmp_path, text=text, name="mapping.yaml")).code == 0
    assert yaml.safe_load("x: 1e5")["x"] == "1e5"   # PyYAML's own loader is unchanged


# -- 16. control characters in messages ------------------------------------------------

def test_escape_controls():
    assert escape_controls("a\nb\tc\x1b[31md\x9b\u202e") == "a\\nb\\tc\\x1b[31md\\x9b\\u202e"
    assert escape_controls(escape_controls("x\ny")) == "x\\ny"


@pytest.mark.parametrize("key", ["ba\ntch", "\x1b[2J\x1b[31mred", "a\rb", "x\u2028y"],
                         ids=["newline", "escape-codes", "carriage-return", "line-separator"])
def test_keys_with_control_characters_give_one_escaped_line(key, tmp_path):
    data = copy.deepcopy(TINY)
    data["workload"][key] = 1
    path = _write(tmp_path, data)
    r = run_cli("validate", path)
    _one_line(r, 2, [str(path), "unknown key"])
    assert "\x1b" not in r.err and "\r" not in r.err and "\u2028" not in r.err
    with pytest.raises(InstanceError) as info:
        specpim.load_instance(data)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)
    assert r.err.strip() == f"specpim: {path}: {str(info.value)}"


def test_a_file_name_with_a_newline_gives_one_line(tmp_path):
    r = run_cli("validate", tmp_path / "a\nb.yaml")
    _one_line(r, 2, ["a\\nb.yaml", "file not found"])


# -- 17. no space left -------------------------------------------------------------------

@pytest.mark.parametrize("code,expect", [
    (errno.ENOSPC, "no space left in /some/dir (the disk is full)"),
    (errno.EDQUOT, "no space left in /some/dir (disk quota exceeded)"),
    (errno.EROFS, "cannot write in /some/dir: read-only file system"),
    (errno.EACCES, "cannot write in /some/dir: permission denied"),
    (errno.EIO, "cannot write in /some/dir: Input/output error"),
])
def test_os_error_message(code, expect):
    assert os_error_message(OSError(code, os.strerror(code)), "/some/dir").startswith(expect)


@pytest.mark.parametrize("stage", ["mkstemp", "replace"])
def test_a_full_disk_while_writing_results(stage, tmp_path, tiny_solution, monkeypatch):
    import specpim.core.files as files

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    (tmp_path / "mapping.json").write_text("old")
    if stage == "mkstemp":
        monkeypatch.setattr(files.tempfile, "mkstemp", full)
    else:
        monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(OutputError, match=f"no space left in {tmp_path}") as info:
        write_outputs(tiny_solution, tmp_path)
    assert info.value.exit_code == 6 and isinstance(info.value, OSError)
    assert [p.name for p in tmp_path.iterdir()] == ["mapping.json"]   # the old file, no temporary file
    assert (tmp_path / "mapping.json").read_text() == "old"


def test_cli_reports_a_full_disk_with_exit_6(tmp_path, monkeypatch, capsys):
    import specpim.core.files as files
    from specpim.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.tempfile, "mkstemp", full)
    assert main(["solve", str(TINY_PATH), "--no-baselines", "-o", str(tmp_path / "out")]) == 6
    err = capsys.readouterr().err
    assert err.strip() == f"specpim: cannot write the results: no space left in {tmp_path / 'out'} (the disk is " \
                          "full); free some space or write elsewhere"


# -- 18. oversized input -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["instance", "mapping", "config"])
def test_files_over_the_size_limit_are_refused_before_they_are_read(kind, tmp_path, tiny_mapping):
    big = "target: [" + "1, " * (MAX_INPUT_BYTES // 3 + 10) + "1]\n"
    t0 = time.perf_counter()
    if kind == "instance":
        r = run_cli("validate", _write(tmp_path, text=big))
    elif kind == "mapping":
        r = run_cli("evaluate", TINY_PATH, _write(tmp_path, text=big, name="mapping.json"))
    else:
        (tmp_path / "config.json").write_text('{"x": [' + "1, " * (MAX_INPUT_BYTES // 3 + 10) + "1]}")
        r = run_cli("validate", _write(tmp_path, _tiny(target={"hf_config": "config.json"})))
    assert time.perf_counter() - t0 < 20
    _one_line(r, 2, ["larger than 1 MiB"])


def test_documents_of_too_many_values_are_refused_while_read(tmp_path):
    path = _write(tmp_path, text="target: [" + "1," * 200_000 + "1]\n")   # under 1 MiB
    t0 = time.perf_counter()
    _one_line(run_cli("validate", path), 2, [str(path), "more than 100000 values"])
    assert time.perf_counter() - t0 < 20
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(   # 10⁶ values from 60 nodes
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcde", "bcdef", strict=True))
    _one_line(run_cli("validate", _write(tmp_path, text=bomb, name="bomb.yaml")), 2, ["more than 100000 values"])
