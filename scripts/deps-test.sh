#!/usr/bin/env bash
# Installs what `make test` (and `make bench`) need on Debian (run as root): everything `make lab` needs, the
# real peers the tests run against (BIND, Knot, PowerDNS, miniupnpd), the tools they use, gcc for -race and
# staticcheck. Every server a test starts runs in a namespace of its own (or on a free loopback port when not
# root) with its pid, lock and control files in the test's temporary directory, so system services of the
# same names may keep running: nothing here stops them. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }
need=()
have iperf3   || need+=(iperf3)      # make bench's throughput
have dig      || need+=(bind9-dnsutils)
have nsupdate || need+=(bind9-dnsutils)
# Real DNS servers the rfc2136 tests update, and libfaketime to shift one server's clock for the TSIG BADTIME
# test.
have knotd       || [ -x /usr/sbin/knotd ] || need+=(knot)
have pdns_server || [ -x /usr/sbin/pdns_server ] || need+=(pdns-server)
ls /usr/lib/*/pdns/libgsqlite3backend.so >/dev/null 2>&1 || need+=(pdns-backend-sqlite3)
have sqlite3     || need+=(sqlite3)
have faketime    || need+=(faketime)
ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || need+=(libfaketime)
[ -x /usr/sbin/miniupnpd ] || need+=(miniupnpd-nftables)  # the UPnP/NAT-PMP/PCP ISP box of the tests and `lab --isp upnp`
have upnpc     || need+=(miniupnpc)
have gcc       || need+=(gcc)       # go test -race needs cgo
[ -x /usr/bin/time ] || need+=(time)   # GNU time: peak memory of `hairpin check` in make bench
have promtool || need+=(prometheus)  # promtool check metrics on the daemon's /metrics
have lintian  || need+=(lintian)     # the .deb of make dist, checked by the package test
have xz       || need+=(xz-utils)    # make bench's compressed binary sizes
have systemd-analyze || need+=(systemd)  # systemd-analyze verify of the unit in the package test
have chromium || need+=(chromium)    # the status page's browser tests (chromedp drives it headless)
have curl     || need+=(curl)        # the command docs/page.md tells users to type, run by a test
have qemu-mipsel || need+=(qemu-user)  # runs the mips and mipsle router builds (dist's TestMIPSBuildsRun)
# The HA pair's VRRP and connection-state sync (docs/ha.md): the tests and `lab --ha` run them in namespaces.
[ -x /usr/sbin/keepalived ] || need+=(keepalived)
[ -x /usr/sbin/conntrackd ] || need+=(conntrackd)
mapfile -t need < <(printf '%s\n' "${need[@]}" | awk 'NF && !seen[$0]++')
DEPS_EXTRA="${need[*]}" ./scripts/deps-lab.sh

gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/staticcheck" ]; then
  echo "installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
# nfpm builds make dist's packages; installed here at the version scripts/dist.sh pins so the package test
# does not compile it.
nfpm_version=$(sed -n 's/^NFPM_VERSION=//p' scripts/dist.sh)
if ! go version -m "$gobin/nfpm" 2>/dev/null | grep -q "nfpm/v2[[:space:]]*$nfpm_version"; then
  echo "installing nfpm $nfpm_version"
  go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version"
fi
go mod download
