# Sourced by scripts/dist.sh and scripts/bench-size.sh: the release's architectures and their Go targets.
# shellcheck shell=bash

# The router build's flags: no inlining (-l: 10% smaller; the daemon spends its time waiting, the kernel
# carries the packets); its tags come from disttags.
GOFLAGS_DIST=(-trimpath -gcflags=all=-l)

# disttags ARCH prints the router build's tags for one architecture: no test doubles (nolab: the nft package's
# fake kernel; tests run without the tag; the lab is in no build without the tag lab), no HTTP/2 in net/http
# (nethttpomithttp2, 0.5 MB: every API hairpin calls and every page it serves speaks HTTP/1.1), and on mips and mipsle no TLS server
# (notlsserver, 0.17 MB: only `probe-server --tls-cert` serves TLS, and a probe server runs at a second site
# or on a VPS, not on a 16 MB MIPS router; those builds refuse --tls-cert and say so).
disttags() {
  case $1 in
  mips | mipsle) echo "nolab,nethttpomithttp2,notlsserver" ;;
  *) echo "nolab,nethttpomithttp2" ;;
  esac
}

# distldflags ARCH prints the router build's linker flags for one architecture: stripped (-s -w), and on mips
# and mipsle segments aligned to 16 KiB instead of the linker's 64 KiB (-R 0x4000): the file then carries at
# most 16 KiB of padding before each of its two later segments instead of up to 64 KiB (about 64 KB less
# today), and it still loads on kernels with 4 KiB pages (every OpenWrt MIPS target) or 16 KiB pages; MIPS
# kernels with 64 KiB pages cannot run it.
distldflags() {
  case $1 in
  mips | mipsle) echo "-s -w -R 0x4000" ;;
  *) echo "-s -w" ;;
  esac
}

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
