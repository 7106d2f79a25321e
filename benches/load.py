"""What a checksum run costs a busy primary.

1. PostgreSQL: pgbench (TPC-B-like, 4 clients) runs for the whole test and
   reports its throughput every second; recon compares a 10M-row table on
   that server (`test.big`) with its copy on MariaDB, once with the default
   4 sessions, once with `--db-threads 1`, once with `--max-load 2`. The
   throughput while recon runs is compared with the seconds before it.
2. MariaDB: a writer updates one row of `test.big` in a loop (autocommit)
   and records each statement's latency while recon starts its 4 sessions
   under `LOCK TABLES ... READ`, first on an idle table, then while another
   transaction holds an uncommitted write on the table for 5 s (the lock's
   wait is bounded to 1 s). The longest stall is what writers saw.

    python3 benches/load.py --recon target/release/recon

Needs pgbench, pymysql (pip), and the tables from `--setup` (10M rows each,
about 3 minutes). With `--pin` (one machine holding both servers), PostgreSQL
and pgbench run on core 0, MariaDB and recon on core 1, so that pgbench's
throughput measures what recon costs the PostgreSQL server alone, not the
MariaDB side's checksums competing for the same cores.
"""

import argparse
import json
import re
import statistics
import subprocess
import threading
import time

PG = "postgres://postgres@127.0.0.1:5432/test?table=big"
MY = "mysql://root@127.0.0.1:3306/test?table=big"
PGBENCH_DB = "pgbench_recon"
PIN = {"pg": [], "recon": []}


def pin():
    """PostgreSQL (every backend, and those it forks later) on core 0,
    MariaDB on core 1; pgbench and recon follow."""
    for pid in subprocess.run(["pgrep", "postgres"], capture_output=True, text=True).stdout.split():
        subprocess.run(["taskset", "-a", "-cp", "0", pid], check=True, capture_output=True)
    for pid in subprocess.run(["pgrep", "mariadbd"], capture_output=True, text=True).stdout.split():
        subprocess.run(["taskset", "-a", "-cp", "1", pid], check=True, capture_output=True)
    PIN["pg"] = ["taskset", "-c", "0"]
    PIN["recon"] = ["taskset", "-c", "1"]


def setup():
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q"]
    subprocess.run(psql + ["-c", "DROP TABLE IF EXISTS big",
                           "-c", "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS v, g*2 AS w, "
                                 "(timestamp '2020-01-01' + g * interval '1 second') AS ts "
                                 "FROM generate_series(1,10000000) g",
                           "-c", "ALTER TABLE big ADD PRIMARY KEY (id)",
                           "-c", "VACUUM ANALYZE big"], check=True)
    subprocess.run(["mariadb", "-h", "127.0.0.1", "-u", "root", "test", "-e",
                    "DROP TABLE IF EXISTS big; CREATE TABLE big (id INT PRIMARY KEY, v CHAR(32), "
                    "w BIGINT, ts DATETIME); INSERT INTO big SELECT seq, MD5(seq), seq*2, "
                    "TIMESTAMP '2020-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_10000000;"],
                   check=True)


def pgbench_init():
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                    f"DROP DATABASE IF EXISTS {PGBENCH_DB}"], check=True)
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                    f"CREATE DATABASE {PGBENCH_DB}"], check=True)
    subprocess.run(["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-i", "-s", "10", "-q",
                    PGBENCH_DB], check=True, capture_output=True)


