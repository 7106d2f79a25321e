#!/usr/bin/env python3
"""A lake of Parquet files and its copy, for `--state` (issue 16).

Writes LEFT/part-NNN.parquet (FILES files of ROWS rows each, keys in order
across files, 10 columns) and RIGHT/ as a byte copy; `--change N` then
rewrites file N of RIGHT with DIFFS rows changed (a value of one column),
and prints the changed keys as JSON (the truth).

usage: state_files.py DIR [--files 50] [--rows 1000000] [--change 17 --diffs 25]
"""
import argparse, json, os, shutil
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def table(first, rows, seed):
    rng = np.random.default_rng(seed)
    ids = np.arange(first, first + rows, dtype=np.int64)
    return pa.table({
        "id": ids,
        "qty": rng.integers(0, 1000, rows, dtype=np.int32),
        "price": pa.array(rng.integers(0, 10**7, rows), pa.int64()),
        "score": rng.random(rows),
        "name": pa.array([f"name-{i % 9973}" for i in range(first, first + rows)]),
        "category": pa.array([f"c{i % 17}" for i in range(first, first + rows)]),
        "ts": pa.array(ids * 1_000_000, pa.timestamp("us")),
        "active": pa.array((ids % 3) == 0),
        "note": pa.array([None if i % 11 == 0 else f"n{i % 101}" for i in range(first, first + rows)]),
        "amount_cents": rng.integers(-10**9, 10**9, rows, dtype=np.int64),
    })


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--files", type=int, default=50)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--change", type=int)
    p.add_argument("--diffs", type=int, default=25)
    a = p.parse_args()
    left, right = os.path.join(a.dir, "left"), os.path.join(a.dir, "right")
    name = lambda n: f"part-{n:03d}.parquet"
    if a.change is None:
        os.makedirs(left, exist_ok=True)
        os.makedirs(right, exist_ok=True)
        for n in range(a.files):
            pq.write_table(table(n * a.rows, a.rows, n), os.path.join(left, name(n)),
                           row_group_size=256 * 1024)
            shutil.copyfile(os.path.join(left, name(n)), os.path.join(right, name(n)))
        return
    t = table(a.change * a.rows, a.rows, a.change)
    rng = np.random.default_rng(1234)
    rows = sorted(rng.choice(a.rows, a.diffs, replace=False).tolist())
    qty = t.column("qty").to_numpy().copy()
    for r in rows:
        qty[r] = qty[r] + 1
    t = t.set_column(1, "qty", pa.array(qty, pa.int32()))
    path = os.path.join(right, name(a.change))
    pq.write_table(t, path + ".tmp", row_group_size=256 * 1024)
    os.replace(path + ".tmp", path)
    print(json.dumps(sorted(a.change * a.rows + r for r in rows)))


if __name__ == "__main__":
    main()
