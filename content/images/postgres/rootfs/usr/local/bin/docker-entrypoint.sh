#!/bin/sh
# Entrypoint of drydock/postgres:15 (busybox sh). It accepts the settings of
# the official postgres image and behaves the same way for them:
#
#   POSTGRES_PASSWORD          password of the superuser; needed to initialise
#   POSTGRES_USER              name of the superuser (default: postgres)
#   POSTGRES_DB                database created at initialisation (default: the user's name)
#   POSTGRES_INITDB_ARGS       extra arguments for initdb
#   POSTGRES_HOST_AUTH_METHOD  how TCP clients authenticate (default: scram-sha-256)
#   POSTGRES_PASSWORD_FILE, POSTGRES_USER_FILE, POSTGRES_DB_FILE,
#   POSTGRES_INITDB_ARGS_FILE  the value read from a file instead (a secret);
#                              setting both forms of one variable is an error
#
# Initialisation happens once, when $PGDATA holds no cluster yet; then the
# files in /docker-entrypoint-initdb.d (*.sql, *.sql.gz, *.sql.xz, *.sh) run in
# name order. Any command other than postgres (psql, pg_dump, sh ...) runs as
# given.
set -eu
set -o pipefail

info() { echo "entrypoint: $*"; }
fail() { echo "entrypoint: error: $*" >&2; exit 1; }

# from_env_or_file NAME [DEFAULT]: NAME is taken from $NAME or from the file
# named by $NAME_FILE, never both.
from_env_or_file() {
    eval "direct=\${$1:-} file=\${$1_FILE:-}"
    if [ -n "$direct" ] && [ -n "$file" ]; then
        fail "both $1 and $1_FILE are set; use only one of them"
    fi
    if [ -n "$file" ]; then
        [ -r "$file" ] || fail "$1_FILE=$file: no such file, or not readable by uid $(id -u)"
        direct=$(cat "$file")
    fi
    [ -n "$direct" ] || direct=${2:-}
    eval "$1=\$direct"
    export "$1"
    unset "$1_FILE"
}

# An option as first argument is meant for the server.
case "${1:-}" in
    -*) set -- postgres "$@" ;;
    '') set -- postgres ;;
esac

# Anything else than the server runs as it is (psql, pg_dump, sh ...).
[ "$1" = postgres ] || exec "$@"

# So do questions to the server (postgres --version, -C shared_buffers ...).
for arg; do
    case "$arg" in
        -'?'|--help|-V|--version|--describe-config|-C|-C*) exec "$@" ;;
    esac
done

[ "$(id -u)" != 0 ] || fail "PostgreSQL refuses to run as root; run the container as the postgres user (uid 999, the image's default), not with --user root/0."

# writable DIR: can this user create files in DIR? (A real try: under gVisor,
# test -w does not see that a file system is mounted read-only.)
writable() {
    touch "$1/.entrypoint-probe" 2>/dev/null && rm -f "$1/.entrypoint-probe"
}

# The server writes its socket and a lock file here (a tmpfs on a read-only root).
mkdir -p /var/run/postgresql 2>/dev/null || true
writable /var/run/postgresql || fail "/var/run/postgresql is not writable by uid $(id -u); with --read-only, add --tmpfs /var/run/postgresql."

# PGDATA must belong to this user with mode 0700: a fresh named volume does,
# because the image's directory does.
mkdir -p "$PGDATA" 2>/dev/null || fail "cannot create PGDATA=$PGDATA as uid $(id -u)."
if ! writable "$PGDATA"; then
    fail "PGDATA=$PGDATA is not writable by uid $(id -u) (it belongs to uid $(stat -c %u "$PGDATA")); use a named volume, or a directory that belongs to uid 999."
fi
chmod 700 "$PGDATA" 2>/dev/null || true

if [ -s "$PGDATA/PG_VERSION" ]; then
    info "$PGDATA already holds a PostgreSQL $(cat "$PGDATA/PG_VERSION") cluster; skipping initialisation."
else
    from_env_or_file POSTGRES_PASSWORD
    from_env_or_file POSTGRES_USER postgres
    from_env_or_file POSTGRES_DB "$POSTGRES_USER"
    from_env_or_file POSTGRES_INITDB_ARGS
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

    if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
        cat >&2 <<'EOF'
entrypoint: error: the database is not initialised and no superuser password is set.

  Give one, either directly:   -e POSTGRES_PASSWORD=...
  or from a file (a secret):   -e POSTGRES_PASSWORD_FILE=/run/secrets/db-password

  (-e POSTGRES_HOST_AUTH_METHOD=trust lets anyone who can reach port 5432 in
  without a password. Never do that outside an exercise.)
EOF
        exit 1
    fi

    info "initialising a cluster in $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)"
    # The password reaches initdb through a pipe, never a file on disk. Local
    # (socket) connections are trusted, as in the official image: "docker exec
    # ... psql" needs no password; TCP clients need it.
    if [ -n "$POSTGRES_PASSWORD" ]; then
        pwfile=--pwfile=/dev/stdin
    else
        pwfile=
    fi
    # C locale: no locale files needed, byte-order sorting; UTF8 text.
    # eval: POSTGRES_INITDB_ARGS may contain quoted words.
    printf '%s\n' "$POSTGRES_PASSWORD" | eval 'initdb --username="$POSTGRES_USER" $pwfile \
        --auth-local=trust --auth-host="$auth" --encoding=UTF8 --locale=C '"$POSTGRES_INITDB_ARGS"

    # Accept TCP clients from any address (other containers), with a password.
    printf '\n# Added by the entrypoint: clients of other containers.\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
    printf "\n# Added by the entrypoint: listen on every interface of the container.\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

    # A temporary server for the setup: no TCP, and its socket in a private
    # directory, so pg_isready and clients only see the real server later.
    export PGHOST=/var/run/postgresql/.initdb PGPORT=5432 PGUSER="$POSTGRES_USER" PGDATABASE=postgres
    mkdir -p -m 700 "$PGHOST"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=$PGHOST" start

    run_psql() { psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password -q "$@"; }
    if [ "$POSTGRES_DB" != postgres ]; then
        echo 'CREATE DATABASE :"db";' | run_psql --set db="$POSTGRES_DB"
    fi
    export PGDATABASE="$POSTGRES_DB"

    for f in /docker-entrypoint-initdb.d/*; do
        [ -e "$f" ] || continue
        case "$f" in
            *.sh)
                # Executable scripts run on their own, the others in this shell.
                info "running $f"
                if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
            *.sql)    info "running $f"; run_psql -f "$f" ;;
            *.sql.gz) info "running $f"; gunzip -c "$f" | run_psql ;;
            *.sql.xz) info "running $f"; xzcat "$f" | run_psql ;;
            *)        info "ignoring $f" ;;
        esac
    done

    pg_ctl -D "$PGDATA" -w -m fast stop
    rmdir "$PGHOST" 2>/dev/null || true
    unset PGHOST PGPORT PGUSER PGDATABASE
    info "initialisation complete; starting the server"
fi

exec "$@"
