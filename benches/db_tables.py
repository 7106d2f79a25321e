"""Creates the database benchmark tables: `orders` with ROWS rows in
PostgreSQL (left) and its copy in MariaDB (right), generated inside each
server from the same formulas, then DIFFS differences planted on the right
(a third each: changed amounts, deleted rows, inserted rows). Beside it, the
same rows as `order_lines` under a composite key (order_id, line; four lines
an order) on both servers, with the same differences planted on MariaDB's;
and `orders_copy` in the PostgreSQL database: `orders` with the differences
planted (a table and its copy in one database).

    python benches/db_tables.py --rows 1000000 --diffs 100

Prints the truth as JSON: {"database", "changed", "only_left", "only_right"}.
Uses the psql and mariadb clients; servers from RECON_BENCH_PG_HOST etc.
or the local defaults (PostgreSQL 127.0.0.1:5432 user postgres, MariaDB
127.0.0.1:3306 user root). Tables already built with the same sizes are
kept (a marker table records the sizes).
"""

import argparse
import json
import os
import subprocess

PG = ["psql", "-h", os.environ.get("RECON_BENCH_PG_HOST", "127.0.0.1"), "-U", "postgres",
      "-v", "ON_ERROR_STOP=1", "-q", "-At"]
MY = ["mariadb", "-h", os.environ.get("RECON_BENCH_MYSQL_HOST", "127.0.0.1"), "-u", "root", "-N", "-B"]


def pg(sql, db="postgres"):
    return subprocess.run(PG + ["-d", db, "-c", sql], check=True, capture_output=True, text=True).stdout


def my(sql, db=None):
    argv = MY + ([db] if db else []) + ["-e", sql]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def planted(rows, diffs):
    """Keys of the planted differences, spread over the whole key range."""
    step = rows // max(diffs, 1)
    changed, deleted, inserted = [], [], []
    for i in range(diffs):
        kind = i % 3
        if kind == 0:
            changed.append(i * step + 3)
        elif kind == 1:
            deleted.append(i * step + 5)
        else:
            inserted.append(rows + 1 + i)
    return changed, deleted, inserted


def build(rows, diffs):
    db = f"recon_bench_{rows}_{diffs}"
    marker = f"{rows} {diffs} v2"
    exists = pg(f"SELECT 1 FROM pg_database WHERE datname = '{db}'").strip() == "1"
    if exists:
        try:
            if (pg("SELECT note FROM marker", db).strip() == marker
                    and my("SELECT note FROM marker", db).strip() == marker):
                return db
        except subprocess.CalledProcessError:
            pass
    pg(f"DROP DATABASE IF EXISTS {db}")
    pg(f"CREATE DATABASE {db}")
    pg(f"""
        CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, status varchar(16),
            amount numeric(12,2), price double precision, created timestamp, note text);
        INSERT INTO orders
        SELECT g, 'customer ' || (g % 9973), (ARRAY['new','paid','shipped','cancelled'])[1 + g % 4],
               (g % 100000) / 100.0, (g % 1000) * 0.25,
               timestamp '2024-01-01' + g * interval '1 second',
               CASE WHEN g % 11 = 0 THEN NULL ELSE 'note é€ ' || (g % 7) END
        FROM generate_series(1, {rows}) g;
    """, db)
    pg("VACUUM ANALYZE orders", db)
    my(f"DROP DATABASE IF EXISTS {db}")
    my(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    my(f"""
        CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, status varchar(16),
            amount decimal(12,2), price double, created datetime(6), note text);
        INSERT INTO orders
        SELECT seq, CONCAT('customer ', seq % 9973), ELT(1 + seq % 4, 'new','paid','shipped','cancelled'),
               (seq % 100000) / 100, (seq % 1000) * 0.25,
               TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND,
               CASE WHEN seq % 11 = 0 THEN NULL ELSE CONCAT('note é€ ', seq % 7) END
        FROM seq_1_to_{rows};
    """, db)
    lines = """
        CREATE TABLE order_lines (order_id bigint, line int, customer text NOT NULL,
            status varchar(16), amount {decimal}, price {double}, created {timestamp}, note text,
            PRIMARY KEY (order_id, line));
        INSERT INTO order_lines
        SELECT (id - 1) {div} 4 + 1, (id - 1) % 4 + 1, customer, status, amount, price, created, note
        FROM orders;
    """
    pg(lines.format(decimal="numeric(12,2)", double="double precision", timestamp="timestamp", div="/"), db)
    pg("VACUUM ANALYZE order_lines", db)
    my(lines.format(decimal="decimal(12,2)", double="double", timestamp="datetime(6)", div="DIV"), db)
    pg("CREATE TABLE orders_copy (LIKE orders INCLUDING ALL); "
       "INSERT INTO orders_copy SELECT * FROM orders", db)
    changed, deleted, inserted = planted(rows, diffs)
    for table, key, run in (("orders", "id", my), ("order_lines", "(order_id - 1) * 4 + line", my),
                            ("orders_copy", "id", lambda sql, db: pg(sql, db))):
        statements = []
        if changed:
            statements.append(f"UPDATE {table} SET amount = amount + 1 WHERE {key} IN ({','.join(map(str, changed))})")
        if deleted:
            statements.append(f"DELETE FROM {table} WHERE {key} IN ({','.join(map(str, deleted))})")
        for k in inserted:
            ids = f"{(k - 1) // 4 + 1}, {(k - 1) % 4 + 1}" if table == "order_lines" else str(k)
            statements.append(
                f"INSERT INTO {table} VALUES ({ids}, 'customer new', 'new', 1.50, 0.5, "
                f"'2025-01-01 00:00:00', 'inserted')")
        run(";\n".join(statements) + ";", db)
    pg("VACUUM ANALYZE orders_copy", db)
    for run in (pg, my):
        run(f"CREATE TABLE marker (note text); INSERT INTO marker VALUES ('{marker}')", db)
    return db


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--diffs", type=int, required=True)
    args = parser.parse_args()
    db = build(args.rows, args.diffs)
    changed, deleted, inserted = planted(args.rows, args.diffs)
    print(json.dumps({"database": db, "changed": changed, "only_left": deleted, "only_right": inserted}))


if __name__ == "__main__":
    main()
