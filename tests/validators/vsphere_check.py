#!/usr/bin/env python3
"""Validate vSphere VirtualMachineConfigSpec XML documents with pyVmomi.

usage: vsphere_check.py [--pretty] [--api X.Y[.Z.W]] FILE.xml...

Run it with the interpreter that has pyVmomi ($HVX_PYTHON, set by .ci/run).

Each FILE must be a standalone document whose root element is
``<VirtualMachineConfigSpec xmlns="urn:vim25" xmlns:xsi=... xmlns:xsd=...>``.

Three layers of checks, all errors are collected and reported per file:

1. Structure, against pyVmomi's copy of the vim25 type model (the same model the
   WSDL is generated from): root name and namespace; every element is a known
   property of its type; properties appear in WSDL order (base-type properties
   first, then each subtype's, each in declaration order); non-array properties
   appear once; WSDL-required properties (minOccurs=1, e.g. VirtualDevice.key,
   VirtualDisk.capacityInKB, VirtualController.busNumber, ConnectInfo.connected)
   are present; every xsi:type names a known type derived from the declared
   one; ``anyType`` values (OptionValue.value) carry an xsi:type; scalar
   syntax (int/long/short/byte/boolean); with --api, no property newer than
   that vSphere API release.
2. ``pyVmomi.SoapAdapter.Deserialize(xml_bytes, vim.vm.ConfigSpec)`` must
   succeed. It parses the document element's *children* as the properties of
   the given result type and does not look at the root's own name or namespace
   (hence check 1); no wrapping or renaming is needed.
3. Semantics on the deserialized object: each deviceChange has operation and a
   concrete device type with a key; keys unique; disks, NICs and CD-ROMs have
   controllerKey, unitNumber and backing; the controller exists (in the spec, or
   a default key 100 PCI / 200,201 IDE / 300 PS2 / 400 SIO) and is of a suitable
   kind; unitNumber in range and unique per controller; disks have
   capacityInKB or capacityInBytes (consistent when both > 0); backing type
   matches the device family; fileOperation only on disks; firmware/guestId
   known; version ``vmx-N``; memoryMB a multiple of 4; numCoresPerSocket
   divides numCPUs; efiSecureBootEnabled only with firmware efi; manual MAC
   present and well formed.

On success, prints one JSON object per file (one line each, JSON Lines; with
--pretty, indented) to stdout:
  {"file", "name", "numCPUs", "numCoresPerSocket", "memoryMB", "guestId",
   "firmware", "version", "efiSecureBootEnabled", "extraConfig": {key: value},
   "devices": [{"type", "key", "controllerKey", "unitNumber", "macAddress",
                "fileName", "operation", "fileOperation", "backing",
                "deviceName", "busNumber", "capacityInKB", "capacityInBytes"}]}
Absent values are null. Exit status: 0 all files valid; 1 some file invalid
(messages "vsphere_check: FILE: ..." on stderr); 2 usage/environment error.
"""

import argparse
import io
import json
import re
import sys
import xml.etree.ElementTree as ET

try:
    from pyVmomi import SoapAdapter, VmomiSupport as V, vim
except ImportError as exc:  # pragma: no cover
    sys.stderr.write(
        "vsphere_check: cannot import pyVmomi (%s); run with $HVX_PYTHON\n" % exc)
    sys.exit(2)

VIM_NS = "urn:vim25"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_TYPE = "{%s}type" % XSI_NS

# Types that exist in the WSDL but are only bases: vCenter needs a concrete one.
ABSTRACT = {
    "VirtualDevice", "VirtualController", "VirtualSCSIController",
    "VirtualSATAController", "VirtualEthernetCard", "VirtualSoundCard",
    "VirtualDeviceBackingInfo", "VirtualDeviceFileBackingInfo",
    "VirtualDeviceDeviceBackingInfo", "VirtualDeviceRemoteDeviceBackingInfo",
    "VirtualDevicePipeBackingInfo", "VirtualDeviceURIBackingInfo",
    "VirtualMachineBootOptionsBootableDevice",
}

