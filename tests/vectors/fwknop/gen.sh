#!/bin/sh
# Regenerate the fwknop vectors with Debian's real client (fwknop-client 2.6.x):
#   tests/vectors/fwknop/gen.sh
# Each case writes NAME.pkt (the datagram fwknop would send, no newline) and
# NAME.ts (its timestamp). Nothing is sent (-T) and no rc file is read or
# written: HOME is a throwaway directory.
set -eu
cd "$(dirname "$0")"
KEY=$(sed -n 's/^KEY_BASE64 *//p' keys)
HMAC=$(sed -n 's/^HMAC_KEY_BASE64 *//p' keys)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make_case() {
	name=$1
	shift
	HOME=$tmp fwknop --no-rc-file --no-save-args -T -v -D 127.0.0.1 \
		--key-base64-rijndael "$KEY" --key-base64-hmac "$HMAC" \
		--use-hmac --hmac-digest-type sha256 -B "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1
	tr -d '\n' <"$tmp/$name" >"$name.pkt"
	sed -n 's/^ *Timestamp: *//p' "$tmp/$name.log" | head -n 1 >"$name.ts"
}

make_case access -A tcp/22 -a 10.0.0.1 -U alice
make_case multi -A tcp/22,udp/53 -a 10.0.0.2 -U bob
make_case timeout -A tcp/7000 -a 10.0.0.3 -f 45 -U carol
make_case nat -A tcp/5001 -a 10.0.0.4 -N 192.168.10.23:22 -U dave
make_case nat_timeout -A tcp/5002 -a 10.0.0.5 -N 192.168.10.24:80 -f 60 -U erin
make_case source -A tcp/22 -s -U frank
make_case sha512 -A tcp/22 -a 10.0.0.6 -m sha512 -U gina
make_case sha3 -A tcp/22 -a 10.0.0.7 -m sha3_256 -U hank
