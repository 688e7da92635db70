#!/usr/bin/env bash
# SEV-SNP verification throughput on one core, beside `openssl speed ecdsap384` in the same run.
# Usage: bench/snp.sh [SECONDS_PER_RUN]   (vectors from WARDEN_VECTORS or ../shared/vectors)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-2}
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

cargo bench -p warden-verifier --bench snp_verify --no-run -q 2>/dev/null
out=$(BENCH_SECONDS=$secs "${pin[@]}" cargo bench -p warden-verifier --bench snp_verify -q 2>/dev/null)
echo "$out" | grep -q snp_repeat || { echo "$out"; echo "bench did not run (vectors missing?)" >&2; exit 1; }
rate() { echo "$out" | awk -v k="$1" '$1 == k { print $2 }'; }
first=$(rate snp_first_sight); repeat=$(rate snp_repeat); ring=$(rate p384_verify_ring)

# OpenSSL: verify/s is the last column of the ecdsa line; -seconds keeps it to the same budget.
ossl=$("${pin[@]}" openssl speed -seconds "$secs" ecdsap384 2>/dev/null | awk '/384 bits ecdsa/ { print $NF }' | tail -1)

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cat <<MD
| case | verifications/s (median of 5 runs of ${secs} s, 1 core) | cost vs one P-384 verify (ring) | cost vs one P-384 verify (OpenSSL) |
|---|---:|---:|---:|
| SNP report, first sight of the VCEK (full chain) | $first | $(ratio "$ring" "$first")x | $(ratio "$ossl" "$first")x |
| SNP report, repeat (chain cached by fingerprint) | $repeat | $(ratio "$ring" "$repeat")x | $(ratio "$ossl" "$repeat")x |
| bare ECDSA P-384 verify, ring (same report) | $ring | 1.00x | $(ratio "$ossl" "$ring")x |
| \`openssl speed ecdsap384\` verify | $ossl | $(ratio "$ring" "$ossl")x | 1.00x |

Machine: $cpu, $(nproc) cores visible, pinned to one with taskset; $(openssl version); $(rustc --version).
MD
