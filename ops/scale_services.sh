#!/usr/bin/env bash
# PostgreSQL and Redis from the Debian packages, on 127.0.0.1, for `make test-scale`: the
# end-to-end tests against the scale-out stores. Every run starts from empty databases.
set -euo pipefail

PG_USER=${YISHI_PG_USER:-yishi}
PG_PASSWORD=${YISHI_PG_PASSWORD:-yishi}
APP_DB=${YISHI_SCALE_APP_DB:-yishi_scale}
RASA_DB=${YISHI_PG_DB:-rasa_scale}
REDIS_PORT=${YISHI_REDIS_PORT:-6379}

export PGOPTIONS="-c client_min_messages=warning"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

# PostgreSQL: the packaged cluster (created when missing), listening on 127.0.0.1 only
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx main; then
  pg_createcluster "$version" main >/dev/null
fi
cluster_version=$(pg_lsclusters -h | awk '$2 == "main" {print $1; exit}')
if ! pg_lsclusters -h | awk '$2 == "main" {print $4}' | grep -qx online; then
  pg_ctlcluster "$cluster_version" main start -- -o "-c listen_addresses=127.0.0.1"
fi
for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
pg_isready -h 127.0.0.1
as_postgres psql -qv ON_ERROR_STOP=1 <<SQL
DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD';
  END IF;
END\$\$;
SQL
for db in "$APP_DB" "$RASA_DB"; do
  as_postgres psql -qv ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    -c "CREATE DATABASE $db OWNER $PG_USER"
done
echo "PostgreSQL $cluster_version on 127.0.0.1:5432: databases $APP_DB, $RASA_DB (owner $PG_USER)"

# Redis: a daemon on 127.0.0.1 without persistence, emptied
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
    --logfile /tmp/yishi-redis.log
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -p "$REDIS_PORT" flushall >/dev/null
echo "Redis on 127.0.0.1:$REDIS_PORT (emptied)"
