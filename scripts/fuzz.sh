#!/usr/bin/env bash
# Long coverage-guided runs of every fuzz target (shared/fuzz) under libFuzzer, with cargo-fuzz on nightly:
#   ./scripts/fuzz.sh [SECONDS per target, default 600] [target ...]
# Each run starts from the committed corpus (and, for audio, the repository's audio fixtures and the
# crafted files; for MusicXML, the score fixtures), keeps what it finds in target/fuzz-work/<target>,
# and caps RSS and any one malloc at 3 GiB, so an input that asks for a huge buffer is a crash, not a
# slow run. A crash leaves its input in fuzz/artifacts/<target>/; the other targets still run. The
# audio target reports panics the decoder catches inside symphonia ("contained panic") and goes on
# (fuzz/fuzz_targets/audio_decode.rs).
# The CI's bounded stable run is `cargo test -p coda-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(audio_decode multipart_body json_body range_header signed_url musicxml_read midi_read)
rustup toolchain list | grep -q '^nightly' || { echo "needs a nightly toolchain (rustup toolchain install nightly)"; exit 1; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
failed=()
for t in "${TARGETS[@]}"; do
  work=target/fuzz-work/$t
  mkdir -p "$work"
  seeds=(shared/fuzz/corpus/"$t")
  [ "$t" = audio_decode ] && seeds+=(shared/audio/tests/data shared/audio/tests/data/hostile-audio)
  [ "$t" = musicxml_read ] && seeds+=(shared/music/tests/data)
  echo "== $t: ${SECS} s"
  cargo +nightly fuzz run "$t" "$work" "${seeds[@]}" -- \
    -max_total_time="$SECS" -rss_limit_mb=3072 -malloc_limit_mb=3072 \
    -dict=fuzz/dict/"$t".dict -print_final_stats=1 2>&1 |
    tee "target/fuzz-work/$t.log" |
    grep -E '^(#[0-9]+ +(INITED|DONE)|stat::|==[0-9]+==|SUMMARY|contained panic|Done [0-9]+ runs)' || true
  grep -q 'Done [0-9]* runs' "target/fuzz-work/$t.log" || {
    echo "$t stopped on a crash: see target/fuzz-work/$t.log and fuzz/artifacts/$t/"
    failed+=("$t")
  }
done
[ ${#failed[@]} -eq 0 ] || { echo "crashed: ${failed[*]}"; exit 1; }
