#!/usr/bin/env bash
# The action's entry: runs the prebuilt static gitops-promote for this runner after checking it
# against dist/SHA256SUMS, or, where this ref ships none, builds it from source with cargo, loudly.
#
# Usage: launch.sh ARGS...   (action.yml runs `launch.sh action`)
#
# Environment:
#   RUNNER_OS, RUNNER_ARCH       pick the binary: Linux X64 and Linux ARM64 have prebuilt ones
#   RUNNER_TEMP                  where a from-source build goes (gitops-promote-target/)
#   GITOPS_PROMOTE_ACTION_PATH   the action's root (default: the directory above this script)
#
# Needs only bash and a SHA-256 tool (openssl, else sha256sum); cargo only to build from source.
# A binary that is present but fails its check is an error, never a reason to rebuild. See
# dist/README.md for the files a release commits here.
set -euo pipefail

# Workflow commands go to stdout, where the runner looks for them (like the binary's own).
escape() {
  local s=${1//'%'/%25}
  s=${s//$'\r'/%0D}
  printf '%s' "${s//$'\n'/%0A}"
}
fail() {
  printf '::error title=gitops-promote::%s\n' "$(escape "$1")"
  exit 1
}
notice() {
  printf '::notice title=gitops-promote::%s\n' "$(escape "$1")"
}

if [[ -n ${GITOPS_PROMOTE_ACTION_PATH:-} ]]; then
  root=$GITOPS_PROMOTE_ACTION_PATH
else
  # No `dirname` or `cd`: each would cost a process on every run.
  self=${BASH_SOURCE[0]}
  [[ $self == */* ]] || self=./$self
  root=${self%/*}/..
fi
[[ $root == /* ]] || root=$PWD/$root
dist=$root/dist
sums=$dist/SHA256SUMS

platform="${RUNNER_OS:-unknown} ${RUNNER_ARCH:-unknown}"
case $platform in
  'Linux X64') target=x86_64-unknown-linux-musl ;;
  'Linux ARM64') target=aarch64-unknown-linux-musl ;;
  *) target= ;;
esac

# Sets `listed` to the digests SHA256SUMS gives for file $1, one per line (empty: none). The
# format is `sha256sum`'s, `<64 hex digits><space><space or *><file name>`, names relative to dist/.
# A global, not printed: `$(...)` would cost a fork on every run.
list_digests() {
  local line re='^([0-9a-fA-F]{64}) [ *](.+)$'
  listed=''
  [[ -f $sums ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    if [[ $line =~ $re && ${BASH_REMATCH[2]} == "$1" ]]; then
      listed+=${listed:+$'\n'}${BASH_REMATCH[1],,}
    fi
  done <"$sums"
}

# Sets `sha` to the SHA-256 of file $1 in lower-case hex (a global, not printed: a `fail` inside
# `$(...)` would lose its message). openssl first: it uses the CPU's SHA instructions, several
# times faster than the common builds of coreutils' sha256sum, and the binary is tens of MB.
digest() {
  local out=''
  if command -v openssl >/dev/null; then
    out=$(openssl dgst -sha256 -r "$1" 2>/dev/null) || out=
  fi
  if [[ -z $out ]] && command -v sha256sum >/dev/null; then
    out=$(sha256sum -b "$1") || out=
  fi
  out=${out%% *}
  [[ $out =~ ^[0-9a-fA-F]{64}$ ]] ||
    fail "cannot compute the SHA-256 of $1: neither openssl nor sha256sum worked (is either on PATH?)"
  sha=${out,,}
}

# Checks binary $1 (file name $2) against its one line in SHA256SUMS.
verify() {
  [[ -f $sums ]] ||
    fail "dist/$2 is present but dist/SHA256SUMS is missing; refusing to run an unverified binary."
  list_digests "$2"
  if [[ -z $listed ]]; then
    fail "dist/SHA256SUMS has no line for $2; refusing to run an unverified binary."
  fi
  if [[ $listed == *$'\n'* ]]; then
    fail "dist/SHA256SUMS lists $2 more than once; refusing to guess which checksum is right."
  fi
  digest "$1"
  if [[ $sha != "$listed" ]]; then
    fail "checksum mismatch for dist/$2: SHA256SUMS says $listed, the file is $sha. The binary is corrupt or was replaced; refusing to run it."
  fi
  [[ -x $1 ]] || fail "dist/$2 matches its checksum but is not executable (release binaries are committed with mode 755)."
}

# Builds the binary into RUNNER_TEMP and sets `bin`; $1 says why there is no prebuilt one.
build_from_source() {
  local why=$1 exe='' target_dir
  if ! command -v cargo >/dev/null; then
    fail "$why, and cargo is not on PATH to build it from source. Use a release tag of the action on a Linux X64 or ARM64 runner, or install a Rust toolchain (e.g. dtolnay/rust-toolchain) in an earlier step."
  fi
  [[ -f $root/Cargo.toml ]] || fail "$why, and there is no $root/Cargo.toml to build it from."
  if [[ ${RUNNER_OS:-} == Windows ]]; then exe=.exe; fi
  target_dir=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/gitops-promote-target
  notice "$why; building it from source with cargo into $target_dir (a few minutes). Use a release tag of the action to run the prebuilt binary."
  printf '::group::cargo build --release --locked (gitops-promote)\n'
  CARGO_TARGET_DIR=$target_dir cargo build --release --locked --manifest-path "$root/Cargo.toml" 2>&1 ||
    fail "building gitops-promote from source failed (see cargo's output above)."
  printf '::endgroup::\n'
  bin=$target_dir/release/gitops-promote$exe
  [[ -x $bin ]] || fail "cargo finished but $bin is missing."
}

if [[ -n $target ]]; then
  name=gitops-promote-$target
  bin=$dist/$name
  if [[ -e $bin ]]; then
    verify "$bin" "$name"
  elif list_digests "$name" && [[ -n $listed ]]; then
    fail "dist/SHA256SUMS lists $name but the file is missing from dist/; this release of the action is incomplete."
  else
    build_from_source "This ref of the action ships no prebuilt binary for $platform (branch refs such as main never do; release tags do)"
  fi
else
  build_from_source "No prebuilt gitops-promote exists for $platform (only for Linux X64 and Linux ARM64)"
fi

exec "$bin" "$@"
