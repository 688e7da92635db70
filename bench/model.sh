#!/usr/bin/env bash
# Model hashing beside the reference tools: warden-agent model hash, model-signing 1.1.1 (its
# Python API), openssl dgst -sha256 (2 processes) and b3sum, on (a) many files and (b) one large
# file, warm and cold page cache. Median of 3 runs; GB/s = 1e9 B/s; peak RSS from
# /usr/bin/time. Results go to stdout as a Markdown table.
#
# Usage: bench/model.sh [SIZE_GIB]      (default 2)
# Env:   BENCH_DIR   where the generated model lives (default /var/tmp; must be on disk)
#        MS_VENV     a venv with model-signing==1.1.1 and pyopenssl (default /tmp/msvenv;
#                    created when missing)
#        RUNS        runs per case (default 3)
set -euo pipefail

SIZE_GIB=${1:-2}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
MS_VENV=${MS_VENV:-/tmp/msvenv}
BASE=${BENCH_DIR:-/var/tmp}

cargo build --release -p warden-agent --manifest-path "$ROOT/Cargo.toml" >&2
AGENT=$TARGET/release/warden-agent

command -v b3sum >/dev/null || { echo "b3sum missing: apt-get install -y b3sum" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time" >&2; exit 1; }
if [ ! -x "$MS_VENV/bin/python" ]; then
    python3 -m venv "$MS_VENV" >&2
    "$MS_VENV/bin/pip" install -q model-signing==1.1.1 pyopenssl >&2
fi

WORK=$(mktemp -d "$BASE/warden-model-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FSTYPE=$(stat -f -c %T "$WORK")
if [ "$FSTYPE" = tmpfs ]; then
    echo "$WORK is on tmpfs; set BENCH_DIR to a directory on disk" >&2
    exit 1
fi

# (a) many files: SIZE_GIB*32 files of 32 MiB plus 100 small files; (b) one file of SIZE_GIB.
echo "generating ${SIZE_GIB} GiB in $WORK ($FSTYPE)" >&2
mkdir -p "$WORK/many/small" "$WORK/single"
N=$((SIZE_GIB * 32))
for i in $(seq -w 1 "$N"); do
    head -c $((32 << 20)) /dev/urandom >"$WORK/many/model-$i.bin"
done
for i in $(seq 1 100); do
    head -c $((RANDOM * 4)) /dev/urandom >"$WORK/many/small/f$i.json"
done
cat "$WORK"/many/model-*.bin >"$WORK/single/model.gguf"
sync

# Cold cache: drop_caches if this container may, else posix_fadvise(DONTNEED) per file.
if sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
    COLD_METHOD="echo 3 > /proc/sys/vm/drop_caches"
    drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
else
    COLD_METHOD="posix_fadvise(POSIX_FADV_DONTNEED) per file"
    drop() {
        python3 - "$1" <<'EOF'
import os, sys
for base, _, names in os.walk(sys.argv[1]):
    for n in names:
        fd = os.open(os.path.join(base, n), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
EOF
    }
fi
echo "cold cache: $COLD_METHOD" >&2

# One timed run: prints "seconds max_rss_kib"; the command's stdout goes to $WORK/out.
timed() {
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$WORK/rss" "$@" >"$WORK/out" 2>"$WORK/err" || {
        cat "$WORK/err" >&2
        return 1
    }
    end=$(date +%s%N)
    echo "$(( (end - start) / 1000 ))e-6 $(tail -1 "$WORK/rss")"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# case NAME DATASET CACHE COMMAND...: RUNS runs, then "NAME DATASET CACHE median_s rss_kib"
run_case() {
    local name=$1 dataset=$2 cache=$3
    shift 3
    local times=() rss=0 r
    for _ in $(seq 1 "$RUNS"); do
        if [ "$cache" = cold ]; then drop "$WORK/$dataset"; else cat "$WORK/$dataset"/*.* "$WORK/$dataset"/*/* >/dev/null 2>&1 || true; fi
        r=$(timed "$@")
        times+=("${r% *}")
        [ "${r#* }" -gt "$rss" ] && rss=${r#* }
    done
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$dataset" "$cache" \
        "$(printf '%s\n' "${times[@]}" | median)" "$rss"
}

BYTES_many=$(find "$WORK/many" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f", s}')
BYTES_single=$(stat -c %s "$WORK/single/model.gguf")

# Digest agreement: warden and model-signing give the same subject digest per configuration.
for dataset in many single; do
    path=$WORK/$dataset
    [ "$dataset" = single ] && path=$WORK/single/model.gguf
    for cfg in "files sha256" "files blake3" "shards sha256"; do
        set -- $cfg
        w=$("$AGENT" model hash "$path" --method "$1" --hash "$2" | awk '/^subject/ {print $3}')
        m=$("$MS_VENV/bin/python" "$ROOT/bench/model_ms.py" "$1" "$2" "$path")
        [ "$w" = "$m" ] || { echo "MISMATCH $dataset $cfg: warden $w model-signing $m" >&2; exit 1; }
        echo "agree: $dataset $cfg $w" >&2
    done
done

RESULTS=$WORK/results.tsv
: >"$RESULTS"
for cache in warm cold; do
    for dataset in many single; do
        path=$WORK/$dataset
        [ "$dataset" = single ] && path=$WORK/single/model.gguf
        files=$(find "$WORK/$dataset" -type f | sort)
        {
            run_case "warden sha256 files" $dataset $cache "$AGENT" model hash "$path"
            run_case "model-signing sha256 files" $dataset $cache "$MS_VENV/bin/python" "$ROOT/bench/model_ms.py" files sha256 "$path"
            run_case "openssl dgst -sha256 x2" $dataset $cache sh -c "find '$WORK/$dataset' -type f -print0 | xargs -0 -P2 -n$(( (N + 100) / 2 + 1 )) openssl dgst -sha256"
            run_case "warden sha256 shards" $dataset $cache "$AGENT" model hash "$path" --method shards
            run_case "model-signing sha256 shards" $dataset $cache "$MS_VENV/bin/python" "$ROOT/bench/model_ms.py" shards sha256 "$path"
            run_case "warden blake3 files" $dataset $cache "$AGENT" model hash "$path" --hash blake3
            run_case "model-signing blake3 files" $dataset $cache "$MS_VENV/bin/python" "$ROOT/bench/model_ms.py" files blake3 "$path"
            # shellcheck disable=SC2086
            run_case "b3sum" $dataset $cache b3sum $files
        } | tee -a "$RESULTS" >&2
    done
done

echo
echo "Load average at the end (2 cores; other jobs share this machine): $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(openssl version); b3sum $(b3sum --version | awk '{print $2}') (Debian package); model-signing $("$MS_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("model-signing"))'), Python $("$MS_VENV/bin/python" -c 'import platform; print(platform.python_version())'); $(rustc --version)"
echo "Model: (a) many = $N x 32 MiB + 100 small files = $BYTES_many B; (b) single = one file of $BYTES_single B; on $FSTYPE. Cold cache: $COLD_METHOD. Median of $RUNS runs."
echo
echo "| tool / config | dataset | cache | median s | GB/s | speed vs reference | warden speed vs model-signing | peak RSS MiB |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
awk -F'\t' -v bm="$BYTES_many" -v bs="$BYTES_single" '
    { t[$1 "|" $2 "/" $3] = $4; rows[NR] = $0 }
    END {
        for (i = 1; i <= NR; i++) {
            split(rows[i], f, "\t"); key = f[2] "/" f[3]
            bytes = (f[2] == "many") ? bm : bs
            ref = ""; vs = ""
            if (f[1] ~ /sha256/) ref = "openssl dgst -sha256 x2"
            if (f[1] ~ /blake3/) ref = "b3sum"
            ratio = (ref == "") ? "(reference)" : sprintf("%.2fx %s", t[ref "|" key] / f[4], ref)
            if (f[1] ~ /^warden /) {
                ms = "model-signing " substr(f[1], 8)
                if ((ms "|" key) in t) vs = sprintf("%.2fx", t[ms "|" key] / f[4])
            }
            printf "| %s | %s | %s | %.3f | %.2f | %s | %s | %.1f |\n", f[1], f[2], f[3], f[4], bytes / f[4] / 1e9, ratio, vs, f[5] / 1024
        }
    }' "$RESULTS"
