#!/usr/bin/env bash
# Start every local PostgreSQL cluster that is down, then wait (at most ~30 s)
# until the server on 127.0.0.1:5432 accepts connections.
set -euo pipefail

HOST=127.0.0.1
PORT=5432
WAIT_SECONDS=30

if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters
    # Columns: version, cluster, port, status, owner, data directory, log file.
    pg_lsclusters -h | while read -r version cluster _port status _rest; do
        if [[ "$status" == down* ]]; then
            echo "Starting PostgreSQL cluster $version/$cluster"
            pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || {
                echo "ci: FAILED: could not start PostgreSQL cluster $version/$cluster" >&2
                exit 1
            }
        fi
    done
else
    echo "pg_lsclusters not found; expecting a PostgreSQL server on $HOST:$PORT already."
fi

ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$HOST" -p "$PORT"
    else
        python3 -c "import socket; socket.create_connection(('$HOST', $PORT), timeout=1).close()" \
            2>/dev/null
    fi
}

for _ in $(seq "$WAIT_SECONDS"); do
    if ready; then
        echo "PostgreSQL accepts connections on $HOST:$PORT."
        exit 0
    fi
    sleep 1
done
echo "ci: FAILED: PostgreSQL is not accepting connections on $HOST:$PORT after ${WAIT_SECONDS}s" >&2
echo "    (start it, e.g. pg_ctlcluster --skip-systemctl-redirect 15 main start)" >&2
exit 1
