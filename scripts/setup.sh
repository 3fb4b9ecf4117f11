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
# wrk loads the benchmarks.
pkgs=(busybox-static chromium chromium-driver wrk)
docker info >/dev/null 2>&1 || pkgs+=(docker.io)
have runsc || pkgs+=(runsc)
if ! have initdb && [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then pkgs+=(postgresql); fi
apt_install "${pkgs[@]}"

# --- Docker engine ---------------------------------------------------------
# Drydock's runtimes (see README "The sandbox runtime"):
#   runsc      gVisor with no network: lab and grading containers, and the
#              engine's default runtime, so untrusted image builds (whose RUN
#              steps use the default runtime) run in the sandbox too;
#   runsc-net  gVisor on the container's own network namespace: a Docker
#              lab's containers on its private internal network;
#   runsc-lab  runsc-net plus access to host Unix sockets: only the lab
#              container itself, to reach its Docker API proxy socket.
# In these VMs runsc's own network stack cannot start, hence --network=none
# or --network=host (the namespace Docker made for the container).
daemon_json=/etc/docker/daemon.json
# Present when this script wrote daemon.json: only then may it rewrite it.
owned_mark=/etc/docker/.drydock-owns-daemon-json
wanted_json() {
  local runsc; runsc=$(command -v runsc)
  cat <<JSON
{
  "default-runtime": "runsc",
  "runtimes": {
    "runsc": { "path": "$runsc", "runtimeArgs": ["--network=none"] },
    "runsc-net": { "path": "$runsc", "runtimeArgs": ["--network=host"] },
    "runsc-lab": { "path": "$runsc", "runtimeArgs": ["--network=host", "--host-uds=open"] }
  }
}
JSON
}
write_daemon_json() {
  as_root mkdir -p /etc/docker
  wanted_json | as_root tee "$daemon_json" >/dev/null
  as_root touch "$owned_mark"
}
daemon_json_current() { [ -f "$daemon_json" ] && cmp -s <(wanted_json) "$daemon_json"; }

if ! docker info >/dev/null 2>&1; then
  # No engine answers: this script starts one, so it may configure it --
  # unless someone else wrote daemon.json, which is then left as it is.
  if have runsc && { [ ! -f "$daemon_json" ] || [ -f "$owned_mark" ]; }; then
    daemon_json_current || { log "registering the gVisor runtimes (default runtime: runsc)"; write_daemon_json; }
  fi
  log "starting dockerd"
  as_root sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not come up; see /var/log/dockerd.log" >&2; exit 1; }
elif [ -f "$owned_mark" ] && have runsc && ! daemon_json_current; then
  # An engine this script configured earlier: bring its runtimes up to date
  # (dockerd reloads runtimes and the default runtime on SIGHUP).
  log "updating the gVisor runtimes of the running engine"
  write_daemon_json
  as_root pkill -HUP -x dockerd || true
  sleep 1
fi
log "docker engine: $(docker version --format '{{.Server.Version}}'), default runtime: $(docker info --format '{{.DefaultRuntime}}')"

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


# --- Front-end packages (terminal) ------------------------------------------
# xterm.js from npm (package-lock.json), copied into public/vendor/ so the
# site build serves it; nothing is done when it is already in place.
./scripts/vendor-js.sh

log "set-up complete"
