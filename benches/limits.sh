#!/usr/bin/env bash
# Hostile 1 MB inputs against hvxform's limits (book: Limits and robustness):
# each file converted to every target at once, with GNU time's CPU and peak
# memory. Refusals (exit 1) are expected for the inputs past a limit.
#
#   benches/limits.sh [HVXFORM]     (default: target/release/hvxform)
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
hvx=${1:-${CARGO_TARGET_DIR:-target}/release/hvxform}
[[ -x $hvx ]] || cargo build --release --quiet --bin hvxform
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import sys, os
d = sys.argv[1]; N = 1 << 20
def w(name, s): open(os.path.join(d, name), "w").write(s)
dev = "<disk type='file' device='disk'><source file='/x/%d.qcow2'/><target dev='vd%d' bus='virtio'/></disk>\n"
s = "<domain type='kvm'><name>big</name><memory unit='KiB'>1024</memory><vcpu>1</vcpu><devices>\n"
i = 0
while len(s) < N:
    s += dev % (i, i); i += 1
w("many-disks.xml", s + "</devices></domain>\n")
s = "<domain type='kvm'><name>deep</name><memory unit='KiB'>1024</memory><metadata>" + "<a>" * 1000 + "x" + "</a>" * 1000 + "</metadata><devices/></domain>"
w("deep.xml", s.replace("<devices/>", "<devices/>" + "<!-- pad -->" * ((N - len(s)) // 11)))
w("huge-values.xml", "<domain type='kvm'><name>%s</name><description>%s</description><memory unit='KiB'>1024</memory><devices><disk type='file' device='disk'><source file='%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>" % ("n" * 1000, "d&amp;" * (N // 10), "/p" * (N // 8)))
w("many-attrs.xml", "<domain type='kvm'><name>attrs</name><memory unit='KiB'>1024</memory><devices><disk type='file' device='disk' " + " ".join("a%d='v'" % i for i in range(N // 10)) + "><source file='/a'/><target dev='vda' bus='virtio'/></disk></devices></domain>")
w("many-keys.vmx", '.encoding = "UTF-8"\ndisplayName = "x"\nmemsize = "1024"\n' + "".join('k%d.x = "%s"\n' % (i, "v" * 20) for i in range(N // 32)))
w("long-list.cfg", 'name = "x"\nmemory = 512\ndisk = [ ' + ", ".join("'file:/a%d.img,xvd%d,w'" % (i, i) for i in range(N // 30)) + " ]\n")
PY
printf '| input | bytes | exit | CPU (user+sys) | peak RSS |\n|---|---|---|---|---|\n'
for f in "$work"/*.*; do
    /usr/bin/time -o "$work/time" -f '%U %S %M %x' "$hvx" -q transform "$f" \
        --to kvm,xen,vmware,vsphere,hyperv,ec2,ovf,hvx -o "$work/out-$(basename "$f")" 2>/dev/null || true
    read -r u s m x < <(tail -1 "$work/time" | sed 's/Command exited with non-zero status [0-9]*//')
    [[ -n ${x:-} ]] || x=$(grep -o 'status [0-9]*' "$work/time" | cut -d' ' -f2)
    printf '| %s | %s | %s | %.2f s | %d MiB |\n' "$(basename "$f")" "$(stat -c %s "$f")" "${x:-0}" "$(echo "$u + $s" | bc)" $((m / 1024))
done
