#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, the whole test suite, then the API
# fuzzed against its OpenAPI document (scripts/fuzz.sh), against a PostgreSQL server.
# Works from any folder of a fresh clone.
#
# The database: $DATABASE_URL if set; else a server already answering on
# 127.0.0.1:5432 as user postgres; else a private throwaway cluster on port 55432,
# started here and stopped on exit. The tests (#[sqlx::test]) create a database of
# their own per test in that server.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> cargo fmt"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

# The PostgreSQL binaries: on PATH, else in the newest /usr/lib/postgresql/*/bin (Debian).
pg_bin() {
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
        return
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -n "$dir" && -x "$dir/$1" ]]; then
        echo "$dir/$1"
    else
        echo "error: $1 not found; install PostgreSQL: apt-get install postgresql" >&2
        return 1
    fi
}

# True when a server answers on 127.0.0.1:$1 and lets user postgres in.
answers() {
    local port=$1 pg_isready
    pg_isready=$(pg_bin pg_isready 2>/dev/null) || return 1
    "$pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -t 3 || return 1
    # pg_isready does not log in: check that user postgres gets in without a password.
    if command -v psql >/dev/null 2>&1; then
        PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p "$port" -U postgres -d postgres \
            -w -Atqc 'select 1' >/dev/null 2>&1 || return 1
    fi
}

# Starts a private cluster on port 55432 in a folder under /tmp, stopped and
# removed on exit. PostgreSQL refuses to run as root: then it runs as user postgres,
# from that folder (the clone may be under /root, which that user cannot enter).
start_private_cluster() {
    local port=55432
    local initdb pg_ctl
    initdb=$(pg_bin initdb)
    pg_ctl=$(pg_bin pg_ctl)
    PG_DIR=$(mktemp -d /tmp/crm-test-pg.XXXXXX)
    as_pg=()
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres:postgres "$PG_DIR"
        as_pg=(runuser -u postgres --)
    fi
    PG_CTL=$pg_ctl
    trap stop_private_cluster EXIT

    echo "==> starting a private PostgreSQL on port $port in $PG_DIR"
    (cd "$PG_DIR" &&
        "${as_pg[@]}" "$initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null &&
        "${as_pg[@]}" "$pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
            -o "-p $port -h 127.0.0.1 -k $PG_DIR" start >/dev/null)
    DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_private_cluster() {
    (cd "$PG_DIR" && "${as_pg[@]}" "$PG_CTL" -D "$PG_DIR/data" -m fast -w stop) >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}

if [[ -n "${DATABASE_URL:-}" ]]; then
    echo "==> using DATABASE_URL"
elif answers 5432; then
    echo "==> using the PostgreSQL on 127.0.0.1:5432"
    DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
else
    start_private_cluster
fi
export DATABASE_URL

# The web app's browser test drives headless Chromium through chromedriver (Debian's
# packages); installed once when missing and when we may (root with apt-get). Without
# them that one test says it is skipped.
if ! command -v chromedriver >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing chromium and chromium-driver (the web app's browser test)"
        (apt-get update -q >/dev/null &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null) ||
            echo "warning: chromium could not be installed; the browser test will be skipped" >&2
    else
        echo "warning: no chromedriver; the web app's browser test will be skipped" >&2
    fi
fi

echo "==> cargo test"
log=$(mktemp /tmp/crm-test-log.XXXXXX)
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"

# The HTTP API fuzzed against its OpenAPI document (schemathesis): one more test.
echo "==> fuzzing the API (scripts/fuzz.sh)"
fuzz=0
./scripts/fuzz.sh || fuzz=$?

# One closing line over every test binary (a crate's integration tests are one binary,
# tests/main.rs) and the fuzzing (cargo's last line is the doc-tests').
awk -v fuzz="$fuzz" '/^test result:/ { p += $4; f += $6 }
    END { if (fuzz == 0) p += 1; else f += 1; printf "all tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$fuzz"
