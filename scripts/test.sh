#!/usr/bin/env bash
# Runs every test of the workspace, installing what the tests need when it is missing.
# Real vectors are read from WARDEN_VECTORS (default ../shared/vectors); tests that need them
# print "skipped: vectors not found" when absent, or fail if WARDEN_REQUIRE_VECTORS=1.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests need the Rust toolchain (no TEE, no GPU): the simulated hierarchy generates its
# keys, and protox compiles the .proto files without protoc. Python 3 with venv/pip is used for
# the model-signing interop test.
command -v cargo >/dev/null || { echo "error: cargo not found: install Rust from rustup.rs" >&2; exit 2; }

# The interop test signs and hashes with the real OpenSSF `model-signing` tool (1.1.1, which
# imports pyOpenSSL without declaring it). Installed once into a venv under target/; if pip cannot
# install it (no network), the test says "skipped: model-signing not installed" instead.
venv=target/interop-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import model_signing, OpenSSL' 2>/dev/null; then
  echo "== installing model-signing 1.1.1 (pip, into $venv)"
  if python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check \
      model-signing==1.1.1 pyopenssl; then
    :
  else
    echo "warning: pip could not install model-signing; its interop test will be skipped" >&2
  fi
fi
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import model_signing, OpenSSL' 2>/dev/null; then
  export WARDEN_MODEL_SIGNING_PYTHON="$PWD/$venv/bin/python"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-features --locked "$@" 2>&1 | tee "$log" || status=$?

# One closing line over all test binaries (cargo prints one per binary, the last often a
# doc-test run with nothing in it).
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
exit "$status"
