#!/bin/sh
# man-fill.sh POSTERN VERSION < PAGE.scd > OUT.scd: fill a man page source's
# generated parts. A line "@SETTINGS ROLE@" becomes `postern settings --scdoc
# ROLE`, "@FLAGS ROLE@" `postern settings --scdoc-flags ROLE`, and @VERSION@
# the version, so the pages follow the settings table with no hand edit.
set -eu
bin=$1
version=$2
while IFS= read -r line; do
	case $line in
	"@SETTINGS server@" | "@SETTINGS client@")
		role=${line#@SETTINGS }
		"$bin" settings --scdoc "${role%@}"
		;;
	"@FLAGS server@" | "@FLAGS client@")
		role=${line#@FLAGS }
		"$bin" settings --scdoc-flags "${role%@}"
		;;
	*@VERSION@*)
		printf '%s\n' "$line" | sed "s/@VERSION@/$version/g"
		;;
	*)
		printf '%s\n' "$line"
		;;
	esac
done
