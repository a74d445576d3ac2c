#!/usr/bin/env python3
"""Proves `hvxform command` on real endpoints: vSphere commands executed by
govmomi's vcsim, their KVM translations executed by libvirtd (QEMU driver).

For each case: the same VM is created on both sides (the KVM domain
tests/commands/proof.xml as it is; on vcsim, hvxform's own conversion of it
to a ConfigSpec), the vSphere command (serialized by pyVmomi, as a client
sends it) is POSTed to vcsim, hvxform translates it with the VM's
configuration as vcsim reports it (--context) and the virsh script it prints
runs against libvirtd. Both VMs are then read back and their P0 facts (CPUs,
memory, disks, NICs with MAC, CD-ROM media, power state) compared.

The other way round (kvm -> vsphere): virsh operations run on libvirtd, and
hvxform's translation of their `<virsh>` document (with the vSphere VM's
configuration as context) is POSTed to vcsim, call by call.

Usage: command_proof.py HVXFORM VCSIM_BINARY LIBVIRT_URI WORKDIR
Prints one JSON line per case and a summary; exit 1 when a case fails.
"""

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

from pyVim.connect import SmartConnect
from pyVmomi import SoapAdapter, vim

HERE = os.path.dirname(os.path.abspath(__file__))
PROOF = os.path.join(HERE, "..", "commands", "proof.xml")
IMAGES = "/var/lib/libvirt/images"


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


