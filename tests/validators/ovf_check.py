#!/usr/bin/env python3
"""Check OVF descriptors with COT (the Common OVF Tool) and summarise them as JSON.

usage: ovf_check.py [--cot PATH] [--pretty] [--without-product-sections] FILE.ovf|FILE.ova...

Run it with the interpreter of the venv that has COT ($HVX_PYTHON, set by
.ci/run); the cot command is $HVX_COT, else --cot, else the `cot` next to this
interpreter, else `cot` on PATH.

For each FILE:
1. A bare .ovf is staged in a temporary directory together with a *sparse*
   placeholder for every <References><File ovf:href=... ovf:size=...> it names
   (same relative path, exactly ovf:size bytes, no data). Without this, COT
   logs "ERROR: File '...' referenced in the OVF descriptor does not exist."
   for every disk, since the corpus ships descriptors without disk images.
   No manifest (.mf) is staged, so no checksums are checked. An .ova is passed
   as it is.
2. `cot info FILE` is run. COT exits 0 even after logging errors, so its
   output is scanned: any ERROR or CRITICAL log line (or a non-zero exit) fails
   the file. WARNING lines are returned in "warnings" and do not fail it.
3. The numbers come from COT's own model (COT.vm_description.ovf.OVF, the same
   code that prints the "Configuration Profiles" table of `cot info`), exact
   rather than the table's rounded "1.5 GiB"; the table's CPU/NIC/disk counts
   are cross-checked against them.

Prints one JSON object per file (JSON Lines; indented with --pretty):
  {"file", "cpus", "memory_mb", "memory_bytes", "nics", "disks", "cdroms",
   "serials", "profiles": [{"id", "default", "cpus", "memory_bytes",
   "memory_mb", "nics", "disks", "cdroms", "serials"}], "warnings": [...]}
where the top-level numbers are those of the default profile ("id": null when
the OVF has no DeploymentOptionSection). Exit status: 0 all files OK; 1 some
file failed ("ovf_check: FILE: ..." on stderr); 2 usage/environment error.
"""

import argparse
import contextlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LOG_RE = re.compile(r"^\s*(CRITICAL|ERROR|WARNING|NOTICE|INFO|VERBOSE|DEBUG)\s*:\s*(.*)$")
EXC_RE = re.compile(r"^[A-Za-z_][\w.]*(: |$)")
ROW_RE = re.compile(r"^  (?P<id>.+?)\s+(?P<cpus>\d+)\s+(?P<mem>[\d.]+ \S+)\s+(?P<nics>\d+)\s+"
                    r"(?P<serials>\d+)\s+(?P<disks>\d+) /\s+(?P<cap>[\d.]+ \S+)\s*$")


class CheckError(Exception):
    pass


