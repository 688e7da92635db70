#!/usr/bin/env bash
# Runs every test of the workspace, installing what the tests need when it is missing.
# Real vectors are read from WARDEN_VECTORS (default ../shared/vectors); tests that need them
# print "skipped: vectors not found" when absent, or fail if WARDEN_REQUIRE_VECTORS=1.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests need only the Rust toolchain today (no TEE, no GPU, no network): the simulated
# hierarchy generates its keys, and protox compiles the .proto files without protoc.
command -v cargo >/dev/null || { echo "error: cargo not found: install Rust from rustup.rs" >&2; exit 2; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-features --locked "$@" 2>&1 | tee "$log" || status=$?

# One closing line over all test binaries (cargo prints one per binary, the last often a
# doc-test run with nothing in it).
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
exit "$status"
