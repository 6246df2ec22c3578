"""Command line: ``specpim solve | evaluate | validate | presets | plot | sweep | pareto``.

Exit codes (docs/errors.md): 0 solved (optimal, or feasible when a time
limit stopped the solver; stderr then gives the gap), 2 bad input
(instance, mapping, options, output folder), 3 infeasible, 4 no solution
found in the time limit, 5 solver trouble, 6 cannot write (standard output
closed or full, no space left or a read-only file system where results or
temporary files go), 130 interrupted (Ctrl-C, SIGINT), 143 stopped by
SIGTERM, 129 by SIGHUP.  ``--time-limit`` counts from the start of the
process, so it bounds the whole run: reading, solving, baselines, writing.
"""

from __future__ import annotations

import time

_STARTED = time.monotonic()   # the time limit counts from here: before the imports below

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

from . import __version__  # noqa: E402
from .core.deadline import Deadline  # noqa: E402
from .core.enums import Metric, Status  # noqa: E402
from .core.errors import InstanceError, OutputError, SpecpimError, escape_controls  # noqa: E402
from .core.interrupts import Terminated, handle_termination  # noqa: E402

EXIT_OK, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
EXIT_OUTPUT = OutputError.exit_code   # 6: standard output or the disk failed a write


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors are input errors: exit 2, no traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"specpim: error: {message}\n")


