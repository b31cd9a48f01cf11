#!/bin/sh
# After install or upgrade (.deb: configure; .rpm: 1 install, 2 upgrade). A first install does not start the
# daemon: the shipped config is a placeholder (comments only) until the user writes one. An upgrade restarts
# a running daemon on the new binary (the rules stay in place while it restarts).
set -e

case "$1" in
configure | 1 | 2) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if systemctl is-active --quiet hairpin.service; then
		systemctl try-restart hairpin.service || true
		exit 0
	fi
fi

if [ "$1" = configure ] && [ -n "$2" ] || [ "$1" = 2 ]; then
	exit 0 # an upgrade of a daemon that was not running: leave it so
fi
cat <<'MSG'
hairpin is installed but not started: /etc/hairpin/hairpin.yaml is a placeholder.
  1. hairpin init --forward NAME=PORT:HOST:PORT ...   (writes the config; or edit the placeholder)
  2. hairpin check
  3. systemctl enable --now hairpin
MSG
