#!/usr/bin/env bash
# Intel TDX quote verification throughput on one core, collateral cached, beside the Python
# binding of the same library (`pip install dcap-qvl`) verifying the same quote in the same run.
# Usage: bench/tdx.sh [SECONDS_PER_RUN]   (vectors from WARDEN_VECTORS or ../shared/vectors)
# The binding is installed into a venv under the cargo target directory if it is missing
# (TDX_BENCH_VENV overrides its path); if pip fails the Rust numbers are still printed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-2}
runs=5 # fixed in verifier/benches/tdx_verify.rs too
now=1750809600 # 2025-06-25T00:00:00Z, where the quote is UpToDate
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

vectors=${WARDEN_VECTORS:-../shared/vectors}
[ -d "$vectors/tdx" ] || { echo "vectors not found: $vectors/tdx (set WARDEN_VECTORS)" >&2; exit 1; }
vectors=$(cd "$vectors" && pwd)
quote=$vectors/tdx/phala_tdx_quote
collateral=$vectors/tdx/phala_tdx_quote_collateral.json
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Rust: Warden, dcap-qvl direct and the P-256 floor, in one release binary.
cargo bench -p warden-verifier --bench tdx_verify --no-run -q 2>"$log" || { cat "$log" >&2; exit 1; }
out=$(BENCH_SECONDS=$secs WARDEN_VECTORS=$vectors "${pin[@]}" \
  cargo bench -p warden-verifier --bench tdx_verify -q 2>"$log") || { cat "$log" >&2; exit 1; }
echo "$out" | grep -q tdx_warden || { echo "$out"; cat "$log" >&2; echo "bench did not run" >&2; exit 1; }
rate() { echo "$out" | awk -v k="$1" '$1 == k { print $2 }'; }
warden=$(rate tdx_warden); prepare=$(rate tdx_warden_prepare); dcap=$(rate tdx_dcap_qvl_verify); claims=$(rate tdx_dcap_qvl_claims)
ring=$(rate p256_verify_ring)

# Python: the PyPI binding, same quote bytes, same collateral JSON, same `now`, same core.
venv=${TDX_BENCH_VENV:-${CARGO_TARGET_DIR:-target}/tdx-bench-venv}
py_version='0.7.0'
py=""; py_ver=""; py_note=""; py_failed=0
has_binding() {
  "$venv/bin/python" -c "from importlib.metadata import version; assert version('dcap-qvl') == '$py_version'" 2>/dev/null
}
if ! has_binding; then
  echo "installing dcap-qvl==$py_version into $venv" >&2
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q "dcap-qvl==$py_version"; } >&2 || ! has_binding; then
    py_note="not measured: \`pip install dcap-qvl==$py_version\` into $venv failed (see above)"
    echo "$py_note" >&2
  fi
fi
if [ -z "$py_note" ]; then
  if py_out=$("${pin[@]}" "$venv/bin/python" bench/tdx_qvl.py "$quote" "$collateral" "$now" "$secs" "$runs" 2>"$log"); then
    py=$(echo "$py_out" | awk '$1 == "tdx_python_dcap_qvl" { print $2 }')
    py_ver=$(echo "$py_out" | awk '$1 == "tdx_python_dcap_qvl" { print $4 }')
    so=$(find "$venv" -name '_dcap_qvl*.so' | head -1)
    py_ring=$(grep -aom1 'ring-0\.[0-9]*\.[0-9]*' "$so" || true)
  else
    cat "$log" >&2
    py_note="FAILED: the Python binding did not verify the quote (error above)"
    py_failed=1
  fi
fi

fmt() { awk -v a="$1" 'BEGIN { printf "%.1f", a }'; }
us() { awk -v a="$1" 'BEGIN { printf "%.1f", 1e6 / a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
floor=$(awk -v r="$ring" 'BEGIN { printf "%.1f", r / 9 }')
row() { # label rate
  if [ -n "$2" ]; then
    echo "| $1 | $(fmt "$2") | $(us "$2") | $(ratio "$ring" "$2") |"
  else
    echo "| $1 | n/a | n/a | n/a |"
  fi
}
rust_qvl=$(awk '/^name = "dcap-qvl"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
rust_ring=$(awk '/^name = "ring"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)

cat <<MD
| case | verifications/s (median of $runs runs of ${secs} s, 1 core) | µs per quote | cost in P-256 verifies (ring) |
|---|---:|---:|---:|
$(row "Warden, full path per quote: parse, PCK, select cached collateral, verify, claims" "$warden")
$(row "of which Warden's steps before dcap-qvl: parse, PCK leaf, select (no signature)" "$prepare")
$(row "dcap-qvl $rust_qvl Rust, \`QuoteVerifier::verify\` (same binary)" "$dcap")
$(row "dcap-qvl $rust_qvl Rust, \`verify_with_policy(claims_only)\` (the call inside Warden)" "$claims")
$(row "dcap-qvl ${py_ver:-$py_version} Python binding, \`dcap_qvl.verify\` (PyPI wheel)" "$py")
$(row "nine ECDSA P-256 verifications, ring (the signatures in one DCAP verification)" "$floor")
$(row "one bare ECDSA P-256 verification, ring (the quote's signature)" "$ring")

MD
echo "Warden vs dcap-qvl Rust \`verify\`: $(ratio "$warden" "$dcap")x the throughput ($(ratio "$dcap" "$warden")x the time per quote, +$(awk -v w="$warden" -v d="$dcap" 'BEGIN { printf "%.1f", 1e6 / w - 1e6 / d }') µs)."
echo "Warden vs dcap-qvl Rust \`verify_with_policy(claims_only)\`: $(ratio "$warden" "$claims")x the throughput ($(ratio "$claims" "$warden")x the time per quote)."
if [ -n "$py" ]; then
  echo "Warden vs the Python binding: $(ratio "$warden" "$py")x the throughput ($(ratio "$py" "$warden")x the time per quote); dcap-qvl Rust \`verify\` vs the Python binding: $(ratio "$dcap" "$py")x."
else
  echo "Python binding: $py_note."
fi
echo
cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
pyline="Python binding not measured"
[ -n "$py" ] && pyline="$("$venv/bin/python" --version) with dcap-qvl $py_ver from PyPI (wheel built with ${py_ring:-ring, version unknown})"
echo "Machine: $cpu, $(nproc) cores visible, pinned to one with taskset; $(rustc --version); dcap-qvl $rust_qvl with ring $rust_ring (Cargo.lock); $pyline."
exit "$py_failed"
