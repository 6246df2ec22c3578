"""The readable terminal summary of a solve."""

from __future__ import annotations

from collections.abc import Sequence

from .api import Solution
from .evaluation.evaluator import Metrics
from .problem.mapping import Architecture


def _ms(s: float) -> str:
    return f"{s * 1e3:.3f} ms"


def _table(rows: Sequence[Sequence[object]], header: list[str], right: frozenset[int] = frozenset()) -> list[str]:
    widths = [max(len(str(r[i])) for r in [*rows, header]) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                              for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
    return ["  " + fmt(header), "  " + "  ".join("-" * w for w in widths)] + ["  " + fmt(r) for r in rows]


def design_text(a: Architecture | None, partitioned: bool) -> str:
    """One architecture in a few words: PIM option × channels (the draft/target split), γ."""
    if a is None:
        return "-"
    spec = "autoregressive" if a.draft_len == 0 else f"γ = {a.draft_len}"
    if a.pim_option is None:
        return f"no PIM, {spec}"
    split = f"draft {a.draft_channels}, target {a.target_channels}" if partitioned else "shared"
    return f"{a.pim_option} × {a.pim_channels} ch ({split}), {spec}"


def metrics_lines(m: Metrics) -> list[str]:
    lines = []
    for p, pm in m.phases.items():
        layers = pm.step_time - pm.head_time - pm.collective_time
        lines.append(f"  {p:<7} {pm.steps} × {_ms(pm.step_time)}  (layers {_ms(layers)}, "
                     f"LM head {_ms(pm.head_time)}, collectives {_ms(pm.collective_time)})")
    lines.append(f"  iteration {_ms(m.iteration_time)}, E[tokens] {m.expected_tokens:.3f}")
    lines.append(f"  latency {_ms(m.latency_per_token)}/token · throughput {m.throughput:,.1f} tokens/s · "
                 f"energy {m.energy_per_token * 1e3:.3f} mJ/token")
    return lines


def summary(sol: Solution) -> str:
    inst = sol.instance
    sysm = inst.system
    out = [f"specpim · {inst.name} · solver {sol.solver}: {sol.status}"
           + (f", gap {sol.gap:.2%}" if sol.gap not in (None, 0.0) else "")]
    draft = f" · draft {inst.draft.name}" if inst.draft else " · autoregressive"
    out.append(f"target {inst.target.name}{draft} · {sysm.devices} × {sysm.host.name} + "
               f"{sysm.memory.channels} channels ({sysm.memory.name}) · batch {inst.workload.batch} · "
               f"prompt {inst.workload.prompt_len} + gen {inst.workload.gen_len}")
    if sol.diagnosis:
        out.append(f"diagnosis: {sol.diagnosis}")
    if sol.mapping is None or sol.metrics is None:
        return "\n".join(out)
    a, m = sol.mapping.architecture, sol.metrics
    out.append("")
    out.append("Architecture (per device)")
    if a.pim_option is None:
        out.append("  PIM            none")
    else:
        o = sysm.pim_option(a.pim_option)
        out.append(f"  PIM option     {o.name} ({o.granularity}: {o.internal_bandwidth:g} GB/s, "
                   f"{o.peak_flops:g} GFLOP/s per channel)")
        out.append(f"  PIM channels   {a.pim_channels} of {sysm.memory.channels} "
                   f"(draft {a.draft_channels}, target {a.target_channels}) · area {m.area:g} mm²")
    if inst.speculative:
        out.append(f"  draft length   γ = {a.draft_len}")
    for p, pm in m.phases.items():
        out.append("")
        out.append(f"Placement: {p} phase ({pm.steps} step{'s' if pm.steps > 1 else ''} per iteration)")
        rows = [[("-" if o.tier is None else o.tier), o.name, o.engine, (o.channels or "-"),
                 f"{o.time * 1e6:.2f}", f"{o.intensity:.1f}"] for o in pm.operators]
        out += _table(rows, ["tier", "operator", "engine", "channels", "time µs", "FLOP/B"], frozenset({3, 4, 5}))
    out.append("")
    out.append("Latency breakdown")
    out += metrics_lines(m)
    if sol.baselines:
        out.append("")
        out.append("Baselines (same cost model)")
        rows = []
        for name, b in sol.baselines.items():
            sp = sol.speedups()[name]
            arch = design_text(b.mapping.architecture if b.mapping else None, inst.design_space.partitioned)
            if b.metrics is None:
                rows.append([name, b.description, "infeasible", "-", "-", arch])
                continue
            rows.append([name, b.description, _ms(b.metrics.latency_per_token),
                         f"{sp['speedup']:.2f}×", f"{sp['energy_gain']:.2f}×", arch])
        out += _table(rows, ["baseline", "design", "latency/token", "speedup", "energy gain", "architecture"],
                      frozenset({2, 3, 4}))
    if sol.alternatives:
        out.append("")
        out.append(f"The {len(sol.alternatives)} best architectures (each proven optimal for its architecture)")
        rows = [[a.rank, design_text(a.design, inst.design_space.partitioned), _ms(a.metrics.latency_per_token),
                 f"{a.metrics.energy_per_token * 1e3:.3f} mJ", f"{a.metrics.area:g} mm²",
                 "optimum" if a.rank == 1 else f"+{a.gap:.3%}"] for a in sol.alternatives]
        out += _table(rows, ["rank", "architecture", "latency/token", "energy/token", "area", "vs optimum"],
                      frozenset({0, 2, 3, 4, 5}))
    st = sol.stats
    extra = f" · {st['solved']} of {st['blocks']} blocks solved, {st['pruned']} pruned by bound" \
        if "solved" in st else ""
    if st.get("alternative_milps"):
        extra += f"; {st['alternative_milps']} more MILPs for the alternatives"
    out.append("")
    out.append(f"build {sol.build_s:.3f} s · solve {sol.solve_s:.3f} s{extra}")
    return "\n".join(out)


def pareto_lines(front) -> list[str]:
    """The terminal table of a Pareto front (specpim.pareto.ParetoFront)."""
    inst = front.instance
    state = "complete" if front.complete else "stopped by the time limit"
    out = [f"specpim · {inst.name} · Pareto front over {', '.join(front.objectives)}: {len(front.points)} points "
           f"({state}; {front.solves} solves, each proven)"]
    rows = [[i, design_text(p.mapping.architecture, inst.design_space.partitioned), _ms(p.latency),
             f"{p.energy * 1e3:.3f} mJ", f"{p.area:g} mm²", f"{p.metrics.throughput:,.1f}"]
            for i, p in enumerate(front.points)]
    if rows:
        out += _table(rows, ["point", "architecture", "latency/token", "energy/token", "area", "tokens/s"],
                      frozenset({0, 2, 3, 4, 5}))
    return out
