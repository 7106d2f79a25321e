#!/usr/bin/env python3
"""`--state` on a lake of Parquet files (issue 16): the time of a normal run,
of a first run that builds the state, and of the second run after one file
of the right side was rewritten with DIFFS changed rows (the state restored
before each repetition), medians of RUNS; checks the second run finds
exactly the planted keys.

usage: state.py RECON DIR [--files 50] [--rows 1000000] [--runs 3]
(DIR is filled by benches/state_files.py first if empty)
"""
import argparse, json, os, shutil, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(argv):
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode not in (0, 1):
        sys.exit(p.stderr)
    return dt, json.loads(p.stdout)


def main():
    a = argparse.ArgumentParser()
    a.add_argument("recon")
    a.add_argument("dir")
    a.add_argument("--files", type=int, default=50)
    a.add_argument("--rows", type=int, default=1_000_000)
    a.add_argument("--runs", type=int, default=3)
    a = a.parse_args()
    gen = [sys.executable, os.path.join(HERE, "state_files.py"), a.dir, "--files", str(a.files), "--rows", str(a.rows)]
    if not os.path.isdir(os.path.join(a.dir, "left")):
        subprocess.run(gen, check=True)
    left, right = os.path.join(a.dir, "left"), os.path.join(a.dir, "right")
    state, first_state = os.path.join(a.dir, "state"), os.path.join(a.dir, "state.first")
    diff = [a.recon, "diff", left, right, "--key", "id", "--format", "json"]
    normal = [timed(diff)[0] for _ in range(a.runs)]
    first = []
    for _ in range(a.runs):
        shutil.rmtree(state, ignore_errors=True)
        first.append(timed(diff + ["--state", state])[0])
    shutil.rmtree(first_state, ignore_errors=True)
    shutil.copytree(state, first_state)
    change = subprocess.run(gen + ["--change", str(a.files // 3)], check=True, capture_output=True, text=True)
    truth = json.loads(change.stdout)
    time.sleep(4)  # past the window in which a file's identity is its content
    second = []
    for _ in range(a.runs):
        shutil.rmtree(state)
        shutil.copytree(first_state, state)
        dt, report = timed(diff + ["--state", state])
        second.append(dt)
        found = sorted(d["key"]["id"] for d in report["diffs"])
        assert found == truth, (len(found), len(truth))
    m = statistics.median
    print(json.dumps({
        "normal_run_s": m(normal), "first_run_with_state_s": m(first), "second_run_s": m(second),
        "second_vs_first": m(second) / m(first), "second_vs_normal": m(second) / m(normal),
        "state_stats": report["stats"]["state"], "planted": len(truth),
    }, indent=1))
    # Leave RIGHT as it was, for the next run of this script.
    subprocess.run(gen[:2] + [a.dir, "--files", str(a.files), "--rows", str(a.rows), "--change", str(a.files // 3), "--diffs", "0"], check=True, capture_output=True)


if __name__ == "__main__":
    main()
