#!/bin/sh
# deps.sh: installs the Debian packages `make perf` uses when they are missing (as root with
# apt-get), or prints the exact apt-get line and fails.
#   gcc, binutils, libc6-dev   vmtime, kvmfloor, the tiny guest, a static link of ember
#   qemu-system-x86            the peer VMM (QEMU microvm)
#   python3                    statistics, smaps, SUMMARY.md
#   gnuplot-nox                the PNG chart
#   valgrind                   callgrind instruction counts (ember's start-up and build)
#   strace                     the per-ioctl breakdown of ember's build work
#   curl, iproute2             API checks, tap devices for virtio-net
#   procps                     ps, free
PKGS="gcc binutils libc6-dev make qemu-system-x86 python3 gnuplot-nox valgrind strace curl iproute2 procps"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "perf deps: installing$missing"
	apt-get update -q >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null ||
		{ echo "perf deps: apt-get install$missing failed"; exit 1; }
else
	echo "perf deps: missing Debian packages:$missing"
	echo "perf deps: run as root: apt-get install$missing"
	exit 1
fi
