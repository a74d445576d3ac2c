#!/usr/bin/env bash
# Validates the hub examples against schema/hvx.rng, checks that every file in
# invalid/ is rejected, and (when virsh and libvirt's schemas are installed)
# that every samples/kvm/*.xml passes libvirt's RelaxNG schema and
# `virsh -c test:///default define`.
# Needs: xmllint (Debian: libxml2-utils); optional: virsh (libvirt-clients).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
rng=$root/schema/hvx.rng
fail=0
command -v xmllint >/dev/null || { echo "xmllint not found (apt-get install libxml2-utils)"; exit 2; }

for f in "$root"/tests/hub-examples/*.hvx.xml; do
  if xmllint --noout --relaxng "$rng" "$f" 2>/tmp/hvx-check.$$; then
    echo "ok    valid    ${f#$root/}"
  else
    echo "FAIL  valid    ${f#$root/}"; cat /tmp/hvx-check.$$; fail=1
  fi
done
for f in "$root"/tests/hub-examples/invalid/*.hvx.xml; do
  xmllint --noout "$f" 2>/dev/null || { echo "FAIL  not well-formed ${f#$root/}"; fail=1; continue; }
  if xmllint --noout --relaxng "$rng" "$f" >/dev/null 2>&1; then
    echo "FAIL  accepted ${f#$root/} (must be rejected)"; fail=1
  else
    echo "ok    rejected ${f#$root/}"
  fi
done

# The "Full example" block of book/src/hub.md must equal web.hvx.xml.
book=$root/book/src/hub.md
if [ -f "$book" ]; then
  awk '/^## Full example/{f=1} f&&/^```xml$/{x=1;next} x&&/^```$/{exit} x' "$book" > /tmp/hvx-book.$$
  if cmp -s /tmp/hvx-book.$$ "$root/tests/hub-examples/web.hvx.xml"; then
    echo "ok    book     book/src/hub.md example = web.hvx.xml"
  else
    echo "FAIL  book     book/src/hub.md example differs from tests/hub-examples/web.hvx.xml"; fail=1
  fi
  rm -f /tmp/hvx-book.$$
fi

domrng=/usr/share/libvirt/schemas/domain.rng
if command -v virsh >/dev/null && [ -f "$domrng" ]; then
  for f in "$root"/samples/kvm/*.xml; do
    name=$(xmllint --xpath 'string(/domain/name)' "$f")
    if xmllint --noout --relaxng "$domrng" "$f" 2>/tmp/hvx-check.$$ &&
       virsh -q -c test:///default "define --validate $f; dumpxml $name" >/dev/null 2>>/tmp/hvx-check.$$; then
      echo "ok    libvirt  ${f#$root/}"
    else
      echo "FAIL  libvirt  ${f#$root/}"; cat /tmp/hvx-check.$$; fail=1
    fi
  done
else
  echo "skip  libvirt checks (virsh or $domrng missing)"
fi
rm -f /tmp/hvx-check.$$
exit $fail
