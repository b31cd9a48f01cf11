#!/usr/bin/env bash
# Installs what hairpin's lab, tests and benchmarks need on Debian (run as root). Safe to run again: it only
# installs what is missing.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have nft       || need+=(nftables)
have ip        || need+=(iproute2)
have sysctl    || need+=(procps)
have iperf3    || need+=(iperf3)
have named     || need+=(bind9)
have dig       || need+=(bind9-dnsutils)
have nsupdate  || need+=(bind9-dnsutils)
# Real DNS servers the rfc2136 tests update (each in a namespace of its own), and libfaketime to shift one
# server's clock for the TSIG BADTIME test.
have knotd       || [ -x /usr/sbin/knotd ] || need+=(knot)
have pdns_server || [ -x /usr/sbin/pdns_server ] || need+=(pdns-server)
ls /usr/lib/*/pdns/libgsqlite3backend.so >/dev/null 2>&1 || need+=(pdns-backend-sqlite3)
have sqlite3     || need+=(sqlite3)
have faketime    || need+=(faketime)
ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || need+=(libfaketime)
[ -x /usr/sbin/miniupnpd ] || need+=(miniupnpd-nftables)  # the lab's UPnP/NAT-PMP/PCP ISP box
have upnpc     || need+=(miniupnpc)
have make      || need+=(make)
have gcc       || need+=(gcc)
[ -x /usr/bin/time ] || need+=(time)   # GNU time: peak memory of `hairpin check` in make bench
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${need[*]}; run as root (sudo) so they can be installed" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# BIND's, Knot's, PowerDNS's and miniupnpd's packaging start system-wide servers; hairpin's tests run their own, so keep
# them out of the way.
for svc in named knot pdns miniupnpd; do
  if have systemctl && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
done

if ! have go; then
  echo "Go is not installed: install Go 1.24 or newer (https://go.dev/doc/install) and put it on PATH" >&2
  exit 1
fi
gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/staticcheck" ]; then
  echo "installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
go mod download
