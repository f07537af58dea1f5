#!/bin/bash
# Build the kernel-IPVS benchmark VM: Debian bookworm's own 6.1 kernel + a busybox
# initramfs holding ip_vs*, pktgen, veth, bridge modules, ipvsadm, iproute2, ethtool.
# Debian packages only (apt-get download). Everything lands in bench/.cache/vm-<kernel> and is
# reused on the next run (delete that folder, or pass --force, to rebuild).
#
# Output: bench/.cache/vm-6.1/{vmlinuz,base.cpio.gz,KVER} (vm-6.12/ with XLB_VM_KERNEL=6.12)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
BENCH="$(dirname "$HERE")"
# XLB_VM_KERNEL: 6.1 (default: bookworm's own linux-image-amd64) or 6.12 (bookworm's
# linux-image-6.12-amd64), or an exact package name. One cache folder per choice.
KSEL="${XLB_VM_KERNEL:-6.1}"
CACHE="${XLB_BENCH_CACHE:-$BENCH/.cache}/vm-$KSEL"
DEBS="$CACHE/debs"
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

log() { echo "[build] $*" >&2; }

if [ $FORCE = 0 ] && [ -s "$CACHE/base.cpio.gz" ] && [ -s "$CACHE/vmlinuz" ] \
   && [ "$CACHE/base.cpio.gz" -nt "$HERE/build.sh" ] && [ "$CACHE/base.cpio.gz" -nt "$HERE/init" ]; then
	log "cached: $CACHE/base.cpio.gz (use --force to rebuild)"
	exit 0
fi

mkdir -p "$DEBS"

# --- host tools --------------------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v zstd >/dev/null || need_pkgs+=(zstd)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing host tools: ${need_pkgs[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# --- which kernel --------------------------------------------------------------------
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then apt-get update -qq; fi
case "$KSEL" in
6.1) KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1[^ ]*-amd64\)$/\1/p' | head -1) ;;
6.12) KPKG=$(apt-cache depends linux-image-6.12-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.12[^ ]*-amd64\)$/\1/p' | head -1) ;;
*) KPKG="$KSEL" ;;
esac
[ -n "$KPKG" ] || { log "cannot resolve linux-image-*-amd64 (bookworm 6.1)"; exit 1; }
log "kernel package: $KPKG"

PKGS=("$KPKG" busybox-static ipvsadm iproute2 ethtool
	libnl-3-200 libnl-genl-3-200 libpopt0
	libbpf1 libbsd0 libcap2 libdb5.3 libelf1 libmnl0 libselinux1 libtirpc3 libxtables12
	libmd0 zlib1g libpcre2-8-0 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2
	libkrb5support0 libkeyutils1)

# --- download (cached) -----------------------------------------------------------------
(
	cd "$DEBS"
	for p in "${PKGS[@]}"; do
		if ! ls "${p}"_*.deb >/dev/null 2>&1; then
			log "apt-get download $p"
			apt-get download -qq -o APT::Sandbox::User=root "$p" || { apt-get update -qq && apt-get download -qq -o APT::Sandbox::User=root "$p"; }
		fi
	done
)

