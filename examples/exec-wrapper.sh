#!/bin/sh
# exec-wrapper.sh [CMD [ARG]...]: run CMD (default: psql) with a tunnel to the
# database that only CMD and its children may use. `postern exec` opens the
# forwards of the profile on a free port, sets POSTERN_PORT (and expands
# $POSTERN_PORT in the arguments), admits only CMD's process tree, and exits
# with CMD's status.
#   exec-wrapper.sh                           # psql to the database
#   exec-wrapper.sh pg_dump -h 127.0.0.1 -p '$POSTERN_PORT' app > app.sql
set -eu

conf=${POSTERN_CONFIG:-/etc/postern/client.conf}
profile=${POSTERN_PROFILE:-db}

if [ "$#" -eq 0 ]; then
	set -- psql -h 127.0.0.1 -p '$POSTERN_PORT'
fi
exec postern exec -c "$conf" "$profile" -- "$@"
