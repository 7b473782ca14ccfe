#!/usr/bin/env bash
# Vendors uPlot (the console's chart library, DESIGN.md "Dependencies") into
# polyad/console/static/vendor/uplot/: the minified IIFE build, its CSS and its LICENSE, plus a
# VERSION file with the version, the npm tarball's integrity and the sha256 of each copied file
# (tests/console/test_vendored.py checks the copy against it).
#
#   scripts/vendor-uplot.sh
#
# Needs npm (only to fetch the tarball: nothing is installed, no node_modules or package.json
# is written in the repository), tar and openssl. To move to another release: set VERSION and
# INTEGRITY below (`npm view uplot@NEW dist.integrity`), rerun, and commit the result.
set -euo pipefail

VERSION=1.6.32
INTEGRITY=sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==

# upstream path in the tarball -> name in the vendor folder
FILES=(
  "package/dist/uPlot.iife.min.js:uPlot.iife.min.js"
  "package/dist/uPlot.min.css:uPlot.min.css"
  "package/LICENSE:LICENSE"
)

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=$repo/polyad/console/static/vendor/uplot
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "vendor-uplot: $*" >&2; exit 1; }

registry=$(cd "$work" && npm view "uplot@$VERSION" dist.integrity)
[ "$registry" = "$INTEGRITY" ] \
  || fail "the registry's integrity for uplot@$VERSION is $registry, the pinned one $INTEGRITY"

# --ignore-scripts: packing a registry spec runs no lifecycle script, but say so anyway
tarball=$(cd "$work" && npm pack "uplot@$VERSION" --ignore-scripts --silent)
actual=sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | openssl base64 -A)
[ "$actual" = "$INTEGRITY" ] \
  || fail "$tarball has integrity $actual, expected $INTEGRITY"

members=()
for pair in "${FILES[@]}"; do members+=("${pair%%:*}"); done
tar -xzf "$work/$tarball" -C "$work" "${members[@]}"

rm -rf "$dest"
mkdir -p "$dest"
{
  echo "# uPlot from the npm registry, written by scripts/vendor-uplot.sh: rerun it, do not edit."
  echo "version $VERSION"
  echo "integrity $INTEGRITY"
} > "$dest/VERSION"
for pair in "${FILES[@]}"; do
  name=${pair#*:}
  cp "$work/${pair%%:*}" "$dest/$name"
  chmod 644 "$dest/$name"
  digest=$(openssl dgst -sha256 -r "$dest/$name")
  echo "sha256 $name ${digest%% *}" >> "$dest/VERSION"
done

echo "vendor-uplot: uplot@$VERSION ($INTEGRITY) -> polyad/console/static/vendor/uplot/"
