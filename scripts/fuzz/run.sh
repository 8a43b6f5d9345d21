#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs them one after another.
#   scripts/fuzz/run.sh [seconds-per-target] [targets...]     (default: 600 s, every target)
# Targets: image dicom pack csv checkpoint serve. Outputs, under $COVSCREEN_FUZZ_BUILD
# (default build-fuzz/, git-ignored):
#   corpus/<name>/      the seeds (scripts/fuzz/make_corpus.sh) and what the fuzzer added
#   artifacts/<name>/   crash-*, leak-*, timeout-*, oom-* inputs
#   logs/<name>.log     libFuzzer's output
# and one JSON line per target on stdout: executions, exec/s, cov, ft, corpus size, crashes.
# Environment: CXX (default clang++-14), JOBS (build parallelism, default 2), COVSCREEN_DATA
# (shared data sets, for seeds), FUZZ_SKIP_BUILD=1 (use the binaries as they are),
# FUZZ_EXTRA (more libFuzzer flags, e.g. "-jobs=2").
# libFuzzer runs in fork mode (-fork=1 -ignore_crashes/timeouts/ooms), so a finding is saved and
# fuzzing goes on for the whole time. The fuzzers run under `nice -n 19`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
seconds=${1:-600}
shift || true
all=(image dicom decoder pack csv checkpoint serve dicomweb)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
build=${COVSCREEN_FUZZ_BUILD:-$root/build-fuzz}
cxx=${CXX:-clang++-14}

max_len() {
  case $1 in
    csv) echo 8192 ;;
    serve) echo 65536 ;;
    checkpoint) echo 131072 ;;
    *) echo 65536 ;;
  esac
}

if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
  if [ ! -f "$build/CMakeCache.txt" ]; then
    gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    cmake -S . -B "$build" "${gen[@]}" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_FLAGS_RELEASE="-O2 -g" -DCOVSCREEN_FUZZ=ON -DCOVSCREEN_TESTS=OFF -DCOVSCREEN_BENCH=OFF >&2
  fi
  nice -n 19 cmake --build "$build" -j "${JOBS:-2}" --target fuzz_make_seeds "${targets[@]/#/fuzz_}" >&2
fi

COVSCREEN_FUZZ_BUILD=$build "$root/scripts/fuzz/make_corpus.sh" "${targets[@]}" >&2

mkdir -p "$build/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-"detect_leaks=1:allocator_may_return_null=1:handle_abort=1"}
export LSAN_OPTIONS=${LSAN_OPTIONS:-"suppressions=$root/fuzz/lsan.supp:print_suppressions=0"}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-"print_stacktrace=1:halt_on_error=1"}

for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  corpus="$build/corpus/$t"
  art="$build/artifacts/$t"
  log="$build/logs/$t.log"
  mkdir -p "$corpus" "$art"
  start=$(date +%s)
  # Fork mode: a crash, leak, timeout or OOM is saved to $art and fuzzing goes on in a new job,
  # so one finding does not end the run. Status lines: "#<execs>: cov: C ft: F corp: N exec/s: E ...".
  # shellcheck disable=SC2086
  nice -n 19 "$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len="$(max_len "$t")" \
    -artifact_prefix="$art/" ${FUZZ_EXTRA:-} "$corpus" >"$log" 2>&1 || true
  elapsed=$(($(date +%s) - start))
  last=$(grep -aE '^#[0-9]+: cov: ' "$log" | tail -1 || true)
  execs=$(echo "$last" | sed -nE 's/^#([0-9]+):.*/\1/p')
  cov=$(echo "$last" | sed -nE 's/.* cov: ([0-9]+).*/\1/p')
  ft=$(echo "$last" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
  files=$(find "$corpus" -type f | wc -l)
  crashes=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  execs=${execs:-0}
  rate=0
  [ "$elapsed" -gt 0 ] && rate=$((execs / elapsed))
  printf '{"target":"%s","seconds":%d,"executions":%d,"exec_per_s":%d,"cov":%s,"ft":%s,"corpus_files":%d,"findings":%d,"artifacts":"%s","log":"%s"}\n' \
    "$t" "$elapsed" "$execs" "$rate" "${cov:-null}" "${ft:-null}" "$files" "$crashes" "$art" "$log"
done
