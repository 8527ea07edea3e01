#!/bin/sh
# The data dir is the cairn user's alone; the settings are root's, readable
# by the cairn group (they may hold -admin-password).
set -e
chown cairn:cairn /var/lib/cairn
chmod 0750 /var/lib/cairn
chown root:cairn /etc/cairn /etc/cairn/cairn.yaml
chmod 0750 /etc/cairn
chmod 0640 /etc/cairn/cairn.yaml
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
echo "cairn: settings in /etc/cairn/cairn.yaml; start with: systemctl enable --now cairn"
