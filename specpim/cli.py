"""Command line: ``specpim solve | evaluate | validate | presets``.

Exit codes: 0 solved (optimal, or feasible within a time limit), 2 bad input
(instance, mapping or options), 3 infeasible, 4 no solution found in the
time limit, 5 solver trouble.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from . import __version__
from .errors import InstanceError, SpecpimError

EXIT_OK, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION = 0, 2, 3, 4


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
    from .loader import load_instance
    from .report import summary

    if args.time_limit is not None and args.time_limit <= 0:
        raise InstanceError(f"expected a number > 0 (seconds), found {args.time_limit}", field="--time-limit")
    inst = load_instance(args.instance)
    if args.outdir:
        check_outputs(args.outdir, args.force)
    sol = solve(inst, solver=args.solver, time_limit=args.time_limit, allow_imports=args.allow_imports,
                baselines=not args.no_baselines)
    if args.outdir and sol.mapping is not None:
        write_outputs(sol, args.outdir)
    if args.json:
        print(json.dumps(sol.to_dict(), indent=2))
    else:
        print(summary(sol))
    if sol.status == "infeasible":
        if not args.json:
            print(f"specpim: {args.instance}: infeasible: {sol.diagnosis or 'the solver proved no design fits'}",
                  file=sys.stderr)
        return EXIT_INFEASIBLE
    if sol.mapping is None:
        print(f"specpim: {args.instance}: no solution found within the time limit", file=sys.stderr)
        return EXIT_NO_SOLUTION
    return EXIT_OK


def _cmd_evaluate(args) -> int:
    from .api import evaluate
    from .loader import load_instance, read_yaml
    from .mapping import Mapping
    from .report import metrics_lines

    inst = load_instance(args.instance)
    data = read_yaml(Path(args.mapping))  # JSON is YAML
    mapping = Mapping.from_dict(data, file=args.mapping)
    from .costmodels import resolve_cost_model
    from .evaluate import evaluate as _evaluate

    metrics = _evaluate(inst, mapping, resolve_cost_model(inst, allow_imports=args.allow_imports), file=args.mapping)
    _ = evaluate
    if args.json:
        print(json.dumps(metrics.to_dict(), indent=2))
    else:
        print(f"specpim · {inst.name} · {args.mapping}")
        print("\n".join(metrics_lines(metrics)))
        print(f"  objective ({metrics.metric}): {metrics.objective:.6g}")
    return EXIT_OK


def _cmd_validate(args) -> int:
    from .loader import load_instance

    inst = load_instance(args.instance)
    ds = inst.design_space
    print(f"{args.instance}: valid · target {inst.target.name}"
          + (f", draft {inst.draft.name}, γ ∈ {list(inst.draft_lens)}" if inst.draft else ", autoregressive")
          + f" · {len(ds.pim_options)} PIM options × {len(ds.pim_channels)} channel counts")
    return EXIT_OK


def _cmd_presets(args) -> int:
    from .presets import describe, listing

    if args.name:
        print(describe(args.name, as_json=args.json))
    else:
        print(listing(as_json=args.json))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="pulp")
    args = _parser().parse_args(argv)
    handler = {"solve": _cmd_solve, "evaluate": _cmd_evaluate, "validate": _cmd_validate,
               "presets": _cmd_presets}[args.command]
    try:
        return handler(args)
    except SpecpimError as exc:
        print(f"specpim: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("specpim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
