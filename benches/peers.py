"""The tools recon is measured against, one per subcommand, each run in its
own process so that its wall time and peak RSS are its own.

Every diff prints the number of differing keys it found, so the driver can
check that all tools agree with the ground truth before it compares speed.

    python peers.py duckdb-diff   LEFT RIGHT KEY[,KEY...]
    python peers.py duckdb-floor  LEFT RIGHT
    python peers.py datacompy     LEFT RIGHT KEY
    python peers.py db-floor      DATABASE TABLES
"""

import sys


def reader(path):
    if path.endswith(".csv"):
        return f"read_csv('{path}')"
    return f"read_parquet('{path}')"


def columns(con, path):
    return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader(path)}").fetchall()]


def duckdb_diff(left, right, key):
    """The diff as one SQL query: full outer join on the key, IS DISTINCT FROM
    on every other column, the differing rows materialised."""
    import duckdb

    con = duckdb.connect()
    keys = key.split(",")
    cols = [c for c in columns(con, left) if c not in keys]
    changed = " OR ".join(f'l."{c}" IS DISTINCT FROM r."{c}"' for c in cols)
    on = " AND ".join(f'l."{k}" = r."{k}"' for k in keys)
    query = f"""
        SELECT l.*, r.*
        FROM {reader(left)} l FULL OUTER JOIN {reader(right)} r ON {on}
        WHERE l."{keys[0]}" IS NULL OR r."{keys[0]}" IS NULL OR {changed}
    """
    table = con.sql(query).to_arrow_table()
    print(table.num_rows)


def duckdb_floor(left, right):
    """What reading every value costs DuckDB: both files decoded and every
    column hashed, nothing compared."""
    import duckdb

    con = duckdb.connect()
    for path in (left, right):
        cols = ", ".join(f'"{c}"' for c in columns(con, path))
        con.execute(f"SELECT sum(hash({cols})) FROM {reader(path)}").fetchall()
    print(0)


def datacompy_polars(left, right, key):
    """datacompy's polars backend, as its documentation shows it."""
    import polars as pl
    from datacompy.polars import PolarsCompare

    read = pl.read_csv if left.endswith(".csv") else pl.read_parquet
    compare = PolarsCompare(read(left), read(right), join_columns=key)
    differing = (
        compare.df1_unq_rows.height
        + compare.df2_unq_rows.height
        + compare.all_mismatch().height
    )
    print(differing)


def db_floor(database, tables):
    """The cheapest in-database pass recon's checksums could hope for: one MD5
    of each row's plain CONCAT_WS (no canonical forms), summed with no
    grouping, on both sides at once; PostgreSQL with its parallel workers,
    MariaDB in two halves on two connections. `tables` is as in compare.py:
    orders (PostgreSQL and MariaDB), lines (order_lines on both), same-db
    (orders and orders_copy in PostgreSQL)."""
    import subprocess

    values = "customer, status, amount, price, created, note"
    key, table = ("order_id, line", "order_lines") if tables == "lines" else ("id", "orders")
    first = key.split(",")[0]
    pg_sum = ("SELECT sum(('x' || substr(md5(concat_ws('|', {k}, {v})), 1, 15))::bit(60)::bigint) "
              "FROM {t}")
    my_sum = ("SELECT sum(conv(substr(md5(concat_ws('|', {k}, {v})), 1, 15), 16, 10)) FROM {t} "
              "WHERE {f} {op} (SELECT (MIN({f}) + MAX({f})) DIV 2 FROM {t})")
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-At", "-c"]
    mariadb = ["mariadb", "-h", "127.0.0.1", "-u", "root", "-N", "-B", database, "-e"]
    if tables == "same-db":
        commands = [psql + [pg_sum.format(k=key, v=values, t=t)] for t in ("orders", "orders_copy")]
    else:
        commands = [psql + [pg_sum.format(k=key, v=values, t=table)]]
        commands += [mariadb + [my_sum.format(k=key, v=values, t=table, f=first, op=op)]
                     for op in ("<=", ">")]
    running = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in commands]
    if any(p.wait() != 0 for p in running):
        sys.exit("a floor query failed")
    print(0)


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "duckdb-diff":
        duckdb_diff(*args)
    elif command == "duckdb-floor":
        duckdb_floor(*args)
    elif command == "datacompy":
        datacompy_polars(*args)
    elif command == "db-floor":
        db_floor(*args)
    else:
        sys.exit(f"unknown peer: {command}")


if __name__ == "__main__":
    main(sys.argv)
