"""Every error class of docs/errors.md, through the CLI as a user runs it:
the exit code, one short message on stderr that names the file and the
field (or the operator, resource or solver), and never a traceback.  The
Python API raises InstanceError with the same text."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import specpim
from helpers import INSTANCES
from helpers.cli import fake_cbc, run_cli
from specpim.core.errors import InstanceError

TINY_TEXT = (INSTANCES / "tiny.yaml").read_text()
TINY = yaml.safe_load(TINY_TEXT)
DELETE = object()


def _apply(data: Any, changes: dict[str, Any]) -> Any:
    """Set dotted paths (list indices as numbers); DELETE removes a key."""
    data = copy.deepcopy(data)
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is DELETE:
            del node[leaf]
        elif isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return data


@dataclass
class Case:
    """One row: an instance (changes to tiny.yaml, or raw text), extra files
    beside it, the command, and what the user must see."""

    id: str
    expect: list[str]
    changes: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    commands: tuple[str, ...] = ("solve", "evaluate", "validate")
    args: tuple[str, ...] = ()
    code: int = 2

    def write(self, folder: Path) -> Path:
        for name, content in self.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(content)
        path = folder / "instance.yaml"
        path.write_text(self.text if self.text is not None else yaml.safe_dump(_apply(TINY, self.changes)))
        return path


_GARBAGE_MODEL = """
import dataclasses
import numpy as np
from specpim.costs.roofline import RooflineCostModel

class Model(RooflineCostModel):
    def host(self, work, system, host_channels):
        c = super().host(work, system, host_channels)
        return dataclasses.replace(c, time=c.time[:-1])          # one operator short

class Raising(RooflineCostModel):
    def pim(self, work, system, option, channels, host_channels):
        raise ZeroDivisionError("channels ran out")

class NaN(RooflineCostModel):
    def host(self, work, system, host_channels):
        c = super().host(work, system, host_channels)
        return dataclasses.replace(c, time=c.time * np.nan)
