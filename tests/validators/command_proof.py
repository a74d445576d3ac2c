#!/usr/bin/env python3
"""Proves `hvxform command` on real endpoints, for every ordered pair of
vSphere, KVM and Hyper-V: govmomi's vcsim executes vSphere commands,
libvirtd (QEMU driver) executes libvirt's, and pywbem_mock with Microsoft's
Msvm classes and the providers of hyperv_endpoint.py executes Hyper-V's.

For each case, the same VM is created on the three endpoints (the KVM domain
tests/commands/proof.xml as it is in libvirtd; hvxform's conversions of it
passed to vcsim's CreateVM_Task and to the Hyper-V endpoint's DefineSystem).
A command is executed on its source endpoint: a vSphere call serialized by
pyVmomi, virsh operations, or a Hyper-V request written by pywbem's client.
hvxform translates it for each other platform, with the VM's configuration
as each endpoint reports it (--context), and each translation is executed on
its endpoint. The three VMs are then read back and their P0 facts (CPUs,
memory, disks, NICs with MAC, CD-ROM media, power state) compared. Where a
platform cannot express the command, the refusal and its reason are checked.

Usage: command_proof.py HVXFORM VCSIM_BINARY LIBVIRT_URI WORKDIR PYWBEM_PYTHON
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
            "secure_boot": bool(vm.config.bootOptions and vm.config.bootOptions.efiSecureBootEnabled),
        }


class Libvirt:
    def __init__(self, uri, work):
        self.uri, self.work = uri, work

    def virsh(self, *args):
        r = run(["virsh", "-c", self.uri, *args])
        if r.returncode != 0:
            raise RuntimeError(f"virsh {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def define(self, name, proof=PROOF):
        x = open(proof).read().replace("<name>proof</name>", f"<name>{name}</name>")
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
        run(["virsh", "-c", self.uri, "undefine", "--nvram", name])

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
            "secure_boot": root.find("os/firmware/feature[@name='secure-boot']") is not None
            and root.find("os/firmware/feature[@name='secure-boot']").get("enabled") == "yes",
        }


class Hyperv:
    """The Hyper-V endpoint (hyperv_endpoint.py, in pywbem's own venv)."""

    def __init__(self, python):
        self.proc = subprocess.Popen([python, os.path.join(HERE, "hyperv_endpoint.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        ans = json.loads(self.proc.stdout.readline())
        if "error" in ans:
            raise RuntimeError(f"Hyper-V endpoint refused {req.get('op')} {req.get('file', '')}: {ans['error']}")
        return ans

    def define(self, path):
        return self.ask(op="define", file=path)["vm"]

    def call(self, path):
        return self.ask(op="call", file=path)["calls"]

    def resend(self, path, out):
        """The request as pywbem's client writes it."""
        self.ask(op="resend", file=path, out=out)

    def context(self, vm, path):
        self.ask(op="instances", vm=vm, file=path)
        return path

    def facts(self, vm):
        return self.ask(op="facts", vm=vm)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def main():
    hvxform, vcsim_bin, uri, work, pywbem_python = sys.argv[1:6]
    os.makedirs(work, exist_ok=True)
    store = os.path.join(work, "store.yaml")
    if os.path.exists(store):
        os.remove(store)
    subprocess.run([hvxform, "session", "set", store, "datastores", IMAGES, "LocalDS_0",
                    "--types", "string:string", "-q"], check=True)
    # The proof VM boots with BIOS (Hyper-V generation 1); its UEFI twin,
    # with Secure Boot off, is for turning Secure Boot on.
    efi = os.path.join(work, "proof-efi.xml")
    open(efi, "w").write(open(PROOF).read().replace(
        "<os>", "<os firmware='efi'><firmware><feature enabled='no' name='secure-boot'/></firmware>"))
    for proof in (PROOF, efi):
        for to, extra in (("vsphere", ["--param", "default_datastore=LocalDS_0"]), ("hyperv", [])):
            r = run([hvxform, "transform", proof, "--to", to, "-o", work, "--session", store, "-q", *extra])
            if r.returncode != 0:
                sys.exit(f"converting {proof} to {to} failed: {r.stderr}")
    spec_xml = {False: open(os.path.join(work, "proof.vsphere.xml"), "rb").read(),
                True: open(os.path.join(work, "proof-efi.vsphere.xml"), "rb").read()}
    define_system = {False: os.path.join(work, "proof.hyperv.xml"),
                     True: os.path.join(work, "proof-efi.hyperv.xml")}

    vc = Vcsim(vcsim_bin)
    lv = Libvirt(uri, work)
    hv = Hyperv(pywbem_python)
    open(os.path.join(vc.ds.info.url, "other.iso"), "w").close()
    # An image converted for each side, as the `action:` lines say.
    open(os.path.join(IMAGES, "proof-add.qcow2"), "a").close()
    os.makedirs(os.path.join(vc.ds.info.url, "proof-add"), exist_ok=True)
    for f in ("proof-add.vmdk", "proof-add-flat.vmdk"):
        open(os.path.join(vc.ds.info.url, "proof-add", f), "a").close()

    def dev(vm, cls, n=0):
        return [d for d in vm.config.hardware.device if isinstance(d, cls)][n]

    # ---- the commands, as each platform's clients send them -------------
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
        stem = f"{vm.name}-new"
        os.makedirs(os.path.join(vc.ds.info.url, stem), exist_ok=True)
        d = vim.vm.device.VirtualDisk(key=-1, controllerKey=ctl.key, unitNumber=2, capacityInKB=10 * 1024 * 1024,
                                      backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                                          fileName=f"[LocalDS_0] {stem}/{stem}.vmdk", diskMode="persistent"))
        return ("Reconfigure", vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="add", fileOperation="create", device=d)]))

    def grow_disk(vm):
        d = dev(vm, vim.vm.device.VirtualDisk)
        d.capacityInKB = 40 * 1024 * 1024
        return ("Reconfigure", vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=d)]))

    def add_nic(vm):
        # A third NIC, its MAC given (every platform must use the same).
        nic = vim.vm.device.VirtualE1000(
            key=-1, addressType="manual", macAddress="52:54:00:c0:00:03",
            backing=vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName="VM Network"))
        return ("Reconfigure", vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="add", device=nic)]))

    def remove_cdrom(vm):
        cd = dev(vm, vim.vm.device.VirtualCdrom)
        return ("Reconfigure", vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="remove", device=vim.vm.device.VirtualCdrom(key=cd.key))]))

    def add_cdrom(vm):
        # An empty CD-ROM drive on the first IDE channel.
        ide = dev(vm, vim.vm.device.VirtualIDEController)
        cd = vim.vm.device.VirtualCdrom(
            key=-1, controllerKey=ide.key, unitNumber=0,
            backing=vim.vm.device.VirtualCdrom.RemotePassthroughBackingInfo(deviceName="", exclusive=False))
        return ("Reconfigure", vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="add", device=cd)]))

    def secure_boot(vm):
        return ("Reconfigure", vim.vm.ConfigSpec(bootOptions=vim.vm.BootOptions(efiSecureBootEnabled=True)))

    nic2 = '<interface xmlns="" type="user"><mac address="52:54:00:c0:00:02"/></interface>'
    sdb = ('<disk xmlns="" type="file" device="disk"><source file="/var/lib/libvirt/images/proof-data.img"/>'
           '<target dev="sdb" bus="scsi"/></disk>')
    iso = ('<disk xmlns="" type="file" device="cdrom"><source file="/var/lib/libvirt/images/other.iso"/>'
           '<target dev="hdc" bus="ide"/><readonly/></disk>')
    nic3 = ('<interface xmlns="" type="user"><mac address="52:54:00:c0:00:03"/>'
            '<model type="e1000"/></interface>')
    hda = '<disk xmlns="" type="file" device="cdrom"><target dev="hda" bus="ide"/><readonly/></disk>'
    hdc = '<disk xmlns="" type="file" device="cdrom"><target dev="hdc" bus="ide"/></disk>'
    new_disk = ('<disk xmlns="" type="file" device="disk"><driver name="qemu" type="qcow2"/>'
                '<source file="/var/lib/libvirt/images/proof-add.qcow2"/><target dev="sdc" bus="scsi"/></disk>')

    def dev_op(op, xml):
        return (f'<{op} config="yes">{xml}</{op}>', [op, "{dom}", ("file", xml), "--config"])

    # (name, powered on first?, the vSphere call, the virsh operations,
    #  {target: the reason it refuses}).
    adding = "two calls, the second naming the drive by the InstanceID Hyper-V gives it"
    adding_nic = "two calls, the connection's Parent naming the adapter"
    cases = [
        ("power-on", False, lambda vm: ("PowerOn", None), [("<start/>", ["start", "{dom}"])], {}),
        ("power-off", True, lambda vm: ("PowerOff",), [("<destroy/>", ["destroy", "{dom}"])], {}),
        # Asking the guest: translated for every platform, executed where
        # the endpoint can (below).
        ("shutdown", True, lambda vm: ("ShutdownGuest",), [("<shutdown/>", ["shutdown", "{dom}"])], {}),
        ("reboot", True, lambda vm: ("RebootGuest",), [("<reboot/>", ["reboot", "{dom}"])], {}),
        ("reset", True, lambda vm: ("Reset",), [("<reset/>", ["reset", "{dom}"])], {}),
        ("cpu-memory", False, cpu_mem, [
            ('<setvcpus count="4" config="yes" maximum="yes"/>', ["setvcpus", "{dom}", "4", "--config", "--maximum"]),
            ('<setvcpus count="4" config="yes"/>', ["setvcpus", "{dom}", "4", "--config"]),
            ('<setmaxmem kib="2097152" config="yes"/>', ["setmaxmem", "{dom}", "2097152KiB", "--config"]),
            ('<setmem kib="2097152" config="yes"/>', ["setmem", "{dom}", "2097152KiB", "--config"]),
        ], {}),
        ("remove-nic", False, remove_nic, [dev_op("detach-device", nic2)], {}),
        ("remove-disk", False, remove_disk, [dev_op("detach-device", sdb)], {}),
        ("change-iso", False, change_iso, [dev_op("update-device", iso)], {}),
        ("add-disk", False, add_disk, [dev_op("attach-device", new_disk)], {"hyperv": adding}),
        ("add-nic", False, add_nic, [dev_op("attach-device", nic3)], {"hyperv": adding_nic}),
        ("remove-cdrom", False, remove_cdrom, [dev_op("detach-device", hdc)], {}),
        ("add-cdrom", False, add_cdrom, [dev_op("attach-device", hda)], {}),
        ("grow-disk", False, grow_disk, None, {"kvm": "libvirt keeps no disk size",
                                               "hyperv": "ResizeVirtualHardDisk"}),
        # On the UEFI twin. libvirt turns it on by defining the domain again,
        # which hvxform does not read as a command.
        ("secure-boot", False, secure_boot, None, {}),
    ]
    uefi = {"secure-boot"}
    # Endpoints that cannot carry a command out: the translation is made
    # (and must succeed) but not executed there, and that side is left out
    # of the comparison.
    no_guest = "libvirtd's VM has no guest to answer an ACPI request"
    unexecuted = {
        "shutdown": {"kvm": no_guest},
        "reboot": {"vsphere": "vcsim has no RebootGuest", "kvm": no_guest},
    }
    results = []

    def record(res, vmname, error=None):
        if error is not None:
            res["ok"], res["error"] = False, str(error)
        lv.remove(vmname)
        results.append(res)
        print(json.dumps(res), flush=True)

    def translate(res, src_file, src, to, vms, extra=()):
        """hvxform's translation of the command for `to`, with both VMs'
        configurations; None when `to` refuses it as the case expects."""
        ctxs = []
        for side in dict.fromkeys((src, to)):
            c = os.path.join(work, f"{vms['name']}.{side}.context.xml")
            if side == "vsphere":
                open(c, "w").write(vc.context(vms["vsphere"]))
            elif side == "kvm":
                open(c, "w").write(lv.virsh("dumpxml", "--inactive", vms["name"]))
            else:
                hv.context(vms["hyperv"], c)
            ctxs += ["--context", c]
        args = [hvxform, "command", src_file, "--to", to, *ctxs, "--session", store, "--explain", *extra]
        if to == "vsphere":
            args += ["--param", f"vm={vms['vsphere']._moId}"]
        if to == "kvm":
            args += ["--param", f"domain={vms['name']}", "--script", "--connect", uri]
        t = run(args)
        res.setdefault("explain", {})[to] = [l.strip() for l in t.stderr.splitlines() if "→" in l]
        refusal = res["refusals"].get(to)
        if refusal is not None:
            if t.returncode != 1 or refusal not in t.stderr:
                raise RuntimeError(f"expected {to} to refuse naming `{refusal}`: exit {t.returncode} {t.stderr.strip()}")
            res.setdefault("refused", []).append(to)
            return None
        if t.returncode != 0:
            raise RuntimeError(f"{src} -> {to} failed: {t.stderr.strip()}")
        out = os.path.join(work, f"{vms['name']}.{to}.out")
        open(out, "w").write(t.stdout)
        return out

    def execute(to, out, vms):
        if to == "vsphere":
            return vc.post_calls(open(out).read())
        if to == "kvm":
            s_ = run(["sh", out])
            if s_.returncode != 0:
                raise RuntimeError(f"libvirtd refused the translation: {s_.stderr.strip()}\n{open(out).read()}")
            return 1
        return hv.call(out)

    def facts(vms, res):
        f = {"vsphere": vc.facts(vms["vsphere"]), "kvm": lv.facts(vms["name"]), "hyperv": hv.facts(vms["hyperv"])}
        # A platform that refused the command keeps the VM as it was.
        for side in res.get("refused", []) + list(res.get("not_executed", {})):
            f.pop(side, None)
        res.update(f)
        first = next(iter(f.values()))
        res["ok"] = all(v == first for v in f.values())
        if not res["ok"]:
            res["error"] = "P0 facts differ"

    def translate_power_on(vms):
        """Hyper-V's request to start the VM: hvxform's translation of `virsh start`."""
        doc = os.path.join(work, f"{vms['name']}.start.xml")
        open(doc, "w").write(f'<virsh xmlns="urn:hvxform:virsh:1" domain="{vms["name"]}"><start/></virsh>')
        out = translate({"refusals": {}}, doc, "kvm", "hyperv", vms)
        return out

    def virsh_ops(vmname, ops):
        for _, argv in ops:
            args = []
            for a in argv:
                if isinstance(a, tuple):
                    f = os.path.join(work, f"{vmname}.dev.xml")
                    open(f, "w").write(a[1])
                    a = f
                args.append(a.replace("{dom}", vmname))
            lv.virsh(*args)

    for source in ("vsphere", "kvm", "hyperv"):
        for name, on, call, ops, refusals in cases:
            if source == "kvm" and ops is None:
                continue  # no virsh operation grows a disk in a domain's definition
            if source == "hyperv" and "hyperv" in refusals:
                continue  # no Hyper-V command to start from
            skip = unexecuted.get(name, {})
            if source in skip:
                continue  # the source endpoint cannot carry it out
            targets = [t for t in ("vsphere", "kvm", "hyperv") if t != source]
            vmname = f"{source[:2]}-{name}"
            res = {"case": name, "pairs": [f"{source}->{t}" for t in targets],
                   "refusals": {t: r for t, r in refusals.items() if t in targets}}
            if skip:
                res["not_executed"] = skip
            try:
                u = name in uefi
                vms = {"name": vmname, "vsphere": vc.create(spec_xml[u], vmname)}
                lv.remove(vmname)
                lv.define(vmname, efi if u else PROOF)
                vms["hyperv"] = hv.define(define_system[u])
                if on:
                    vc.wait(vms["vsphere"].PowerOnVM_Task())
                    lv.virsh("start", vmname)
                    hv.call(translate_power_on(vms))
                if source == "vsphere":
                    method, *args = call(vms["vsphere"])
                    src = os.path.join(work, f"{vmname}.soap.xml")
                    open(src, "w").write(vc.envelope(vms["vsphere"], method, *args))
                elif source == "kvm":
                    src = os.path.join(work, f"{vmname}.virsh.xml")
                    open(src, "w").write(f'<virsh xmlns="urn:hvxform:virsh:1" domain="{vmname}">'
                                         + "".join(x for x, _ in ops) + "</virsh>")
                else:
                    # The Hyper-V command a WMI client sends for the vSphere
                    # call: hvxform writes it, pywbem's client writes it again.
                    method, *args = call(vms["vsphere"])
                    soap = os.path.join(work, f"{vmname}.soap.xml")
                    open(soap, "w").write(vc.envelope(vms["vsphere"], method, *args))
                    written = translate(dict(res, refusals={}), soap, "vsphere", "hyperv", vms)
                    src = os.path.join(work, f"{vmname}.cim.xml")
                    hv.resend(written, src)
                outs = {t: translate(res, src, source, t, vms) for t in targets}
                # The source command on its own endpoint, then each translation.
                if source == "vsphere":
                    vc.post(open(src).read())
                elif source == "kvm":
                    virsh_ops(vmname, ops)
                else:
                    hv.call(src)
                res["calls"] = {t: execute(t, o, vms) for t, o in outs.items()
                                if o is not None and t not in skip}
                facts(vms, res)
            except Exception as e:  # noqa: BLE001 - reported per case
                record(res, vmname, e)
            else:
                record(res, vmname)

    vc.close()
    hv.close()
    failed = sum(not r["ok"] for r in results)
    pairs = sum(len(r["pairs"]) for r in results)
    print(f"{len(results) - failed} of {len(results)} cases passed ({pairs} translations, "
          f"{sum(len(r.get('refused', [])) for r in results)} of them refusals, "
          f"{sum(len(r.get('not_executed', {})) for r in results)} not executed)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