class Vcsim:
    def __init__(self, binary):
        self.proc = subprocess.Popen([binary], stdout=subprocess.PIPE, text=True)
        url = urllib.parse.urlparse(self.proc.stdout.readline().strip())
        self.url = url
        self.si = SmartConnect(host=url.hostname, port=url.port, user=url.username,
                               pwd=url.password, protocol="http")
        self.stub = self.si._stub
        content = self.si.RetrieveContent()
        self.dc = content.rootFolder.childEntity[0]
        self.pool = self.dc.hostFolder.childEntity[0].resourcePool
        self.ds = self.dc.datastore[0]

    def close(self):
        self.proc.terminate()
        self.proc.wait()

    def wait(self, task):
        while task.info.state not in ("success", "error"):
            time.sleep(0.05)
        if task.info.state == "error":
            raise RuntimeError(f"vcsim task failed: {task.info.error.msg or task.info.error}")
        return task.info.result

    def create(self, spec_xml, name):
        spec = SoapAdapter.Deserialize(spec_xml, vim.vm.ConfigSpec)
        spec.name = name
        # The disk images a migration converts (hvxform's `action:` lines)
        # are in place on the datastore.
        root = self.ds.info.url
        for c in spec.deviceChange:
            b = getattr(c.device, "backing", None)
            f = getattr(b, "fileName", None)
            if f and "] " in f:
                rel = f.split("] ", 1)[1]
                os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
                for g in (rel, rel.replace(".vmdk", "-flat.vmdk")):
                    open(os.path.join(root, g), "w").close()
        return self.wait(self.dc.vmFolder.CreateVM_Task(config=spec, pool=self.pool))

    def envelope(self, vm, method, *args):
        """The SOAP request pyVmomi sends for vm.method(*args)."""
        mi = vim.VirtualMachine._GetMethodInfo(method)
        s = self.stub.SerializeRequest(vm, mi, list(args))
        return s.decode() if isinstance(s, bytes) else s

    def post(self, envelope):
        """POSTs a raw SOAP request; returns the task it started, if any."""
        c = http.client.HTTPConnection(self.url.hostname, self.url.port)
        c.request("POST", "/sdk", envelope.encode(), {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": "urn:vim25/" + self.stub.versionId.strip('"'),
            "Cookie": self.stub.cookie,
        })
        r = c.getresponse()
        body = r.read().decode()
        if r.status != 200:
            raise RuntimeError(f"vcsim refused the command ({r.status}): {body[:400]}")
        m = re.search(r'<returnval type="Task">([^<]+)</returnval>', body)
        if m:
            self.wait(vim.Task(m.group(1), self.stub))

    def post_calls(self, calls_xml):
        """POSTs each call of a `<calls>` document in a SOAP envelope."""
        root = ET.fromstring(calls_xml)
        assert root.tag == "{urn:hvxform:vsphere-calls:1}calls", root.tag
        for call in root:
            body = ET.tostring(call, encoding="unicode")
            self.post('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                      'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                      'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soapenv:Body>'
                      + body + "</soapenv:Body></soapenv:Envelope>")
        return len(root)

    def context(self, vm):
        """The VM's configuration as vSphere reports it (ConfigInfo)."""
        x = SoapAdapter.Serialize(vm.config, version="vim.version.version8")
        x = x.decode() if isinstance(x, bytes) else x
        return re.sub(r"^<obj ", "<config ", x).rsplit("</obj>", 1)[0] + "</config>"

    def facts(self, vm):
        hw = vm.config.hardware
        disks = [d for d in hw.device if isinstance(d, vim.vm.device.VirtualDisk)]
        cds = [d for d in hw.device if isinstance(d, vim.vm.device.VirtualCdrom)]
        nics = [d for d in hw.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
        media = []
        for c in cds:
            f = getattr(c.backing, "fileName", "") or ""
            media.append(os.path.basename(f.split("] ", 1)[-1]) if f else "")
        return {
            "cpus": hw.numCPU,
            "memory_mib": hw.memoryMB,
            "disks": sorted(os.path.basename(d.backing.fileName).rsplit(".", 1)[0] for d in disks),
            "macs": sorted(n.macAddress.lower() for n in nics),
            "media": sorted(media),
            "power": {"poweredOn": "on", "poweredOff": "off", "suspended": "off"}[vm.runtime.powerState],
        }


class Libvirt:
    def __init__(self, uri, work):
        self.uri, self.work = uri, work

    def virsh(self, *args):
        r = run(["virsh", "-c", self.uri, *args])
        if r.returncode != 0:
            raise RuntimeError(f"virsh {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def define(self, name):
        x = open(PROOF).read().replace("<name>proof</name>", f"<name>{name}</name>")
        x = re.sub(r"<uuid>[^<]*</uuid>", "", x)
        p = os.path.join(self.work, f"{name}.xml")
        open(p, "w").write(x)
        os.makedirs(IMAGES, exist_ok=True)
        for f in ("proof-os.img", "proof-data.img", "install.iso", "other.iso"):
            with open(os.path.join(IMAGES, f), "a") as fh:
                fh.truncate(1 << 20)
        self.virsh("define", p)

    def remove(self, name):
        run(["virsh", "-c", self.uri, "destroy", name])
        run(["virsh", "-c", self.uri, "undefine", name])

    def facts(self, name):
        root = ET.fromstring(self.virsh("dumpxml", "--inactive", name))
        mem = int(root.findtext("memory"))
        unit = root.find("memory").get("unit", "KiB")
        mib = mem // 1024 if unit == "KiB" else mem
        disks = root.findall("devices/disk")
        state = self.virsh("domstate", name).strip()
        return {
            "cpus": int(root.findtext("vcpu")),
            "memory_mib": mib,
            "disks": sorted(os.path.basename(d.find("source").get("file")).rsplit(".", 1)[0]
                            for d in disks if d.get("device") == "disk"),
            "macs": sorted(i.find("mac").get("address").lower() for i in root.findall("devices/interface")),
            "media": sorted(os.path.basename(d.find("source").get("file")) if d.find("source") is not None else ""
                            for d in disks if d.get("device") == "cdrom"),
            "power": "on" if state == "running" else "off",
        }


def main():
    hvxform, vcsim_bin, uri, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    store = os.path.join(work, "store.yaml")
    if os.path.exists(store):
        os.remove(store)
    subprocess.run([hvxform, "session", "set", store, "datastores", IMAGES, "LocalDS_0",
                    "--types", "string:string", "-q"], check=True)
    r = run([hvxform, "transform", PROOF, "--to", "vsphere", "-o", work, "--session", store,
             "--param", "default_datastore=LocalDS_0", "-q"])
    if r.returncode != 0:
        sys.exit(f"converting the proof VM failed: {r.stderr}")
    spec_xml = open(os.path.join(work, "proof.vsphere.xml"), "rb").read()

    vc = Vcsim(vcsim_bin)
    lv = Libvirt(uri, work)
    open(os.path.join(vc.ds.info.url, "other.iso"), "w").close()

    def dev(vm, cls, n=0):
        return [d for d in vm.config.hardware.device if isinstance(d, cls)][n]

    # Each case: (name, start powered on?, the vSphere call, expect refusal?).
    def cpu_mem(vm):
        return ("Reconfigure", vim.vm.ConfigSpec(numCPUs=4, memoryMB=2048))

    def remove_nic(vm):
        nic = dev(vm, vim.vm.device.VirtualEthernetCard, 1)
        return ("Reconfigure", vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="remove", device=type(nic)(key=nic.key))]))

    def remove_disk(vm):
        d = dev(vm, vim.vm.device.VirtualDisk, 1)
        return ("Reconfigure", vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="remove", device=vim.vm.device.VirtualDisk(key=d.key))]))

    def change_iso(vm):
        # As clients edit a device: the device as the VM has it, changed.
        cd = dev(vm, vim.vm.device.VirtualCdrom)
        cd.backing = vim.vm.device.VirtualCdrom.IsoBackingInfo(fileName="[LocalDS_0] other.iso")
        return ("Reconfigure", vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=cd)]))

    def add_disk(vm):
        # A new 10 GiB disk on the SCSI controller, created by vSphere.
        ctl = dev(vm, vim.vm.device.VirtualSCSIController)
        os.makedirs(os.path.join(vc.ds.info.url, "proof-add"), exist_ok=True)
        d = vim.vm.device.VirtualDisk(key=-1, controllerKey=ctl.key, unitNumber=2, capacityInKB=10 * 1024 * 1024,
                                      backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                                          fileName="[LocalDS_0] proof-add/proof-add.vmdk", diskMode="persistent"))
        return ("Reconfigure", vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="add", fileOperation="create", device=d)]))

    def grow_disk(vm):
        d = dev(vm, vim.vm.device.VirtualDisk)
        d.capacityInKB = 40 * 1024 * 1024
        return ("Reconfigure", vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=d)]))

    cases = [
        ("power-on", False, lambda vm: ("PowerOn", None), None),
        ("power-off", True, lambda vm: ("PowerOff",), None),
        ("cpu-memory", False, cpu_mem, None),
        ("remove-nic", False, remove_nic, None),
        ("remove-disk", False, remove_disk, None),
        ("change-iso", False, change_iso, None),
        ("add-disk", False, add_disk, None),
        ("reset", True, lambda vm: ("Reset",), None),
        ("grow-disk", False, grow_disk, "libvirt keeps no disk size"),
    ]
    results = []

    def same(res, **facts):
        """Records the VMs' P0 facts; the case passes when they agree."""
        res.update(facts)
        first = next(iter(facts.values()))
        res["ok"] = all(f == first for f in facts.values())
        if not res["ok"]:
            res["error"] = "P0 facts differ"

    def record(res, vmname, error=None):
        if error is not None:
            res["ok"], res["error"] = False, str(error)
        lv.remove(vmname)
        results.append(res)
        print(json.dumps(res), flush=True)

    for name, on, call, refusal in cases:
        vmname = f"proof-{name}"
        res = {"case": name, "pair": "vsphere->kvm"}
        try:
            vm = vc.create(spec_xml, vmname)
            lv.remove(vmname)
            lv.define(vmname)
            if on:
                vc.wait(vm.PowerOnVM_Task())
                lv.virsh("start", vmname)
            method, *args = call(vm)
            cmd = os.path.join(work, f"{name}.soap.xml")
            open(cmd, "w").write(vc.envelope(vm, method, *args))
            ctx = os.path.join(work, f"{name}.context.xml")
            open(ctx, "w").write(vc.context(vm))
            t = run([hvxform, "command", cmd, "--to", "kvm", "--context", ctx, "--session", store,
                     "--script", "--explain", "--connect", uri])
            res["explain"] = [l for l in t.stderr.splitlines() if "→" in l]
            if refusal:
                res["refused"] = t.returncode == 1 and refusal in t.stderr
                res["ok"] = res["refused"]
                if not res["ok"]:
                    res["error"] = f"expected a refusal naming `{refusal}`: exit {t.returncode} {t.stderr.strip()}"
            else:
                if t.returncode != 0:
                    raise RuntimeError(f"hvxform command failed: {t.stderr.strip()}")
                script = os.path.join(work, f"{name}.sh")
                open(script, "w").write(t.stdout)
                vc.post(open(cmd).read())
                s = run(["sh", script])
                if s.returncode != 0:
                    raise RuntimeError(f"libvirtd refused the translation: {s.stderr.strip()}\n{t.stdout}")
                same(res, vsphere=vc.facts(vm), kvm=lv.facts(vmname))
        except Exception as e:  # noqa: BLE001 - reported per case
            record(res, vmname, e)
        else:
            record(res, vmname)
    # kvm -> vsphere: (name, start powered on?, [(virsh XML op, virsh argv)]).
    nic2 = '<interface xmlns="" type="user"><mac address="52:54:00:c0:00:02"/></interface>'
    sdb = ('<disk xmlns="" type="file" device="disk"><source file="/var/lib/libvirt/images/proof-data.img"/>'
           '<target dev="sdb" bus="scsi"/></disk>')
    iso = ('<disk xmlns="" type="file" device="cdrom"><source file="/var/lib/libvirt/images/other.iso"/>'
           '<target dev="hdc" bus="ide"/><readonly/></disk>')

    # An image converted for both sides, as the `action:` lines say.
    new_disk = ('<disk xmlns="" type="file" device="disk"><driver name="qemu" type="qcow2"/>'
                '<source file="/var/lib/libvirt/images/proof-add.qcow2"/><target dev="sdc" bus="scsi"/></disk>')
    open(os.path.join(IMAGES, "proof-add.qcow2"), "a").close()
    os.makedirs(os.path.join(vc.ds.info.url, "proof-add"), exist_ok=True)
    for f in ("proof-add.vmdk", "proof-add-flat.vmdk"):
        open(os.path.join(vc.ds.info.url, "proof-add", f), "a").close()

    def dev_op(op, xml):
        return (f'<{op} config="yes">{xml}</{op}>', [op, "{dom}", ("file", xml), "--config"])

    back = [
        ("power-on", False, [("<start/>", ["start", "{dom}"])]),
        ("power-off", True, [("<destroy/>", ["destroy", "{dom}"])]),
        ("reset", True, [("<reset/>", ["reset", "{dom}"])]),
        ("cpu-memory", False, [
            ('<setvcpus count="4" config="yes" maximum="yes"/>', ["setvcpus", "{dom}", "4", "--config", "--maximum"]),
            ('<setvcpus count="4" config="yes"/>', ["setvcpus", "{dom}", "4", "--config"]),
            ('<setmaxmem kib="2097152" config="yes"/>', ["setmaxmem", "{dom}", "2097152KiB", "--config"]),
            ('<setmem kib="2097152" config="yes"/>', ["setmem", "{dom}", "2097152KiB", "--config"]),
        ]),
        ("remove-nic", False, [dev_op("detach-device", nic2)]),
        ("remove-disk", False, [dev_op("detach-device", sdb)]),
        ("change-iso", False, [dev_op("update-device", iso)]),
        ("add-disk", False, [dev_op("attach-device", new_disk)]),
    ]
    for name, on, ops in back:
        vmname = f"back-{name}"
        res = {"case": name, "pair": "kvm->vsphere"}
        try:
            vm = vc.create(spec_xml, vmname)
            lv.remove(vmname)
            lv.define(vmname)
            if on:
                vc.wait(vm.PowerOnVM_Task())
                lv.virsh("start", vmname)
            doc = os.path.join(work, f"{vmname}.virsh.xml")
            open(doc, "w").write(f'<virsh xmlns="urn:hvxform:virsh:1" domain="{vmname}">'
                                 + "".join(x for x, _ in ops) + "</virsh>")
            ctx = os.path.join(work, f"{vmname}.context.xml")
            open(ctx, "w").write(vc.context(vm))
            t = run([hvxform, "command", doc, "--to", "vsphere", "--context", ctx, "--session", store,
                     "--param", f"vm={vm._moId}", "--explain"])
            res["explain"] = [l for l in t.stderr.splitlines() if "→" in l]
            if t.returncode != 0:
                raise RuntimeError(f"hvxform command failed: {t.stderr.strip()}")
            for _, argv in ops:
                args = []
                for a in argv:
                    if isinstance(a, tuple):
                        f = os.path.join(work, f"{vmname}.dev.xml")
                        open(f, "w").write(a[1])
                        a = f
                    args.append(a.replace("{dom}", vmname))
                lv.virsh(*args)
            res["calls"] = vc.post_calls(t.stdout)
            same(res, vsphere=vc.facts(vm), kvm=lv.facts(vmname))
        except Exception as e:  # noqa: BLE001 - reported per case
            record(res, vmname, e)
        else:
            record(res, vmname)
    # Through Hyper-V (no Hyper-V runs here: its requests are checked by
    # pywbem in tests/commands.rs): the vSphere command translated to a
    # Hyper-V request, that request translated to libvirt (run on libvirtd)
    # and back to vSphere (POSTed to a second vcsim VM); both must end as the
    # vcsim VM the original command ran on.
    r = run([hvxform, "transform", PROOF, "--to", "hyperv", "-o", work, "-q"])
    if r.returncode != 0:
        sys.exit(f"converting the proof VM to Hyper-V failed: {r.stderr}")
    hv_ctx = os.path.join(work, "proof.hyperv.xml")
    for name, on, call, _ in [c for c in cases if c[3] is None and c[0] not in ("remove-disk", "change-iso", "add-disk")]:
        vmname = f"hv-{name}"
        res = {"case": name, "pair": "hyperv->kvm, hyperv->vsphere"}
        try:
            ref = vc.create(spec_xml, vmname)
            via = vc.create(spec_xml, vmname + "-b")
            lv.remove(vmname)
            lv.define(vmname)
            if on:
                vc.wait(ref.PowerOnVM_Task())
                vc.wait(via.PowerOnVM_Task())
                lv.virsh("start", vmname)
            method, *args = call(ref)
            cmd = os.path.join(work, f"{vmname}.soap.xml")
            open(cmd, "w").write(vc.envelope(ref, method, *args))
            ctx = os.path.join(work, f"{vmname}.context.xml")
            open(ctx, "w").write(vc.context(ref))
            hv = os.path.join(work, f"{vmname}.hyperv.xml")
            t = run([hvxform, "command", cmd, "--to", "hyperv", "--context", ctx, "--context", hv_ctx,
                     "--session", store, "-o", hv])
            if t.returncode != 0:
                raise RuntimeError(f"vsphere -> hyperv failed: {t.stderr.strip()}")
            t = run([hvxform, "command", hv, "--to", "kvm", "--context", hv_ctx, "--param", f"domain={vmname}",
                     "--session", store, "--script", "--connect", uri, "--explain"])
            if t.returncode != 0:
                raise RuntimeError(f"hyperv -> kvm failed: {t.stderr.strip()}")
            res["explain"] = [l for l in t.stderr.splitlines() if "→" in l]
            script = os.path.join(work, f"{vmname}.sh")
            open(script, "w").write(t.stdout)
            bctx = os.path.join(work, f"{vmname}-b.context.xml")
            open(bctx, "w").write(vc.context(via))
            u = run([hvxform, "command", hv, "--to", "vsphere", "--context", hv_ctx, "--context", bctx,
                     "--param", f"vm={via._moId}", "--session", store])
            if u.returncode != 0:
                raise RuntimeError(f"hyperv -> vsphere failed: {u.stderr.strip()}")
            vc.post(open(cmd).read())
            s_ = run(["sh", script])
            if s_.returncode != 0:
                raise RuntimeError(f"libvirtd refused the translation: {s_.stderr.strip()}\n{t.stdout}")
            res["calls"] = vc.post_calls(u.stdout)
            same(res, vsphere=vc.facts(ref), kvm=lv.facts(vmname), vsphere_via_hyperv=vc.facts(via))
        except Exception as e:  # noqa: BLE001 - reported per case
            record(res, vmname, e)
        else:
            record(res, vmname)
    vc.close()
    failed = sum(not r["ok"] for r in results)
    print(f"{len(results) - failed} of {len(results)} cases passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