"""

INSTANCE_CASES = [
    # malformed values: the field path, what was expected (with its unit) and what was found
    Case("wrong-type", ["system.memory.channel_bandwidth", "GB/s", "'fast'"],
         {"system.memory.channel_bandwidth": "fast"}),
    Case("zero-bandwidth", ["system.memory.channel_bandwidth", "> 0", "GB/s", "found 0"],
         {"system.memory.channel_bandwidth": 0}),
    Case("negative-bandwidth", ["system.pim_options[0].internal_bandwidth", "GB/s", "found -5"],
         {"system.pim_options.0.internal_bandwidth": -5}),
    Case("zero-channels", ["system.memory.channels_per_stack", "≥ 1", "found 0"],
         {"system.memory.channels_per_stack": 0}),
    Case("negative-layers", ["target.layers", "≥ 1", "found -2"], {"target.layers": -2}),
    Case("zero-layers", ["draft.layers", "found 0"], {"draft.layers": 0}),
    Case("acceptance-above-one", ["speculation.acceptance", "[0, 1]", "found 1.5"],
         {"speculation.acceptance": 1.5}),
    Case("acceptance-negative", ["speculation.acceptance[1]", "found -0.1"],
         {"speculation.acceptance": [0.9, -0.1, 0.5, 0.5]}),
    Case("heads-do-not-divide-hidden", ["target.heads", "heads (12) must divide hidden (1024)"],
         {"target.heads": 12}),
    Case("kv-heads-do-not-divide-heads", ["target.kv_heads", "kv_heads (3) must divide heads (16)"],
         {"target.kv_heads": 3}),
    Case("nan", ["system.memory.channel_capacity", "GB", "nan", "not a finite number"],
         text=TINY_TEXT.replace("channel_capacity: 0.5", "channel_capacity: .nan")),
    Case("inf", ["system.host.peak_flops", "TFLOP/s", "inf"], {"system.host.peak_flops": float("inf")}),
    Case("bool-for-integer", ["workload.batch", "requests", "found True"], {"workload.batch": True}),
    Case("fraction-for-integer", ["workload.gen_len", "tokens", "found 12.5"], {"workload.gen_len": 12.5}),
    Case("absurd-magnitude", ["target.vocab", "tokens", "outside the range"], {"target.vocab": 10 ** 15}),
    Case("empty-list", ["speculation.draft_len", "non-empty list", "found an empty list"],
         {"speculation.draft_len": []}),
    Case("missing-field", ["workload.batch", "missing required field", "requests"],
         {"workload.batch": DELETE}),
    # typos and syntax
    Case("typo", ["workload.bacth", "did you mean 'batch'"], {"workload.bacth": 8}),
    Case("typo-top-level", ["targte", "did you mean 'target'"], {"targte": "llama2-7b"}),
    Case("typo-of-a-required-key", ["workload.bacth", "did you mean 'batch'"],
         {"workload.bacth": 8, "workload.batch": DELETE}),
    Case("yaml-syntax", ["YAML syntax error", "line 4, column 10"],
         text="name: x\nworkload:\n  batch: [8\n  gen_len: 3\n"),
    Case("duplicate-key", ["duplicate key 'batch'", "line 22, column 3", "first given on line 21"],
         text=TINY_TEXT.replace("  batch: 8\n", "  batch: 8\n  batch: 16\n")),
    Case("not-a-mapping", ["an instance must be a mapping", "found a list"], text="- 1\n- 2\n"),
    Case("empty-file", ["an instance must be a mapping", "found None"], text=""),
    # missing references: say which one and list what exists
    Case("unknown-model-preset", ["target", "unknown model preset 'llama2-7'", "did you mean 'llama2-7b'",
                                  "known:", "opt-125m"], {"target": "llama2-7"}),
    Case("unknown-system-preset", ["system", "unknown system preset", "known:", "a100-hbm3pim-x4"],
         {"system": "a100-hbm3pim-x5"}),
    Case("unknown-pim-option", ["design_space.pim_options[1]", "did you mean 'bufferdie'", "known: bank"],
         {"design_space.pim_options": ["bank", "bufferdei"]}),
    Case("missing-hf-config", ["target.hf_config", "not found", "nope.json", "llama.json"],
         {"target": {"hf_config": "configs/nope.json"}},
         files={"configs/llama.json": "{}"}),
    Case("hf-config-missing-fields", ["target.hf_config", "num_hidden_layers", "keys present",
                                      "hidden_size, model_type"],
         {"target": {"hf_config": "cfg.json"}}, files={"cfg.json": json.dumps({"hidden_size": 64,
                                                                                "model_type": "llama"})}),
    # values that make no sense together
    Case("latency-bound-needs-energy", ["objective.latency_bound", "energy objective only"],
         {"objective": {"metric": "latency", "latency_bound": 5}}),
    Case("nothing-to-choose", ["design_space.include_no_pim", "nothing to choose from"],
         {"design_space.pim_options": [], "design_space.include_no_pim": False}),
    Case("more-pim-channels-than-memory", ["design_space.pim_channels", "16 PIM channels", "8 channels"],
         {"design_space.pim_channels": [16]}),
    Case("channel-step", ["design_space.channel_step", "multiple of channel_step 3"],
         {"design_space.channel_step": 3}),
    # cost models named by the file run code: only with --allow-imports
    Case("cost-model-needs-permission", ["cost_model", "mycost:Model", "--allow-imports"],
         {"cost_model": "mycost:Model"}, files={"mycost.py": _GARBAGE_MODEL}, commands=("solve", "evaluate")),
    Case("cost-model-missing-module", ["cost_model", "cannot import module 'nosuch'"],
         {"cost_model": "nosuch:Model"}, commands=("solve", "evaluate"), args=("--allow-imports",)),
    Case("cost-model-missing-class", ["cost_model", "has no attribute 'Nope'"],
         {"cost_model": "mycost:Nope"}, files={"mycost.py": _GARBAGE_MODEL},
         commands=("solve", "evaluate"), args=("--allow-imports",)),
    Case("cost-model-wrong-shape", ["cost_model", "mycost:Model.host", "shape"],
         {"cost_model": "mycost:Model"}, files={"mycost.py": _GARBAGE_MODEL},
         commands=("solve", "evaluate"), args=("--allow-imports",)),
    Case("cost-model-raises", ["cost_model", "mycost:Raising.pim", "ZeroDivisionError"],
         {"cost_model": "mycost:Raising"}, files={"mycost.py": _GARBAGE_MODEL},
         commands=("solve", "evaluate"), args=("--allow-imports",)),
    Case("cost-model-nan", ["cost_model", "mycost:NaN.host", "non-finite time"],
         {"cost_model": "mycost:NaN"}, files={"mycost.py": _GARBAGE_MODEL},
         commands=("solve", "evaluate"), args=("--allow-imports",)),
]


@pytest.fixture(scope="module")
def tiny_mapping(tmp_path_factory) -> Path:
    """mapping.json of the tiny instance's optimum, written by solve -o."""
    out = tmp_path_factory.mktemp("tiny-result")
    r = run_cli("solve", INSTANCES / "tiny.yaml", "--no-baselines", "-o", out)
    assert r.code == 0, r.err
    return out / "mapping.json"


