#!/usr/bin/env bash
# `make bench`: hairpin's datapath and apply path against the kernel's floor, in throwaway network namespaces.
# Prints a table and writes it to bench/results.txt. Needs root. Extra arguments go to hairpin-bench
# (e.g. `./scripts/bench.sh -only apply -apply 1000:3`; `-h` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "make bench needs root (network namespaces, nftables): run sudo make bench" >&2
  exit 1
fi
for tool in ip nft iperf3 ss; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run ./scripts/deps-test.sh" >&2; exit 1; }
done
[ -x bin/hairpin ] || CGO_ENABLED=0 go build -tags lab -o bin/hairpin ./cmd/hairpin
go build -o bin/hairpin-bench ./bench/cmd/hairpin-bench
# exec: Ctrl-C reaches hairpin-bench directly, which removes its namespaces and stops its processes.
exec ./bin/hairpin-bench -bin bin/hairpin -out bench/results.txt "$@"
