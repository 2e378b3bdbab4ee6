#!/bin/sh
# A short stand-in for the official nginx image's /docker-entrypoint.sh: when the command is nginx,
# run the executable /docker-entrypoint.d/*.sh scripts (and source *.envsh), then exec the command.
set -e
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
    for f in $(find /docker-entrypoint.d/ -follow -type f -print | sort -V); do
        case "$f" in
            *.envsh) if [ -x "$f" ]; then . "$f"; fi ;;
            *.sh) if [ -x "$f" ]; then "$f"; fi ;;
        esac
    done
    [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$0: Configuration complete; ready for start up"
fi
exec "$@"
