#!/usr/bin/env bash
# Takes the README's picture of a real PR comment: the demo's markdown report, rendered the way
# GitHub renders it, screenshotted with headless Chromium into docs/pr-comment.png.
#
# usage: scripts/screenshot-comment.sh        (from the repository root; needs root for apt-get
#                                             when chromium is missing, and PyPI for the renderer)
set -euo pipefail

# The markdown renderer, pinned so the picture only changes when the report does.
MARKDOWN_IT_PY=3.0.0
MDURL=0.1.2
WIDTH=1000
OUT=docs/pr-comment.png

if [[ ! -f Cargo.toml ]] || ! grep -q '^name = "gitops-promote"' Cargo.toml; then
  echo "run from the gitops-promote repository root: scripts/screenshot-comment.sh" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { printf '==> %s\n' "$*" >&2; }

step "building gitops-promote"
cargo build --release --locked

step "running the demo for its markdown report"
target/release/gitops-promote demo --format markdown --output "$tmp/comment.md"

# A venv under target/ survives between runs (and `cargo clean` removes it with the rest).
venv=target/screenshot-venv
if ! "$venv/bin/python" -c "import markdown_it, sys; sys.exit(markdown_it.__version__ != '$MARKDOWN_IT_PY')" 2>/dev/null; then
  step "installing markdown-it-py $MARKDOWN_IT_PY into $venv"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    apt-get update && apt-get install -y --no-install-recommends python3-venv
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "markdown-it-py==$MARKDOWN_IT_PY" "mdurl==$MDURL"
fi

step "rendering the markdown as GitHub does"
"$venv/bin/python" scripts/render-comment-html.py "$tmp/comment.md" docs/comment.css "$tmp/comment.html"

# Installs made by hand do not outlive a machine, so the script brings its own browser and the
# metric-compatible fonts (Liberation) that stand in for GitHub's Helvetica/Arial and Menlo.
if ! command -v chromium >/dev/null || ! dpkg -s fonts-liberation2 >/dev/null 2>&1; then
  step "installing chromium and fonts from Debian"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-liberation2
fi

# Flags for a closed network: no first-run, sync, component or background fetches to time out on.
headless() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/profile" --hide-scrollbars --force-device-scale-factor=1 \
    "$@" "file://$tmp/comment.html" 2>>"$tmp/chromium.log"
}

step "measuring the page"
if ! dom=$(headless --window-size="$WIDTH,800" --dump-dom); then
  cat "$tmp/chromium.log" >&2
  exit 1
fi
height=$(sed -n 's/.*data-page-height="\([0-9]*\)".*/\1/p' <<<"$dom" | head -n1)
if [[ -z "$height" ]]; then
  echo "could not read the page height from chromium's --dump-dom" >&2
  cat "$tmp/chromium.log" >&2
  exit 1
fi

step "screenshotting ${WIDTH}x${height} into $OUT"
mkdir -p "$(dirname "$OUT")"
if ! headless --window-size="$WIDTH,$height" --screenshot="$tmp/pr-comment.png" >/dev/null; then
  cat "$tmp/chromium.log" >&2
  exit 1
fi
mv "$tmp/pr-comment.png" "$OUT"
step "wrote $OUT ($(wc -c <"$OUT") bytes)"
