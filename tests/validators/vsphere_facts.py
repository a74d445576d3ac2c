#!/usr/bin/env python3
"""The P0 facts of vSphere documents, as pyVmomi deserialises them.

usage: vsphere_facts.py FILE...

Each FILE is a VirtualMachineConfigSpec (a ConfigSpec document) or a SOAP
response holding a VirtualMachineConfigInfo (RetrievePropertiesEx, Fetch),
as vCenter, govmomi's simulator or pyVmomi write them. pyVmomi reads it:
the ConfigSpec with SoapAdapter.Deserialize, a response with its SOAP
response deserialiser (the code that reads vCenter's answers), under the
API version 8.0.2.0. Run it with the interpreter of the venv that has
pyVmomi ($HVX_PYTHON).

Prints one JSON object per file (JSON Lines):
  {"file", "name", "uuid", "cpus", "memory_mib", "firmware",
   "drives": [[kind, bus, fileName or null], ...] in device order,
   "macs": [...]}
kind is "disk" or "cdrom"; bus the controller's kind (ide, scsi, sata, nvme).
Exit status 1 when a file cannot be read.
"""

import json
import sys

from pyVmomi import SoapAdapter, vim

VERSION = "vim.version.v8_0_2_0"


def read(path):
    with open(path, "rb") as fh:
        data = fh.read()
    if b"Envelope" in data[:600]:
        stub = SoapAdapter.SoapStubAdapter("localhost", version=VERSION)
        de = SoapAdapter.SoapResponseDeserializer(stub)
        if b"RetrievePropertiesExResponse" in data:
            res = de.Deserialize(data, vim.PropertyCollector.RetrieveResult)
            vals = [p.val for o in res.objects for p in o.propSet if p.name == "config"]
            if len(vals) != 1:
                raise ValueError("%d configs in the response" % len(vals))
            return vals[0], False
        return de.Deserialize(data, vim.vm.ConfigInfo), False
    return SoapAdapter.Deserialize(data, vim.vm.ConfigSpec), True


def bus(ctl):
    for cls, name in ((vim.vm.device.VirtualIDEController, "ide"),
                      (vim.vm.device.VirtualSCSIController, "scsi"),
                      (vim.vm.device.VirtualAHCIController, "sata"),
                      (vim.vm.device.VirtualNVMEController, "nvme")):
        if isinstance(ctl, cls):
            return name
    return type(ctl).__name__


def facts(path):
    obj, spec = read(path)
    if spec:
        devices = [c.device for c in (obj.deviceChange or [])]
        cpus, mem = obj.numCPUs, obj.memoryMB
    else:
        devices = list(obj.hardware.device)
        cpus, mem = obj.hardware.numCPU, obj.hardware.memoryMB
    by_key = {d.key: d for d in devices}
    drives, macs = [], []
    for d in devices:
        kind = ("disk" if isinstance(d, vim.vm.device.VirtualDisk)
                else "cdrom" if isinstance(d, vim.vm.device.VirtualCdrom) else None)
        if kind:
            ctl = by_key.get(d.controllerKey)
            f = getattr(d.backing, "fileName", None) or None
            drives.append([kind, bus(ctl) if ctl else None, f])
        if isinstance(d, vim.vm.device.VirtualEthernetCard):
            macs.append(d.macAddress)
    return {"file": path, "name": obj.name, "uuid": obj.uuid, "cpus": cpus,
            "memory_mib": mem, "firmware": obj.firmware, "drives": drives,
            "macs": macs}


def main(argv):
    failed = 0
    for path in argv:
        try:
            print(json.dumps(facts(path)))
        except Exception as exc:  # pyVmomi's own errors
            failed += 1
            sys.stderr.write("vsphere_facts: %s: %s: %s\n" % (path, type(exc).__name__, exc))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
