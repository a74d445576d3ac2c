#!/usr/bin/env python3
"""Fills fuzz/seeds/TARGET/ with seed inputs from the repository's own files
(samples, mappings, tests, vendored corpus), one file per distinct content.
The seeds are not stored (they are the repository's files); what a campaign
finds beyond them is, minimised, in fuzz/corpus/TARGET/."""
import glob, hashlib, os, sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
ROOT = "fuzz/seeds"


def add(target, patterns, maxsize=65536):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    files = sorted(set(f for p in patterns for f in glob.glob(p, recursive=True)))
    n = 0
    for f in files:
        if not os.path.isfile(f) or os.path.getsize(f) > maxsize:
            continue
        data = open(f, "rb").read()
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as out:
            out.write(data)
        n += 1
    print(f"{target}: {n} seed(s)", file=sys.stderr)


add("mapping", ["mappings/*.hvx", "mappings/lib/*.hvx", "tests/lang/*/mapping.hvx", "tests/diagnostics/*.hvx"], 200000)
add("input", ["samples/**/*.*", "tests/corpus/**/*.xml", "tests/corpus/**/*.ovf", "tests/corpus/**/*.vmx",
              "tests/corpus/**/*.cfg", "tests/hub-examples/*.xml", "tests/cli-inputs/**/*.*"])
add("scan", ["samples/**/*.xml", "samples/**/*.ovf", "tests/corpus/**/*.xml", "tests/corpus/**/*.ovf",
             "tests/hub-examples/*.xml"])
add("vmx", ["samples/vmware/*.vmx", "tests/corpus/**/*.vmx"])
add("xl", ["samples/xen/*.cfg", "tests/corpus/xen-xl-examples/*", "tests/corpus/libvirt-xlconfig/*.cfg"])
add("hyperv", ["samples/hyperv/*", "tests/corpus/hyperv-*/**/*.xml", "tests/corpus/hyperv-*/**/*.XML"])
add("session", ["tests/session/**/*.yaml"])
add("escape", ["fuzz/dict/escape.seeds/*"])
