#!/usr/bin/env bash
# NVIDIA GPU evidence verification on one core: Warden beside NVIDIA's Python verifier
# (`pip install nv-local-gpu-verifier==2.7.3`, run offline by bench/nvidia_nvlv.py) on the same
# report, chain, nonce and RIMs in the same run, then both tools' outcomes on seven scenarios.
# Usage: bench/nvidia.sh [SECONDS_PER_RUN]   (vectors from WARDEN_VECTORS or ../shared/vectors)
# The Python package goes into a venv under the cargo target directory if it is missing
# (NVIDIA_BENCH_VENV overrides its path), and libfaketime is installed with apt-get if missing
# (the RIM certificates must be inside their validity: the Python side runs at 2025-06-01).
# If either fails, the Rust numbers are still printed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-2}
runs=5 # fixed in verifier/benches/nvidia_verify.rs too
at=2025-06-01T00:00:00Z # where every RIM certificate used is valid
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

vectors=${WARDEN_VECTORS:-../shared/vectors}
[ -d "$vectors/nvidia" ] || { echo "vectors not found: $vectors/nvidia (set WARDEN_VECTORS)" >&2; exit 1; }
vectors=$(cd "$vectors" && pwd)
scenarios=$PWD/bench/nvidia_scenarios.json
log=$(mktemp)
scratch=$(mktemp -d) # the Python package writes verifier.log into its working directory
trap 'rm -rf "$log" "$scratch"' EXIT

# Rust: Warden's path and its parts, and the P-384 floor, in one release binary.
cargo bench -p warden-verifier --bench nvidia_verify --no-run -q 2>"$log" || { cat "$log" >&2; exit 1; }
out=$(BENCH_SECONDS=$secs WARDEN_VECTORS=$vectors "${pin[@]}" \
  cargo bench -p warden-verifier --bench nvidia_verify -q 2>"$log") || { cat "$log" >&2; exit 1; }
echo "$out" | grep -q '^nvidia_warden ' || { echo "$out"; cat "$log" >&2; echo "bench did not run" >&2; exit 1; }
rate() { echo "$out" | awk -v k="$1" '$1 == k { print $2 }'; }
warden=$(rate nvidia_warden); service=$(rate nvidia_warden_service); report=$(rate nvidia_warden_report)
driver=$(rate nvidia_warden_driver_rim); vbios=$(rate nvidia_warden_vbios_rim)
compare=$(rate nvidia_warden_compare); ring=$(rate p384_verify_ring)
stapled=$(rate nvidia_warden_stapled); ocsp9=$(rate nvidia_warden_ocsp9)
warden_mism=$(rate nvidia_warden_mismatched)

# Warden's outcomes: its functions in NVIDIA's step order (the bench's NVIDIA_OUTCOMES mode),
# and the CLI's verdict (`warden-verifier evidence verify nvidia`, the service's order).
w_out=$(NVIDIA_OUTCOMES=$scenarios WARDEN_VECTORS=$vectors \
  cargo bench -p warden-verifier --bench nvidia_verify -q 2>"$log") || { cat "$log" >&2; exit 1; }
