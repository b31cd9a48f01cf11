# Sourced by scripts/dist.sh and scripts/bench-size.sh: the release's architectures and their Go targets.
# shellcheck shell=bash

# The router build's flags: no lab (the demo needs a development machine) and no test doubles (nolab; tests
# run without it), no HTTP/2 in net/http (nethttpomithttp2, 0.5 MB: every API hairpin calls and every page it
# serves speaks HTTP/1.1), no inlining (-l: 10% smaller; the daemon spends its time waiting, the kernel carries
# the packets).
GOFLAGS_DIST=(-trimpath -tags nolab,nethttpomithttp2 -gcflags=all=-l)

# goenv ARCH prints the Go target of one of amd64 arm64 armv7 armv6 mips mipsle riscv64 (MIPS soft-float:
# most MIPS routers have no FPU).
goenv() {
  case $1 in
  armv7) echo "GOARCH=arm GOARM=7" ;;
  armv6) echo "GOARCH=arm GOARM=6" ;;
  mips | mipsle) echo "GOARCH=$1 GOMIPS=softfloat" ;;
  *) echo "GOARCH=$1" ;;
  esac
}
