#!/bin/sh
# The one-event append statement beside a raw INSERT of the same row, without the
# Rust client: pgbench, 16 clients, 10 s each, alternated twice, on a database of
# its own (dropped at the end). Usage: eventlog/pgbench/run.sh [crm binary]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
crm=${1:-./target/release/crm}
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench | tail -1)
db=crm_pgbench_append
url=postgres://postgres@127.0.0.1:5432
psql "$url/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
"$crm" --database-url "$url/$db" migrate > /dev/null
psql "$url/$db" -q <<'SQL'
CREATE TABLE bench_raw (
    position        bigserial   PRIMARY KEY,
    tx_id           bigint      NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    version         bigint      NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    hash            bytea       NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE INDEX ON bench_raw (tx_id, position);
SQL
for round in 1 2; do
    for script in raw_insert append_one append_one_unhashed; do
        printf '%s round %s: ' "$script" "$round"
        "$pgbench" -h 127.0.0.1 -U postgres -n -M prepared -c 16 -j 2 -T 10 \
            -f "$here/$script.sql" "$db" | grep -E "^(tps|latency average)|error" | tr "\n" " "
        echo
    done
done
psql "$url/postgres" -qc "DROP DATABASE $db"
