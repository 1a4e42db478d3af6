"""How often ``tpbench compare`` calls a case faster or slower between two runs of the same code (A/A).

Not a test of the code under test: the rate depends on the machine. Two sources of A/A pairs:

* one run with R repetitions (rounds over the sweep, spread in time): every ordered pair of
  disjoint subsets of ``size`` repetitions becomes two pseudo-runs (R = 4, size 2: 6 pairs;
  size 1: 12 pairs);
* two real runs of the same commit given on the command line (compared as they are).

Prints, per source, the false faster/slower count over compared cases, and each false verdict.
The target is at most 1 % of cases.

Run: ``.venv/bin/python benchmarks/compare_aa.py results/baseline-quick-cpu [--size 1 2] [--runs A B]``.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from tpbench.results.store import CASES, read_cases
from tpbench.views.compare import compare_records


def pseudo_pairs(records: list[dict], size: int):
    """(reps_a, reps_b, records_a, records_b) for every ordered pair of disjoint repetition subsets."""
    reps = sorted({r.get("repetition", 0) for r in records})
    for a in itertools.combinations(reps, size):
        for b in itertools.combinations([x for x in reps if x not in a], size):
            yield a, b, [r for r in records if r.get("repetition", 0) in a], \
                [r for r in records if r.get("repetition", 0) in b]


def false_verdicts(records_a: list[dict], records_b: list[dict]) -> tuple[int, list]:
    """(cases compared, the rows labelled faster or slower)."""
    rows, _ = compare_records(records_a, records_b)
    return len(rows), [r for r in rows if r.label in ("faster", "slower")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run directory with several repetitions")
    parser.add_argument("--size", type=int, nargs="+", default=[1, 2], help="repetitions per pseudo-run")
    parser.add_argument("--runs", type=Path, nargs=2, default=None, help="two real runs of the same code")
    args = parser.parse_args()
    records = read_cases(args.run / CASES)
    for size in args.size:
        total = bad = pairs = 0
        for a, b, ra, rb in pseudo_pairs(records, size):
            n, wrong = false_verdicts(ra, rb)
            total, bad, pairs = total + n, bad + len(wrong), pairs + 1
            for r in wrong:
                print(f"  {a} vs {b}: {r.label} {r.key['kernel']} · {r.key['problem_label']} · {r.key['pass']} "
                      f"ratio {r.ratio:.3f}, threshold {r.threshold:.0%}, {r.method}")
        print(f"{args.run.name}, {size} vs {size} repetitions, {pairs} pairs: "
              f"{bad} false faster/slower of {total} cases ({bad / max(total, 1):.2%})")
    if args.runs:
        n, wrong = false_verdicts(*(read_cases(run / CASES) for run in args.runs))
        for r in wrong:
            print(f"  {r.label} {r.key['kernel']} · {r.key['problem_label']} · {r.key['pass']} ratio {r.ratio:.3f}, "
                  f"threshold {r.threshold:.0%}, {r.method}")
        print(f"{args.runs[0].name} vs {args.runs[1].name}: {len(wrong)} false faster/slower of {n} cases "
              f"({len(wrong) / max(n, 1):.2%})")


if __name__ == "__main__":
    main()
