#!/usr/bin/env bash
# Installs what xlb needs on a fresh Debian/Ubuntu machine. Idempotent; run
# as root. XLB_DEPS=lab: only what the netns lab needs (the BPF objects are
# committed, so building xlb needs Go alone); default: everything the tests
# and benchmarks need too.
set -euo pipefail
need=(iputils-ping iproute2 ethtool nginx curl procps ca-certificates make)
if [ "${XLB_DEPS:-all}" != lab ]; then
  need+=(clang llvm libbpf-dev linux-libc-dev bpftool keepalived tcpdump bird2 wrk vagrant psmisc kmod git python3)
  need+=(qemu-system-x86 busybox-static cpio python3-matplotlib)
fi
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# nginx, keepalived and bird (the router of the BGP lab) are started by the
# tests in namespaces, never as system services.
for s in nginx keepalived bird; do
  systemctl disable --now "$s" >/dev/null 2>&1 || true
done
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  echo "note: add /usr/local/go/bin to PATH"
fi
# Pins need a bpf filesystem.
if ! mountpoint -q /sys/fs/bpf; then mount -t bpf bpf /sys/fs/bpf; fi