def _assert_reported(r, code: int, expect: list[str]) -> None:
    assert r.code == code, (r.code, r.err)
    assert "Traceback" not in r.err and "Traceback" not in r.out
    message = r.err.strip()
    assert message.startswith("specpim: "), message
    for fragment in expect:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in INSTANCE_CASES])
def test_bad_instance_exits_2_naming_the_field(case: Case, tmp_path, tiny_mapping):
    path = case.write(tmp_path)
    commands = [[command, path] + ([tiny_mapping] if command == "evaluate" else []) + list(case.args)
                for command in case.commands]
    with ThreadPoolExecutor(len(commands)) as pool:   # independent processes: run them side by side
        runs = list(pool.map(lambda args: run_cli(*args, cwd=tmp_path), commands))
    for r in runs:
        _assert_reported(r, case.code, case.expect + [str(path)])
        assert len(r.err.strip().splitlines()) == 1, r.err   # one short message


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in INSTANCE_CASES
                                  if c.commands == ("solve", "evaluate", "validate")])
def test_api_raises_instance_error_with_the_same_text(case: Case, tmp_path):
    path = case.write(tmp_path)
    with pytest.raises(InstanceError) as info:
        specpim.solve(path, baselines=False)
    cli = run_cli("validate", path, cwd=tmp_path)
    assert isinstance(info.value, ValueError)
    assert cli.err.strip() == f"specpim: {info.value}"


def test_instance_file_not_found(tmp_path):
    for command in ("solve", "validate"):
        _assert_reported(run_cli(command, tmp_path / "missing.yaml"), 2, ["missing.yaml", "file not found"])


# -- command-line options and the output folder ------------------------------

@pytest.mark.parametrize("limit", ["0", "-3", "nan", "inf"])
def test_bad_time_limit(limit):
    r = run_cli("solve", INSTANCES / "tiny.yaml", f"--time-limit={limit}")
    _assert_reported(r, 2, ["--time-limit", "seconds"])


def test_output_folder_is_a_file(tmp_path):
    (tmp_path / "out").write_text("not a folder")
    r = run_cli("solve", INSTANCES / "tiny.yaml", "-o", tmp_path / "out")
    _assert_reported(r, 2, [str(tmp_path / "out"), "not a folder"])
    r = run_cli("solve", INSTANCES / "tiny.yaml", "-o", tmp_path / "out" / "sub")
    _assert_reported(r, 2, ["is a file"])
    assert r.out == ""   # refused before solving


def test_existing_results_need_force(tmp_path):
    (tmp_path / "mapping.json").write_text("old results")
    r = run_cli("solve", INSTANCES / "tiny.yaml", "-o", tmp_path)
    _assert_reported(r, 2, [str(tmp_path), "mapping.json", "--force"])
    assert r.out == ""   # refused before solving
    assert (tmp_path / "mapping.json").read_text() == "old results"


# -- mappings that do not fit the instance -----------------------------------

def _mapping_case(tiny_mapping: Path, edit: Callable[[dict], None]) -> dict:
    data = json.loads(tiny_mapping.read_text())
    edit(data)
    return data


def _all_verify_on_pim(d: dict) -> None:
    d["architecture"].update(pim_option="bank", pim_channels=8, draft_channels=6, target_channels=2)
    for pl in d["phases"]["verify"].values():
        pl.update(engine="pim", channels=2, first_channel=6)
    for pl in d["phases"]["draft"].values():
        pl.update(engine="host", channels=0, first_channel=None)