# Controller keys that exist on every new VM without being added.
DEFAULT_CONTROLLERS = {
    100: "VirtualPCIController", 200: "VirtualIDEController",
    201: "VirtualIDEController", 300: "VirtualPS2Controller",
    400: "VirtualSIOController",
}

INT_RE = re.compile(r"^\s*[+-]?[0-9]+\s*$")
MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
VMX_RE = re.compile(r"^vmx-[0-9]+$")


def wsdl_name(cls):
    return getattr(cls, "_wsdlName", getattr(cls, "__name__", str(cls)))


def is_data(cls):
    return isinstance(cls, type) and issubclass(cls, V.DataObject)


def is_array(cls):
    return isinstance(cls, type) and issubclass(cls, V.Array)


class Checker:
    def __init__(self, api=None):
        self.api = api
        self.errors = []
        self.prefixes = {}

    def err(self, path, msg):
        self.errors.append("%s: %s" % (path, msg) if path else msg)

    # -- layer 1: structure ------------------------------------------------
    def resolve_xsi(self, elem, path):
        raw = elem.get(XSI_TYPE)
        if raw is None:
            return None
        prefix, _, local = raw.rpartition(":")
        uri = self.prefixes.get(prefix)
        if uri is None:
            if prefix:
                self.err(path, "xsi:type %r uses undeclared prefix %r" % (raw, prefix))
                return None
            uri = VIM_NS
        try:
            return V.GetWsdlType(uri, local)
        except KeyError:
            self.err(path, "unknown xsi:type %r" % raw)
            return None

    def walk(self, elem, cls, path):
        xsi = self.resolve_xsi(elem, path)
        if cls is object:  # anyType (OptionValue.value)
            if elem.get(XSI_TYPE) is None:
                self.err(path, "anyType value needs an xsi:type (e.g. xsd:string)")
            elif xsi is not None:
                self.walk_value(elem, xsi, path)
            return
        if xsi is not None:
            if not (isinstance(xsi, type) and isinstance(cls, type) and issubclass(xsi, cls)):
                self.err(path, "xsi:type %s is not a %s" % (wsdl_name(xsi), wsdl_name(cls)))
                return
            cls = xsi
            tver = getattr(cls, "_version", None)
            if self.api and tver and not V.IsChildVersion(self.api, tver):
                self.err(path, "type %s needs API %s, newer than --api %s"
                         % (wsdl_name(cls), tver, self.api))
        if is_data(cls):
            if wsdl_name(cls) in ABSTRACT and path.endswith(("/device", "/backing", "/bootOrder")):
                self.err(path, "needs a concrete xsi:type, not %s" % wsdl_name(cls))
            self.walk_data(elem, cls, path)
        else:
            self.walk_value(elem, cls, path)

    def walk_data(self, elem, cls, path):
        plist = [p for p in cls._GetPropertyList()
                 if p.name not in ("dynamicType", "dynamicProperty")]
        index = {p.name: (i, p) for i, p in enumerate(plist)}
        last_i, last_name, seen = -1, None, set()
        for child in elem:
            if not isinstance(child.tag, str):
                continue  # comment / processing instruction
            ns, _, local = child.tag[1:].partition("}") if child.tag.startswith("{") else ("", "", child.tag)
            cpath = "%s/%s" % (path, local)
            if ns != VIM_NS:
                self.err(cpath, "element not in namespace urn:vim25")
                continue
            if local not in index:
                self.err(cpath, "%s has no property %r" % (wsdl_name(cls), local))
                continue
            i, p = index[local]
            if i < last_i:
                self.err(cpath, "out of WSDL order: <%s> must come before <%s> in %s"
                         % (local, last_name, wsdl_name(cls)))
            elif i == last_i and not is_array(p.type):
                self.err(cpath, "%s.%s is not an array but appears more than once"
                         % (wsdl_name(cls), local))
            if self.api and not V.IsChildVersion(self.api, p.version):
                self.err(cpath, "%s.%s needs API %s, newer than --api %s"
                         % (wsdl_name(cls), local, p.version, self.api))
            if i > last_i:
                last_i, last_name = i, local
            seen.add(local)
            self.walk(child, p.type.Item if is_array(p.type) else p.type, cpath)
        for p in plist:
            if not (p.flags & V.F_OPTIONAL) and p.name not in seen:
                self.err(path, "%s: required property <%s> is missing" % (wsdl_name(cls), p.name))

    def walk_value(self, elem, cls, path):
        if any(isinstance(c.tag, str) for c in elem):
            self.err(path, "%s value must not have child elements" % wsdl_name(cls))
            return
        text = elem.text or ""
        if isinstance(cls, type) and issubclass(cls, bool):
            if text.strip() not in ("true", "false", "1", "0"):
                self.err(path, "boolean must be true/false, got %r" % text)
        elif isinstance(cls, type) and issubclass(cls, int) and not issubclass(cls, V.Enum):
            if not INT_RE.match(text):
                self.err(path, "%s must be an integer, got %r" % (wsdl_name(cls), text))

    # -- layer 3: semantics ------------------------------------------------
    def semantics(self, spec):
        e = self.err
        if spec.firmware is not None and spec.firmware not in list(vim.vm.GuestOsDescriptor.FirmwareType.values):
            e("firmware", "unknown firmware %r" % spec.firmware)
        if spec.guestId is not None and spec.guestId not in list(vim.vm.GuestOsDescriptor.GuestOsIdentifier.values):
            e("guestId", "unknown guestId %r" % spec.guestId)
        if spec.version is not None and not VMX_RE.match(spec.version):
            e("version", "must look like vmx-19, got %r" % spec.version)
        if spec.numCPUs is not None and spec.numCPUs < 1:
            e("numCPUs", "must be >= 1")
        if spec.numCoresPerSocket is not None:
            if spec.numCoresPerSocket < 1:
                e("numCoresPerSocket", "must be >= 1")
            elif spec.numCPUs and spec.numCPUs % spec.numCoresPerSocket:
                e("numCoresPerSocket", "%d does not divide numCPUs %d"
                  % (spec.numCoresPerSocket, spec.numCPUs))
        if spec.memoryMB is not None and (spec.memoryMB < 4 or spec.memoryMB % 4):
            e("memoryMB", "must be a positive multiple of 4, got %d" % spec.memoryMB)
        bo = spec.bootOptions
        if bo is not None and bo.efiSecureBootEnabled and spec.firmware != "efi":
            e("bootOptions", "efiSecureBootEnabled needs firmware efi")
        keys = set()
        for ec in spec.extraConfig:
            if ec.key in keys:
                e("extraConfig", "duplicate key %r" % ec.key)
            keys.add(ec.key)

        controllers = dict(DEFAULT_CONTROLLERS)
        devs = []
        keys = {}
        for n, dc in enumerate(spec.deviceChange):
            where = "deviceChange[%d]" % n
            d = dc.device
            if dc.operation is None:
                e(where, "operation missing")
            if d is None:
                e(where, "device missing")
                continue
            t = wsdl_name(type(d))
            where = "%s(%s)" % (where, t)
            if t in ABSTRACT:
                e(where, "device needs a concrete xsi:type")
            if d.key is None:
                e(where, "device has no key")
            elif d.key in keys:
                e(where, "key %d already used by %s" % (d.key, keys[d.key]))
            else:
                keys[d.key] = where
            if isinstance(d, vim.vm.device.VirtualController) and d.key is not None:
                if dc.operation == "add" and d.key in DEFAULT_CONTROLLERS:
                    e(where, "key %d is a default device key; use a negative key for added devices" % d.key)
                controllers[d.key] = t
            if dc.fileOperation is not None and not isinstance(d, vim.vm.device.VirtualDisk):
                e(where, "fileOperation is only valid for disks")
            devs.append((where, dc, d, t))

        buses = {}
        units = {}
        for where, dc, d, t in devs:
            if isinstance(d, vim.vm.device.VirtualController):
                fam = controller_family(t)
                if d.busNumber is not None:
                    if (fam, d.busNumber) in buses:
                        e(where, "busNumber %d already used by %s" % (d.busNumber, buses[(fam, d.busNumber)]))
                    buses[(fam, d.busNumber)] = where
            needs_slot = isinstance(d, (vim.vm.device.VirtualDisk, vim.vm.device.VirtualEthernetCard,
                                        vim.vm.device.VirtualCdrom))
            if needs_slot:
                for attr in ("controllerKey", "unitNumber", "backing"):
                    if getattr(d, attr) is None:
                        e(where, "%s missing" % attr)
            check_backing(e, where, d)
            if isinstance(d, vim.vm.device.VirtualDisk):
                kb, by = d.capacityInKB, d.capacityInBytes
                if not (kb and kb > 0) and not (by and by > 0):
                    e(where, "disk needs capacityInKB or capacityInBytes > 0")
                elif kb and by and kb * 1024 != by:
                    e(where, "capacityInKB %d * 1024 != capacityInBytes %d" % (kb, by))
            if isinstance(d, vim.vm.device.VirtualEthernetCard):
                if d.addressType is not None and d.addressType.lower() not in ("manual", "generated", "assigned"):
                    e(where, "addressType %r is not manual/generated/assigned" % d.addressType)
                if (d.addressType or "").lower() == "manual" and not d.macAddress:
                    e(where, "addressType manual needs macAddress")
                if d.macAddress is not None and not MAC_RE.match(d.macAddress):
                    e(where, "malformed macAddress %r" % d.macAddress)
            ck, un = d.controllerKey, d.unitNumber
            if ck is not None:
                ct = controllers.get(ck)
                if ct is None:
                    e(where, "controllerKey %d names no controller in this spec (nor a default one)" % ck)
                else:
                    ok = allowed_controller(d, ct)
                    if ok is False:
                        e(where, "a %s cannot sit on a %s (key %d)" % (t, ct, ck))
                    if un is not None:
                        lo, hi, reserved = unit_range(ct)
                        if not lo <= un <= hi or un in reserved:
                            e(where, "unitNumber %d invalid on %s (allowed %d..%d%s)"
                              % (un, ct, lo, hi, ", not %s" % sorted(reserved) if reserved else ""))
                        if (ck, un) in units:
                            e(where, "unitNumber %d on controller %d already used by %s"
                              % (un, ck, units[(ck, un)]))
                        units[(ck, un)] = where
        return self.errors


