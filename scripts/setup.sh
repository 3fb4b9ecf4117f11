#!/usr/bin/env bash
# Idempotent machine set-up for Drydock on Debian/Ubuntu.
# Installs only what is missing; on a machine that already has a Docker engine
# answering, that engine is used as it is.
set -euo pipefail

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
export PATH="$HOME/.cargo/bin:$PATH"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq
    apt_updated=1
  fi
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# --- Debian packages -------------------------------------------------------
# binaryen provides wasm-opt (release builds of the site); wrk loads the benchmarks.
pkgs=(busybox-static chromium chromium-driver binaryen wrk)
docker info >/dev/null 2>&1 || pkgs+=(docker.io)
have runsc || pkgs+=(runsc)
if ! have initdb && [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then pkgs+=(postgresql); fi
apt_install "${pkgs[@]}"

# --- Docker engine ---------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  # Register gVisor; in these VMs runsc's own networking cannot start, so it
  # runs with --network=none (labs use no network or internal networks).
  if have runsc && [ ! -f /etc/docker/daemon.json ]; then
    log "registering the runsc (gVisor) runtime"
    as_root mkdir -p /etc/docker
    as_root tee /etc/docker/daemon.json >/dev/null <<JSON
{ "runtimes": { "runsc": { "path": "$(command -v runsc)", "runtimeArgs": ["--network=none"] } } }
JSON
  fi
  log "starting dockerd"
  as_root sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not come up; see /var/log/dockerd.log" >&2; exit 1; }
fi
log "docker engine: $(docker version --format '{{.Server.Version}}')"

# --- Rust toolchain pieces -------------------------------------------------
if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  log "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

WASM_BINDGEN_VERSION=0.2.130
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if ! cargo leptos --version >/dev/null 2>&1; then
  # Its locked dependencies need a newer rustc than stable; nightly is present.
  log "installing cargo-leptos (about 25 minutes on 2 cores, once)"
  cargo +nightly install cargo-leptos --locked --features no_downloads
fi

# --- Front-end packages (terminal) ------------------------------------------
# xterm.js from npm (package-lock.json), copied into public/vendor/ so the
# site build serves it; nothing is done when it is already in place.
./scripts/vendor-js.sh

log "set-up complete"
