#!/usr/bin/env python3
"""Self-test of the validators: vsphere_check.py (the reference spec passes, broken
variants fail) and ovf_check.py (corpus OVFs, a missing disk, a broken OVF).

usage: $HVX_PYTHON tests/validators/selftest.py
Ends with a line "N passed, N failed"; exit status 1 if any case failed.
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "reference-configspec.xml")
CHECK = os.path.join(HERE, "vsphere_check.py")
OVF_CHECK = os.path.join(HERE, "ovf_check.py")
CORPUS = os.path.join(os.path.dirname(HERE), "corpus")

# (name, old, new, expected stderr fragment); old must occur in the reference.
MUTATIONS = [
    ("wrong root", "VirtualMachineConfigSpec", "ConfigSpec", "root element"),
    ("wrong namespace", 'xmlns="urn:vim25"', 'xmlns="urn:vim"', "root element"),
    ("unknown property", "<numCPUs>4</numCPUs>", "<numCPU>4</numCPU>", "no property 'numCPU'"),
    ("top-level order", "<memoryMB>8192</memoryMB>", "", "__SWAP_MEM__"),
    ("device order", "<controllerKey>-100</controllerKey>\n      <unitNumber>0</unitNumber>",
     "<unitNumber>0</unitNumber>\n      <controllerKey>-100</controllerKey>", "out of WSDL order"),
    ("backing order", "<diskMode>persistent</diskMode>\n        <thinProvisioned>true</thinProvisioned>",
     "<thinProvisioned>true</thinProvisioned>\n        <diskMode>persistent</diskMode>", "out of WSDL order"),
    ("missing required sharedBus", "<sharedBus>noSharing</sharedBus>\n    </device>\n  </deviceChange>\n  <deviceChange>\n    <operation>add</operation>\n    <device xsi:type=\"VirtualLsiLogicController\">",
     "</device>\n  </deviceChange>\n  <deviceChange>\n    <operation>add</operation>\n    <device xsi:type=\"VirtualLsiLogicController\">", "<sharedBus> is missing"),
    ("missing connected", "<allowGuestControl>true</allowGuestControl>\n        <connected>false</connected>\n      </connectable>\n      <controllerKey>-200</controllerKey>",
     "<allowGuestControl>true</allowGuestControl>\n      </connectable>\n      <controllerKey>-200</controllerKey>", "<connected> is missing"),
    ("missing yieldOnPoll", "<yieldOnPoll>true</yieldOnPoll>", "", "<yieldOnPoll> is missing"),
    ("unknown xsi:type", 'xsi:type="VirtualE1000"', 'xsi:type="VirtualE1001"', "unknown xsi:type"),
    ("abstract device", 'xsi:type="VirtualE1000"', 'xsi:type="VirtualEthernetCard"', "concrete"),
    ("untyped extraConfig value", '<value xsi:type="xsd:string">TRUE</value>', "<value>TRUE</value>", "xsi:type"),
    ("bad int", "<numCPUs>4</numCPUs>", "<numCPUs>four</numCPUs>", "integer"),
    ("bad enum", "<sharedBus>noSharing</sharedBus>", "<sharedBus>none</sharedBus>", "Deserialize failed"),
    ("missing controllerKey", "<controllerKey>-400</controllerKey>\n", "", "controllerKey missing"),
    ("dangling controllerKey", "<controllerKey>-400</controllerKey>", "<controllerKey>-401</controllerKey>", "names no controller"),
    ("missing NIC backing", '<backing xsi:type="VirtualEthernetCardNetworkBackingInfo">\n        <deviceName>Management</deviceName>\n      </backing>\n', "", "backing missing"),
    ("no disk capacity", "<capacityInKB>1048576</capacityInKB>", "<capacityInKB>0</capacityInKB>", "capacityInKB or capacityInBytes"),
    ("inconsistent capacity", "<capacityInBytes>21474836480</capacityInBytes>", "<capacityInBytes>21474836481</capacityInBytes>", "!= capacityInBytes"),
    ("duplicate key", "<key>-1001</key>", "<key>-1000</key>", "already used"),
    ("unit 7 on SCSI", "<controllerKey>-100</controllerKey>\n      <unitNumber>0</unitNumber>", "<controllerKey>-100</controllerKey>\n      <unitNumber>7</unitNumber>", "unitNumber 7 invalid"),
    ("duplicate unit", "<controllerKey>-400</controllerKey>", "<controllerKey>-100</controllerKey>", "already used"),
    ("wrong backing family", 'xsi:type="VirtualCdromIsoBackingInfo"', 'xsi:type="VirtualFloppyImageBackingInfo"', "does not belong"),
    ("fileOperation on cdrom", "<operation>add</operation>\n    <device xsi:type=\"VirtualCdrom\">\n      <key>-3000</key>",
     "<operation>add</operation>\n    <fileOperation>create</fileOperation>\n    <device xsi:type=\"VirtualCdrom\">\n      <key>-3000</key>", "fileOperation"),
    ("bad firmware", "<firmware>efi</firmware>", "<firmware>uefi</firmware>", "unknown firmware"),
    ("secure boot on bios", "<firmware>efi</firmware>", "<firmware>bios</firmware>", "efiSecureBootEnabled"),
    ("bad guestId", "debian11_64Guest", "debian11-64", "unknown guestId"),
    ("bad version", "<version>vmx-19</version>", "<version>19</version>", "vmx-19"),
    ("memory not multiple of 4", "<memoryMB>8192</memoryMB>", "<memoryMB>8190</memoryMB>", "multiple of 4"),
    ("cores do not divide", "<numCoresPerSocket>2</numCoresPerSocket>", "<numCoresPerSocket>3</numCoresPerSocket>", "does not divide"),
    ("manual MAC missing", "<macAddress>00:50:56:00:12:35</macAddress>\n", "", "needs macAddress"),
    ("malformed MAC", "00:50:56:00:12:35", "00:50:56:00:12", "malformed macAddress"),
    ("NIC on IDE", "<controllerKey>100</controllerKey>\n      <unitNumber>8</unitNumber>", "<controllerKey>-200</controllerKey>\n      <unitNumber>1</unitNumber>", "cannot sit on"),
    ("not well-formed", "</VirtualMachineConfigSpec>", "</VirtualMachineConfigSpe>", "well-formed"),
]


def run(path, *extra):
    return subprocess.run([sys.executable, CHECK, *extra, path],
                          capture_output=True, text=True)


def main():
    with open(REF) as fh:
        ref = fh.read()
    passed = failed = 0

    def report(ok, name, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL %s %s" % (name, detail))

    r = run(REF, "--api", "7.0.2.0")
    report(r.returncode == 0 and '"name": "web01"' in r.stdout, "reference passes", r.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        for name, old, new, expect in MUTATIONS:
            if expect == "__SWAP_MEM__":  # move memoryMB after deviceChange
                doc = ref.replace(old, "", 1).replace("<extraConfig>", old + "\n  <extraConfig>", 1)
                expect = "out of WSDL order"
            else:
                if old not in ref:
                    report(False, name, "(mutation anchor not found)")
                    continue
                doc = ref.replace(old, new, -1 if name == "wrong root" else 1)
            path = os.path.join(tmp, "case.xml")
            with open(path, "w") as fh:
                fh.write(doc)
            r = run(path)
            ok = r.returncode == 1 and expect in r.stderr and "case.xml" in r.stderr
            report(ok, name, "rc=%d stderr=%r" % (r.returncode, r.stderr[-400:]))
        # ovf_check.py
        tty = os.path.join(CORPUS, "govmomi-ovf", "ttylinux.ovf")
        r = subprocess.run([sys.executable, OVF_CHECK, tty], capture_output=True, text=True)
        ok = r.returncode == 0
        if ok:
            d = __import__("json").loads(r.stdout)
            ok = (d["cpus"], d["memory_mb"], d["nics"], d["disks"]) == (1, 32, 1, 1)
        report(ok, "ovf_check ttylinux", r.stdout + r.stderr)
        with open(tty) as fh:
            doc = fh.read().replace('ovf:href="ttylinux-pc_i486-16.1-disk1.vmdk"',
                                    'ovf:href="/nonexistent/disk1.vmdk"')
        bad = os.path.join(tmp, "missing-disk.ovf")
        with open(bad, "w") as fh:
            fh.write(doc)
        r = subprocess.run([sys.executable, OVF_CHECK, bad], capture_output=True, text=True)
        report(r.returncode == 1 and "cot ERROR" in r.stderr and "missing-disk.ovf" in r.stderr,
               "ovf_check logged ERROR fails", r.stderr)
        empty = os.path.join(CORPUS, "govmomi-ovf", "empty.ovf")
        r = subprocess.run([sys.executable, OVF_CHECK, empty], capture_output=True, text=True)
        report(r.returncode == 1 and "References" in r.stderr, "ovf_check crash fails", r.stderr)
    print("validators: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
