"""Same-run A/B of two recon binaries on the benchmark cases: runs A and B
alternately on each case (so both see the same machine state), checks that
both find the generator's number of differences, and prints the medians and
B's cost relative to A as one Markdown table.

    python3 benches/ab.py --a /tmp/recon-before --b target/release/recon \
        --cases parquet-10m-1k,csv-1m,pg-mariadb-1m --runs 5

Datasets and database tables are the ones benches/compare.py uses (built on
first use with the B binary's `gen` and benches/db_tables.py).
"""

import argparse
import json
import statistics
import subprocess
import sys

import compare


def case_command(binary, case, extra):
    """The recon command line of one case, with `binary` and the `extra`
    arguments, and the expected number of differing keys."""
    if case in compare.DB_CASES:
        rows, diffs, tables = compare.DB_CASES[case]
        truth = json.loads(subprocess.run(
            [sys.executable, str(compare.DB_TABLES), "--rows", str(rows), "--diffs", str(diffs)],
            check=True, capture_output=True, text=True).stdout)
        argv = compare.db_command("recon", truth["database"], sys.executable, 4, tables)
        expected = len(truth["only_left"]) + len(truth["only_right"]) + len(truth["changed"])
    else:
        left, right, _, expected = compare.dataset(case)
        compare.warm([left, right])
        argv = compare.command("recon", left, right, sys.executable, 2)
    argv[0] = str(binary)
    return argv + extra, expected


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="the baseline binary")
    parser.add_argument("--b", required=True, help="the binary measured against it")
    parser.add_argument("--cases", default="parquet-10m-1k,csv-1m,pg-mariadb-1m")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--extra", default="",
                        help="more recon arguments, space-separated (e.g. --no-pushdown)")
    args = parser.parse_args()
    print("| case | A median | B median | B / A | runs |")
    print("|---|---|---|---|---|")
    for case in args.cases.split(","):
        times = {"a": [], "b": []}
        for _ in range(args.runs):
            for name, binary in (("a", args.a), ("b", args.b)):
                argv, expected = case_command(binary, case, args.extra.split())
                wall, _, code, stdout, stderr = compare.run_once(argv)
                if code not in (0, 1):
                    sys.exit(f"{case}: {binary} exited {code}: {stderr}")
                summary = json.loads(stdout)["summary"]
                found = summary["only_left"] + summary["only_right"] + summary["changed"]
                if found != expected:
                    sys.exit(f"{case}: {binary} found {found} differences, expected {expected}")
                times[name].append(wall)
        a, b = statistics.median(times["a"]), statistics.median(times["b"])
        print(f"| {case} | {a:.2f} s | {b:.2f} s | {b / a:.3f} | {args.runs} |", flush=True)


if __name__ == "__main__":
    main()
