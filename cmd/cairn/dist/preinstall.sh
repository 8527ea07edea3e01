#!/bin/sh
# The cairn system user and group own the data dir; the agent runs as them.
set -e
if ! getent group cairn >/dev/null 2>&1; then
	groupadd --system cairn
fi
if ! getent passwd cairn >/dev/null 2>&1; then
	useradd --system --gid cairn --home-dir /var/lib/cairn --no-create-home \
		--shell /usr/sbin/nologin --comment "Cairn management node" cairn
fi
