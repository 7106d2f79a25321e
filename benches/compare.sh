#!/usr/bin/env bash
# End-to-end benchmark: builds recon (release), installs the Python peers
# (DuckDB, polars, datacompy, reladiff) into a virtual environment under target/, and
# runs benches/compare.py, which generates the datasets and prints one
# Markdown table. Arguments go to compare.py (--cases, --runs, --tools).
#
#   bash benches/compare.sh                     # every case (about an hour)
#   bash benches/compare.sh --cases smoke --runs 1
#   bash benches/compare.sh --cases pg-mariadb-1m,pg-mariadb-10m   # local PostgreSQL + MariaDB
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x /usr/bin/time ] || { echo "benches/compare.sh needs GNU time at /usr/bin/time (apt install time)" >&2; exit 2; }
cargo build --release --quiet

venv=target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# Pinned, so that a rerun measures the same peers.
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    duckdb==2.0.0 polars==1.33.1 datacompy==1.1.0 pyarrow "reladiff[postgresql,mysql]==0.6.0"

exec "$venv/bin/python" benches/compare.py --python "$venv/bin/python" "$@"
