#!/bin/sh
# Before removal (.deb: remove, upgrade; .rpm: 0 erase, 1 upgrade). Removing the package stops the daemon and
# takes hairpin's own rules out of the kernel (hairpin down), so no forward is left behind without the
# program that owns it. An upgrade leaves both alone: postinst restarts the daemon on the new binary.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl disable --now hairpin.service >/dev/null 2>&1 || true
fi
if [ -f /etc/hairpin/hairpin.yaml ]; then
	/usr/bin/hairpin down -c /etc/hairpin/hairpin.yaml ||
		echo "hairpin: could not remove hairpin's rules; remove them with: nft delete table ip hairpin" >&2
fi
exit 0
