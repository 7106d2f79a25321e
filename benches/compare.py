"""End-to-end benchmark: recon beside the tools users would pick instead,
side by side in one run, on the same generated files.

Run through benches/compare.sh, which builds recon in release and prepares
the Python peers. Prints one Markdown table (and writes it to
benches/out/results.md): per case the rows, the differences, each tool's
median wall time and peak RSS, and recon's ratios to the peers and floors.

Every tool's answer is checked against the generator's ground truth; a tool
that finds another number of differences is marked, not silently timed.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benches" / "out"
RECON = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "recon"
PEERS = ROOT / "benches" / "peers.py"

# name: (format, rows, inserts, deletes, updates, tools[, order])
# order "random": each side rewritten in its own random order (a permutation
# of the whole file, not of batches), as Spark or a parallel exporter leaves it.
ALL_TOOLS = ["recon", "duckdb-diff", "datacompy", "duckdb-floor", "recon-floor"]
CASES = {
    "parquet-10m-1k": ("parquet", 10_000_000, 300, 300, 400, ALL_TOOLS),
    "parquet-10m-1m": ("parquet", 10_000_000, 300_000, 300_000, 400_000, ALL_TOOLS),
    "csv-1m": ("csv", 1_000_000, 300, 300, 400, ALL_TOOLS),
    "parquet-10m-1k-random": ("parquet", 10_000_000, 300, 300, 400,
                              ["recon", "duckdb-diff", "duckdb-floor", "recon-floor"], "random"),
    "parquet-10m-1m-random": ("parquet", 10_000_000, 300_000, 300_000, 400_000,
                              ["recon", "duckdb-diff", "recon-floor"], "random"),
    "scale-50m-random": ("parquet", 50_000_000, 300, 300, 400, ["recon", "duckdb-diff", "recon-floor"],
                         "random"),
    # TPC-H-shaped line items as CSV (about 800 MB a side, 16 columns), in key
    # order, composite key; written by benches/lineitem.py.
    "csv-lineitem-6m": ("lineitem", 6_000_000, 300, 300, 300,
                        ["recon", "duckdb-diff", "duckdb-floor", "recon-floor"]),
    "scale-1m": ("parquet", 1_000_000, 300, 300, 400, ["recon", "duckdb-diff", "recon-floor"]),
    "scale-10m": ("parquet", 10_000_000, 300, 300, 400, ["recon", "duckdb-diff", "recon-floor"]),
    "scale-50m": ("parquet", 50_000_000, 300, 300, 400, ["recon", "duckdb-diff", "recon-floor"]),
    # 13 GB of Parquet; measured against recon itself at 10M (scale-10m), not DuckDB.
    "scale-100m": ("parquet", 100_000_000, 300, 300, 400, ["recon", "recon-floor"]),
    # A seconds-long run of every tool, for checking the harness itself.
    "smoke": ("parquet", 20_000, 30, 30, 40, ALL_TOOLS),
}
# Cases keyed on other columns than `id`.
KEYS = {"csv-lineitem-6m": "l_orderkey,l_linenumber"}
LINEITEM = ROOT / "benches" / "lineitem.py"
# Database pairs: PostgreSQL (left) against its copy in MariaDB (right) with
# 100 planted differences (benches/db_tables.py builds them in the servers).
# name: (rows, differences, tables): "orders" (one bigint key), "lines" (the
# same rows under a composite key, order_lines), "same-db" (orders against
# orders_copy, both in the PostgreSQL database).
DB_CASES = {
    "pg-mariadb-1m": (1_000_000, 100, "orders"),
    "pg-mariadb-10m": (10_000_000, 100, "orders"),
    "pg-mariadb-lines-1m": (1_000_000, 100, "lines"),
    "pg-same-db-1m": (1_000_000, 100, "same-db"),
    "pg-same-db-10m": (10_000_000, 100, "same-db"),
}
DB_TOOLS = ["recon", "reladiff", "db-floor"]
DB_TABLES = ROOT / "benches" / "db_tables.py"
DEFAULT_CASES = ["parquet-10m-1k", "parquet-10m-1m", "csv-1m", "scale-1m", "scale-10m", "scale-50m"]
LABELS = {
    "recon": "recon",
    "duckdb-diff": "DuckDB diff",
    "datacompy": "datacompy (polars)",
    "duckdb-floor": "DuckDB floor",
    "recon-floor": "recon read floor",
}


def shuffle_parquet(source, target, seed):
    """Writes `source` with its rows in a random order (the whole file
    permuted), with the writer settings of `recon gen`: row groups of 1Mi
    rows, no compression, a page index."""
    import numpy
    import pyarrow.parquet as pq
    table = pq.read_table(source)
    order = numpy.random.default_rng(seed).permutation(table.num_rows)
    partial = target.with_suffix(".partial")
    pq.write_table(table.take(order), partial, row_group_size=1 << 20, compression="none",
                   write_page_index=True)
    partial.rename(target)


def dataset(case):
    fmt, rows, inserts, deletes, updates = CASES[case][:5]
    order = CASES[case][6] if len(CASES[case]) > 6 else "key"
    directory = OUT / "data" / f"{fmt}-{rows}-{inserts}-{deletes}-{updates}"
    truth_path = directory / "truth.json"
    if fmt == "lineitem" and not truth_path.exists():
        print(f"generating {directory.name} ...", file=sys.stderr, flush=True)
        subprocess.run(
            [sys.executable, str(LINEITEM), "--out", str(directory), "--rows", str(rows),
             "--inserts", str(inserts), "--deletes", str(deletes), "--updates", str(updates)],
            check=True,
        )
    if not truth_path.exists():
        print(f"generating {directory.name} ...", file=sys.stderr, flush=True)
        subprocess.run(
            [str(RECON), "gen", "--out", str(directory), "--format", fmt, "--rows", str(rows),
             "--inserts", str(inserts), "--deletes", str(deletes), "--updates", str(updates),
             "--seed", "2026"],
            check=True, stdout=subprocess.DEVNULL,
        )
    truth = json.loads(truth_path.read_text())
    expected = len(truth["only_left"]) + len(truth["only_right"]) + len(truth["changed"])
    if order == "random":
        shuffled = directory.with_name(directory.name + "-random")
        shuffled.mkdir(exist_ok=True)
        for seed, side in enumerate(("left", "right")):
            target = shuffled / f"{side}.{fmt}"
            if not target.exists():
                print(f"shuffling {target} ...", file=sys.stderr, flush=True)
                shuffle_parquet(directory / f"{side}.{fmt}", target, 2026 + seed)
        directory = shuffled
    ext = "csv" if fmt == "lineitem" else fmt
    return directory / f"left.{ext}", directory / f"right.{ext}", rows, expected


def command(tool, left, right, python, threads, key="id"):
    if tool == "recon":
        return [str(RECON), "diff", str(left), str(right), "--key", key, "--format", "json",
                "--quiet", "--max-diffs", "100", "--threads", str(threads)]
    if tool == "recon-floor":
        return [str(RECON), "scan", str(left), str(right), "--threads", str(threads)]
    if tool == "duckdb-diff":
        return [python, str(PEERS), "duckdb-diff", str(left), str(right), key]
    if tool == "duckdb-floor":
        return [python, str(PEERS), "duckdb-floor", str(left), str(right)]
    if tool == "datacompy":
        return [python, str(PEERS), "datacompy", str(left), str(right), key]
    raise ValueError(tool)


def found(tool, stdout):
    """The number of differing keys a tool reported (None for floors)."""
    if tool in ("recon-floor", "duckdb-floor"):
        return None
    if tool == "recon":
        s = json.loads(stdout)["summary"]
        return s["only_left"] + s["only_right"] + s["changed"]
    return int(stdout.strip().splitlines()[-1])


def run_once(argv):
    """Runs one command under GNU time, whose %M is the peak RSS of that
    command alone (a child forked straight from this driver would start its
    count at the driver's own size)."""
    started = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "@@rss %M", *argv], capture_output=True)
    wall = time.perf_counter() - started
    stderr = proc.stderr.decode()
    lines = stderr.rstrip().splitlines()
    rss_kb = int(lines[-1].split()[-1]) if lines and lines[-1].startswith("@@rss") else 0
    return wall, rss_kb * 1024, proc.returncode, proc.stdout.decode(), "\n".join(lines[:-1])