def find_cot(arg):
    for cand in (arg, os.environ.get("HVX_COT"),
                 os.path.join(os.path.dirname(sys.executable), "cot"),
                 shutil.which("cot")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


# A ProductSection element, whatever its prefix (they do not nest).
PRODUCT_RE = re.compile(r"<((?:[\w.-]+:)?)ProductSection\b.*?</\1ProductSection>", re.S)


def stage_ovf(path, tmp, without_products=False):
    """Copy an .ovf into tmp with sparse placeholders for its referenced files.

    With without_products, its ProductSections are left out of the copy:
    COT refuses a VirtualSystem with several (OVF allows one per product
    class and instance; VMware's appliances have them), and no CPU, memory,
    disk or NIC comes from one."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise CheckError("not well-formed XML: %s" % exc)
    # Place the descriptor deep enough that hrefs like "../../x.vmdk" stay inside tmp.
    hrefs = [v for e in root.iter() if isinstance(e.tag, str) and e.tag.endswith("}File")
             for k, v in e.attrib.items() if k.endswith("}href") or k == "href"]
    depth = max([os.path.normpath(h).split(os.sep).count("..") for h in hrefs] + [0])
    base = os.path.join(tmp, *["d%d" % i for i in range(depth)])
    os.makedirs(base, exist_ok=True)
    dst = os.path.join(base, os.path.basename(path))
    if without_products:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        with open(dst, "w", encoding="utf-8") as fh:
            fh.write(PRODUCT_RE.sub("", text))
    else:
        shutil.copyfile(path, dst)
    for elem in root.iter():
        if not (isinstance(elem.tag, str) and elem.tag.endswith("}File")):
            continue
        href = size = None
        for k, v in elem.attrib.items():
            if k.endswith("}href") or k == "href":
                href = v
            elif k.endswith("}size") or k == "size":
                size = v
        if not href or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", href):
            continue  # URL references (http:, file:) are not staged
        if os.path.isabs(href):
            continue  # let COT report it
        stub = os.path.normpath(os.path.join(base, href))
        os.makedirs(os.path.dirname(stub), exist_ok=True)
        with open(stub, "wb") as fh:
            try:
                n = int(size) if size is not None else 0
            except ValueError:
                n = 0
            fh.truncate(max(n, 0))
    return dst


def run_cot(cot, target):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    p = subprocess.run([cot, "info", target], capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=300)
    errors, warnings = [], []
    stderr = ANSI_RE.sub("", p.stderr)
    if "Traceback (most recent call last)" in stderr:
        # The exception text starts at the last unindented "Name: ..." line of the
        # traceback (it may span several lines, e.g. LookupError quoting XML).
        tb = stderr.split("Traceback (most recent call last)")[-1].splitlines()
        start = max((i for i, l in enumerate(tb) if EXC_RE.match(l)), default=len(tb) - 1)
        exc = " ".join(l.strip() for l in tb[start:] if l.strip())
        errors.append("cot crashed: " + exc[:400])
    for line in (stderr + "\n" + p.stdout).splitlines():
        line = ANSI_RE.sub("", line)
        m = LOG_RE.match(line)
        if not m:
            continue
        level, msg = m.groups()
        if level in ("ERROR", "CRITICAL"):
            errors.append("cot %s: %s" % (level, msg))
        elif level == "WARNING":
            warnings.append(msg)
    if p.returncode != 0 and not errors:
        tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        errors.append("cot info exited %d: %s" % (p.returncode, ANSI_RE.sub("", tail)))
    return p.returncode, ANSI_RE.sub("", p.stdout), errors, warnings


def table_rows(stdout):
    rows, on = [], False
    for line in stdout.splitlines():
        if line.startswith("Configuration Profiles:"):
            on = True
            continue
        if on:
            if not line.strip():
                break
            m = ROW_RE.match(line)
            if m:
                rows.append(m.groupdict())
    return rows


def model_profiles(target):
    """Exact per-profile numbers from COT's OVF model (what `cot info` prints)."""
    from COT.vm_description.ovf import OVF
    from COT.vm_description.ovf.utilities import programmatic_bytes_to_int
    logging.getLogger("COT").setLevel(logging.CRITICAL)  # the CLI run reports logs
    with contextlib.redirect_stdout(io.StringIO()):
        with OVF(target, None) as vm:
            default = vm.default_config_profile
            ids = vm.config_profiles or [None]
            out = []
            for pid in ids:
                cpus = 0
                item = vm.hardware.find_item("cpu", profile=pid)
                if item:
                    cpus = int(item.get_value(vm.VIRTUAL_QUANTITY, [pid]))
                mem = 0
                item = vm.hardware.find_item("memory", profile=pid)
                if item:
                    mem = programmatic_bytes_to_int(
                        item.get_value(vm.VIRTUAL_QUANTITY, [pid]),
                        item.get_value(vm.ALLOCATION_UNITS, [pid]))
                out.append({
                    "id": pid,
                    "default": pid == default,
                    "cpus": cpus,
                    "memory_bytes": mem,
                    "memory_mb": mem // (1 << 20),
                    "nics": vm.hardware.get_item_count("ethernet", pid),
                    "disks": vm.hardware.get_item_count("harddisk", pid),
                    "cdroms": vm.hardware.get_item_count("cdrom", pid),
                    "serials": vm.hardware.get_item_count("serial", pid),
                })
            return out


def check_file(path, cot, without_products=False):
    if not os.path.isfile(path):
        raise CheckError("no such file")
    with tempfile.TemporaryDirectory(prefix="ovf_check.") as tmp:
        target = (stage_ovf(path, tmp, without_products)
                  if not path.lower().endswith(".ova") else path)
        rc, stdout, errors, warnings = run_cot(cot, target)
        if errors:
            raise CheckError("; ".join(errors))
        try:
            profiles = model_profiles(target)
        except Exception as exc:  # COT raises its own VMInitError etc.
            raise CheckError("COT model: %s: %s" % (type(exc).__name__, exc))
    rows = table_rows(stdout)
    if len(rows) != len(profiles):
        raise CheckError("cot info printed %d profile rows, model has %d" % (len(rows), len(profiles)))
    for row, prof in zip(rows, profiles):
        for k in ("cpus", "nics", "disks", "serials"):
            if int(row[k]) != prof[k]:
                raise CheckError("cot info table says %s=%s for profile %s, model says %s"
                                 % (k, row[k], prof["id"], prof[k]))
    dflt = next((p for p in profiles if p["default"]), profiles[0])
    return {
        "file": path,
        "cpus": dflt["cpus"],
        "memory_mb": dflt["memory_mb"],
        "memory_bytes": dflt["memory_bytes"],
        "nics": dflt["nics"],
        "disks": dflt["disks"],
        "cdroms": dflt["cdroms"],
        "serials": dflt["serials"],
        "profiles": profiles,
        "warnings": warnings,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", metavar="FILE.ovf")
    ap.add_argument("--cot", help="path of the cot command")
    ap.add_argument("--pretty", action="store_true", help="indent the JSON output")
    ap.add_argument("--without-product-sections", action="store_true",
                    help="give COT the descriptor without its ProductSections "
                         "(COT refuses several in one VirtualSystem)")
    args = ap.parse_args(argv)
    cot = find_cot(args.cot)
    if cot is None:
        sys.stderr.write("ovf_check: cot not found (set HVX_COT or --cot)\n")
        return 2
    try:
        import COT  # noqa: F401
    except ImportError:
        sys.stderr.write("ovf_check: COT is not importable by %s; run with $HVX_PYTHON\n"
                         % sys.executable)
        return 2
    failed = 0
    for path in args.files:
        try:
            summary = check_file(path, cot, args.without_product_sections)
        except CheckError as exc:
            failed += 1
            sys.stderr.write("ovf_check: %s: %s\n" % (path, exc))
            continue
        print(json.dumps(summary, indent=2 if args.pretty else None))
    if failed:
        sys.stderr.write("ovf_check: %d of %d file(s) failed\n" % (failed, len(args.files)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
