#!/bin/sh
# Starts redis-server for a private container network. The password user comes from the
# environment and is written to a config file, not the command line, so `ps` does not show it.
# Extra arguments are passed on to redis-server (e.g. --appendfsync everysec).
set -eu
: "${STOCK_REDIS_USER:?set STOCK_REDIS_USER}"
: "${STOCK_REDIS_PASSWORD:?set STOCK_REDIS_PASSWORD}"
# Redis 7.0 replays MULTI/EXEC blocks of the AOF as the default user: with that user off, every
# transaction is refused at load and the data is lost on restart. So the default user stays on, with
# all rights but a random password nobody is told, which refuses anonymous clients just the same.
default_password=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
conf=$(mktemp /tmp/redis.XXXXXX.conf)
cat > "$conf" <<CONF
bind * -::*
port 6379
protected-mode no
dir /data
appendonly yes
appendfsync always
maxmemory-policy noeviction
user default on >${default_password} ~* &* +@all
user ${STOCK_REDIS_USER} on >${STOCK_REDIS_PASSWORD} ~* &* +@all
CONF
exec redis-server "$conf" "$@"
