#!/bin/sh
# The data dir (/var/lib/cairn) and the cairn user stay, also on purge: the
# data dir holds the zone's replicated state. Remove them by hand.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
