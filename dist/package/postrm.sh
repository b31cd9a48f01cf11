#!/bin/sh
# After removal. remove keeps /etc/hairpin (dpkg keeps the conffile) and the daemon's state; purge removes
# both, with whatever the user or the daemon added there (secrets, the lock, the WAN set intent).
set -e

if [ "$1" = purge ]; then
	rm -rf /etc/hairpin /var/lib/hairpin
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
