"""Fuzz the four kinds of input file (Make blueprints, Pipedream workflows, scenarios, emulator scripts) with
hostile mutations and count how each load ended. Target: 0 tracebacks, 0 hangs, 0 crashes and 0 errors that
do not name the file (tests/hostile/test_files_fuzz.py runs 200 of the same mutations in CI).

.venv/bin/python benchmarks/hostile_files.py [--count 1000] [--seed 20261203]"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "hostile"))

from test_files_fuzz import BAD, SEED, run_fuzz, summary  # noqa: E402  (the fuzzer the test suite uses)

from hallsim.emulator.files import yaml_parser  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        results = run_fuzz(Path(folder), args.count, args.seed)
        took = time.perf_counter() - started
    print(f"{args.count} mutated files (seed {args.seed}, YAML parser: {yaml_parser()}) in {took:.1f} s")
    print(f"  {summary(results)}")
    by_kind: dict[str, dict[str, int]] = {}
    for verdict, items in results.items():
        for item in items:
            counts = by_kind.setdefault(str(item["kind"]), {})
            counts[verdict] = counts.get(verdict, 0) + 1
    for kind, counts in sorted(by_kind.items()):
        print(f"  {kind:<10} " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())))
    bad = [item for name in BAD for item in results.get(name, [])]
    for item in bad[:10]:
        print(f"\n{item['seed']} ({item['path']}):\n{item['detail']}")
    print("PASS: 0 tracebacks, 0 hangs, 0 crashes" if not bad else f"FAIL: {len(bad)} bad loads")
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
