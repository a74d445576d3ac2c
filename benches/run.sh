#!/usr/bin/env bash
# hvxform against xsltproc (benches/peers/libvirt2vsphere.xsl) and the
# parse + write floor (benches/floor), measured in one run on this machine;
# prints one table (markdown) and the goals of issue 7. See
# book/src/performance.md.
#
#   benches/run.sh [--quick] [--rounds N] [--work DIR]
#
#   --quick    200 small documents, a 5 MB large file, fewer runs: a CI smoke
#              run (well under a minute once built). Never fails on a time,
#              only when a command fails or an output check fails.
#   --rounds   timed rounds after the uncounted warm-up round (default 3)
#   --work     corpus, outputs and raw timings (default target/bench/full or
#              target/bench/quick); the table is also written to WORK/results.md
#
# Needs python3, xsltproc, GNU time (/usr/bin/time) and cargo (builds the
# floor, and hvxform when target/release/hvxform is missing; set HVXFORM to
# use another binary). Optional: taskset (1-core runs), a writable /dev/shm
# (batch runs writing to memory, to show what the file system costs).
#   apt-get install -y xsltproc time util-linux
#
# Every case runs once per round, all cases in turn (A B C ... A B C ...),
# and ratios are taken within a round, then the median [min-max] over the
# rounds: the machine is shared and noisy, ratios hold better than times.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0
ROUNDS=3
WORK=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --work) WORK=$2; shift ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

[ -n "$WORK" ] || WORK="$ROOT/target/bench/$([ "$QUICK" = 1 ] && echo quick || echo full)"
if [ "$QUICK" = 1 ]; then
  SMALL=200 LARGE_MB=5 QUARTER_MB=1.25 SINGLE_RUNS=5
else
  SMALL=10000 LARGE_MB=100 QUARTER_MB=25 SINGLE_RUNS=17
fi
# Single-document runs: SINGLE_RUNS per case per round, interleaved.

missing=()
for t in python3 xsltproc cargo; do command -v "$t" >/dev/null || missing+=("$t"); done
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (GNU time)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "benches/run.sh needs: ${missing[*]} (apt-get install -y xsltproc time python3)" >&2
  exit 2
fi
if [ "${BASH_VERSINFO[0]}" -lt 5 ]; then
  echo "benches/run.sh needs bash 5 (EPOCHREALTIME)" >&2
  exit 2
fi
HAVE_TASKSET=0; command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ] && HAVE_TASKSET=1
# Outputs in memory (tmpfs), to tell conversion from file-system time.
SHM=/dev/shm/hvxform-bench-$$
HAVE_SHM=0; [ -d /dev/shm ] && [ -w /dev/shm ] && HAVE_SHM=1
trap 'rm -rf "$SHM"' EXIT

PEERS="$ROOT/benches/peers"
XSL="$PEERS/libvirt2vsphere.xsl"
HVX=${HVXFORM:-${CARGO_TARGET_DIR:-$ROOT/target}/release/hvxform}
FLOOR="$ROOT/benches/floor/target/release/hvxform-floor"

# ------------------------------------------------------------------ build
if [ ! -x "$HVX" ]; then
  echo "building hvxform (cargo build --release)" >&2
  (cd "$ROOT" && cargo build --release --quiet --bin hvxform)
elif [ -z "${HVXFORM:-}" ] && [ -d "$ROOT/.git" ]; then
  newest=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)
  if [ "$(stat -c %Y "$HVX")" -lt "$newest" ]; then
    echo "note: $HVX is older than the last commit; run cargo build --release to measure the current code" >&2
  fi
