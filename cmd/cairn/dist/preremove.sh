#!/bin/sh
# Stop the agent before its binary goes (not on upgrade: dpkg restarts it
# after, if the admin does).
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl disable --now cairn >/dev/null 2>&1 || true
fi