# --- extract -----------------------------------------------------------------------------
X="$CACHE/extract"
rm -rf "$X"; mkdir -p "$X"
for d in "$DEBS"/*.deb; do dpkg-deb -x "$d" "$X"; done
KVER=$(ls "$X/lib/modules" | head -1)
echo "$KVER" > "$CACHE/KVER"
cp "$X/boot/vmlinuz-$KVER" "$CACHE/vmlinuz"
log "kernel $KVER"

# --- initramfs tree ------------------------------------------------------------------------
R="$CACHE/root"
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,proc,sys,dev,tmp,run,etc,mnt,var/run,lib/modules/xlb}
cp "$X/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
	[ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done

# dynamic tools + their shared libraries (resolved against the extracted tree first, then the host)
TOOLS=("$X/sbin/ipvsadm" "$X/bin/ip" "$X/sbin/bridge" "$X/sbin/ethtool")
[ -e "$X/sbin/ip" ] && TOOLS+=("$X/sbin/ip")
LIBPATH="$X/lib/x86_64-linux-gnu:$X/usr/lib/x86_64-linux-gnu"
for t in "${TOOLS[@]}"; do
	[ -e "$t" ] || continue
	cp -L "$t" "$R/sbin/$(basename "$t")"
	LD_LIBRARY_PATH="$LIBPATH" ldd "$t" | while read -r a b c _; do
		lib=""
		if [ "$b" = "=>" ]; then
			[ "$c" = "not" ] && { log "MISSING library $a for $t"; exit 1; }
			lib="$c"
		elif [ -e "$a" ]; then lib="$a"; fi
		[ -n "$lib" ] || continue
		case "$lib" in /lib64/*) dst="$R/lib64";; *) dst="$R/lib/x86_64-linux-gnu";; esac
		mkdir -p "$dst"
		cp -L "$lib" "$dst/$(basename "$lib")"
	done
done
mkdir -p "$R/usr/share/iproute2" "$R/etc/iproute2"
ln -sf /sbin/ip "$R/bin/ip"   # override busybox's ip applet with the real one

# kernel modules: resolve dependencies with modules.dep, decompress, record load order
MODDIR="$X/lib/modules/$KVER"
WANT="crc32c_generic veth bridge ip_vs ip_vs_rr ip_vs_wrr ip_vs_wlc ip_vs_sh ip_vs_mh pktgen"
# The .deb ships no modules.dep (depmod runs at install time), so read each module's
# "depends=" from its .modinfo section instead.
declare -A MODPATH=()
while read -r f; do
	b=$(basename "$f"); b="${b%%.ko*}"; MODPATH[${b//-/_}]="$f"
done < <(cd "$MODDIR" && find kernel -name '*.ko*')
modcat() { case "$1" in *.xz) xz -dc "$1";; *.zst) zstd -qdc "$1";; *) cat "$1";; esac; }
declare -A SEEN=()
ORDER=()
visit() {
	local n="${1//-/_}" path deps d
	[ -n "${SEEN[$n]:-}" ] && return 0
	SEEN[$n]=1
	path="${MODPATH[$n]:-}"
	if [ -z "$path" ]; then
		if grep -qE "/${1}\.ko" "$MODDIR/modules.builtin"; then return 0; fi
		log "module $1 not found"; exit 1
	fi
	deps=$(modcat "$MODDIR/$path" | grep -a -o 'depends=[^[:cntrl:]]*' | head -1 | cut -d= -f2)
	for d in ${deps//,/ }; do visit "$d"; done
	ORDER+=("$path")
}
for m in $WANT; do visit "$m"; done
: > "$R/lib/modules/xlb/order"
for p in "${ORDER[@]}"; do
	b=$(basename "${p%%.ko*}")
	case "$p" in
		*) modcat "$MODDIR/$p" > "$R/lib/modules/xlb/$b.ko";;
	esac
	echo "$b" >> "$R/lib/modules/xlb/order"
done
log "modules: $(tr '\n' ' ' < "$R/lib/modules/xlb/order")"

cp "$HERE/init" "$R/init"; chmod +x "$R/init"
echo "xlb-bench-vm" > "$R/etc/hostname"
echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"

# /dev/console and /dev/null must exist before devtmpfs is mounted: cpio takes them from
# a newc list (no root privileges or mknod needed for the archive itself).
(
	cd "$R"
	{ find . -mindepth 1 | sed 's|^\./||'; } > "$CACHE/filelist"
	find . -mindepth 1 -print0 | cpio --null -o -H newc --owner=0:0 --quiet > "$CACHE/base.cpio.tmp"
)
# device nodes via a second tiny archive built from a temporary dir with mknod (we are root)
DEVD=$(mktemp -d)
mkdir -p "$DEVD/dev"
mknod -m 600 "$DEVD/dev/console" c 5 1
mknod -m 666 "$DEVD/dev/null" c 1 3
(cd "$DEVD" && find dev -print0 | cpio --null -o -H newc --owner=0:0 --quiet) >> "$CACHE/base.cpio.tmp"
rm -rf "$DEVD"
gzip -1 -c "$CACHE/base.cpio.tmp" > "$CACHE/base.cpio.gz"
rm -f "$CACHE/base.cpio.tmp"
log "initramfs: $CACHE/base.cpio.gz ($(du -h "$CACHE/base.cpio.gz" | cut -f1))"
