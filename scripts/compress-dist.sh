#!/bin/sh
# Writes a brotli (.br) and a gzip (.gz) copy beside each hashed asset of a release build, which the relay
# sends to browsers that accept them (server/src/assets.rs). trunk runs this as its post-build hook
# (Trunk.toml) on its staging directory, so the copies reach dist/ together with the build, wherever dist/
# is; a debug build (`trunk serve`) skips it. Compressing here, once, affords brotli's slowest and
# smallest level, which a relay compressing at start or on request could not.
#
# Usage: scripts/compress-dist.sh [DIR]   (DIR defaults to $TRUNK_STAGING_DIR)
set -eu
[ "${TRUNK_PROFILE:-release}" = release ] || exit 0
dir=${1:-${TRUNK_STAGING_DIR:?usage: scripts/compress-dist.sh DIR}}
command -v brotli >/dev/null || { echo "compress-dist: brotli is missing (scripts/setup.sh installs it)" >&2; exit 1; }

cd "$dir"
# Names with trunk's content hash (a '-', 16 hex digits, then '.', '_' or a directory's '/'), of types that
# compress; hidden files and directories (trunk's .stage) are left alone, as the relay never serves them.
find . -mindepth 1 -name '.*' -prune -o -type f -regextype posix-extended \
  -regex '.*-[0-9a-f]{16}([._/].*)?\.(wasm|js|mjs|css|svg|json|map|html|txt)' -print |
while IFS= read -r file; do
  brotli --quality=11 --stdout -- "$file" > "$file.br"
  gzip -9 --no-name --stdout -- "$file" > "$file.gz"
  # A copy that is not smaller than its file is worth nothing.
  size=$(wc -c < "$file")
  for copy in "$file.br" "$file.gz"; do
    [ "$(wc -c < "$copy")" -lt "$size" ] || rm -f -- "$copy"
  done
done
