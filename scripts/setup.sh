#!/usr/bin/env bash
# Installs what scim-edge needs, idempotently; each step is skipped when already done.
#   scripts/setup.sh          the wasm target, Viceroy, the Fastly CLI   (for make serve)
#   scripts/setup.sh test     the same, plus cargo-nextest and the scim2-tester venv (for make test)
# Viceroy goes to ~/.cargo/bin (cargo install, ~10 min the first time); the Fastly CLI and the
# Python venv go to the project-local .tools/ folder.
set -euo pipefail
cd "$(dirname "$0")/.."

VICEROY_VERSION=0.22.0
FASTLY_CLI_VERSION=16.1.0
NEXTEST_VERSION=0.9.143
TOOLS="$PWD/.tools"
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# rust-toolchain.toml names the toolchain and the target; auto-install is off on our machines.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  step "adding the wasm32-wasip1 target"
  rustup target add wasm32-wasip1
fi

if ! viceroy --version 2>/dev/null | grep -q " ${VICEROY_VERSION}\$"; then
  step "installing Viceroy ${VICEROY_VERSION} (cargo install --locked; ~10 minutes, once)"
  cargo install viceroy --version "${VICEROY_VERSION}" --locked
fi

if ! "$TOOLS/npm/node_modules/.bin/fastly" version 2>/dev/null | grep -q "v${FASTLY_CLI_VERSION} "; then
  step "installing the Fastly CLI ${FASTLY_CLI_VERSION} (npm, into .tools/npm)"
  mkdir -p "$TOOLS/npm"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/npm" "@fastly/cli@${FASTLY_CLI_VERSION}"
fi

if [ "${1:-}" = "test" ]; then
  if ! command -v cargo-nextest >/dev/null 2>&1; then
    step "installing cargo-nextest ${NEXTEST_VERSION}"
    cargo install cargo-nextest --version "${NEXTEST_VERSION}" --locked
  fi
  if ! "$TOOLS/venv/bin/python" -c 'import scim2_tester' 2>/dev/null; then
    step "installing scim2-tester (Python venv in .tools/venv)"
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install -q --upgrade pip
    "$TOOLS/venv/bin/pip" install -q "scim2-models==0.12.3" "scim2-client==0.13.2" "scim2-tester==0.5.2" "scim2-cli==0.6.0"
  fi
fi
