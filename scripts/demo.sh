#!/usr/bin/env bash
# The main job on embedded defaults, in one process over real gRPC on loopback: a model owner
# signs a model (OpenSSF Model Signing, key method) and it is encrypted with age to the key
# broker's identity; a verifier with a fresh state directory holds that identity under the dev
# policy, whose data pins the owner's key; a simulated confidential VM attests with the signed
# manifest, gets the identity sealed to its TEE key and decrypts the model into place, keeping
# it only because the plaintext equals the attested manifest (a swapped ciphertext is refused);
# then a request the strict default policy denies, with the reasons the operator sees. Runs it with a simulated SEV-SNP VM, then
# with a simulated Intel TDX VM with two simulated NVIDIA GPUs (quotes and DCAP collateral, GPU
# reports and signed RIMs, from generated hierarchies). Arguments
# go to both runs (for example --dir DIR). Needs only the Rust toolchain.
#
# With ../shared/vectors present (or WARDEN_VECTORS), it then also verifies a real AMD SEV-SNP
# report and a real Intel TDX quote offline against the pinned vendor roots.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p warden-verifier
target/debug/warden-verifier demo --tee snp "$@"
echo
target/debug/warden-verifier demo --tee tdx --gpus 2 "$@"

vectors=${WARDEN_VECTORS:-../shared/vectors}
if [ -d "$vectors/snp" ]; then
  echo
  echo "== Real hardware evidence: a Milan report verified offline against AMD's pinned roots"
  echo "\$ warden-verifier evidence verify snp --report virtee_milan_report.bin --cert virtee_milan_vcek.der --at 2025-06-01T00:00:00Z"
  target/debug/warden-verifier evidence verify snp --report "$vectors/snp/virtee_milan_report.bin" \
    --cert "$vectors/snp/virtee_milan_vcek.der" --at 2025-06-01T00:00:00Z | head -3
fi
if [ -d "$vectors/tdx" ]; then
  echo
  echo "== Real hardware evidence: an Emerald Rapids TD quote verified offline with Intel's collateral"
  echo "\$ warden-verifier evidence verify tdx --quote phala_tdx_quote --collateral phala_tdx_quote_collateral.json --at 2025-06-25T00:00:00Z"
  target/debug/warden-verifier evidence verify tdx --quote "$vectors/tdx/phala_tdx_quote" \
    --collateral "$vectors/tdx/phala_tdx_quote_collateral.json" --at 2025-06-25T00:00:00Z | head -3
fi
