#!/usr/bin/env bash
# make bench's binary sizes: the router build (make dist's flags) per architecture, stripped and xz -9e, beside
# the same architectures built from BASE (a6ec2f7: main before issue 21, as the issue measured it: -trimpath,
# -ldflags "-s -w", CGO off) in the same run, from git archive. SIZE_ARCHS limits the architectures.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh

BASE=${SIZE_BASE:-a6ec2f7}
ARCHS=(${SIZE_ARCHS:-amd64 arm64 armv7 armv6 mips mipsle riscv64})
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

base=1
if git cat-file -e "$BASE^{commit}" 2>/dev/null; then
  mkdir "$tmp/base"
  git archive "$BASE" | tar -x -C "$tmp/base"
else
  echo "sizes: commit $BASE is not in this clone's history (a shallow clone?): this build only"
  base=0
fi

mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
xzsize() { xz -9e -c "$1" | wc -c; }

echo "Binary size, MiB (stripped; xz -9e), the router build against $BASE (goal: mipsle <= 10 MB, xz about 3.5 MB; amd64 <= 10 MB)"
printf '%-8s %10s %8s %10s %8s %7s\n' arch now xz "$BASE" xz ratio
for arch in "${ARCHS[@]}"; do
  env CGO_ENABLED=0 GOOS=linux $(goenv "$arch") go build "${GOFLAGS_DIST[@]}" -tags "$(disttags "$arch")" -ldflags "$(distldflags "$arch")" -o "$tmp/now-$arch" ./cmd/hairpin
  now=$(stat -c %s "$tmp/now-$arch")
  nowxz=$(xzsize "$tmp/now-$arch")
  if [ "$base" = 1 ]; then
    (cd "$tmp/base" && env CGO_ENABLED=0 GOOS=linux $(goenv "$arch") go build -trimpath -ldflags "-s -w" -o "$tmp/base-$arch" ./cmd/hairpin)
    was=$(stat -c %s "$tmp/base-$arch")
    wasxz=$(xzsize "$tmp/base-$arch")
    printf '%-8s %10s %8s %10s %8s %6.2fx\n' "$arch" "$(mb "$now")" "$(mb "$nowxz")" "$(mb "$was")" "$(mb "$wasxz")" \
      "$(awk -v a="$now" -v b="$was" 'BEGIN { print a / b }')"
  else
    printf '%-8s %10s %8s\n' "$arch" "$(mb "$now")" "$(mb "$nowxz")"
  fi
done

# What `go build` and `go install` give with no flags of ours: the size a user who builds it gets, and the
# figure the budget is held to. GOARCH alone (no GOMIPS, no tags, no -gcflags).
budget=10485760
echo
echo "Plain go build (-trimpath -ldflags \"-s -w\", CGO off, no tags), bytes (goal: <= $budget, 10 MiB)"
for arch in mipsle amd64; do
  env CGO_ENABLED=0 GOOS=linux GOARCH="$arch" GOMIPS= go build -trimpath -ldflags "-s -w" -o "$tmp/plain-$arch" ./cmd/hairpin
  n=$(stat -c %s "$tmp/plain-$arch")
  verdict=PASS
  [ "$n" -le "$budget" ] || verdict=FAIL
  printf '%-8s %10s  %s MiB  %s (%s bytes to spare)\n' "$arch" "$n" "$(mb "$n")" "$verdict" "$((budget - n))"
done