fi
case "$HVX" in
  */debug/*) echo "note: $HVX is a debug build: its times below are not representative of hvxform" >&2 ;;
esac
cargo build --release --quiet --manifest-path "$ROOT/benches/floor/Cargo.toml" --target-dir "$ROOT/benches/floor/target" 2>/dev/null ||
  cargo build --release --quiet --offline --manifest-path "$ROOT/benches/floor/Cargo.toml" --target-dir "$ROOT/benches/floor/target"

# ------------------------------------------------------------------ inputs
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
C="$WORK/corpus"
Q="$WORK/corpus-quarter"
O="$WORK/out"
gen() { # DIR ARGS...: the corpus, generated again only when the arguments change
  local dir=$1; shift
  if [ "$(cat "$dir/.args" 2>/dev/null)" != "$*" ]; then
    rm -rf "$dir"
    python3 "$PEERS/gen_corpus.py" "$dir" "$@" >/dev/null
    echo "$*" >"$dir/.args"
  fi
}
gen "$C" --small-count "$SMALL" --large-mb "$LARGE_MB"
gen "$Q" --small-count 0 --large-mb "$QUARTER_MB"
rm -rf "$O"
mkdir -p "$O"/{hvx,hvx_sess,hvx_hub,hvx_1core,hvx_xsl,floor}
[ $HAVE_SHM = 1 ] && mkdir -p "$SHM"/{hvx,hvx_1core,hvx_sess,hvx_xsl,floor}
# The 1,000-entry id table as a session store, and the 1-entry table for xsltproc.
python3 "$ROOT/benches/report.py" store "$C/vmids.xml" "$WORK/store.yaml"
python3 "$ROOT/benches/report.py" map1 "$C/vmids.xml" "$WORK/map1.xml"
"$HVX" -q session check "$WORK/store.yaml"
for s in sess sess_shm sess_shm_1core hub large xsl xsl_shm large_xsl tiny; do cp "$WORK/store.yaml" "$O/store-$s.yaml"; done
# The large case runs the shipped route: the shipped kvm-to-vsphere.hvx
# byte for byte, plus one rule for the <domains> wrapper (no libvirt format
# has one).
mkdir -p "$WORK/shipped"
{
  cat "$ROOT/mappings/kvm-to-vsphere.hvx"
  printf '\n# benches/run.sh: a <domains> wrapper of libvirt domains gives one wrapper of specs.\n'
  printf 'on domains {\n  <VirtualMachineConfigSpecs> {\n    apply domain;\n  }\n}\n'
} >"$WORK/shipped/kvm-to-vsphere.hvx"
# The stylesheet's job in hvxform's language: the same job as xsltproc's
# (with --no-carry: xsltproc carries no original for the way back)
# (report.py check compares the outputs).
XSLJOB="$ROOT/benches/mappings/stylesheet"
WEB="$ROOT/samples/kvm/web.xml"

small_bytes=$(cat "$C"/small/*.xml | wc -c)
large_bytes=$(wc -c <"$C/large.xml")
quarter_bytes=$(wc -c <"$Q/large.xml")
tiny_bytes=$(wc -c <"$C/tiny.xml")
large_docs=$(grep -c '<domain ' "$C/large.xml")
quarter_docs=$(grep -c '<domain ' "$Q/large.xml")

# ------------------------------------------------------------------ cases
# case name → CMD (array) and OUT (where its standard output goes).
cmd_of() {
  OUT=/dev/null
  case $1 in
    hvx) CMD=("$HVX" -q transform "$C/small" --to vsphere -o "$O/hvx") ;;
    hvx_sess) CMD=("$HVX" -q transform "$C/small" --to vsphere -o "$O/hvx_sess" --session "$O/store-sess.yaml") ;;
    hvx_hub) CMD=("$HVX" -q transform "$C/small" --to vsphere -o "$O/hvx_hub" --via-hub --session "$O/store-hub.yaml") ;;
    hvx_1core) CMD=(taskset -c 0 "$HVX" -q transform "$C/small" --to vsphere -o "$O/hvx_1core") ;;
    hvx_xsl) CMD=("$HVX" -q transform "$C/small" --to vsphere -o "$O/hvx_xsl" --mappings "$XSLJOB" --no-carry --session "$O/store-xsl.yaml") ;;
    hvx_xsl_shm) CMD=("$HVX" -q transform "$C/small" --to vsphere -o "$SHM/hvx_xsl" --mappings "$XSLJOB" --no-carry --session "$O/store-xsl_shm.yaml") ;;
    xslt_shm) CMD=(xsltproc --stringparam idmap "$C/vmids.xml" "$XSL" "$C"/small/*.xml) OUT="$SHM/xslt.xml" ;;
    hvx_sess_shm) CMD=("$HVX" -q transform "$C/small" --to vsphere -o "$SHM/hvx_sess" --session "$O/store-sess_shm.yaml") ;;
    hvx_shm) CMD=("$HVX" -q transform "$C/small" --to vsphere -o "$SHM/hvx") ;;
    hvx_shm_1core) CMD=(taskset -c 0 "$HVX" -q transform "$C/small" --to vsphere -o "$SHM/hvx_1core") ;;
    hvx_sess_shm_1core) CMD=(taskset -c 0 "$HVX" -q transform "$C/small" --to vsphere -o "$SHM/hvx_sess_1core" --session "$O/store-sess_shm_1core.yaml") ;;
    floor_shm) CMD=("$FLOOR" "$SHM/floor" "$C/small") ;;
    xslt) CMD=(xsltproc --stringparam idmap "$C/vmids.xml" "$XSL" "$C"/small/*.xml) OUT="$O/xslt.xml" ;;
    xslt1) CMD=(xsltproc --stringparam idmap "$WORK/map1.xml" "$XSL" "$C"/small/*.xml) OUT="$O/xslt1.xml" ;;
    floor) CMD=("$FLOOR" "$O/floor" "$C/small") ;;
    hvx_large) CMD=("$HVX" -q transform "$C/large.xml" --from kvm --to vsphere --mappings "$WORK/shipped" --session "$O/store-large.yaml") OUT="$O/hvx-large.xml" ;;
    hvx_large_xsl) CMD=("$HVX" -q transform "$C/large.xml" --from kvm --to vsphere --mappings "$XSLJOB" --no-carry --session "$O/store-large_xsl.yaml") OUT="$O/hvx-large-xsl.xml" ;;
    xslt_large) CMD=(xsltproc --stringparam idmap "$C/vmids.xml" "$XSL" "$C/large.xml") OUT="$O/xslt-large.xml" ;;
    floor_large) CMD=("$FLOOR" - "$C/large.xml") OUT="$O/floor-large.xml" ;;
    hvx_quarter) CMD=("$HVX" -q transform "$Q/large.xml" --from kvm --to vsphere --mappings "$WORK/shipped" --session "$O/store-large.yaml") OUT="$O/hvx-quarter.xml" ;;
    floor_quarter) CMD=("$FLOOR" - "$Q/large.xml") OUT="$O/floor-quarter.xml" ;;
    hvx_tiny) CMD=("$HVX" -q transform "$C/tiny.xml" --to vsphere) ;;
    hvx_tiny_hub) CMD=("$HVX" -q transform "$C/tiny.xml" --to vsphere --via-hub) ;;
    hvx_tiny_xsl) CMD=("$HVX" -q transform "$C/tiny.xml" --to vsphere --mappings "$XSLJOB" --no-carry --session "$O/store-tiny.yaml") ;;
    hvx_web) CMD=("$HVX" -q transform "$WEB" --to vsphere --session "$O/store-tiny.yaml") ;;
    floor_web) CMD=("$FLOOR" - "$WEB") ;;
    xslt_tiny) CMD=(xsltproc --stringparam idmap "$C/vmids.xml" "$XSL" "$C/tiny.xml") ;;
    floor_tiny) CMD=("$FLOOR" - "$C/tiny.xml") ;;
  esac
}

CASES="$WORK/cases.tsv"
RAW="$WORK/raw.tsv"
: >"$CASES"
: >"$RAW"
BATCH=() LARGE=() SINGLE=()
def() { # section name label docs bytes shown-command
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$1" "$3" "$4" "$5" "$6" >>"$CASES"
  case $1 in batch) BATCH+=("$2") ;; large) LARGE+=("$2") ;; single) SINGLE+=("$2") ;; esac
}
n=$SMALL
def batch hvx_xsl "batch: hvxform, the stylesheet's job (benches/mappings/stylesheet), 1,000-pair store: the same job as xsltproc's" "$n" "$small_bytes" "hvxform transform small --to vsphere -o DIR --mappings stylesheet --no-carry --session store.yaml"
def batch hvx "batch: hvxform, shipped route kvm → vsphere (direct mapping), no store" "$n" "$small_bytes" "hvxform transform small --to vsphere -o DIR"
def batch hvx_sess "batch: hvxform, same + session store (1,000 ids, looked up)" "$n" "$small_bytes" "... --session store.yaml"
def batch hvx_hub "batch: hvxform, hub route kvm → hvx → vsphere + store" "$n" "$small_bytes" "... --via-hub --session store.yaml"
def batch xslt "batch: xsltproc, 1,000-entry table" "$n" "$small_bytes" "xsltproc --stringparam idmap vmids.xml libvirt2vsphere.xsl small/*.xml"
def batch xslt1 "batch: xsltproc, 1-entry table" "$n" "$small_bytes" "xsltproc --stringparam idmap map1.xml ..."
def batch floor "batch: floor (1 thread)" "$n" "$small_bytes" "floor DIR small"
if [ $HAVE_TASKSET = 1 ]; then
  def batch hvx_1core "batch: hvxform on 1 core" "$n" "$small_bytes" "taskset -c 0 hvxform transform ..."
fi
if [ $HAVE_SHM = 1 ]; then
  def batch hvx_xsl_shm "batch: hvxform, the stylesheet's job, outputs in memory (tmpfs)" "$n" "$small_bytes" "... --mappings stylesheet --session store.yaml -o /dev/shm/..."
  def batch xslt_shm "batch: xsltproc, 1,000-entry table, output in memory (tmpfs)" "$n" "$small_bytes" "xsltproc ... small/*.xml > /dev/shm/..."
  def batch hvx_sess_shm "batch: hvxform, shipped route + store, outputs in memory (tmpfs)" "$n" "$small_bytes" "... --session store.yaml -o /dev/shm/..."
  def batch hvx_shm "batch: hvxform, outputs in memory (tmpfs; diagnostic)" "$n" "$small_bytes" "hvxform transform small --to vsphere -o /dev/shm/..."
  if [ $HAVE_TASKSET = 1 ]; then
    def batch hvx_shm_1core "batch: hvxform, outputs in memory, 1 core (diagnostic)" "$n" "$small_bytes" "taskset -c 0 hvxform ... -o /dev/shm/..."
    def batch hvx_sess_shm_1core "batch: hvxform, shipped route + store, outputs in memory, 1 core" "$n" "$small_bytes" "taskset -c 0 hvxform ... --session store.yaml -o /dev/shm/..."
  fi
  def batch floor_shm "batch: floor, outputs in memory (diagnostic)" "$n" "$small_bytes" "floor /dev/shm/... small"
fi
def large hvx_large "large: hvxform, shipped route (+ a <domains> wrapper rule), 1,000-pair store" "$large_docs" "$large_bytes" "hvxform transform large.xml --from kvm --to vsphere --mappings shipped+wrapper --session store.yaml"
def large hvx_large_xsl "large: hvxform, the stylesheet's job, 1,000-pair store" "$large_docs" "$large_bytes" "... --mappings stylesheet --session store.yaml"
def large xslt_large "large: xsltproc, 1,000-entry table" "$large_docs" "$large_bytes" "xsltproc --stringparam idmap vmids.xml libvirt2vsphere.xsl large.xml"
def large floor_large "large: floor" "$large_docs" "$large_bytes" "floor - large.xml"
def large hvx_quarter "large ÷ 4: hvxform" "$quarter_docs" "$quarter_bytes" "(same, quarter-size file)"
def large floor_quarter "large ÷ 4: floor" "$quarter_docs" "$quarter_bytes" "floor - large.xml (quarter)"
def single hvx_tiny "single: hvxform, shipped route (1 mapping, kvm → vsphere)" 1 "$tiny_bytes" "hvxform transform tiny.xml --to vsphere"
def single hvx_tiny_hub "single: hvxform, hub route (2 mappings)" 1 "$tiny_bytes" "hvxform transform tiny.xml --to vsphere --via-hub"
def single hvx_tiny_xsl "single: hvxform, the stylesheet's job, 1,000-pair store" 1 "$tiny_bytes" "hvxform transform tiny.xml --to vsphere --mappings stylesheet --no-carry --session store.yaml"
def single xslt_tiny "single: xsltproc, 1,000-entry table" 1 "$tiny_bytes" "xsltproc --stringparam idmap vmids.xml libvirt2vsphere.xsl tiny.xml"
def single floor_tiny "single: floor" 1 "$tiny_bytes" "floor - tiny.xml"
def single hvx_web "single, 3 KB domain: hvxform, shipped route, 1,000-pair store" 1 "$(wc -c <"$WEB")" "hvxform transform samples/kvm/web.xml --to vsphere --session store.yaml"
def single floor_web "single, 3 KB domain: floor" 1 "$(wc -c <"$WEB")" "floor - samples/kvm/web.xml"

FAILED=0
usec() { local t=${1/./}; echo $((10#$t)); }
measure() { # section case round (0 = warm-up, not recorded)
  cmd_of "$2"
  local t0 t1
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -f "%U %S %M" -o "$WORK/time.txt" "${CMD[@]}" >"$OUT" 2>"$WORK/err.txt"; then
    echo "FAILED: $2: ${CMD[*]:0:8} ..." >&2
    head -5 "$WORK/err.txt" >&2
    FAILED=1
    return 0
  fi
  t1=$EPOCHREALTIME
  if [ "$3" -gt 0 ]; then
    echo "$1 $2 $3 $(($(usec "$t1") - $(usec "$t0"))) $(tail -1 "$WORK/time.txt")" >>"$RAW"
  fi
}

start=$EPOCHREALTIME
# ------------------------------------------------------------------ warm-up + checks
echo "warm-up round and output checks ..." >&2
for c in "${BATCH[@]}"; do measure batch "$c" 0; done
for c in "${LARGE[@]}"; do measure large "$c" 0; done
python3 "$ROOT/benches/report.py" check "$WORK" "$QUICK" >&2 || FAILED=1

# ------------------------------------------------------------------ timed rounds
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r of $ROUNDS: batch ..." >&2
  for c in "${BATCH[@]}"; do measure batch "$c" "$r"; done
  echo "round $r of $ROUNDS: large ..." >&2
  for c in "${LARGE[@]}"; do measure large "$c" "$r"; done
done

# Single document: whole process, start to exit, timed from here without any
# wrapper (bash forks and execs it directly); cases interleaved run by run.
echo "single document ..." >&2
for c in "${SINGLE[@]}"; do
  cmd_of "$c"
  for _ in 1 2 3; do "${CMD[@]}" >/dev/null 2>&1 || { echo "FAILED: $c" >&2; FAILED=1; }; done
done
for r in $(seq 1 "$ROUNDS"); do
  for _ in $(seq 1 "$SINGLE_RUNS"); do
    for c in "${SINGLE[@]}"; do
      cmd_of "$c"
      t0=$EPOCHREALTIME
      "${CMD[@]}" >/dev/null 2>&1 || FAILED=1
      t1=$EPOCHREALTIME
      echo "single $c $r $(($(usec "$t1") - $(usec "$t0"))) - - -" >>"$RAW"
    done
  done
  # CPU time and peak memory: one run under GNU time per case and round.
  for c in "${SINGLE[@]}"; do
    cmd_of "$c"
    /usr/bin/time -f "%U %S %M" -o "$WORK/time.txt" "${CMD[@]}" >/dev/null 2>&1 || FAILED=1
    echo "single $c $r - $(tail -1 "$WORK/time.txt")" >>"$RAW"
  done
done
elapsed=$(($(usec "$EPOCHREALTIME") - $(usec "$start")))

# ------------------------------------------------------------------ table
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
fs=$(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || stat -f -c %T "$WORK")
{
  echo "## benches/run.sh$([ "$QUICK" = 1 ] && echo " --quick"), $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $(nproc) cores ($cpu), $mem, $fs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo "hvxform $("$HVX" --version | awk '{print $2}') ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')), $(xsltproc --version | head -1), floor: roxmltree 0.21 + xmlwriter 0.1."
  echo "Inputs: $SMALL small documents ($small_bytes bytes), large.xml $large_docs domains ($large_bytes bytes), quarter $quarter_docs domains ($quarter_bytes bytes), tiny.xml $tiny_bytes bytes."
  echo "$ROUNDS timed rounds after a warm-up; single: $((ROUNDS * SINGLE_RUNS)) runs per case; $((elapsed / 1000000)) s in all."
  [ $HAVE_TASKSET = 1 ] || echo "No 1-core run (taskset missing or 1 core)."
  [ $HAVE_SHM = 1 ] || echo "No runs writing to memory (no writable /dev/shm)."
  echo
  python3 "$ROOT/benches/report.py" table "$WORK" "$QUICK"
} | tee "$WORK/results.md"

if [ $FAILED = 1 ]; then
  echo "some command or output check FAILED (see above)" >&2
  exit 1
fi