MAPPING_CASES = [
    ("unknown-operator", lambda d: d["phases"]["verify"].update(qkv={"engine": "host", "channels": 0, "tier": 0}),
     ["phases.verify.qkv", "unknown operator 'qkv'", "'ffn_down'"]),
    ("channel-count", lambda d: d["phases"]["draft"]["q"].update(engine="pim", channels=3),
     ["phases.draft.q.channels", "operator 'q' uses 3 channels", "[2, 4, 6, 8]"]),
    ("more-channels-than-the-phase", lambda d: d["phases"]["verify"]["q"].update(engine="pim", channels=2),
     ["phases.verify.q.channels", "operator 'q'", "architecture.target_channels"]),
    ("tier-breaks-the-dag", lambda d: d["phases"]["verify"]["ffn_down"].update(tier=0),
     ["phases.verify.ffn_down.tier", "depends on 'ffn_up'", "later tier"]),
    ("engine", lambda d: d["phases"]["verify"]["o"].update(engine="gpu"),
     ["phases.verify.o.engine", "one of 'host', 'pim'", "'gpu'"]),
    ("typo", lambda d: d["architecture"].update(draft_lenght=2),
     ["architecture.draft_lenght", "did you mean 'draft_len'"]),
    ("draft-length", lambda d: d["architecture"].update(draft_len=9),
     ["architecture.draft_len", "9", "[1, 2, 3, 4]"]),
    ("split", lambda d: d["architecture"].update(draft_channels=2, target_channels=2),
     ["architecture.target_channels", "must equal the 8 PIM channels"]),
]


@pytest.mark.parametrize("name,edit,expect", MAPPING_CASES, ids=[c[0] for c in MAPPING_CASES])
def test_bad_mapping_exits_2_naming_the_operator_and_rule(name, edit, expect, tmp_path, tiny_mapping):
    bad = tmp_path / "mapping.json"
    bad.write_text(json.dumps(_mapping_case(tiny_mapping, edit)))
    r = run_cli("evaluate", INSTANCES / "tiny.yaml", bad)
    _assert_reported(r, 2, expect + [str(bad)])
    with pytest.raises(InstanceError):
        specpim.evaluate(INSTANCES / "tiny.yaml", json.loads(bad.read_text()))


def test_mapping_over_pim_capacity(tmp_path, tiny_mapping):
    inst = tmp_path / "small-channels.yaml"
    inst.write_text(yaml.safe_dump(_apply(TINY, {"system.memory.channel_capacity": 0.03})))
    bad = tmp_path / "mapping.json"
    bad.write_text(json.dumps(_mapping_case(tiny_mapping, _all_verify_on_pim)))
    r = run_cli("evaluate", inst, bad)
    _assert_reported(r, 2, ["phases", "channel 6 is over capacity", "verify.ffn_down", "0.03 GB"])


@pytest.mark.parametrize("text,expect", [
    ("{architecture: [", ["YAML syntax error", "line 1"]),
    ("[1, 2]", ["expected an object"]),
])
def test_unreadable_mapping_file(text, expect, tmp_path):
    bad = tmp_path / "mapping.json"
    bad.write_text(text)
    _assert_reported(run_cli("evaluate", INSTANCES / "tiny.yaml", bad), 2, expect + [str(bad)])
    _assert_reported(run_cli("evaluate", INSTANCES / "tiny.yaml", tmp_path / "none.json"), 2,
                     ["none.json", "file not found"])


# -- infeasible instances: exit 3, the binding resource with numbers --------

INFEASIBLE_CASES = [
    ("memory", {"system.memory.channel_capacity": 0.001},
     ["memory capacity", "need 0.17 GB per device", "a device has 0.01 GB", "8 channels × 0.001 GB"]),
    ("area", {"design_space.area_budget": 1.0, "design_space.include_no_pim": False},
     ["area budget", "bufferdie on 4 channels", "1.28 mm²", "budget is 1 mm²"]),
    ("latency-bound", {"objective": {"metric": "energy", "latency_bound": 0.001}},
     ["latency bound", "at least 0.5612 ms per token", "the bound is 0.001 ms"]),
]


@pytest.mark.parametrize("name,changes,expect", INFEASIBLE_CASES, ids=[c[0] for c in INFEASIBLE_CASES])
def test_infeasible_exits_3_naming_the_binding_resource(name, changes, expect, tmp_path):
    path = tmp_path / "instance.yaml"
    path.write_text(yaml.safe_dump(_apply(TINY, changes)))
    r = run_cli("solve", path)
    _assert_reported(r, 3, [str(path), "infeasible"] + expect)
    sol = specpim.solve(path, baselines=False)
    assert sol.status == "infeasible" and sol.mapping is None
    assert all(fragment in sol.diagnosis for fragment in expect)
    as_json = json.loads(run_cli("solve", path, "--json").out)
    assert as_json["status"] == "infeasible" and as_json["diagnosis"] == sol.diagnosis


