#!/usr/bin/env python3
"""A Hyper-V endpoint for the command proof, on pywbem_mock.

There is no Hyper-V on Linux. This is the nearest thing that runs here: a
pywbem_mock.FakedWBEMConnection whose repository holds Microsoft's Msvm classes
(msvm.mof, msvm_methods.mof), with method providers that carry out
Msvm_VirtualSystemManagementService's DefineSystem, AddResourceSettings,
ModifyResourceSettings, RemoveResourceSettings and ModifySystemSettings and
Msvm_ComputerSystem's RequestStateChange on the repository, as Microsoft's
method pages describe them. Every request goes through pywbem's client
(WBEMConnection.InvokeMethod) and pywbem_mock's dispatcher, which refuse a
target instance that does not exist, a method the class does not have, and a
parameter the method does not declare or of another type, array-ness or
embedding; every setting is created or changed with pywbem_mock's
CreateInstance / ModifyInstance, which refuse unknown properties and types.

Like Hyper-V, DefineSystem gives the new VM a GUID of its own and keys its
settings by it (the processor's and the memory's InstanceIDs end in the fixed
suffixes WMI reports), so a request can only name a setting the endpoint made
by reading the VM's configuration back (`instances`).

A request names the management service by its Name ("vmms"); its other keys
name the host, which no request made away from it can know. The endpoint,
like a WMI client, calls the host's one service instance.

Protocol: one JSON object per line on stdin, one answer per line on stdout.
  {"op": "define", "file": F}        -> {"vm": GUID}      F: a DefineSystem request
  {"op": "call", "file": F}          -> {"calls": N}      F: any request hvxform writes
  {"op": "instances", "vm": G, "file": F} -> {}           F gets the VM's instances
  {"op": "resend", "file": F, "out": O} -> {}             O gets F as pywbem's client writes it
  {"op": "facts", "vm": G}           -> {"cpus": .., "memory_mib": .., "disks": [..],
                                         "macs": [..], "media": [..], "power": "on"|"off",
                                         "secure_boot": true|false}
An error answers {"error": "..."}.

usage: $HVX_PYWBEM_PYTHON hyperv_endpoint.py
"""

import json
import os
import re
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pywbem  # noqa: E402
import pywbem_mock  # noqa: E402
from pywbem import CIMInstance, CIMInstanceName  # noqa: E402

from hyperv_check import NS_V2, Bad, Parser, new_connection, parse_document, read_text  # noqa: E402
from pywbem_resend import resend  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
VSMS = "Msvm_VirtualSystemManagementService"
CS = "Msvm_ComputerSystem"
VSSD = "Msvm_VirtualSystemSettingData"
PROCESSOR = "b637f346-6a0e-4dec-af52-bd70cb80a21d\\0"
MEMORY = "4764334d-e001-4176-82ee-5594ec9b530e"
SETTING_CLASSES = [
    "Msvm_ProcessorSettingData", "Msvm_MemorySettingData", "Msvm_ResourceAllocationSettingData",
    "Msvm_StorageAllocationSettingData", "Msvm_SyntheticEthernetPortSettingData",
    "Msvm_EmulatedEthernetPortSettingData", "Msvm_EthernetPortAllocationSettingData",
    "Msvm_SerialPortSettingData",
]
# Msvm_ComputerSystem.RequestStateChange: RequestedState -> (EnabledState after it,
# whether the VM must be running). Hyper-V answers 32775 (invalid state) otherwise.
STATES = {2: (2, False), 3: (3, False), 4: (3, True), 10: (2, True), 11: (2, True)}
INVALID_PARAMETER, INVALID_STATE = 32773, 32775


def failed(msg):
    return pywbem.CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, msg)


def vm_of(instance_id):
    m = re.match(r"Microsoft:([0-9A-Fa-f-]{36})", instance_id or "")
    return m.group(1).upper() if m else None


