#!/usr/bin/env bash
# Installs the front-end npm packages (only when package-lock.json is newer
# than the installed tree) and copies xterm.js's browser builds into
# public/vendor/xterm/, which scripts/build-site.sh copies into the site as /vendor/xterm/.
# Idempotent and silent when there is nothing to do; works from any directory.
#
# Vendored files (UMD builds: a classic <script> defines window.Terminal and
# window.FitAddon.FitAddon; public/terminal.js loads them on demand):
#   xterm.js, xterm.css, addon-fit.js, plus their source maps.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '\033[1;34m[vendor-js]\033[0m %s\n' "$*"; }

# --- npm packages --------------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install, so it is older
# than package-lock.json exactly when the lock changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  command -v npm >/dev/null 2>&1 || { echo "vendor-js: npm is not installed" >&2; exit 1; }
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# --- browser builds -----------------------------------------------------------
dest=public/vendor/xterm
files=(
  node_modules/@xterm/xterm/lib/xterm.js
  node_modules/@xterm/xterm/lib/xterm.js.map
  node_modules/@xterm/xterm/css/xterm.css
  node_modules/@xterm/addon-fit/lib/addon-fit.js
  node_modules/@xterm/addon-fit/lib/addon-fit.js.map
)

mkdir -p "$dest"
updated=()
for src in "${files[@]}"; do
  [ -f "$src" ] || { echo "vendor-js: $src is missing (package layout changed?)" >&2; exit 1; }
  dst="$dest/$(basename "$src")"
  if ! cmp -s "$src" "$dst"; then
    # Copy then rename, so a server never sees a half-written file.
    cp "$src" "$dst.tmp.$$"
    mv -f "$dst.tmp.$$" "$dst"
    updated+=("$(basename "$src")")
  fi
done

if [ ${#updated[@]} -gt 0 ]; then
  log "updated $dest: ${updated[*]}"
fi