cargo build --release -p warden-verifier -q 2>"$log" || { cat "$log" >&2; exit 1; }
cli=${CARGO_TARGET_DIR:-target}/release/warden-verifier
# name report certs nonce driver_rim vbios_rim, one scenario per line
rows=$(python3 -c '
import json, sys
for s in json.load(open(sys.argv[1])):
    print(s["name"], s["report"], s.get("certs", "-"), s["nonce"], s["driver_rim"], s["vbios_rim"])
' "$scenarios")
declare -A verdict
while read -r name rep certs nonce drv vb; do
  c=(); [ "$certs" != - ] && c=(--certs "$vectors/nvidia/gpu/$certs")
  v=$("$cli" evidence verify nvidia --report "$vectors/nvidia/gpu/$rep" "${c[@]}" --nonce "$nonce" \
    --rim "$vectors/nvidia/rims/$drv" --rim "$vectors/nvidia/rims/$vb" --at "$at" 2>&1 | head -1 || true)
  verdict[$name]=$(echo "$v" | sed -e "s#$vectors/nvidia/rims/[a-z-]*/##g")
done <<<"$rows"

# Python: the PyPI package, same files, same core, under libfaketime at 2025-06-01.
venv=${NVIDIA_BENCH_VENV:-${CARGO_TARGET_DIR:-target}/nvidia-bench-venv}
venv=$(mkdir -p "$(dirname "$venv")" && cd "$(dirname "$venv")" && pwd)/$(basename "$venv")
py_version='2.7.3'
py=""; py_ver=""; py_note=""; py_mism=""; p_out=""; py_failed=0
has_package() {
  "$venv/bin/python" -c "from importlib.metadata import version; assert version('nv-local-gpu-verifier') == '$py_version'" 2>/dev/null
}
find_faketime() {
  for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 /usr/lib/*/faketime/libfaketime.so.1 \
    /usr/lib/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1; do
    [ -f "$f" ] && { echo "$f"; return; }
  done
}
if ! has_package; then
  echo "installing nv-local-gpu-verifier==$py_version into $venv" >&2
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q "nv-local-gpu-verifier==$py_version"; } >&2 || ! has_package; then
    py_note="not measured: \`pip install nv-local-gpu-verifier==$py_version\` into $venv failed (see above)"
  fi
fi
faketime_so=$(find_faketime)
if [ -z "$py_note" ] && [ -z "$faketime_so" ]; then
  echo "libfaketime missing: apt-get install -y faketime" >&2
  { apt-get install -y -q faketime || { apt-get update -q && apt-get install -y -q faketime; }; } >&2 || true
  faketime_so=$(find_faketime)
  [ -n "$faketime_so" ] || py_note="not measured: libfaketime is missing and \`apt-get install faketime\` failed (see above)"
fi
if [ -z "$py_note" ]; then
  # The `@` form: the faked clock ticks (a frozen one hangs the package's thread timeouts).
  fake=(env LD_PRELOAD="$faketime_so" FAKETIME="@2025-06-01 00:00:00")
  script=$PWD/bench/nvidia_nvlv.py
  if p_out=$(cd "$scratch" && "${fake[@]}" "${pin[@]}" "$venv/bin/python" "$script" outcomes "$vectors" 2>"$log" | grep '^nvlv_outcome') &&
    p_rate=$(cd "$scratch" && "${fake[@]}" "${pin[@]}" "$venv/bin/python" "$script" rate "$vectors" "$secs" "$runs" 2>"$log"); then
    py=$(echo "$p_rate" | awk '$1 == "nvidia_python_nvlv" { print $2 }')
    py_ver=$(echo "$p_rate" | awk '$1 == "nvidia_python_nvlv" { print $4 }')
    py_mism=$(echo "$p_rate" | awk '$1 == "nvidia_python_nvlv_mismatched" { print $2 }')
  else
    cat "$log" >&2
    py_note="FAILED: the Python harness did not run (error above)"
    py_failed=1
  fi
else
  echo "$py_note" >&2
fi

fmt() { awk -v a="$1" 'BEGIN { printf "%.1f", a }'; }
ms() { awk -v a="$1" 'BEGIN { printf "%.3g", 1e3 / a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { # label rate
  if [ -n "$2" ]; then
    echo "| $1 | $(fmt "$2") | $(ms "$2") | $(ratio "$ring" "$2") |"
  else
    echo "| $1 | n/a | n/a | n/a |"
  fi
}
rust_ring=$(awk '/^name = "ring"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)

cat <<MD
| case (one H100, report + chain + driver RIM + VBIOS RIM) | verifications/s (median of $runs runs of ${secs} s, 1 core) | ms per GPU | cost in P-384 verifies (ring) |
|---|---:|---:|---:|
$(row "Warden: report, device chain, both RIMs, version checks, comparison of all measurements (NVIDIA's steps)" "$warden")
$(row "Warden, the service's order (\`rims::match_report\` refuses at the driver version, no comparison)" "$service")
$(row "of which the report: parse, device chain, nonce, signature" "$report")
$(row "of which the driver RIM: XML, XMLDSig, chain" "$driver")
$(row "of which the VBIOS RIM: XML, XMLDSig, chain" "$vbios")
$(row "of which the comparison (\`rim::compare\`)" "$compare")
$(row "Warden with revocation stapled: the above plus 9 OCSP responses (3 device chain, 3 per RIM chain)" "$stapled")
$(row "of which the 9 OCSP responses (simulated responder, same shapes; no NVIDIA responses in the vectors)" "$ocsp9")
$(row "nv-local-gpu-verifier ${py_ver:-$py_version} (PyPI), \`cc_admin.attest()\` in-process, OCSP stubbed" "$py")
$(row "one bare ECDSA P-384 verification, ring" "$ring")

MD
if [ -n "$py" ]; then
  echo "Warden vs nv-local-gpu-verifier: $(ratio "$warden" "$py")x the throughput ($(ms "$py") ms vs $(ms "$warden") ms per GPU)."
  [ -z "$stapled" ] || echo "Warden with revocation stapled vs nv-local-gpu-verifier (OCSP stubbed): $(ratio "$stapled" "$py")x ($(ms "$py") ms vs $(ms "$stapled") ms per GPU)."
  same=no; [ "$warden_mism" = "$py_mism" ] && same=yes
  echo "Mismatched RIM indices on the bench vector: Warden $warden_mism; Python $py_mism; identical: $same."
else
  echo "nv-local-gpu-verifier: $py_note."
fi
echo

# Agreement: outcome, where the run stopped, and the mismatched RIM indices.
field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
echo "| scenario | NVIDIA: outcome, first failed check, stopped at, mismatched | Warden (NVIDIA's step order): same | agree: outcome / stop / indices | Warden CLI verdict (service order) |"
echo "|---|---|---|---|---|"
while read -r name _; do
  w=$(echo "$w_out" | awk -v n="$name" '$2 == n')
  p=$(echo "$p_out" | awk -v n="$name" '$2 == n')
  show() { [ -n "$1" ] && echo "$(echo "$1" | awk '{ print $3 }'), $(field "$1" first_fail), $(field "$1" stopped), $(field "$1" mismatched)" || echo "n/a"; }
  agree="n/a"
  if [ -n "$p" ]; then
    a() { [ "$1" = "$2" ] && echo yes || echo NO; }
    agree="$(a "$(echo "$w" | awk '{ print $3 }')" "$(echo "$p" | awk '{ print $3 }')") / $(a "$(field "$w" stopped)" "$(field "$p" stopped)") / $(a "$(field "$w" mismatched)" "$(field "$p" mismatched)")"
  fi
  echo "| $name | $(show "$p") | $(show "$w") | $agree | ${verdict[$name]} |"
done <<<"$rows"
echo
cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
pyline="nv-local-gpu-verifier not measured"
[ -n "$py" ] && pyline="$("$venv/bin/python" --version) with nv-local-gpu-verifier $py_ver from PyPI (cryptography $("$venv/bin/python" -c "import cryptography; print(cryptography.__version__)") with $("$venv/bin/python" -c "from cryptography.hazmat.backends.openssl import backend; print(backend.openssl_version_text())"), pyOpenSSL $("$venv/bin/python" -c "from importlib.metadata import version; print(version('pyOpenSSL'))"), signxml $("$venv/bin/python" -c "from importlib.metadata import version; print(version('signxml'))")), libfaketime at 2025-06-01"
echo "Machine: $cpu, $(nproc) cores visible, pinned to one with taskset; $(rustc --version); ring $rust_ring (Cargo.lock); $pyline."
exit "$py_failed"