def _solving(p: argparse.ArgumentParser, limit: str, files: str, summary: str) -> None:
    """The arguments of a command that solves an instance and may write results."""
    p.add_argument("instance", help="instance YAML file")
    p.add_argument("--solver", default="cbc", choices=["cbc", "exhaustive"])
    p.add_argument("--time-limit", type=float, default=None, metavar="S",
                   help=f"seconds for {limit}, from the start of the process")
    p.add_argument("-o", "--outdir", default=None, help=f"write {files} here")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--json", action="store_true", help=f"print one JSON object instead of {summary}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="specpim", description="Provably optimal PIM co-design for LLM speculative inference.")
    p.add_argument("--version", action="version", version=f"specpim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("solve", help="find the optimal architecture and dataflow")
    _solving(s, "the whole run", "mapping.json/.yaml, operators.csv, metrics.json, model.lp", "the summary")
    s.add_argument("--no-baselines", action="store_true", help="skip the baseline comparison")
    s.add_argument("--top", type=int, default=1, metavar="K",
                   help="also list the K best distinct architectures, each proven optimal for its architecture")
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

    w = sub.add_parser("sweep", help="solve every scenario of a parameter sweep (docs/sweeps.md)")
    w.add_argument("base", metavar="BASE_OR_SWEEP",
                   help="the base instance file, or a sweep file (base, axes, zip)")
    w.add_argument("--set", action="append", default=[], metavar="PATH=V1,V2,...",
                   help="sweep this instance field (dotted path, e.g. workload.batch) over these YAML values; "
                        "repeat for more axes")
    w.add_argument("--zip", action="store_true", help="pair the axes' values instead of taking their product")
    w.add_argument("-o", "--outdir", default=None,
                   help="write results.csv/.parquet and each scenario's mapping.json here (else: CSV on stdout)")
    w.add_argument("--workers", type=int, default=None, metavar="N", help="local processes (default: every core)")
    w.add_argument("--backend", choices=["local", "ray"], default="local")
    w.add_argument("--address", default=None, metavar="ADDR", help="the Ray cluster (default: ray.init's choice)")
    w.add_argument("--resume", action="store_true", help="keep the finished scenarios of OUTDIR, solve the rest")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    w.add_argument("--time-limit", type=float, default=None, metavar="S", help="seconds for each scenario's solve")
    w.add_argument("--no-baselines", action="store_true", help="skip the baseline comparison")
    w.add_argument("--allow-imports", action="store_true",
                   help="allow importing the cost model the instance names (runs its code)")

    f = sub.add_parser("pareto", help="the exact Pareto front over latency, energy and area")
    _solving(f, "the whole front", "pareto.csv, pareto.json, points/NNNN/mapping.json (and the figure)",
             "the table")
    f.add_argument("--objectives", default="latency,energy", metavar="LIST",
                   help="two or three of latency, energy, area, comma-separated (default latency,energy)")
    f.add_argument("--allow-imports", action="store_true",
                   help="allow importing the cost model the instance names (runs its code)")

    g = sub.add_parser("plot", help="draw the figures of a result folder (needs: pip install 'specpim[plot]')")
    g.add_argument("result_dir", metavar="RESULT_DIR",
                   help="folder written by solve -o (metrics.json), a sweep (results.csv) or pareto (pareto.csv)")
    g.add_argument("-o", "--outdir", default=None, help="write the figures here (default: RESULT_DIR)")
    g.add_argument("--x", default=None, metavar="AXIS", help="swept axis along x (sweep), objective (Pareto front)")
    g.add_argument("--y", default=None, metavar="METRIC", help="metric column along y (default latency_s_per_token)")
    g.add_argument("--hue", default=None, metavar="AXIS", help="swept axis with one line per value (sweep)")
    g.add_argument("--format", default="png,svg", help="comma-separated: png, svg (default: both)")
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
    if args.outdir is not None:   # -o '' (an unset variable) is refused, not ignored
        check_outputs(args.outdir, args.force)
    sol = solve(inst, solver=args.solver, allow_imports=args.allow_imports, baselines=not args.no_baselines,
                deadline=Deadline(limit, start=_STARTED), top=args.top)
    if args.outdir is not None and sol.mapping is not None:
        write_outputs(sol, args.outdir)
    _out(json.dumps(sol.to_dict(), indent=2) if args.json else summary(sol))
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
        _out(json.dumps(metrics.to_dict(), indent=2))
    else:
        _out(f"specpim · {inst.name} · {args.mapping}")
        _out("\n".join(metrics_lines(metrics)))
        _out(f"  objective ({metrics.metric}): {metrics.objective:.6g}")
    if not metrics.latency_bound_met and inst.objective.latency_bound is not None:
        _note(f"{args.mapping}: the mapping misses the instance's latency bound "
              f"({metrics.latency_per_token * 1e3:.4g} ms per token > "
              f"{inst.objective.latency_bound * 1e3:.4g} ms)")
    if not metrics.energy_bound_met and inst.objective.energy_bound is not None:
        _note(f"{args.mapping}: the mapping misses the instance's energy bound "
              f"({metrics.energy_per_token * 1e3:.4g} mJ per token > "
              f"{inst.objective.energy_bound * 1e3:.4g} mJ)")
    return EXIT_OK


def _cmd_validate(args) -> int:
    from .problem.loader import load_instance
    from .solvers.diagnose import precheck

    inst = load_instance(args.instance)
    ds = inst.design_space
    _out(f"{args.instance}: valid · target {inst.target.name}"
          + (f", draft {inst.draft.name}, γ ∈ {list(inst.draft_lens)}" if inst.draft else ", autoregressive")
          + f" · {len(ds.pim_options)} PIM options × {len(ds.pim_channels)} channel counts")
    diagnosis = precheck(inst)
    if diagnosis:
        _note(f"{args.instance}: note: solving will find it infeasible: {diagnosis}")
    return EXIT_OK


def _cmd_sweep(args) -> int:
    from .sweeps import run_command

    return run_command(args, _out, _note)


def _cmd_pareto(args) -> int:
    from .export import check_pareto_outputs, write_pareto
    from .pareto import pareto_front, parse_objectives
    from .problem.loader import load_instance
    from .report import pareto_lines

    limit = args.time_limit
    if limit is not None and not 0 < limit < math.inf:
        raise InstanceError(f"expected a finite number > 0 (seconds), found {limit}", field="--time-limit")
    objectives = parse_objectives(args.objectives)
    inst = load_instance(args.instance)
    if args.outdir is not None:
        check_pareto_outputs(args.outdir, args.force)
    front = pareto_front(inst, objectives, solver=args.solver, deadline=Deadline(limit, start=_STARTED),
                         **({"allow_imports": True} if args.allow_imports else {}))
    if args.outdir is not None:
        write_pareto(front, args.outdir)
        if front.points:
            try:
                from .plots import plot_directory

                plot_directory(args.outdir, formats=("png", "svg"))
            except ImportError:   # matplotlib is optional
                _note("no figure: pip install 'specpim[plot]', then run: specpim plot " + str(args.outdir))
    _out(json.dumps(front.to_dict(), indent=2) if args.json else "\n".join(pareto_lines(front)))
    if not front.points:
        if front.complete:
            _note(f"{args.instance}: infeasible: no design meets the instance's constraints")
            return EXIT_INFEASIBLE
        _note(f"{args.instance}: no point of the front was proven within the time limit; allow more time")
        return EXIT_NO_SOLUTION
    if not front.complete:
        _note(f"{args.instance}: the time limit stopped the search after {len(front.points)} points; each is "
              "proven, but the front may miss others")
    return EXIT_OK


def _cmd_plot(args) -> int:
    from .plots import parse_formats, plot_directory

    formats = parse_formats(args.format)
    for path in plot_directory(args.result_dir, args.outdir, x=args.x, y=args.y, hue=args.hue, formats=formats):
        _out(f"wrote {path}")
    return EXIT_OK


def _cmd_presets(args) -> int:
    from .presets import describe, listing

    if args.name:
        _out(describe(args.name, as_json=args.json))
    else:
        _out(listing(as_json=args.json))
    return EXIT_OK


def _note(message: str) -> None:
    """One line on stderr; control characters in it are escaped (a key may hold a newline or an escape code)."""
    if sys.stderr is not None:
        try:
            print(f"specpim: {escape_controls(message)}", file=sys.stderr, flush=True)
        except OSError:   # stderr itself closed or full: nowhere left to say it
            pass


def _out(text: str | None) -> None:
    """Print ``text`` on stdout (None: flush it).  A stdout that cannot be written
    (> /dev/full, a failing disk) raises OutputError, after stdout has been
    pointed at /dev/null so that the interpreter's last flush cannot fail too;
    a closed pipe (| head) stays a BrokenPipeError, which is not an error."""
    try:
        if text is None:
            sys.stdout.flush()
        else:
            print(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code.  Errors a user can cause are
    printed as one line on stderr, never as a traceback."""
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="pulp")
    args = _parser().parse_args(argv)
    handler = {"solve": _cmd_solve, "evaluate": _cmd_evaluate, "validate": _cmd_validate,
               "presets": _cmd_presets, "plot": _cmd_plot,
               "sweep": _cmd_sweep, "pareto": _cmd_pareto}[args.command]
    if sys.stdout is None:   # started with stdout closed (>&-): say so before doing any work
        _note("cannot write to standard output: it is closed; nothing was done")
        return EXIT_OUTPUT
    try:
        with handle_termination():
            code = handler(args)
            _out(None)   # flush: a full stdout (> /dev/full) often fails only here
        return code
    except SpecpimError as exc:
        _note(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _note("interrupted (SIGINT): the solver was stopped and its temporary files removed; no result file "
              "was written partially")
        return EXIT_INTERRUPTED
    except Terminated as stop:
        _note(f"stopped by {stop.name}: the solver was stopped and its temporary files removed; no result "
              "file was written partially")
        return 128 + stop.signum
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        _stop_solvers()


def _stop_solvers() -> None:
    """No solver process outlives the run (they are only ever started by solvers/processes.py)."""
    mod = sys.modules.get("specpim.solvers.processes")
    if mod is not None:
        mod.terminate_all()


if __name__ == "__main__":
    sys.exit(main())
