#!/usr/bin/env bash
# The main job on embedded defaults, in one process over real gRPC on loopback: a verifier with a
# fresh state directory, a key under the dev policy, a simulated SEV-SNP agent that attests, gets
# the key sealed to its TEE key and decrypts a model, then a request the strict default policy
# denies, with the reasons the operator sees. Needs only the Rust toolchain.
#
# With ../shared/vectors present (or WARDEN_VECTORS), it then also verifies a real AMD SEV-SNP
# report offline against the pinned AMD roots.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p warden-verifier
target/debug/warden-verifier demo "$@"

vectors=${WARDEN_VECTORS:-../shared/vectors}/snp
if [ -d "$vectors" ]; then
  echo
  echo "== Real hardware evidence: a Milan report verified offline against AMD's pinned roots"
  echo "\$ warden-verifier evidence verify snp --report virtee_milan_report.bin --cert virtee_milan_vcek.der --at 2025-06-01T00:00:00Z"
  target/debug/warden-verifier evidence verify snp --report "$vectors/virtee_milan_report.bin" \
    --cert "$vectors/virtee_milan_vcek.der" --at 2025-06-01T00:00:00Z | head -3
fi
