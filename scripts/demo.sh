#!/usr/bin/env bash
# The main job as far as it exists today: verify real AMD SEV-SNP evidence offline against the
# pinned AMD roots, then show the verifier refusing tampered and mismatched evidence.
set -euo pipefail
cd "$(dirname "$0")/.."
vectors=${WARDEN_VECTORS:-../shared/vectors}/snp
[ -d "$vectors" ] || { echo "error: $vectors not found; set WARDEN_VECTORS" >&2; exit 2; }

cargo build -q --release -p warden-verifier
bin=target/release/warden-verifier
at=2025-06-01T00:00:00Z

run() {
  echo "\$ warden-verifier evidence verify snp $*"
  set +e
  "$bin" evidence verify snp "$@" | head -1
  echo "  -> exit ${PIPESTATUS[0]}"
  set -e
}

run --report "$vectors/virtee_milan_report.bin" --cert "$vectors/virtee_milan_vcek.der" --at $at
run --report "$vectors/trustee_milan_vlek_report.bin" --cert "$vectors/trustee_milan_vlek.der" --at $at
run --report "$vectors/trustee_milan_vlek_report.bin" --cert "$vectors/trustee_milan_vlek.der" --at 2026-01-01T00:00:00Z
tampered=$(mktemp); trap 'rm -f "$tampered"' EXIT
cp "$vectors/virtee_milan_report.bin" "$tampered"; printf '\x01' | dd of="$tampered" bs=1 seek=$((0x50)) conv=notrunc status=none
run --report "$tampered" --cert "$vectors/virtee_milan_vcek.der" --at $at
run --report "$vectors/gosev_milan_report.bin" --cert "$vectors/virtee_milan_vcek.der" --at $at
run --report "$vectors/virtee_milan_report.bin" --cert "$vectors/virtee_turin_vcek.der" --chain "$vectors/gosev_milan_ask_ark.pem" --at $at
echo
echo "Claims of a valid report as JSON (policy input):"
"$bin" evidence verify snp --report "$vectors/trustee_milan_report.bin" --cert "$vectors/trustee_milan_vcek.der" --at $at --json