def controller_family(t):
    if t in ("VirtualLsiLogicController", "VirtualLsiLogicSASController",
             "ParaVirtualSCSIController", "VirtualBusLogicController"):
        return "scsi"
    return {"VirtualIDEController": "ide", "VirtualAHCIController": "sata",
            "VirtualNVMEController": "nvme", "VirtualUSBController": "usb",
            "VirtualUSBXHCIController": "usb3"}.get(t, t)


def allowed_controller(d, ct):
    fam = controller_family(ct)
    if isinstance(d, vim.vm.device.VirtualDisk):
        return fam in ("scsi", "ide", "sata", "nvme")
    if isinstance(d, vim.vm.device.VirtualCdrom):
        return fam in ("ide", "sata", "scsi")
    if isinstance(d, vim.vm.device.VirtualEthernetCard):
        return ct == "VirtualPCIController"
    if isinstance(d, (vim.vm.device.VirtualFloppy, vim.vm.device.VirtualSerialPort,
                      vim.vm.device.VirtualParallelPort)):
        return ct == "VirtualSIOController"
    return None  # not checked


def unit_range(ct):
    if ct == "VirtualIDEController":
        return 0, 1, set()
    if ct == "VirtualAHCIController":
        return 0, 29, set()
    if ct == "ParaVirtualSCSIController":
        return 0, 63, {7}
    if controller_family(ct) == "scsi":
        return 0, 15, {7}
    if ct == "VirtualNVMEController":
        return 0, 63, set()
    return 0, 1 << 30, set()


