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
psql "$url/$db" -q -f "$here/raw_table.sql"
# The append with the previous hash stored as the event's: what the chain's sha256 costs.
unhashed=$(mktemp)
trap 'rm -f "$unhashed"' EXIT
sed 's/eventlog\.event_hash(.*)$/n.prev/' "$here/append_one.sql" > "$unhashed"
for round in 1 2; do
    for script in raw_insert append_one unhashed; do
        file="$here/$script.sql"
        [ "$script" = unhashed ] && file=$unhashed
        printf '%s round %s: ' "$script" "$round"
        "$pgbench" -h 127.0.0.1 -U postgres -n -M prepared -c 16 -j 2 -T 10 \
            -f "$file" "$db" | grep -E "^(tps|latency average)|error" | tr "\n" " "
        echo
    done
done
psql "$url/postgres" -qc "DROP DATABASE $db"
