#!/bin/sh
# The upstream image's contract, reduced: the command runs as redis, in /data.
set -e
chown -R redis:redis /data
exec setpriv --reuid=redis --regid=redis --init-groups "$@"
