#!/usr/bin/env bash
# Check which libvirt domain XML files the local libvirt accepts, and write a TSV.
#
# usage: libvirt_accept.sh [-o OUT.tsv] FILE.xml...
#   (default OUT: stdout)
#
# For each FILE:
#   virsh_ok: `virsh -c test:///default 'define FILE; dumpxml NAME'` succeeds
#             (the test driver is in-memory and per-invocation; it preloads a
#             running domain named "test", which is destroyed and undefined first
#             when FILE's domain is also named "test").
#   rng_ok:   `xmllint --noout --relaxng $RNG FILE` validates, with
#             RNG=${LIBVIRT_DOMAIN_RNG:-/usr/share/libvirt/schemas/domain.rng}.
#   reason:   first line of the virsh error, else first line of the xmllint error.
# Columns: file, virsh_ok, rng_ok, reason  (yes/no; tabs/newlines stripped from reason)
set -euo pipefail

out=/dev/stdout
if [[ ${1:-} == -o ]]; then out=$2; shift 2; fi
rng=${LIBVIRT_DOMAIN_RNG:-/usr/share/libvirt/schemas/domain.rng}
for tool in virsh xmllint; do
    command -v "$tool" >/dev/null || { echo "libvirt_accept: $tool not found" >&2; exit 2; }
done
[[ -r $rng ]] || { echo "libvirt_accept: $rng not found" >&2; exit 2; }

clean() { tr '\t\r' '  ' | head -n1 | cut -c1-300; }

{
    printf 'file\tvirsh_ok\trng_ok\treason\n'
    for f in "$@"; do
        name=$(xmllint --xpath 'string(/domain/name)' "$f" 2>/dev/null || true)
        pre=""
        if [[ $name == test ]]; then pre="destroy test; undefine test; "; fi
        # virsh resolves relative paths against its cwd: pass an absolute path.
        abs=$(readlink -f "$f")
        vout=$(virsh -q -c test:///default "${pre}define '$abs'; dumpxml '$name'" 2>&1 || true)
        if grep -q '^error:' <<<"$vout" || ! grep -q '<domain' <<<"$vout"; then
            virsh_ok=no
            vreason=$(grep '^error:' <<<"$vout" | grep -v '^error: Failed to define domain from' \
                | sed 's/^error: //' | clean || true)
            [[ -n $vreason ]] || vreason="virsh: $(head -n1 <<<"$vout" | clean)"
        else
            virsh_ok=yes; vreason=""
        fi
        if rout=$(xmllint --noout --relaxng "$rng" "$f" 2>&1); then
            rng_ok=yes; rreason=""
        else
            rng_ok=no
            # xmllint prints the innermost message first, then "FILE:LINE: element E: ...".
            msg=$(grep -v 'fails to validate$' <<<"$rout" | head -n1 \
                | sed 's/^.*Relax-NG validity error : //' | clean || true)
            where=$(grep -o '^[^ ]*:[0-9]*: element [^:]*' <<<"$rout" | head -n1 \
                | sed 's/^.*:\([0-9]*\): element \(.*\)$/line \1, <\2>/' || true)
            rreason="$msg${where:+ ($where)}"
        fi
        reason=""
        if [[ $virsh_ok == no ]]; then reason="virsh: $vreason"; fi
        if [[ $rng_ok == no ]]; then
            reason="${reason:+$reason; }rng: $rreason"
        fi
        printf '%s\t%s\t%s\t%s\n' "$(basename "$f")" "$virsh_ok" "$rng_ok" "$reason"
    done
} >"$out"
