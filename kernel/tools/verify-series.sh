#!/bin/sh
# verify-series.sh WORKDIR [CONFIG_FRAGMENT...]
#
# Unpack a pristine linux-source-6.1 into WORKDIR/linux, then apply the
# series one patch at a time with `patch -p1 --fuzz=0` (any fuzz, offset
# or reject fails the run) and build bzImage (tinyconfig + fragments, -j2)
# after each patch.  Prints one line per patch with the build time, and
# exits non-zero at the first failure.  Default fragment: qemu-tiny.config.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
work=$1
shift
[ $# -gt 0 ] || set -- "$here/configs/qemu-tiny.config"
tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || { echo "missing $tarball: apt-get install linux-source-6.1" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work/out"
tar -C "$work" -xf "$tarball"
mv "$work/linux-source-6.1" "$work/linux"
cd "$work/linux"
make -s O="$work/out" tinyconfig >/dev/null
(cd "$work/out" && "$work/linux/scripts/kconfig/merge_config.sh" -m .config "$@" >/dev/null)
make -s O="$work/out" olddefconfig

build() {
	start=$(date +%s)
	if ! make -j2 O="$work/out" bzImage >"$work/build-$1.log" 2>&1; then
		echo "$1: BUILD FAILED (see $work/build-$1.log)"
		exit 1
	fi
	echo "$1: build ok in $(( $(date +%s) - start ))s"
}

build 0000-pristine
while read -r p; do
	case "$p" in ''|'#'*) continue ;; esac
	if ! out=$(patch -p1 --fuzz=0 <"$here/patches/$p" 2>&1); then
		echo "$p: DOES NOT APPLY"
		echo "$out"
		exit 1
	fi
	if echo "$out" | grep -qiE 'offset|fuzz'; then
		echo "$p: applies only with offset/fuzz:"
		echo "$out"
		exit 1
	fi
	make -s O="$work/out" olddefconfig
	build "$p"
done <"$here/patches/series"
echo "series ok"
