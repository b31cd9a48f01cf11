#!/usr/bin/env bash
# `make dist`: release archives, Debian and RPM packages, OpenWrt .ipk packages and SHA256SUMS in dist/.
# The version is the git tag on HEAD (v1.2.3 -> 1.2.3), else 0.0.0-COMMIT. DIST_ARCHS limits the
# architectures (the package test builds only amd64): amd64 arm64 armv7 armv6 mips mipsle riscv64.
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM_VERSION=v2.48.0
ARCHS=(${DIST_ARCHS:-amd64 arm64 armv7 armv6 mips mipsle riscv64})
. scripts/goenv.sh

commit=$(git rev-parse --short=12 HEAD)
if tag=$(git describe --tags --exact-match 2>/dev/null); then
  version=${tag#v}
else
  version=0.0.0-$commit
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}

# nfpm is a tool, kept out of the daemon's module graph: installed at a pinned version like staticcheck
# (scripts/deps-test.sh installs it too, so the package test does not compile it).
gobin="$(go env GOPATH)/bin"
nfpm="$gobin/nfpm"
if ! go version -m "$nfpm" 2>/dev/null | grep -q "nfpm/v2[[:space:]]*$NFPM_VERSION"; then
  echo "installing nfpm $NFPM_VERSION"
  GOFLAGS= go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
fi

out=dist
build=$out/build
rm -rf "$build"
rm -f "$out"/hairpin_*.tar.gz "$out"/hairpin_*.deb "$out"/hairpin-*.rpm "$out"/hairpin_*.ipk "$out"/SHA256SUMS
mkdir -p "$build/docs"

# The licence: LICENSE when the project has one, else the copyright statement the packages carry.
licence=dist/package/copyright
[ -f LICENSE ] && licence=LICENSE
cp README.md "$build/docs/README.md"
{
  cat dist/package/copyright
  if [ -f LICENSE ]; then echo; cat LICENSE; fi
} >"$build/docs/copyright"
# The config the packages install: a placeholder of comments only, hairpin init's starter commented out. It
# changes no rule, the unit refuses to start on it (hairpin check: "the file is empty, run hairpin init"), and
# hairpin init writes over it.
go run ./cmd/hairpin init --wan eth0 --lan br-lan -o "$build/init.yaml" >/dev/null
{
  cat <<'HEAD'
# hairpin's config: a placeholder from the package, comments only, so installing changed no rule and started
# nothing. Write your config over it with hairpin init, e.g.
#   hairpin init --forward front-cam=8090:192.168.1.180:80
# or uncomment the starter below and edit it. Then:
#   hairpin check
#   systemctl enable --now hairpin      (OpenWrt: /etc/init.d/hairpin enable && /etc/init.d/hairpin start)
#
HEAD
  sed -e 's/^\([^#]\)/# \1/' "$build/init.yaml"
} >"$build/docs/hairpin.yaml"
placeholder=$(go run ./cmd/hairpin check -c "$build/docs/hairpin.yaml" 2>&1 || true)
if [[ $placeholder != *"hairpin init"* ]]; then
  echo "the placeholder config is not one: hairpin check does not point at hairpin init" >&2
  exit 1
fi

date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
printf 'hairpin (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- hairpin maintainers <hairpin-nat@users.noreply.github.com>  %s\n' \
  "$version" "$commit" "$date" | gzip -n -9 >"$build/docs/changelog.gz"

for arch in "${ARCHS[@]}"; do
  bin=$build/$arch/hairpin
  echo "build linux/$arch"
  env CGO_ENABLED=0 GOOS=linux $(goenv "$arch") go build "${GOFLAGS_DIST[@]}" -tags "$(disttags "$arch")" \
    -ldflags "$(distldflags "$arch") -X main.version=$version -X main.commit=$commit" -o "$bin" ./cmd/hairpin

  name=hairpin_${version}_linux_${arch}
  stage=$build/archive/$name
  mkdir -p "$stage"
  cp "$bin" README.md dist/hairpin.service "$build/docs/hairpin.yaml" "$stage/"
  cp "$licence" "$stage/$(basename "$licence" | sed 's/^copyright$/COPYRIGHT/')"
  cp -r examples "$stage/examples"
  tar -C "$build/archive" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -czf "$out/$name.tar.gz" "$name"

  # Packages: .deb and .rpm where Debian and RPM distributions run, .ipk for OpenWrt's common targets.
  deb='' rpm='' ipk=''
  case $arch in
  amd64) deb=amd64 rpm=x86_64 ;;
  arm64) deb=arm64 rpm=aarch64 ipk=aarch64_cortex-a53 ;;
  armv7) deb=armhf rpm=armv7hl ipk=arm_cortex-a7_neon-vfpv4 ;;
  mips) ipk=mips_24kc ;;
  mipsle) ipk=mipsel_24kc ;;
  esac
  export VERSION=$version BIN=$bin DOCS=$build/docs
  if [ -n "$deb" ]; then
    PKG_ARCH=$deb "$nfpm" package -f dist/package/nfpm.yaml -p deb -t "$out/hairpin_${version}_$deb.deb"
  fi
  if [ -n "$rpm" ]; then
    PKG_ARCH=$rpm "$nfpm" package -f dist/package/nfpm.yaml -p rpm -t "$out/hairpin-${version}.$rpm.rpm"
  fi
  if [ -n "$ipk" ]; then
    PKG_ARCH=$ipk "$nfpm" package -f dist/openwrt/nfpm.yaml -p ipk -t "$out/hairpin_${version}_$ipk.ipk"
  fi
done

# The OpenWrt feed recipe, stamped with this release, with its init script and the placeholder config.
feed=$build/openwrt-feed/hairpin
mkdir -p "$feed/files"
sed -e "s/^PKG_VERSION:=.*/PKG_VERSION:=${version%%-*}/" \
  -e "s/^PKG_SOURCE_VERSION:=.*/PKG_SOURCE_VERSION:=$(git rev-parse HEAD)/" dist/openwrt/hairpin/Makefile >"$feed/Makefile"
cp dist/openwrt/hairpin/files/hairpin.init "$feed/files/"
cp "$build/docs/hairpin.yaml" "$feed/files/hairpin.yaml"
tar -C "$build/openwrt-feed" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  -czf "$out/hairpin_${version}_openwrt-feed.tar.gz" hairpin

shopt -s nullglob
cd "$out"
made=(hairpin_*.tar.gz hairpin_*.deb hairpin-*.rpm hairpin_*.ipk)
sha256sum "${made[@]}" >SHA256SUMS
echo "dist/ (version $version):"
for f in "${made[@]}" SHA256SUMS; do printf '  %10d  %s\n' "$(stat -c %s "$f")" "$f"; done
