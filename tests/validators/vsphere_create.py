#!/usr/bin/env python3
"""Creates the vSphere VMs hvxform writes on govmomi's vCenter simulator.

pyVmomi's Deserialize checks a ConfigSpec's format; vcsim's CreateVM_Task
also refuses device layouts vCenter refuses (two disks on one controller
unit, a device key used twice, a controller that does not exist).

Usage: vsphere_create.py HVXFORM VCSIM WORK INPUT...

Each input is converted with `hvxform transform INPUT --to vsphere`, and each
ConfigSpec created on vcsim, its disks and media pointed at the simulator's
datastore and its NICs at its network (as a seeded session table would),
the image files in place (as the `action:` lines ask). Prints one line per
refused input and a summary `created N of M`; exits 1 if any was refused.
A created VM must have the serial ports its spec adds, with their backings.
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from command_proof import Vcsim  # noqa: E402

VIM = "{urn:vim25}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def serial_backings(spec_xml):
    """The backing types of the serial ports a ConfigSpec adds, in order."""
    root = ET.fromstring(spec_xml)
    return [d.find(VIM + "backing").get(XSI_TYPE, "").split(":")[-1]
            for d in root.iter(VIM + "device")
            if d.get(XSI_TYPE, "").split(":")[-1] == "VirtualSerialPort"]


def point_at_simulator(spec_xml, ds, folder):
    """The spec with every `[datastore] path` on the simulator's datastore,
    under `folder` (one per VM, so that VMs do not share files), and every
    network backing on its `VM Network`; the files it names created there."""
    root = ET.fromstring(spec_xml)
    images = {id(f) for b in root.iter(VIM + "backing") for f in b.findall(VIM + "fileName")}
    names = list(root.iter(VIM + "fileName")) + list(root.iter(VIM + "vmPathName"))
    for f in names:
        text = f.text or ""
        if not text and id(f) in images:
            continue  # a new disk: vSphere names it, in the VM's folder
        if text.startswith("[") and "] " in text:
            rel = text.split("] ", 1)[1]
        elif text.startswith("["):
            rel = ""
        else:
            rel = os.path.basename(text)
        rel = "%s/%s" % (folder, rel) if rel else folder
        f.text = "[%s] %s" % (ds.info.name, rel) if rel else "[%s]" % ds.info.name
        if rel and id(f) in images and os.path.splitext(rel)[1]:
            base = ds.info.url
            os.makedirs(os.path.join(base, os.path.dirname(rel)), exist_ok=True)
            for g in (rel, rel.replace(".vmdk", "-flat.vmdk")):
                open(os.path.join(base, g), "a").close()
    for b in root.iter(VIM + "backing"):
        name = b.find(VIM + "deviceName")
        network = b.get(XSI_TYPE, "").endswith("NetworkBackingInfo")
        if name is not None and network and b.find(VIM + "port") is None:
            name.text = "VM Network"
    return ET.tostring(root, encoding="unicode")


def main():
    hvxform, vcsim_bin, work = sys.argv[1:4]
    inputs = sys.argv[4:]
    os.makedirs(work, exist_ok=True)
    ET.register_namespace("", "urn:vim25")
    ET.register_namespace("xsi", "http://www.w3.org/2001/XMLSchema-instance")
    vc = Vcsim(vcsim_bin)
    created = refused = skipped = serials = 0
    try:
        for k, path in enumerate(inputs):
            out = os.path.join(work, str(k))
            os.makedirs(out, exist_ok=True)
            r = subprocess.run([hvxform, "-q", "transform", path, "--to", "vsphere", "-o", out],
                               capture_output=True, text=True)
            if r.returncode != 0:
                skipped += 1
                print("not converted: %s: %s" % (path, r.stderr.strip().splitlines()[-1:]))
                continue
            for j, f in enumerate(sorted(os.listdir(out))):
                name = "hvxc-%d-%d" % (k, j)
                text = open(os.path.join(out, f), encoding="utf-8").read()
                spec = point_at_simulator(text, vc.ds, name)
                try:
                    vm = vc.create(spec, name)
                    # The serial ports are there, with their backings.
                    want = serial_backings(spec)
                    got = [d.backing._wsdlName for d in vm.config.hardware.device
                           if type(d).__name__.endswith("VirtualSerialPort")]
                    if want != got:
                        raise RuntimeError("serial ports %s created as %s" % (want, got))
                    serials += len(got)
                    created += 1
                except Exception as e:  # vcsim's refusal, with its reason
                    refused += 1
                    print("refused: %s (%s): %s" % (path, f, e))
    finally:
        vc.close()
    print("created %d of %d specs (%d inputs not converted), %d serial ports" % (created, created + refused, skipped, serials))
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
