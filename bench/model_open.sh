#!/usr/bin/env bash
# Opening an age-encrypted model (warden_agent::open::open_model) against its parts.
#
#   bench/model_open.sh [SIZE_GIB]      (default 2)
#
# Builds the agent's model_open example in release mode, generates two models of SIZE_GIB
# (one big file; 32 equal files) on tmpfs, encrypts them with the `age` command (installed
# with apt-get when missing), and measures with a warm page cache, median of 3:
#   age -d (Go CLI) alone, to /dev/null      openssl dgst -sha256 alone
#   age -d (Go CLI) writing the plaintext to tmpfs files, as open_model does
#   age crate decryption alone (example)      FileHasher SHA-256 alone (example)
#   open_model, 1 thread and 2 threads (decrypt + hash + write to tmpfs, verified)
# Peak RSS of open_model from /usr/bin/time -v. GB/s are 10^9 bytes per second over wall time;
# cpu_s (user + system, all threads) shows the work done whatever else loads the machine.
set -euo pipefail

SIZE_GIB=${1:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=${WORK:-/dev/shm/warden-model-open-bench}
BIN=$TARGET/release/examples/model_open

need() { command -v "$1" >/dev/null 2>&1; }
if ! need age || ! need age-keygen; then
  echo "installing age (apt-get)" >&2
  apt-get install -y age >/dev/null
fi
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null

(cd "$ROOT" && cargo build --release -q -p warden-agent --example model_open)

rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
age-keygen -o "$WORK/identity.txt" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/identity.txt")
BYTES=$((SIZE_GIB * 1024 * 1024 * 1024))

# Incompressible bytes, fast: AES-CTR over zeros.
gen() { head -c "$2" /dev/zero | openssl enc -aes-128-ctr -nosalt -pass "pass:$1" 2>/dev/null; }

make_model() { # NAME FILES
  local name=$1 files=$2 each=$((BYTES / $2))
  mkdir -p "$WORK/$name/plain" "$WORK/$name/in"
  for i in $(seq 1 "$files"); do
    local f
    f=$(printf 'model-%05d.safetensors' "$i")
    gen "$name$i" "$each" >"$WORK/$name/plain/$f"
    age -r "$RECIPIENT" -o "$WORK/$name/in/$f.age" "$WORK/$name/plain/$f"
  done
}

median() { sort -g | sed -n 2p; }
gbps() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.2f", b / s / 1e9 }'; }

# "wall cpu" seconds of a shell command (CPU: user + system of it and its children), each the
# median of 3.
time3() {
  local walls=() cpus=() w u s
  for _ in 1 2 3; do
    /usr/bin/time -f '%e %U %S' -o "$WORK/time" bash -c "$1" >/dev/null
    read -r w u s <"$WORK/time"
    walls+=("$w")
    cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')")
  done
  echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median)"
}

# "wall cpu" seconds the example reports for one of its modes, medians of 3; runs BEFORE first.
example3() { # BEFORE ARGS...
  local before=$1 walls=() cpus=() line
  shift
  for _ in 1 2 3; do
    eval "$before"
    line=$("$BIN" "$@")
    walls+=("$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$line")")
    cpus+=("$(sed -n 's/.*cpu=\([0-9.]*\).*/\1/p' <<<"$line")")
  done
  echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median)"
}

# Peak RSS (MiB) of one open_model run.
rss_open() { # MODEL THREADS
  rm -rf "$WORK/out"
  /usr/bin/time -v "$BIN" open "$WORK/identity.txt" "$WORK/$1/in" "$WORK/out" "$WORK/$1/plain" "$2" \
    2>&1 >/dev/null | awk '/Maximum resident set size/ { printf "%.1f", $6 / 1024 }'
}

row() { # MODEL STEP "WALL CPU" RSS
  local wall cpu
  read -r wall cpu <<<"$3"
  printf '%-6s %-36s %8.3f %6s %7.2f %8s\n' "$1" "$2" "$wall" "$(gbps "$wall")" "$cpu" "$4"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-36s %8s %6s %7s %8s\n' model step wall_s GB/s cpu_s "RSS MiB"
for spec in "big 1" "many 32"; do
  set -- $spec
  model=$1
  make_model "$model" "$2"
  in=$WORK/$model/in
  plain=$WORK/$model/plain
  # Warm the page cache.
  cat "$in"/* "$plain"/* >/dev/null

  row "$model" "age -d (Go CLI) alone" \
    "$(time3 "for f in $in/*; do age -d -i $WORK/identity.txt -o /dev/null \$f; done")" -
  mkdir -p "$WORK/age-out"
  row "$model" "age -d (Go CLI) to tmpfs files" \
    "$(time3 "rm -f $WORK/age-out/*; for f in $in/*; do age -d -i $WORK/identity.txt -o $WORK/age-out/\$(basename \$f .age) \$f; done")" -
  rm -rf "$WORK/age-out"
  row "$model" "openssl dgst -sha256 alone" \
    "$(time3 "for f in $plain/*; do openssl dgst -sha256 \$f; done")" -
  row "$model" "age crate decrypt alone (1 thread)" \
    "$(example3 : decrypt "$WORK/identity.txt" "$in")" -
  row "$model" "FileHasher sha256 alone (1 thread)" "$(example3 : hash "$plain")" -
  # One untimed run first: in a VM the first write to guest pages never touched before costs
  # more than decrypting them (the host allocates them), which would time the hypervisor.
  rm -rf "$WORK/out"
  "$BIN" open "$WORK/identity.txt" "$in" "$WORK/out" "$plain" 1 >/dev/null
  for threads in 1 2; do
    t=$(example3 "rm -rf $WORK/out" open "$WORK/identity.txt" "$in" "$WORK/out" "$plain" "$threads")
    row "$model" "open_model threads=$threads" "$t" "$(rss_open "$model" "$threads")"
  done
  rm -rf "$WORK/out" "$WORK/$model"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "size: ${SIZE_GIB} GiB per model; $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