def warm(paths):
    """Reads the files once so every tool starts with them in the page cache."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def human_bytes(n):
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{cpu}, {os.cpu_count()} cores, {mem / 2**30:.0f} GiB RAM, {platform.system()} {platform.release()}"


def versions(python):
    script = (
        "import importlib.metadata as m\n"
        "print(', '.join(f'{p} {m.version(p)}' for p in ('duckdb', 'polars', 'datacompy', 'reladiff')))"
    )
    peers = subprocess.run([python, "-c", script], capture_output=True, text=True).stdout.strip()
    recon = subprocess.run([str(RECON), "--version"], capture_output=True, text=True).stdout.strip()
    return f"{recon}; {peers}"


def loopback_bytes():
    """Bytes through the loopback interface so far (both directions): the
    traffic between a tool and the local database servers."""
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name.strip() == "lo":
            fields = rest.split()
            return int(fields[0]) + int(fields[8])
    return 0


def db_command(tool, database, python, db_threads, tables="orders"):
    pg = f"postgres://postgres@127.0.0.1:5432/{database}"
    my = f"mysql://root@127.0.0.1:3306/{database}"
    left, right = (pg, "orders"), (my, "orders")
    keys = ["id"]
    if tables == "lines":
        left, right, keys = (pg, "order_lines"), (my, "order_lines"), ["order_id", "line"]
    elif tables == "same-db":
        right = (pg, "orders_copy")
    if tool == "recon":
        return [str(RECON), "diff", f"{left[0]}?table={left[1]}", f"{right[0]}?table={right[1]}",
                "--key", ",".join(keys), "--format", "json", "--quiet", "--max-diffs", "100",
                "--db-threads", str(db_threads)]
    if tool == "reladiff":
        reladiff = str(Path(python).parent / "reladiff")
        columns = []
        for c in ("customer", "status", "amount", "price", "created", "note"):
            columns += ["-c", c]
        key_args = [a for k in keys for a in ("-k", k)]
        url = lambda u: u.replace("postgres://", "postgresql://")
        return [reladiff, url(left[0]), left[1], url(right[0]), right[1],
                *key_args, *columns, "-s", "-j", str(db_threads)]
    if tool == "db-floor":
        return [python, str(PEERS), "db-floor", database, tables]
    raise ValueError(tool)


def db_found(tool, stdout):
    if tool == "db-floor":
        return None, None
    if tool == "recon":
        report = json.loads(stdout)
        s = report["summary"]
        p = report["stats"].get("pushdown") or {}
        fetched = p.get("left_rows_fetched", 0) + p.get("right_rows_fetched", 0)
        return s["only_left"] + s["only_right"] + s["changed"], fetched
    total = 0
    for line in stdout.splitlines():
        words = line.split()
        if "exclusive" in line or line.endswith("rows updated"):
            total += int(words[0])
    return total, None


def run_db_cases(cases, runs, python, db_threads, failures):
    lines = ["| case | rows | differences | recon | reladiff -j {0} | in-database floor | "
             "recon speed-up | recon / floor | recon rows fetched | "
             "loopback bytes recon / reladiff |".format(db_threads),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for case in cases:
        rows, diffs, tables = DB_CASES[case]
        print(f"building {case} tables ...", file=sys.stderr, flush=True)
        truth = json.loads(subprocess.run([sys.executable, str(DB_TABLES), "--rows", str(rows),
                                           "--diffs", str(diffs)], check=True,
                                          capture_output=True, text=True).stdout)
        expected = len(truth["changed"]) + len(truth["only_left"]) + len(truth["only_right"])
        times = {t: [] for t in DB_TOOLS}
        traffic = {t: [] for t in DB_TOOLS}
        answers, fetched = {}, None
        for run in range(runs):
            for tool in DB_TOOLS:
                before = loopback_bytes()
                wall, peak, code, stdout, stderr = run_once(
                    db_command(tool, truth["database"], python, db_threads, tables))
                moved = loopback_bytes() - before
                if code not in ((0, 1) if tool == "recon" else (0,)):
                    failures.append(f"{case} {tool}: exit {code}: {stderr.strip()[-300:]}")
                    continue
                times[tool].append(wall)
                traffic[tool].append(moved)
                answers[tool], rows_fetched = db_found(tool, stdout)
                if rows_fetched is not None:
                    fetched = rows_fetched
                print(f"{case} run {run + 1} {tool}: {wall:.2f} s, {human_bytes(moved)} over loopback",
                      file=sys.stderr, flush=True)
        cells = [case, f"{rows:,}", f"{expected:,}"]
        med = {t: statistics.median(times[t]) for t in DB_TOOLS if times[t]}
        for tool in DB_TOOLS:
            if tool not in med:
                cells.append("–")
                continue
            cell = f"{med[tool]:.2f} s"
            if tool != "db-floor" and answers.get(tool) != expected:
                cell += f" (found {answers.get(tool)}!)"
                failures.append(f"{case} {tool}: found {answers.get(tool)} differences, truth has {expected}")
            cells.append(cell)
        ratio = lambda a, b: f"{med[a] / med[b]:.2f}x" if a in med and b in med else "–"
        cells.append(ratio("reladiff", "recon"))
        cells.append(ratio("recon", "db-floor"))
        cells.append(f"{fetched:,} of {2 * rows:,} ({100 * fetched / (2 * rows):.3f}%)"
                     if fetched is not None else "–")
        if traffic["recon"] and traffic["reladiff"]:
            cells.append(f"{human_bytes(statistics.median(traffic['recon']))} / "
                         f"{human_bytes(statistics.median(traffic['reladiff']))}")
        else:
            cells.append("–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES),
                        help=f"comma-separated, from: {', '.join([*CASES, *DB_CASES])}")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool (the median is shown)")
    parser.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated subset of tools")
    parser.add_argument("--python", default=sys.executable, help="interpreter with the Python peers")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="recon worker threads")
    parser.add_argument("--db-threads", type=int, default=4,
                        help="sessions per database, for recon (--db-threads) and reladiff (-j)")
    args = parser.parse_args()
    wanted_tools = set(args.tools.split(","))
    OUT.mkdir(parents=True, exist_ok=True)

    rows_out = []
    failures = []
    db_cases = [c for c in args.cases.split(",") if c in DB_CASES]
    file_cases = [c for c in args.cases.split(",") if c not in DB_CASES]
    db_table = run_db_cases(db_cases, args.runs, args.python, args.db_threads, failures) if db_cases else ""
    for case in file_cases:
        if case not in CASES:
            sys.exit(f"unknown case {case!r}; cases: {', '.join(CASES)}")
        left, right, rows, expected = dataset(case)
        tools = [t for t in CASES[case][5] if t in wanted_tools]
        warm([left, right])
        times = {t: [] for t in tools}
        peaks = {t: [] for t in tools}
        answers = {}
        for run in range(args.runs):
            # Interleaved, so that drift in the machine's speed hits every tool alike.
            for tool in tools:
                argv = command(tool, left, right, args.python, args.threads, KEYS.get(case, "id"))
                wall, peak, code, stdout, stderr = run_once(argv)
                ok_codes = (0, 1) if tool == "recon" else (0,)
                if code not in ok_codes:
                    failures.append(f"{case} {tool}: exit {code}: {stderr.strip()[-300:]}")
                    continue
                times[tool].append(wall)
                peaks[tool].append(peak)
                answers[tool] = found(tool, stdout)
                print(f"{case} run {run + 1} {tool}: {wall:.2f} s, {human_bytes(peak)}",
                      file=sys.stderr, flush=True)
        rows_out.append((case, rows, expected, tools, times, peaks, answers))

    header = ["case", "rows", "differences"] + [LABELS[t] for t in ALL_TOOLS if t in wanted_tools]
    header += ["recon speed-up vs DuckDB diff", "vs datacompy", "recon / DuckDB floor",
               "recon / recon floor", "recon RSS / DuckDB diff RSS"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case, rows, expected, tools, times, peaks, answers in rows_out:
        med = {t: statistics.median(times[t]) for t in tools if times[t]}
        rss = {t: max(peaks[t]) for t in tools if peaks[t]}
        cells = [case, f"{rows:,}", f"{expected:,}"]
        for tool in ALL_TOOLS:
            if tool not in wanted_tools:
                continue
            if tool not in med:
                cells.append("–")
                continue
            cell = f"{med[tool]:.2f} s, {human_bytes(rss[tool])}"
            got = answers.get(tool)
            if got is not None and got != expected:
                cell += f" (found {got:,}!)"
                failures.append(f"{case} {tool}: found {got} differences, truth has {expected}")
            cells.append(cell)
        r = med.get("recon")

        def ratio(peer, faster):
            if r is None or peer not in med:
                return "–"
            return f"{med[peer] / r:.2f}x" if faster else f"{r / med[peer]:.2f}x"

        cells += [ratio("duckdb-diff", True), ratio("datacompy", True),
                  ratio("duckdb-floor", False), ratio("recon-floor", False)]
        if "recon" in rss and "duckdb-diff" in rss:
            cells.append(f"{rss['recon'] / rss['duckdb-diff']:.0%}")
        else:
            cells.append("–")
        lines.append("| " + " | ".join(cells) + " |")

    table = "\n".join(lines) if file_cases else ""
    if db_table:
        table = (table + "\n\n" if table else "") + db_table
    footer = (
        f"\nMachine: {machine()}.\nVersions: {versions(args.python)}.\n"
        f"Median of {args.runs} interleaved runs per tool, files in the page cache; "
        f"peak RSS is the largest of the runs. recon ran with {args.threads} threads.\n"
    )
    print(table + "\n" + footer)
    (OUT / "results.md").write_text(table + "\n" + footer)
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