def path_id(ref):
    """The InstanceID a reference names: a CIMInstanceName, or a WMI path string."""
    if isinstance(ref, CIMInstanceName):
        return ref.keybindings.get("InstanceID")
    m = re.search(r'InstanceID="((?:[^"\\]|\\.)*)"', ref or "")
    return re.sub(r"\\(.)", r"\1", m.group(1)) if m else None


class Host:
    """The VMs in the repository, and what the methods do to them."""

    def __init__(self):
        self.conn = new_connection()
        self.conn.compile_mof_file(os.path.join(HERE, "msvm_methods.mof"))
        # pywbem's MOF compiler sets embedded_object from an EmbeddedInstance
        # qualifier on properties but not on method parameters; the dispatcher
        # compares it with the request's, so set it as DSP0004 says.
        store = self.conn.cimrepository.get_class_store(NS_V2)
        for cname in (VSMS, CS):
            cls = store.get(cname)
            for m in cls.methods.values():
                for prm in m.parameters.values():
                    if "EmbeddedInstance" in prm.qualifiers:
                        prm.embedded_object = "instance"
            store.update(cname, cls)
        self.service = CIMInstanceName(VSMS, {
            "CreationClassName": VSMS, "Name": "vmms",
            "SystemCreationClassName": CS, "SystemName": "HVX-ENDPOINT"}, namespace=NS_V2)
        inst = CIMInstance(VSMS, properties=dict(self.service.keybindings), path=self.service)
        inst["ElementName"] = "Hyper-V Virtual System Management Service"
        self.conn.CreateInstance(inst, namespace=NS_V2)
        host = self

        class Service(pywbem_mock.MethodProvider):
            provider_classnames = VSMS

            def InvokeMethod(self, methodname, localobject, params):
                p = {k: v.value for k, v in params.items()}
                return getattr(host, methodname)(p)

        class System(pywbem_mock.MethodProvider):
            provider_classnames = CS

            def InvokeMethod(self, methodname, localobject, params):
                return host.RequestStateChange(localobject, {k: v.value for k, v in params.items()})

        self.conn.register_provider(Service(self.conn.cimrepository), namespaces=[NS_V2])
        self.conn.register_provider(System(self.conn.cimrepository), namespaces=[NS_V2])

    # --- the repository ---------------------------------------------------
    def settings(self, guid):
        """Every setting instance of the VM (its VSSD first)."""
        out = []
        for cls in [VSSD] + SETTING_CLASSES:
            for i in self.conn.EnumerateInstances(cls, namespace=NS_V2):
                if vm_of(i["InstanceID"]) == guid:
                    out.append(i)
        return out

    def find(self, instance_id):
        for cls in [VSSD] + SETTING_CLASSES:
            path = CIMInstanceName(cls, {"InstanceID": instance_id}, namespace=NS_V2)
            try:
                return self.conn.GetInstance(path)
            except pywbem.CIMError:
                continue
        return None

    def create(self, inst, instance_id):
        inst = inst.copy()
        inst["InstanceID"] = instance_id
        inst.path = None
        try:
            return self.conn.CreateInstance(inst, namespace=NS_V2)
        except pywbem.CIMError as exc:
            raise failed("%s %s: %s" % (inst.classname, instance_id, exc.status_description))

    def merge(self, given):
        """ModifyInstance of the setting `given` names, with the properties it gives."""
        iid = given.get("InstanceID")
        cur = self.find(iid)
        if cur is None:
            raise failed("no setting %s" % iid)
        if cur.classname.lower() != given.classname.lower():
            raise failed("%s is a %s, not a %s" % (iid, cur.classname, given.classname))
        for name, prop in given.properties.items():
            if name != "InstanceID":
                cur.properties[name] = prop
        try:
            self.conn.ModifyInstance(cur)
        except pywbem.CIMError as exc:
            raise failed("%s: %s" % (iid, exc.status_description))
        return cur.path

    # --- the methods ------------------------------------------------------
    def DefineSystem(self, p):
        vssd = p.get("SystemSettings")
        if not isinstance(vssd, CIMInstance):
            raise failed("SystemSettings is not an embedded instance")
        guid = str(uuid.uuid4()).upper()
        renamed, ids = {}, []
        given = list(p.get("ResourceSettings") or [])
        for r in given:
            old = r.get("InstanceID")
            if r.classname == "Msvm_ProcessorSettingData":
                new = "Microsoft:%s\\%s" % (guid, PROCESSOR)
            elif r.classname == "Msvm_MemorySettingData":
                new = "Microsoft:%s\\%s" % (guid, MEMORY)
            elif old and vm_of(old):
                new = "Microsoft:%s%s" % (guid, old[len("Microsoft:") + 36:])
            else:
                new = "Microsoft:%s\\%s" % (guid, str(uuid.uuid4()).upper())
            ids.append(new)
            if old:
                renamed[old] = new
        self.create(vssd, "Microsoft:%s" % guid)
        v = self.find("Microsoft:%s" % guid)
        v["VirtualSystemIdentifier"] = guid
        self.conn.ModifyInstance(v)
        for r, new in zip(given, ids):
            r = r.copy()
            parent = r.get("Parent")
            if parent:
                pid = path_id(parent)
                if pid not in renamed:
                    raise failed("%s's Parent %s is not among the settings" % (r.classname, pid))
                r["Parent"] = parent.replace(pid.replace("\\", "\\\\"), renamed[pid].replace("\\", "\\\\"))
            self.create(r, new)
        # Like Hyper-V, a generation 1 VM has its two IDE controllers
        # whether the request lists them or not.
        if vssd.get("VirtualSystemSubType") != "Microsoft:Hyper-V:SubType:2":
            have = {str(r.get("Address")) for r in given if r.get("ResourceType") == 5}
            for channel in ("0", "1"):
                if channel not in have:
                    ide = CIMInstance("Msvm_ResourceAllocationSettingData")
                    ide["ResourceType"] = pywbem.Uint16(5)
                    ide["ResourceSubType"] = "Microsoft:Hyper-V:Emulated IDE Controller"
                    ide["Address"] = channel
                    self.create(ide, "Microsoft:%s\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\%s" % (guid, channel))
        system = CIMInstanceName(CS, {"CreationClassName": CS, "Name": guid}, namespace=NS_V2)
        cs = CIMInstance(CS, properties=dict(system.keybindings), path=system)
        cs["ElementName"] = vssd.get("ElementName")
        cs["EnabledState"] = pywbem.Uint16(3)
        self.conn.CreateInstance(cs, namespace=NS_V2)
        return (pywbem.Uint32(0), {"ResultingSystem": system})

    def AddResourceSettings(self, p):
        guid = vm_of(path_id(p.get("AffectedConfiguration")))
        if guid is None or self.find("Microsoft:%s" % guid) is None:
            raise failed("AffectedConfiguration names no VM")
        out = []
        for r in p.get("ResourceSettings") or []:
            parent = r.get("Parent")
            if parent and self.find(path_id(parent)) is None:
                raise failed("%s's Parent %s does not exist" % (r.classname, path_id(parent)))
            out.append(self.create(r, "Microsoft:%s\\%s" % (guid, str(uuid.uuid4()).upper())))
        return (pywbem.Uint32(0), {"ResultingResourceSettings": out})

    def ModifyResourceSettings(self, p):
        out = [self.merge(r) for r in p.get("ResourceSettings") or []]
        return (pywbem.Uint32(0), {"ResultingResourceSettings": out})

    def ModifySystemSettings(self, p):
        self.merge(p.get("SystemSettings"))
        return (pywbem.Uint32(0), {})

    def RemoveResourceSettings(self, p):
        for ref in p.get("ResourceSettings") or []:
            iid = path_id(ref)
            cur = self.find(iid)
            if cur is None:
                raise failed("no setting %s" % iid)
            # What hangs from it (a drive's media, an adapter's connection) goes too.
            for child in self.settings(vm_of(iid)):
                if child.get("Parent") and path_id(child["Parent"]) == iid:
                    self.conn.DeleteInstance(child.path)
            self.conn.DeleteInstance(cur.path)
        return (pywbem.Uint32(0), {})

    def RequestStateChange(self, system, p):
        want = int(p.get("RequestedState"))
        if want not in STATES:
            return (pywbem.Uint32(INVALID_PARAMETER), {})
        cs = self.conn.GetInstance(system)
        state, needs_running = STATES[want]
        if needs_running and cs["EnabledState"] != 2:
            return (pywbem.Uint32(INVALID_STATE), {})
        cs["EnabledState"] = pywbem.Uint16(state)
        self.conn.ModifyInstance(cs)
        return (pywbem.Uint32(0), {})

    # --- requests -----------------------------------------------------------
    def request(self, path):
        kind, calls = parse_document(read_text(path), Parser())
        if kind != "request":
            raise Bad("%s is not a request" % path)
        results = []
        for methodname, target, params in calls:
            if target.classname == VSMS:
                target = self.service
            # A value without PARAMTYPE (pywbem's client leaves it out) has
            # the type the method declares, as a WBEM server reads it.
            method = self.conn.GetClass(target.classname, namespace=NS_V2).methods[methodname]
            args = []
            for name, ptype, value in params:
                declared = method.parameters.get(name)
                ptype = ptype or (declared.type if declared is not None else None)
                if ptype not in (None, "string", "reference") and isinstance(value, str):
                    value = pywbem.cimvalue(value, ptype)
                args.append((name, value))
            ret, out = self.conn.InvokeMethod(methodname, target, args)
            if ret != 0:
                raise Bad("%s returned %d" % (methodname, ret))
            results.append(out)
        return results

    def instances(self, guid, path):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
            # As GetText(1) prints each: the INSTANCE alone, without its path.
            for i in self.settings(guid):
                i = i.copy()
                i.path = None
                fh.write(i.tocimxmlstr() + "\n")

    def facts(self, guid):
        s = self.settings(guid)
        if not s:
            raise Bad("no VM %s" % guid)

        def one(cls):
            return [i for i in s if i.classname == cls][0]

        def base(i):
            return re.split(r"[\\/]", (i["HostResource"] or [""])[0])[-1]

        storage = [i for i in s if i.classname == "Msvm_StorageAllocationSettingData"]
        cs = self.conn.GetInstance(CIMInstanceName(CS, {"CreationClassName": CS, "Name": guid},
                                                   namespace=NS_V2))
        return {
            "cpus": int(one("Msvm_ProcessorSettingData")["VirtualQuantity"]),
            "memory_mib": int(one("Msvm_MemorySettingData")["VirtualQuantity"]),
            "disks": sorted(base(i).rsplit(".", 1)[0] for i in storage
                            if i["ResourceSubType"] == "Microsoft:Hyper-V:Virtual Hard Disk"),
            "macs": sorted(":".join(re.findall("..", i["Address"].lower())) for i in s
                           if i.classname.endswith("EthernetPortSettingData")),
            # Each DVD drive's media ("" when it has none).
            "media": sorted(next((base(m) for m in storage if path_id(m["Parent"]) == d["InstanceID"]), "")
                            for d in s if d.get("ResourceType") == 16),
            "power": "on" if cs["EnabledState"] == 2 else "off",
            "secure_boot": bool(one(VSSD).get("SecureBootEnabled")),
        }


def main():
    host = Host()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            op = req["op"]
            if op == "define":
                out = host.request(req["file"])
                ans = {"vm": out[0]["ResultingSystem"].keybindings["Name"]}
            elif op == "call":
                ans = {"calls": len(host.request(req["file"]))}
            elif op == "resend":
                with open(req["out"], "w", encoding="utf-8") as fh:
                    fh.write(resend(req["file"]))
                ans = {}
            elif op == "instances":
                host.instances(req["vm"], req["file"])
                ans = {}
            elif op == "facts":
                ans = host.facts(req["vm"])
            else:
                ans = {"error": "unknown op %r" % op}
        except (Bad, pywbem.Error, KeyError, ValueError, TypeError) as exc:
            ans = {"error": "%s: %s" % (type(exc).__name__, exc)}
        print(json.dumps(ans), flush=True)


if __name__ == "__main__":
    main()
