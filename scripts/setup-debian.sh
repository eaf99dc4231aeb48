#!/usr/bin/env bash
# Install everything postern needs to build, test, fuzz and benchmark on
# Debian 12. Idempotent: packages already present are not fetched again.
set -euo pipefail

pkgs=(
	build-essential pkg-config clang clang-format libclang-rt-14-dev
	libssl-dev libuv1-dev libinih-dev libcmocka-dev libjson-c-dev
	python3 python3-pytest python3-pytest-timeout python3-cryptography python3-prometheus-client
	openssh-server openssh-client curl iperf3 iproute2 netcat-openbsd
	valgrind
	libnftables-dev nftables fwknop-client fwknop-server
	libhiredis-dev redis-server
	scdoc debhelper lintian fakeroot systemd man-db bash-completion
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# sshd refuses to start without its privilege-separation directory.
[ -d /run/sshd ] || mkdir -p /run/sshd 2>/dev/null || true
echo "setup: all packages present"
