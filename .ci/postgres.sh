#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: bash .ci/postgres.sh start DIR [PORT]
# (initdb as the `postgres` user when run as root, trust auth on loopback
# only, socket in DIR; a restart without PORT uses the port of the first
# start), bash .ci/postgres.sh stop|kill DIR.
# Prints the URL tests use: postgres://postgres@127.0.0.1:PORT/postgres
set -euo pipefail
cmd=$1 dir=$2
port=${3:-$(cat "$dir/hvx.port" 2>/dev/null || echo 54329)}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $bin/pg_ctl ]] || { echo "postgres.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_pg() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case $cmd in
start)
    if [[ ! -f $dir/PG_VERSION ]]; then
        mkdir -p "$dir"
        [[ $(id -u) == 0 ]] && chown postgres: "$dir"
        as_pg "$bin/initdb" -D "$dir" -U postgres -A trust -E UTF8 --no-sync >"$dir.initdb.log" 2>&1 \
            || { cat "$dir.initdb.log" >&2; exit 1; }
    fi
    echo "$port" >"$dir/hvx.port"
    as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop) as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null ;;
kill) as_pg "$bin/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null ;;
*) echo "usage: postgres.sh start|stop|kill DIR [PORT]" >&2; exit 2 ;;
esac
