#!/usr/bin/env bash
# Builds the hydrated site under target/site with the stable toolchain:
#   1. the `drydock-frontend` crate for wasm32 (the `hydrate` side of `app`),
#   2. wasm-bindgen's JS glue, named as the server's <HydrationScripts> expects
#      (pkg/drydock.js + pkg/drydock.wasm),
#   3. the stylesheet (pkg/drydock.css) and everything under public/.
# Usage: scripts/build-site.sh [dev|release]   (default: release)
# Idempotent: cargo rebuilds only what changed; files are replaced atomically.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-release}
export PATH="$HOME/.cargo/bin:$PATH"
# The server compiles with the same value: its <HydrationScripts> then asks
# for pkg/drydock.wasm (without wasm-bindgen's `_bg` suffix).
export LEPTOS_OUTPUT_NAME=drydock

site=target/site
pkg=$site/pkg
case "$mode" in
  dev) profile=dev; dir=debug ;;
  release) profile=wasm-release; dir=wasm-release ;;
  *) echo "build-site: unknown mode $mode (dev or release)" >&2; exit 2 ;;
esac

log() { printf '\033[1;34m[site]\033[0m %s\n' "$*"; }

log "frontend → wasm32 ($profile)"
cargo build -p drydock-frontend --lib --target wasm32-unknown-unknown --profile "$profile"
wasm=target/wasm32-unknown-unknown/$dir/drydock_frontend.wasm

stage=$(mktemp -d target/site-stage.XXXXXX)
chmod 755 "$stage"
trap 'rm -rf "$stage"' EXIT
# Without the name and producers sections the module is smaller, gzipped,
# than what binaryen's wasm-opt -Oz makes of it (and Debian's wasm-opt 108
# miscompiles wasm-bindgen's externref table).
strip=()
[ "$mode" = release ] && strip=(--remove-name-section --remove-producers-section)
wasm-bindgen --target web --no-typescript "${strip[@]}" --out-dir "$stage" --out-name drydock "$wasm"
mv "$stage/drydock_bg.wasm" "$stage/drydock.wasm"
cp style/main.css "$stage/drydock.css"

mkdir -p "$pkg"
cp -a "$stage/." "$pkg/"
# Static assets (robots.txt, terminal.js, vendored xterm.js) at the site root.
cp -a public/. "$site/"
log "site ready: $(du -h "$pkg/drydock.wasm" | cut -f1) wasm ($mode)"
