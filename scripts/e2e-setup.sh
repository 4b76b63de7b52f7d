#!/bin/sh
# Installs what the real-editor end-to-end test needs, once: Debian chromium, code-server 4.100.3 (the last
# release that runs on Node 20) and playwright-core, under $E2E_DIR (default ~/.cache/slipstream/e2e).
# Adapted from shared/recipes/code-server-e2e (verified on this machine kind). Idempotent: a second run is quick.
set -e
E2E_DIR=${E2E_DIR:-$HOME/.cache/slipstream/e2e}
TMP=${TMPDIR:-/tmp}
mkdir -p "$E2E_DIR"
if [ ! -x /usr/bin/chromium ] || ! command -v rg >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "e2e-setup: chromium and ripgrep are missing; install them (apt-get install chromium ripgrep) as root" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev \
    pkg-config ripgrep chromium
fi
if [ ! -f "$E2E_DIR/srv/node_modules/code-server/out/node/entry.js" ] || [ ! -f "$E2E_DIR/srv/.postinstall-done" ]; then
  # code-server's postinstall downloads ripgrep from GitHub (unreachable here): pre-seed its cache with Debian's rg
  mkdir -p "$TMP/rgpack" "$TMP/vscode-ripgrep-cache-1.15.11"
  cp "$(command -v rg)" "$TMP/rgpack/rg"
  tar czf "$TMP/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$TMP/rgpack" rg
  npm_config_yes=true npm_config_unsafe_perm=true npm install --no-audit --no-fund --unsafe-perm \
    --prefix "$E2E_DIR/srv" code-server@4.100.3
  # npm 11 holds back install scripts: run code-server's postinstall by hand (native modules ship prebuilt)
  (cd "$E2E_DIR/srv/node_modules/code-server" && npm_config_user_agent="npm/$(npm -v) node/$(node -v) linux x64" \
    npm_config_yes=true npm_config_unsafe_perm=true sh ./postinstall.sh)
  touch "$E2E_DIR/srv/.postinstall-done"
fi
if [ ! -d "$E2E_DIR/pw/node_modules/playwright-core" ]; then
  npm install --no-audit --no-fund --prefix "$E2E_DIR/pw" playwright-core@1.65.1
fi
echo "e2e-setup: ready in $E2E_DIR"