def recon_run(recon, extra):
    started = time.monotonic()
    out = subprocess.run([*PIN["recon"], recon, "diff", PG, MY, "--key", "id", "--format", "json",
                          *extra], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if out.returncode not in (0, 1):
        raise SystemExit(f"recon failed: {out.stderr}")
    report = json.loads(out.stdout)
    pushed = report["stats"].get("pushdown") or {}
    paused = pushed.get("left_seconds_paused", 0) + pushed.get("right_seconds_paused", 0)
    return started, seconds, paused


def pg_load(recon, label, extra, before=10, after=5):
    """pgbench's per-second throughput before and while recon runs."""
    total = before + 900
    bench = subprocess.Popen(
        [*PIN["pg"], "pgbench", "-h", "127.0.0.1", "-U", "postgres", "-c", "4", "-j", "2", "-T", str(total),
         "-P", "1", PGBENCH_DB], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    time.sleep(before)
    started, seconds, paused = recon_run(recon, extra)
    time.sleep(after)
    bench.terminate()
    _, err = bench.communicate()
    # "progress: 12.0 s, 812.3 tps, lat 4.9 ms stddev 2.1, 0 failed"
    points = [(float(m.group(1)), float(m.group(2)))
              for m in re.finditer(r"progress: ([\d.]+) s, ([\d.]+) tps", err)]
    start, end = started - t0, started - t0 + seconds
    idle = [tps for t, tps in points if 2 <= t <= start]
    busy = [tps for t, tps in points if start + 1 <= t <= end]
    base = statistics.median(idle)
    during = statistics.median(busy) if busy else float("nan")
    print(f"| {label} | {seconds:.1f} s | {paused:.1f} s | {base:.0f} | {during:.0f} | "
          f"{100 * (during / base - 1):+.0f}% |", flush=True)


def my_stall(recon, hold):
    """The longest single-row UPDATE latency while recon starts its sessions."""
    import pymysql
    stop = threading.Event()
    latencies = []

    def writer():
        conn = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True)
        cur = conn.cursor()
        i = 0
        while not stop.is_set():
            i += 1
            t = time.monotonic()
            cur.execute("UPDATE big SET w = w + 1 WHERE id = %s", (1 + i % 1000,))
            latencies.append(time.monotonic() - t)
        conn.close()

    holder = None
    if hold:
        holder = pymysql.connect(host="127.0.0.1", user="root", database="test")
        holder.cursor().execute("UPDATE big SET w = w WHERE id = 5000000")  # open, uncommitted

        def release():
            time.sleep(5)
            holder.commit()
        threading.Thread(target=release).start()
    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(1)
    baseline = len(latencies)
    started = time.monotonic()
    out = subprocess.run([recon, "diff", MY, MY, "--key", "id", "--format", "json",
                          "--db-threads", "4"], capture_output=True, text=True)
    seconds = time.monotonic() - started
    time.sleep(1)
    stop.set()
    thread.join()
    before = max(latencies[:baseline])
    during = max(latencies[baseline:])
    notes = json.loads(out.stdout)["schema"]["notes"] if out.returncode in (0, 1) else out.stderr
    label = "another transaction holds a write for 5 s" if hold else "idle table"
    print(f"| {label} | {seconds:.1f} s | {1000 * before:.1f} ms | {1000 * during:.1f} ms | "
          f"{notes} |", flush=True)
    # Undo the writer's changes so the tables stay equal.
    subprocess.run(["mariadb", "-h", "127.0.0.1", "-u", "root", "test", "-e",
                    "UPDATE big SET w = id * 2 WHERE id <= 1000"], check=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--recon", default="target/release/recon")
    p.add_argument("--setup", action="store_true")
    p.add_argument("--pin", action="store_true")
    p.add_argument("--only-pg", action="store_true")
    a = p.parse_args()
    if a.setup:
        setup()
    if a.pin:
        pin()
    pgbench_init()
    print("| recon run on the primary | recon time | paused | pgbench tps before | tps during | change |")
    print("|---|---|---|---|---|---|")
    for label, extra in [("default (4 sessions)", []), ("--db-threads 1", ["--db-threads", "1"]),
                         ("--max-load 2", ["--max-load", "2"])]:
        pg_load(a.recon, label, extra)
    if a.only_pg:
        return
    print()
    print("| MariaDB table | recon time | longest write before | longest write during | notes |")
    print("|---|---|---|---|---|")
    my_stall(a.recon, hold=False)
    my_stall(a.recon, hold=True)


if __name__ == "__main__":
    main()
