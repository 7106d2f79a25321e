"""Writes a TPC-H-shaped `lineitem` pair as CSV: 16 columns (integers,
decimals written with two places, one-character flags, three dates, short and
free-text strings), composite key (l_orderkey, l_linenumber), rows in key
order as dbgen writes them, 1 to 7 lines per order with sparse order keys.
The right side has `--deletes` rows removed, `--updates` rows with one value
changed and `--inserts` new lines (line number 8 of an existing order), and
stays in key order. The ground truth goes to truth.json.

    python lineitem.py --out DIR --rows 6000000 --inserts 300 --deletes 300 --updates 300
"""

import argparse
import json
from pathlib import Path

import numpy
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as csv

WORDS = ("furiously regular deposits sleep carefully final accounts haggle quickly "
         "ironic packages pending requests express theodolites bold instructions "
         "slyly even foxes blithely unusual pinto beans dolphins across the above").split()


def comments(rng, n):
    """Free text of 10 to 43 characters, drawn from a pool of phrases."""
    pool = []
    for _ in range(200_000):
        text = " ".join(rng.choice(WORDS, size=8))
        pool.append(text[: rng.integers(10, 44)])
    return pa.array(pool).take(pa.array(rng.integers(0, len(pool), size=n)))


def decimal(values):
    """DECIMAL(15,2), written with two places as dbgen writes it."""
    return pc.cast(pa.array(numpy.round(values, 2)), pa.decimal128(15, 2))


def lineitem(rng, rows):
    lines_per_order = rng.integers(1, 8, size=rows // 2 + 8)
    ends = numpy.cumsum(lines_per_order)
    orders = int(numpy.searchsorted(ends, rows)) + 1
    lines_per_order = lines_per_order[:orders]
    lines_per_order[-1] -= int(lines_per_order.sum() - rows)
    # dbgen's order keys: 8 of every 32 used.
    index = numpy.arange(orders)
    orderkeys = (index // 8) * 32 + index % 8 + 1
    orderkey = numpy.repeat(orderkeys, lines_per_order)
    starts = numpy.repeat(numpy.cumsum(lines_per_order) - lines_per_order, lines_per_order)
    linenumber = numpy.arange(rows) - starts + 1
    quantity = rng.integers(1, 51, size=rows).astype("float64")
    price = numpy.round(quantity * rng.uniform(901.0, 2099.0, size=rows), 2)
    shipdate = rng.integers(8036, 10560, size=rows)  # 1992-01-02 .. 1998-12-01
    return pa.table({
        "l_orderkey": pa.array(orderkey, pa.int64()),
        "l_partkey": pa.array(rng.integers(1, 200_001, size=rows), pa.int64()),
        "l_suppkey": pa.array(rng.integers(1, 10_001, size=rows), pa.int64()),
        "l_linenumber": pa.array(linenumber, pa.int32()),
        "l_quantity": decimal(quantity),
        "l_extendedprice": decimal(price),
        "l_discount": decimal(rng.integers(0, 11, size=rows) / 100.0),
        "l_tax": decimal(rng.integers(0, 9, size=rows) / 100.0),
        "l_returnflag": pa.array(numpy.array(["R", "A", "N"])[rng.integers(0, 3, size=rows)]),
        "l_linestatus": pa.array(numpy.array(["O", "F"])[rng.integers(0, 2, size=rows)]),
        "l_shipdate": pa.array(shipdate.astype("int32"), pa.date32()),
        "l_commitdate": pa.array((shipdate + rng.integers(-60, 60, size=rows)).astype("int32"), pa.date32()),
        "l_receiptdate": pa.array((shipdate + rng.integers(1, 31, size=rows)).astype("int32"), pa.date32()),
        "l_shipinstruct": pa.array(numpy.array(["DELIVER IN PERSON", "COLLECT COD", "NONE",
                                                "TAKE BACK RETURN"])[rng.integers(0, 4, size=rows)]),
        "l_shipmode": pa.array(numpy.array(["REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL",
                                            "FOB"])[rng.integers(0, 7, size=rows)]),
        "l_comment": comments(rng, rows),
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--inserts", type=int, default=300)
    parser.add_argument("--deletes", type=int, default=300)
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = numpy.random.default_rng(args.seed)
    left = lineitem(rng, args.rows)

    picked = rng.choice(args.rows, size=args.deletes + args.updates, replace=False)
    deleted, updated = picked[: args.deletes], picked[args.deletes:]
    keep = numpy.ones(args.rows, dtype=bool)
    keep[deleted] = False
    quantity = pc.cast(left["l_quantity"], pa.float64()).to_numpy().copy()
    quantity[updated] += 1.0
    right = left.set_column(4, "l_quantity", decimal(quantity)).filter(pa.array(keep))
    # New lines: number 8 of orders that have none (at most 7 lines an order).
    orders = numpy.unique(left["l_orderkey"].to_numpy())
    new_orders = rng.choice(orders, size=args.inserts, replace=False)
    extra = left.take(pa.array(rng.integers(0, args.rows, size=args.inserts)))
    extra = extra.set_column(0, "l_orderkey", pa.array(new_orders, pa.int64()))
    extra = extra.set_column(3, "l_linenumber", pa.array(numpy.full(args.inserts, 8), pa.int32()))
    right = pa.concat_tables([right, extra]).sort_by([("l_orderkey", "ascending"),
                                                     ("l_linenumber", "ascending")])

    def keys(table, rows):
        t = table.take(pa.array(rows))
        return sorted(zip(t["l_orderkey"].to_pylist(), t["l_linenumber"].to_pylist()))

    truth = {
        "left_rows": left.num_rows,
        "right_rows": right.num_rows,
        "only_left": keys(left, deleted),
        "only_right": sorted(zip(new_orders.tolist(), [8] * args.inserts)),
        "changed": keys(left, updated),
    }
    for name, table in (("left", left), ("right", right)):
        partial = out / f"{name}.csv.partial"
        csv.write_csv(table, partial, csv.WriteOptions(quoting_style="needed"))
        partial.rename(out / f"{name}.csv")
    (out / "truth.json").write_text(json.dumps(truth))


if __name__ == "__main__":
    main()