def test_solver_alone_proving_infeasibility_says_so(monkeypatch):
    """When the checks made before solving all pass, the diagnosis says the
    solver alone proved infeasibility and lists the checks that held.  The
    latency pre-check is switched off here, standing in for a combination of
    constraints that no single check sees."""
    import specpim.api

    monkeypatch.setattr(specpim.api, "precheck_latency", lambda inst, tables: None)
    inst = specpim.load_instance(_apply(TINY, {"objective": {"metric": "energy", "latency_bound": 0.001}}))
    sol = specpim.solve(inst, baselines=False)
    assert sol.status == "infeasible"
    assert sol.diagnosis.startswith("the solver alone proved")
    assert "memory capacity: the models need 0.17 GB" in sol.diagnosis
    assert "latency bound" not in sol.diagnosis   # that check fails, so it is not listed as holding


# -- limits and solver trouble: exits 4 and 5 --------------------------------

def test_no_solution_within_the_time_limit_exits_4(tmp_path):
    cbc = fake_cbc(tmp_path, "nosolution")
    r = run_cli("solve", INSTANCES / "tiny.yaml", "--time-limit", "30", "-o", tmp_path / "out",
                env={"SPECPIM_CBC": str(cbc)})
    _assert_reported(r, 4, ["no solution found within the time limit of 30 s", "--time-limit"])
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("mode,expect", [
    ("crash", ["CBC solver failed", "did not run to completion", "internal error, giving up",
               "pip install --force-reinstall cbcbox"]),
    ("segfault", ["CBC solver failed", "did not run to completion", "pip install"]),
    ("garbage", ["CBC solver failed", "could not be read", "pip install"]),
])
def test_solver_crash_exits_5(mode, expect, tmp_path):
    cbc = fake_cbc(tmp_path, mode)
    r = run_cli("solve", INSTANCES / "tiny.yaml", env={"SPECPIM_CBC": str(cbc)})
    _assert_reported(r, 5, expect)


@pytest.mark.parametrize("kind", ["not-executable", "missing", "folder"])
def test_solver_binary_missing_exits_5(kind, tmp_path):
    target = {"not-executable": tmp_path / "cbc", "missing": tmp_path / "nope", "folder": tmp_path}[kind]
    if kind == "not-executable":
        target.write_text("#!/bin/sh\n")
    r = run_cli("solve", INSTANCES / "tiny.yaml", env={"SPECPIM_CBC": str(target)})
    _assert_reported(r, 5, ["CBC solver", f"SPECPIM_CBC='{target}'", "not an executable", "pip install cbcbox"])


# -- the Python API: InstanceError for any bad argument ----------------------

class _NoMethods:
    pass


class _Garbage:
    def host(self, work, system, host_channels):
        return "fast", "cheap"

    def pim(self, work, system, option, channels, host_channels):
        return None

    def fixed(self, work, system, host_channels):
        return (0.0, 0.0)


@pytest.mark.parametrize("call,field_name", [
    (lambda: specpim.solve(INSTANCES / "tiny.yaml", time_limit=0), "time_limit"),
    (lambda: specpim.solve(INSTANCES / "tiny.yaml", time_limit=float("nan")), "time_limit"),
    (lambda: specpim.solve(INSTANCES / "tiny.yaml", time_limit="10"), "time_limit"),
    (lambda: specpim.solve(INSTANCES / "tiny.yaml", solver="gurobi"), "solver"),
    (lambda: specpim.solve(INSTANCES / "tiny.yaml", solver=["cbc"]), "solver"),
    (lambda: specpim.solve(INSTANCES / "tiny.yaml", threads=4), "solver"),
    (lambda: specpim.solve(INSTANCES / "tiny.yaml", cost_model=_NoMethods()), "cost_model"),
    (lambda: specpim.solve(INSTANCES / "tiny.yaml", cost_model=_Garbage()), "cost_model"),
    (lambda: specpim.load_instance(42), "instance"),
    (lambda: specpim.load_instance(["target"]), "instance"),
    (lambda: specpim.evaluate(INSTANCES / "tiny.yaml", ["not", "a", "mapping"]), None),
    (lambda: specpim.evaluate(INSTANCES / "tiny.yaml", {"architecture": {}, "phases": {}}),
     "architecture.pim_channels"),
], ids=["limit-zero", "limit-nan", "limit-text", "unknown-solver", "solver-list", "unknown-option",
        "cost-model-without-methods", "cost-model-garbage", "instance-int", "instance-list",
        "mapping-list", "mapping-empty"])
def test_api_bad_arguments_raise_instance_error(call, field_name):
    with pytest.raises(InstanceError) as info:
        call()
    if field_name:
        assert info.value.field == field_name, str(info.value)