BACKING_FAMILY = [
    (vim.vm.device.VirtualDisk, "VirtualDisk"),
    (vim.vm.device.VirtualCdrom, "VirtualCdrom"),
    (vim.vm.device.VirtualFloppy, "VirtualFloppy"),
    (vim.vm.device.VirtualEthernetCard, "VirtualEthernetCard"),
    (vim.vm.device.VirtualSerialPort, "VirtualSerialPort"),
    (vim.vm.device.VirtualParallelPort, "VirtualParallelPort"),
]


def check_backing(e, where, d):
    b = d.backing
    if b is None:
        return
    bt = wsdl_name(type(b))
    for cls, prefix in BACKING_FAMILY:
        if isinstance(d, cls):
            if not bt.startswith(prefix):
                e(where, "backing %s does not belong to a %s" % (bt, prefix))
            return


def summarize(path, spec):
    devices = []
    for dc in spec.deviceChange:
        d = dc.device
        b = d.backing if d is not None else None
        devices.append({
            "type": wsdl_name(type(d)) if d is not None else None,
            "key": getattr(d, "key", None),
            "controllerKey": getattr(d, "controllerKey", None),
            "unitNumber": getattr(d, "unitNumber", None),
            "macAddress": getattr(d, "macAddress", None),
            "fileName": getattr(b, "fileName", None),
            "operation": dc.operation,
            "fileOperation": dc.fileOperation,
            "backing": wsdl_name(type(b)) if b is not None else None,
            "deviceName": getattr(b, "deviceName", None),
            "busNumber": getattr(d, "busNumber", None),
            "capacityInKB": getattr(d, "capacityInKB", None),
            "capacityInBytes": getattr(d, "capacityInBytes", None),
        })
    return {
        "file": path,
        "name": spec.name,
        "numCPUs": spec.numCPUs,
        "numCoresPerSocket": spec.numCoresPerSocket,
        "memoryMB": spec.memoryMB,
        "guestId": spec.guestId,
        "firmware": spec.firmware,
        "version": spec.version,
        "efiSecureBootEnabled": spec.bootOptions.efiSecureBootEnabled if spec.bootOptions else None,
        "extraConfig": {o.key: o.value for o in spec.extraConfig},
        "devices": devices,
    }


