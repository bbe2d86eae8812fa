#!/bin/sh
# A stand-in for merge_config.sh -m -O DIR BASE FRAGMENT...: the files
# concatenated; olddefconfig.awk keeps each option's last value.
if [ "$1" != -m ] || [ "$2" != -O ]; then echo "usage: merge_config.sh -m -O DIR BASE FRAGMENT..." >&2; exit 1; fi
out=$3
shift 3
# Like the real one, work on temporary files in the current directory.
tmp=$(mktemp ./.tmp.config.XXXXXXXXXX)
trap 'rm -f "$tmp"' EXIT
cat "$@" > "$out/.config.merged" && mv "$out/.config.merged" "$out/.config"
