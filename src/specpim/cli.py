"""Command line: ``specpim solve | evaluate | validate | presets``.

Exit codes (docs/errors.md): 0 solved (optimal, or feasible when a time
limit stopped the solver; stderr then gives the gap), 2 bad input
(instance, mapping, options, output folder), 3 infeasible, 4 no solution
found in the time limit, 5 solver trouble, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

from . import __version__
from .core.enums import Metric, Status
from .core.errors import InstanceError, SpecpimError

EXIT_OK, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION, EXIT_INTERRUPTED = 0, 2, 3, 4, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors are input errors: exit 2, no traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"specpim: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="specpim", description="Provably optimal PIM co-design for LLM speculative inference.")
    p.add_argument("--version", action="version", version=f"specpim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("solve", help="find the optimal architecture and dataflow")
    s.add_argument("instance", help="instance YAML file")
    s.add_argument("--solver", default="cbc", choices=["cbc", "exhaustive"])
    s.add_argument("--time-limit", type=float, default=None, metavar="S", help="seconds for the solver")
    s.add_argument("-o", "--outdir", default=None, help="write mapping.json/.yaml, operators.csv, model.lp here")
    s.add_argument("--force", action="store_true", help="overwrite existing output files")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    s.add_argument("--no-baselines", action="store_true", help="skip the baseline comparison")
    s.add_argument("--allow-imports", action="store_true",
                   help="allow importing the cost model the instance names (runs its code)")

    e = sub.add_parser("evaluate", help="recompute all metrics of a mapping, without a solver")
    e.add_argument("instance")
    e.add_argument("mapping", help="mapping.json (as written by solve -o)")
    e.add_argument("--json", action="store_true")
    e.add_argument("--allow-imports", action="store_true")

    v = sub.add_parser("validate", help="check an instance file")
    v.add_argument("instance")

    c = sub.add_parser("presets", help="list the model and hardware presets")
    c.add_argument("name", nargs="?", help="show one preset in full")
    c.add_argument("--json", action="store_true")
    return p


def _cmd_solve(args) -> int:
    from .api import solve
    from .export import check_outputs, write_outputs
    from .problem.loader import load_instance
    from .report import summary

    limit = args.time_limit
    if limit is not None and not 0 < limit < math.inf:
        raise InstanceError(f"expected a finite number > 0 (seconds), found {limit}", field="--time-limit")
    inst = load_instance(args.instance)
    if args.outdir:
        check_outputs(args.outdir, args.force)
    sol = solve(inst, solver=args.solver, time_limit=limit, allow_imports=args.allow_imports,
                baselines=not args.no_baselines)
    if args.outdir and sol.mapping is not None:
        write_outputs(sol, args.outdir)
    print(json.dumps(sol.to_dict(), indent=2) if args.json else summary(sol))
    if sol.status == Status.INFEASIBLE:
        _note(f"{args.instance}: infeasible: {sol.diagnosis}")
        return EXIT_INFEASIBLE
    if sol.mapping is None:
        within = f" within the time limit of {limit:g} s" if limit is not None else ""
        bound = ""
        if sol.bound is not None:
            unit = sol.to_dict(timings=False)["objective"]["unit"]
            better = "more than" if inst.objective.metric == Metric.THROUGHPUT else "less than"
            bound = f"; it proved that no design achieves {better} {sol.bound:.6g} {unit}"
        _note(f"{args.instance}: no solution found{within}{bound}; allow more time with --time-limit")
        return EXIT_NO_SOLUTION
    if sol.status != Status.OPTIMAL:
        gap = f"{sol.gap:.2%}" if sol.gap is not None else "unknown"
        _note(f"{args.instance}: the time limit stopped the solver: the design is feasible, not proven "
              f"optimal (optimality gap {gap})")
    return EXIT_OK


def _cmd_evaluate(args) -> int:
    from .api import evaluate
    from .problem.loader import load_instance
    from .report import metrics_lines

    inst = load_instance(args.instance)
    metrics = evaluate(inst, args.mapping, allow_imports=args.allow_imports)
    if args.json:
        print(json.dumps(metrics.to_dict(), indent=2))
    else:
        print(f"specpim · {inst.name} · {args.mapping}")
        print("\n".join(metrics_lines(metrics)))
        print(f"  objective ({metrics.metric}): {metrics.objective:.6g}")
    if not metrics.latency_bound_met and inst.objective.latency_bound is not None:
        _note(f"{args.mapping}: the mapping misses the instance's latency bound "
              f"({metrics.latency_per_token * 1e3:.4g} ms per token > "
              f"{inst.objective.latency_bound * 1e3:.4g} ms)")
    return EXIT_OK


def _cmd_validate(args) -> int:
    from .problem.loader import load_instance
    from .solvers.diagnose import precheck

    inst = load_instance(args.instance)
    ds = inst.design_space
    print(f"{args.instance}: valid · target {inst.target.name}"
          + (f", draft {inst.draft.name}, γ ∈ {list(inst.draft_lens)}" if inst.draft else ", autoregressive")
          + f" · {len(ds.pim_options)} PIM options × {len(ds.pim_channels)} channel counts")
    diagnosis = precheck(inst)
    if diagnosis:
        _note(f"{args.instance}: note: solving will find it infeasible: {diagnosis}")
    return EXIT_OK


def _cmd_presets(args) -> int:
    from .presets import describe, listing

    if args.name:
        print(describe(args.name, as_json=args.json))
    else:
        print(listing(as_json=args.json))
    return EXIT_OK


def _note(message: str) -> None:
    print(f"specpim: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code.  Errors a user can cause are
    printed as one line on stderr, never as a traceback."""
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="pulp")
    args = _parser().parse_args(argv)
    handler = {"solve": _cmd_solve, "evaluate": _cmd_evaluate, "validate": _cmd_validate,
               "presets": _cmd_presets}[args.command]
    try:
        code = handler(args)
        sys.stdout.flush()
        return code
    except SpecpimError as exc:
        _note(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _note("interrupted; no output file was written partially")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