def check_file(path, api):
    """Return (summary or None, [errors])."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return None, ["cannot read: %s" % exc]
    c = Checker(api)
    try:
        # ElementTree drops prefix bindings; collect them to resolve xsi:type values.
        for _, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
            c.prefixes.setdefault(prefix, uri)
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return None, ["not well-formed XML: %s" % exc]
    if root.tag != "{%s}VirtualMachineConfigSpec" % VIM_NS:
        c.err("", "root element must be {urn:vim25}VirtualMachineConfigSpec, got %s" % root.tag)
        return None, c.errors
    c.walk(root, vim.vm.ConfigSpec, "/VirtualMachineConfigSpec")
    try:
        spec = SoapAdapter.Deserialize(data, vim.vm.ConfigSpec)
    except Exception as exc:  # pyVmomi raises many kinds
        c.err("", "pyVmomi Deserialize failed: %s: %s" % (type(exc).__name__, exc))
        return None, c.errors
    if not isinstance(spec, vim.vm.ConfigSpec):
        c.err("", "pyVmomi Deserialize returned %r" % type(spec))
        return None, c.errors
    c.semantics(spec)
    if c.errors:
        return None, c.errors
    return summarize(path, spec), []


def parse_api(s):
    if s is None:
        return None
    name = "vim.version.v" + s.replace(".", "_")
    if not s or name not in V.parentMap:
        raise SystemExit("vsphere_check: unknown --api %r (try 7.0, 7.0.2.0, 8.0.0.1, 8.0.3.0)" % s)
    return name


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", metavar="FILE.xml")
    ap.add_argument("--pretty", action="store_true", help="indent the JSON output")
    ap.add_argument("--api", metavar="X.Y[.Z.W]",
                    help="reject properties newer than this vSphere API (e.g. 7.0.2.0)")
    args = ap.parse_args(argv)
    api = parse_api(args.api)
    failed = 0
    for path in args.files:
        summary, errors = check_file(path, api)
        if errors:
            failed += 1
            for msg in errors:
                sys.stderr.write("vsphere_check: %s: %s\n" % (path, msg))
            continue
        print(json.dumps(summary, indent=2 if args.pretty else None))
    if failed:
        sys.stderr.write("vsphere_check: %d of %d file(s) invalid\n" % (failed, len(args.files)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
