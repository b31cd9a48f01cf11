#!/usr/bin/env bash
# Installs what `make lab` needs on Debian (run as root), and nothing else: the lab builds its network in
# namespaces of its own, with nftables and iproute2, sets sysctls there (procps) and runs BIND's named on its
# internet host. It never stops a system service: the lab's named runs in its own namespace, on its own
# address, with its pid and key files in a temporary directory, beside any system named.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }
need=()
have nft    || need+=(nftables)
have ip     || need+=(iproute2)
have sysctl || need+=(procps)
have named  || [ -x /usr/sbin/named ] || need+=(bind9)
have make   || need+=(make)
# `lab --ha`: two routers with VRRP and connection-state sync, each started by the lab in its namespace.
[ -x /usr/sbin/keepalived ] || need+=(keepalived)
[ -x /usr/sbin/conntrackd ] || need+=(conntrackd)
# DEPS_EXTRA: the packages scripts/deps-test.sh adds, so one apt-get run installs both sets.
read -r -a extra <<<"${DEPS_EXTRA:-}"
need+=("${extra[@]}")
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${need[*]}; run as root (sudo) so they can be installed" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The servers hairpin's lab and tests run are started by them, in their namespaces. Debian's packages would
  # also start and enable system-wide ones (named listening on every address of a router): a policy-rc.d that
  # says no keeps the packages this run installs from starting anything, and their units are left disabled.
  # Services that were installed before are not touched.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod 755 "$guard"
    trap 'rm -f "$guard"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  for pkg in "${need[@]}"; do
    case "$pkg" in
    bind9) unit=named ;; knot) unit=knot ;; pdns-server) unit=pdns ;; miniupnpd-nftables) unit=miniupnpd ;; prometheus) unit=prometheus ;;
    keepalived) unit=keepalived ;; conntrackd) unit=conntrackd ;;
    *) continue ;;
    esac
    if have systemctl && [ -d /run/systemd/system ]; then systemctl disable --quiet "$unit" 2>/dev/null || true; fi
  done
fi

# Go: the version go.mod asks for, or newer.
want=$(sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' go.mod)
if ! have go; then
  echo "Go is not installed: install Go $want or newer (https://go.dev/doc/install) and put it on PATH" >&2
  exit 1
fi
got=$(go env GOVERSION | sed 's/^go//; s/[^0-9.].*//')
if [ "$(printf '%s\n%s\n' "$want" "$got" | sort -V | head -1)" != "$want" ]; then
  echo "Go $got is too old: hairpin needs Go $want or newer (go.mod); https://go.dev/doc/install" >&2
  exit 1
fi
