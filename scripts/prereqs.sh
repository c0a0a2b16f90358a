#!/usr/bin/env bash
# What `make test` needs from the machine besides .venv/ and Chromium (the `browser` target), and
# why; run by `make prereqs`, which `make test` runs first.
#
#   PostgreSQL on 127.0.0.1:5432, user postgres, trust auth   the store, scale-out and channel
#       tests create a fresh database there for each test (RELAYDESK_TEST_PG overrides the URL)
#   PostgreSQL server binaries (/usr/lib/postgresql/N/bin)    the fault tests run a private
#       cluster (initdb, pg_ctl) that they stop and restart; as root it runs as the postgres user
#   Redis on 127.0.0.1:6379                                    coordination and scale-out tests
#       (RELAYDESK_TEST_REDIS overrides the URL)
#   redis-server on PATH                                       the fault tests' private Redis
#
# As root with apt-get, what is missing is installed (Debian's postgresql and redis-server), and a
# local server that is not answering is started. Whatever is still missing is named on ONE line.
# With CI=true that line is an error (exit 1), so CI cannot go green while tests skip; otherwise
# it is a warning and the tests that need the missing piece skip or fail, each saying why.
set -uo pipefail

PYTHON=${PYTHON:-.venv/bin/python}
PG_URL=${RELAYDESK_TEST_PG:-postgresql://postgres@127.0.0.1:5432/postgres}
REDIS_URL=${RELAYDESK_TEST_REDIS:-redis://127.0.0.1:6379/0}
case "${CI:-}" in true | TRUE | True | 1 | yes) in_ci=1 ;; *) in_ci=0 ;; esac

missing=()
can_install=0
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && can_install=1
apt_updated=0

say() { echo "prereqs: $*" >&2; }

apt_install() {
    [ "$can_install" = 1 ] || return 1
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq >/dev/null && apt_updated=1
    fi
    say "installing $* (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Whether the database / Redis at the URLs answers, asked with the drivers the tests use.
pg_answers() {
    "$PYTHON" - "$PG_URL" <<'EOF' 2>/dev/null
import asyncio, sys
import asyncpg

async def main() -> None:
    url = sys.argv[1].replace("postgresql://", "postgres://", 1)
    conn = await asyncio.wait_for(asyncpg.connect(url), 5)
    await conn.fetchval("select 1")
    await conn.close()

asyncio.run(main())
EOF
}

redis_answers() {
    "$PYTHON" - "$REDIS_URL" <<'EOF' 2>/dev/null
import sys
import redis

redis.Redis.from_url(sys.argv[1], socket_timeout=3).ping()
EOF
}

# is_here URL PORT: whether URL is this machine's server on PORT, the one this script may start.
is_here() { case "$1" in *127.0.0.1:"$2"/* | *localhost:"$2"/* | *127.0.0.1:"$2" | *localhost:"$2") return 0 ;; esac; return 1; }

wait_for() { # wait_for CHECK SECONDS
    local i
    for ((i = 0; i < $2 * 2; i++)); do "$1" && return 0; sleep 0.5; done
    return 1
}

pg_binaries() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }

if [ ! -x "$PYTHON" ]; then
    say "no $PYTHON: run \`make install\` first"
    exit 1
fi

# PostgreSQL: the server binaries (fault tests), then the shared server on 5432.
fresh_pg=0
if ! pg_binaries; then
    if apt_install postgresql && pg_binaries; then fresh_pg=1; fi
fi
pg_binaries || missing+=("PostgreSQL server binaries (apt-get install postgresql)")
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    missing+=("a postgres user (the fault tests run initdb as it; apt-get install postgresql)")
fi

if ! pg_answers; then
    if is_here "$PG_URL" 5432 && [ "$(id -u)" = 0 ] && command -v pg_lsclusters >/dev/null; then
        cluster=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 {print $1, $2; exit}')
        if [ -z "$cluster" ] && pg_binaries; then
            # No cluster on 5432: create one that trusts local connections, as the tests expect.
            ver=$(basename "$(dirname "$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -1)")")")
            say "creating PostgreSQL $ver cluster 'main' on 5432 (trust auth for local connections)"
            pg_createcluster "$ver" main --port 5432 -- --auth-local=trust --auth-host=trust >/dev/null
            cluster="$ver main"
        elif [ -n "$cluster" ] && [ "$fresh_pg" = 1 ]; then
            # The cluster apt-get just created asks for passwords; this machine's tests use trust.
            hba="/etc/postgresql/${cluster// //}/pg_hba.conf"
            sed -i -E 's/^(local|host)(\s+all\s+all\s+.*)(peer|md5|scram-sha-256)$/\1\2trust/' "$hba"
        fi
        if [ -n "$cluster" ]; then
            say "starting PostgreSQL cluster $cluster"
            # shellcheck disable=SC2086  # "VERSION NAME", two arguments
            pg_ctlcluster $cluster start 2>/dev/null || pg_ctlcluster $cluster reload 2>/dev/null
            wait_for pg_answers 20
        fi
    fi
    pg_answers || missing+=("PostgreSQL answering at $PG_URL without a password (trust auth)")
fi

# Redis: redis-server (fault tests), then the shared server on 6379.
command -v redis-server >/dev/null || apt_install redis-server
command -v redis-server >/dev/null || missing+=("redis-server (apt-get install redis-server)")
if ! redis_answers; then
    if is_here "$REDIS_URL" 6379 && command -v redis-server >/dev/null; then
        say "starting Redis on 127.0.0.1:6379"
        service redis-server start >/dev/null 2>&1 ||
            redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no \
                --logfile /tmp/relaydesk-redis.log >/dev/null
        wait_for redis_answers 10
    fi
    redis_answers || missing+=("Redis answering at $REDIS_URL")
fi

if [ ${#missing[@]} = 0 ]; then
    say "ok: PostgreSQL ($PG_URL) and its server binaries, Redis ($REDIS_URL)"
    exit 0
fi
line=$(printf '%s; ' "${missing[@]}")
line=${line%; }
if [ "$in_ci" = 1 ]; then
    say "missing (CI=true, failing): $line"
    exit 1
fi
say "missing (the tests that need it will skip or fail; CI=true fails here): $line"
exit 0
