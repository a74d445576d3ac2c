#!/usr/bin/env python3
"""Check Hyper-V CIM-XML (DMTF DSP0201) documents the way a WBEM server would read them.

usage: $HVX_PYWBEM_PYTHON hyperv_check.py [--pretty] FILE...

A FILE is either
  * a CIM-XML request: <CIM><MESSAGE><SIMPLEREQ> (or <MULTIREQ> of several SIMPLEREQ)
    holding METHODCALLs such as Msvm_VirtualSystemManagementService.DefineSystem, whose
    PARAMVALUEs with EmbeddedObject="instance" carry XML-escaped INSTANCE elements; or
  * one or more bare INSTANCE elements, as WMI's GetText(1) prints them (system
    properties such as __PATH, __CLASS, __DERIVATION, CLASSORIGIN="___SYSTEM", are
    ignored; the namespace is taken from __NAMESPACE or __PATH, else v2).

Checks, in order:
  1. pywbem's own CIM-XML tuple parser (pywbem._tupleparse.TupleParser, the code its
     client runs on every server reply) parses the whole document: element names,
     attributes, child elements and VALUE texts against their TYPE/PARAMTYPE. It also
     decodes each EmbeddedObject PARAMVALUE into a CIMInstance (parse_embeddedObject).
     pywbem leaves MULTIREQ unimplemented (servers only); it is added here.
  2. Each instance is created with CreateInstance in a pywbem_mock.FakedWBEMConnection
     whose repository holds msvm.mof (Microsoft's documented Msvm classes, flattened):
     an unknown class or property, a TYPE differing from the class's (uint16 vs uint64,
     string vs boolean...) and PROPERTY vs PROPERTY.ARRAY are rejected by pywbem_mock
     itself (verified by hyperv_selftest.py). Values that do not fit their declared TYPE
     ("abc" as uint16, 70000 as uint16, "yes" as boolean) are rejected by step 1.
     pywbem matches names case-insensitively, as CIM and WMI do; this script also
     requires Microsoft's exact spelling of class and property names.
  3. Method calls: the method is known, called on the right class in
     root/virtualization/v2, with known parameters; DefineSystem has exactly one
     SystemSettings (Msvm_VirtualSystemSettingData); every ResourceSettings instance has
     a ResourceType, and ResourceType/ResourceSubType/class agree with Microsoft's table.
  4. DefineSystem's layout: InstanceIDs unique, at most 2 IDE and 4 SCSI controllers,
     each drive on a location its controller has (IDE 0-1, SCSI 0-63), no two drives
     on one location, one medium per drive.

Output: one JSON line per good file, e.g.
  {"file": "x.xml", "kind": "request", "methods": ["DefineSystem"],
   "instances": {"Msvm_ProcessorSettingData": 1, ...}, "properties": 42}
A bad file prints "hyperv_check: FILE: reason" on stderr; exit status 1 if any file is bad.
"""

import argparse
import json
import os
import re
import sys
import warnings

import pywbem
import pywbem_mock
from pywbem import CIMClassName, CIMInstance, CIMInstanceName
from pywbem._tupleparse import TupleParser, attrs, kids, name
from pywbem._tupletree import xml_to_tupletree_sax

HERE = os.path.dirname(os.path.abspath(__file__))
MOF_NAME = "msvm.mof"
MOF = os.path.join(HERE, MOF_NAME)
NS_V2 = "root/virtualization/v2"
NS_V1 = "root/virtualization"  # obsolete; GetText input only

VSMS = "Msvm_VirtualSystemManagementService"
# (class the method is invoked on, method) -> {parameter: kind}; kinds:
#   "embedded" one embedded instance, "embedded[]" an array of them,
#   "ref" an object path (VALUE.REFERENCE or a WMI path string), "ref[]" an array,
#   or a CIM type name for plain values.
# From the method pages of the Hyper-V WMI v2 reference (learn.microsoft.com/windows/
# win32/hyperv_v2/): definesystem-, addresourcesettings-, modifyresourcesettings-,
# removeresourcesettings-, modifysystemsettings-msvm-virtualsystemmanagementservice,
# msvm-securityservice-modifysecuritysettings, requeststatechange-msvm-computersystem.
METHODS = {
    (VSMS, "DefineSystem"): {"SystemSettings": "embedded", "ResourceSettings": "embedded[]",
                             "ReferenceConfiguration": "ref"},
    (VSMS, "AddResourceSettings"): {"AffectedConfiguration": "ref",
                                    "ResourceSettings": "embedded[]"},
    (VSMS, "ModifyResourceSettings"): {"ResourceSettings": "embedded[]"},
    (VSMS, "RemoveResourceSettings"): {"ResourceSettings": "ref[]"},
    (VSMS, "ModifySystemSettings"): {"SystemSettings": "embedded"},
    ("Msvm_SecurityService", "ModifySecuritySettings"): {"SecuritySettingData": "embedded"},
    ("Msvm_ComputerSystem", "RequestStateChange"): {"RequestedState": "uint16",
                                                    "TimeoutPeriod": "datetime"},
}
REQUIRED = {
    "DefineSystem": ["SystemSettings"],
    "AddResourceSettings": ["AffectedConfiguration", "ResourceSettings"],
    "ModifyResourceSettings": ["ResourceSettings"],
    "RemoveResourceSettings": ["ResourceSettings"],
    "ModifySystemSettings": ["SystemSettings"],
    "ModifySecuritySettings": ["SecuritySettingData"],
    "RequestStateChange": ["RequestedState"],
}
# Embedded parameters whose instances must be of one class.
PARAM_CLASS = {"SystemSettings": "Msvm_VirtualSystemSettingData",
               "SecuritySettingData": "Msvm_SecuritySettingData"}

RASD = "Msvm_ResourceAllocationSettingData"
SASD = "Msvm_StorageAllocationSettingData"
# ResourceSubType -> (ResourceType, classes). Sources: Microsoft's Hyper-V sample
# Windows-classic-samples Samples/Hyper-V/ResourcePools/cs/ResourceUtilities.cs (type and
# subtype of every pool), the class pages (ResourceType "always set to" 3/4/10/33; serial
# port 21 in msvm-resourceallocationsettingdata; 31 for the three disk images in
# msvm-storageallocationsettingdata), CIM_ResourceAllocationSettingData's ValueMap
# (5 = IDE Controller). The serial port is Msvm_SerialPortSettingData from Windows
# Server 2016, Msvm_ResourceAllocationSettingData on 2012 R2.
SUBTYPES = {
    "Microsoft:Hyper-V:Processor": (3, {"Msvm_ProcessorSettingData"}),
    "Microsoft:Hyper-V:Memory": (4, {"Msvm_MemorySettingData"}),
    "Microsoft:Hyper-V:Emulated IDE Controller": (5, {RASD}),
    "Microsoft:Hyper-V:Synthetic SCSI Controller": (6, {RASD}),
    "Microsoft:Hyper-V:Synthetic FibreChannel Port": (7, {RASD}),
    "Microsoft:Hyper-V:Synthetic Ethernet Port": (10, {"Msvm_SyntheticEthernetPortSettingData"}),
    "Microsoft:Hyper-V:Emulated Ethernet Port": (10, {"Msvm_EmulatedEthernetPortSettingData"}),
    "Microsoft:Hyper-V:Synthetic Mouse": (13, {RASD}),
    # Gen 1's floppy drive ("Microsoft Synthetic Diskette Drive" in the v1
    # namespace; CIM ResourceType 14, Floppy Drive).
    "Microsoft:Hyper-V:Synthetic Diskette Drive": (14, {RASD}),
    "Microsoft:Hyper-V:Synthetic DVD Drive": (16, {RASD}),
    "Microsoft:Hyper-V:Synthetic Disk Drive": (17, {RASD}),
    "Microsoft:Hyper-V:Physical Disk Drive": (17, {RASD}),
    "Microsoft:Hyper-V:Serial Port": (21, {"Msvm_SerialPortSettingData", RASD}),
    "Microsoft:Hyper-V:Synthetic Display Controller": (24, {RASD}),
    "Microsoft:Hyper-V:Synthetic 3D Display Controller": (24, {RASD}),
    "Microsoft:Hyper-V:Virtual Hard Disk": (31, {SASD}),
    "Microsoft:Hyper-V:Virtual CD/DVD Disk": (31, {SASD}),
    "Microsoft:Hyper-V:Virtual Floppy Disk": (31, {SASD}),
    "Microsoft:Hyper-V:Ethernet Connection": (33, {"Msvm_EthernetPortAllocationSettingData"}),
}
SUBTYPES_OF_VSSD = ("Microsoft:Hyper-V:SubType:1", "Microsoft:Hyper-V:SubType:2")
ETHERNET_PORTS = ("Msvm_SyntheticEthernetPortSettingData",
                  "Msvm_EmulatedEthernetPortSettingData")
MAC_RE = re.compile(r"^[0-9A-Fa-f]{12}$")


class Bad(Exception):
    pass


class Parser(TupleParser):
    """pywbem's CIM-XML parser, plus the MULTIREQ element it leaves to servers."""

    def parse_multireq(self, tup_tree):
        # DSP0201: <!ELEMENT MULTIREQ (SIMPLEREQ, SIMPLEREQ+)>
        self.check_node(tup_tree, "MULTIREQ", (), (), ("SIMPLEREQ",))
        reqs = self.list_of_matching(tup_tree, ("SIMPLEREQ",))
        if len(reqs) < 2:
            raise pywbem.CIMXMLParseError(
                "Element 'MULTIREQ' needs at least two SIMPLEREQ children, has %d" % len(reqs))
        return name(tup_tree), attrs(tup_tree), reqs


def read_text(path):
    """The document as bytes for pywbem (UTF-8), decoding a UTF-16 file first."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
        # The declaration would still say UTF-16 for what is now UTF-8.
        text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
        return text.encode("utf-8")
    return data


def root_name(data):
    """Name of the first element (after any declaration, comments, whitespace)."""
    text = data.decode("utf-8", "replace")
    text = re.sub(r"^\ufeff", "", text)
    while True:
        text = text.lstrip()
        m = re.match(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", text, re.S)
        if not m:
            break
        text = text[m.end():]
    m = re.match(r"<([A-Za-z_][\w.:-]*)", text)
    return m.group(1) if m else None


def one_line(exc):
    """pywbem's message on one line, without its "CIM-XML response: None" trailer."""
    msg = re.sub(r"\s*CIM-XML response:.*$", "", str(exc), flags=re.S)
    return re.sub(r"\s+", " ", msg).strip()[:500]


def xml_error(exc):
    return "not well-formed XML: %s" % one_line(exc)


def parse_document(data, parser):
    """-> ("request", [(methodname, path, params)]) or ("instances", [CIMInstance])."""
    root = root_name(data)
    if root == "CIM":
        try:
            tt = xml_to_tupletree_sax(data, "file")
        except pywbem.XMLParseError as exc:
            raise Bad(xml_error(exc))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                _, _, msg = parser.parse_cim(tt)
        except pywbem.Error as exc:  # CIMXMLParseError, XMLParseError (embedded), versions
            raise Bad("pywbem CIM-XML parser: %s" % one_line(exc))
        for w in caught:
            # pywbem tolerates, with this warning, an INSTANCENAME without KEYBINDINGs
            # (DSP0201 allows one only for singleton classes; Msvm services are not).
            if issubclass(w.category, pywbem.MissingKeybindingsWarning):
                raise Bad("pywbem CIM-XML parser: %s" % one_line(w.message))
        if msg[0] != "MESSAGE":
            raise Bad("CIM holds %s, expected MESSAGE" % msg[0])
        req = msg[2]
        simple = req[2] if req[0] == "MULTIREQ" else [req]
        calls = []
        for s in simple:
            if s[0] != "SIMPLEREQ":
                raise Bad("MESSAGE holds %s, expected SIMPLEREQ or MULTIREQ" % s[0])
            call = s[2]
            if call[0] != "METHODCALL":
                raise Bad("SIMPLEREQ holds %s, expected METHODCALL (extrinsic method)" % call[0])
            calls.append((call[1]["NAME"], call[2], call[3]))
        return "request", calls
    if root == "INSTANCE":
        # GetText(1) output: one INSTANCE, or several one after the other (no single
        # root): wrap them to parse, then each must be an INSTANCE.
        text = data.decode("utf-8")
        text = re.sub(r"^\ufeff?\s*<\?xml[^>]*\?>", "", text)
        wrapped = "<HVX_INSTANCES>" + text + "</HVX_INSTANCES>"
        try:
            tt = xml_to_tupletree_sax(wrapped.encode("utf-8"), "file")
        except pywbem.XMLParseError as exc:
            raise Bad(xml_error(exc))
        insts = []
        for k in kids(tt):
            if name(k) != "INSTANCE":
                raise Bad("element %s among the INSTANCE elements" % name(k))
            try:
                insts.append(parser.parse_instance(k))
            except pywbem.CIMXMLParseError as exc:
                raise Bad("pywbem CIM-XML parser: %s" % one_line(exc))
        return "instances", insts
    if root is None:
        # Let the XML parser describe it.
        try:
            xml_to_tupletree_sax(data, "file")
        except pywbem.XMLParseError as exc:
            raise Bad(xml_error(exc))
        raise Bad("no root element")
    raise Bad("root element %s: expected CIM (a request) or INSTANCE (GetText output)" % root)


def new_connection():
    conn = pywbem_mock.FakedWBEMConnection(default_namespace=NS_V2)
    conn.add_namespace(NS_V1)
    conn.compile_mof_file(MOF)  # the MOF's own #pragma namespace lines place the classes
    return conn


def gettext_namespace(inst, checker):
    """Namespace of a GetText instance: __NAMESPACE or __PATH; when both are empty (an
    instance made on the client, not read from the server), v2 unless only the v1
    namespace has the class (Msvm_VirtualSystemGlobalSettingData)."""
    for pname in ("__NAMESPACE", "__PATH"):
        p = inst.properties.get(pname)
        if p is None or not isinstance(p.value, str) or not p.value:
            continue
        val = p.value
        if pname == "__PATH":
            m = re.match(r"^(?:\\\\[^\\]+\\)?([^:]+):", val)
            if not m:
                continue
            val = m.group(1)
        return val.replace("\\", "/").strip("/").lower()
    if checker.get_class(NS_V2, inst.classname) is None and \
            checker.get_class(NS_V1, inst.classname) is not None:
        return NS_V1
    return NS_V2


class Checker:
    def __init__(self):
        self.conn = new_connection()
        self.counter = 0
        self.classes = {}  # (ns, lower classname) -> CIMClass

    def get_class(self, ns, classname):
        key = (ns, classname.lower())
        if key not in self.classes:
            try:
                self.classes[key] = self.conn.GetClass(classname, namespace=ns,
                                                       LocalOnly=False)
            except pywbem.CIMError:
                self.classes[key] = None
        return self.classes[key]

    def create(self, inst, ns, where):
        """CreateInstance in the mock repository; returns the number of properties."""
        inst = inst.copy()
        for pname in [p for p in inst.properties if p.startswith("__")]:
            del inst.properties[pname]  # WMI system properties (CLASSORIGIN="___SYSTEM")
        cls = self.get_class(ns, inst.classname)
        if cls is not None:
            # pywbem (like CIM and WMI) matches names without regard to case; hvxform
            # must write Microsoft's spelling.
            if cls.classname != inst.classname:
                raise Bad("%s: class name %s is spelt %s in %s" % (
                    where, inst.classname, cls.classname, MOF_NAME))
            for pname in inst.properties:
                decl = cls.properties.get(pname)
                if decl is not None and decl.name != pname:
                    raise Bad("%s: property %s of %s is spelt %s in %s" % (
                        where, pname, inst.classname, decl.name, MOF_NAME))
        nprops = len(inst.properties)
        iid = inst.properties.get("InstanceID")
        if iid is None or iid.value is None:
            # The key; a request usually leaves it to Hyper-V. Keep the declared type so
            # that a wrong TYPE is still reported.
            self.counter += 1
            ptype = iid.type if iid is not None else "string"
            value = "hvx-check:%d" % self.counter if ptype == "string" else self.counter
            inst["InstanceID"] = pywbem.CIMProperty("InstanceID", value, type=ptype)
        inst.path = None
        try:
            self.conn.CreateInstance(inst, namespace=ns)
        except pywbem.CIMError as exc:
            raise Bad("%s: instance of %s rejected by pywbem_mock: %s" % (
                where, inst.classname, exc.status_description))
        except (TypeError, ValueError) as exc:
            raise Bad("%s: instance of %s rejected by pywbem_mock: %s" % (
                where, inst.classname, exc))
        return nprops

    def reset(self):
        """A fresh repository for the next file (compiling msvm.mof takes ~0.1 s)."""
        self.conn = new_connection()
        self.counter = 0
        self.classes = {}


def pval(inst, pname):
    p = inst.properties.get(pname)
    return None if p is None else p.value


def check_device(inst, where, need_subtype):
    """ResourceType / ResourceSubType / class agreement for one RASD."""
    rtype = pval(inst, "ResourceType")
    if rtype is None:
        raise Bad("%s: %s has no ResourceType" % (where, inst.classname))
    sub = pval(inst, "ResourceSubType")
    if sub is None:
        if need_subtype:
            raise Bad("%s: %s (ResourceType %d) has no ResourceSubType" % (
                where, inst.classname, rtype))
        return
    if sub not in SUBTYPES:
        raise Bad("%s: ResourceSubType %r is not one hyperv_check knows (SUBTYPES)" % (
            where, sub))
    want_type, classes = SUBTYPES[sub]
    if rtype != want_type:
        raise Bad("%s: ResourceSubType %r needs ResourceType %d, not %d" % (
            where, sub, want_type, rtype))
    if inst.classname not in classes:
        raise Bad("%s: ResourceSubType %r belongs to class %s, not %s" % (
            where, sub, " or ".join(sorted(classes)), inst.classname))


def check_values(inst, where):
    """A few documented value rules that the class definitions cannot express."""
    if inst.classname == "Msvm_VirtualSystemSettingData":
        sub = pval(inst, "VirtualSystemSubType")
        if sub is not None and sub not in SUBTYPES_OF_VSSD:
            raise Bad("%s: VirtualSystemSubType %r is not %s" % (
                where, sub, " or ".join(SUBTYPES_OF_VSSD)))
    if inst.classname in ETHERNET_PORTS:
        mac = pval(inst, "Address")
        if mac and not MAC_RE.match(mac):
            raise Bad("%s: Address %r is not 12 hex digits" % (where, mac))
        if pval(inst, "StaticMacAddress") and not mac:
            raise Bad("%s: StaticMacAddress is TRUE but Address is empty" % where)


def check_call(checker, methodname, path, params, summary):
    if isinstance(path, CIMInstanceName):
        classname, ns = path.classname, path.namespace
    elif isinstance(path, CIMClassName):
        classname, ns = path.classname, path.namespace
    else:
        raise Bad("METHODCALL %s has no LOCALINSTANCEPATH or LOCALCLASSPATH" % methodname)
    known = [k for k in METHODS if k[1] == methodname]
    if not known:
        raise Bad("unknown method %s (known: %s)" % (
            methodname, ", ".join(sorted({k[1] for k in METHODS}))))
    key = (classname, methodname)
    if key not in METHODS:
        raise Bad("method %s is called on class %s, expected %s" % (
            methodname, classname, " or ".join(k[0] for k in known)))
    if (ns or "").lower() != NS_V2:
        raise Bad("method %s is called in namespace %r, expected %s" % (
            methodname, ns, NS_V2))
    spec = METHODS[key]
    seen = set()
    for pname, ptype, value in params:
        if pname not in spec:
            raise Bad("%s has no parameter %s (has: %s)" % (
                methodname, pname, ", ".join(spec)))
        if pname in seen:
            raise Bad("%s: parameter %s given twice" % (methodname, pname))
        seen.add(pname)
        kind = spec[pname]
        where = "%s %s" % (methodname, pname)
        if kind.startswith("embedded"):
            if ptype not in (None, "string"):
                raise Bad("%s: PARAMTYPE %r, an embedded instance is a string" % (where, ptype))
            many = kind.endswith("[]")
            if many != isinstance(value, list):
                raise Bad("%s: %s, expected %s" % (
                    where, "VALUE.ARRAY" if isinstance(value, list) else "a single VALUE",
                    "VALUE.ARRAY" if many else "a single VALUE"))
            values = value if many else [value]
            for i, inst in enumerate(values):
                iwhere = "%s[%d]" % (where, i) if many else where
                if isinstance(inst, str) or inst is None:
                    raise Bad("%s: not an embedded instance (PARAMVALUE needs "
                              "EmbeddedObject=\"instance\" and an INSTANCE in its VALUE)"
                              % iwhere)
                if not isinstance(inst, CIMInstance):
                    raise Bad("%s: embedded %s, expected an INSTANCE" % (
                        iwhere, type(inst).__name__))
                want = PARAM_CLASS.get(pname)
                if want and inst.classname != want:
                    raise Bad("%s: instance of %s, expected %s" % (iwhere, inst.classname, want))
                summary["properties"] += checker.create(inst, NS_V2, iwhere)
                summary["instances"][inst.classname] = \
                    summary["instances"].get(inst.classname, 0) + 1
                check_values(inst, iwhere)
                if pname == "ResourceSettings":
                    check_device(inst, iwhere, need_subtype=methodname != "ModifyResourceSettings")
        elif kind.startswith("ref"):
            many = kind.endswith("[]")
            values = value if isinstance(value, list) else [value]
            if many != isinstance(value, list):
                raise Bad("%s: expected %s" % (where, "an array" if many else "one path"))
            for v in values:
                if not isinstance(v, (str, CIMInstanceName)) or not str(v):
                    raise Bad("%s: expected an object path, got %r" % (where, v))
        else:
            if not isinstance(value, str):
                raise Bad("%s: expected a single VALUE of type %s" % (where, kind))
            if ptype is not None and ptype != kind:
                raise Bad("%s: PARAMTYPE %r, expected %s" % (where, ptype, kind))
            try:
                pywbem.cimvalue(value, kind)
            except (TypeError, ValueError) as exc:
                raise Bad("%s: %r is not a %s: %s" % (where, value, kind, exc))
    for pname in REQUIRED.get(methodname, []):
        if pname not in seen:
            raise Bad("%s: required parameter %s is missing" % (methodname, pname))
    if methodname == "DefineSystem":
        n = sum(1 for p in params if p[0] == "SystemSettings")
        if n != 1:
            raise Bad("DefineSystem needs exactly one SystemSettings, has %d" % n)
        for pname, _, value in params:
            if pname == "ResourceSettings":
                check_layout(value)


# Where Hyper-V attaches drives (learn.microsoft.com, "Plan for Hyper-V
# scalability in Windows Server": 2 IDE controllers of 2 devices, 4 SCSI
# controllers of 64 disks): ResourceType of the controller -> (most
# controllers, locations on each).
CONTROLLERS = {5: (2, 2), 6: (4, 64)}
PARENT_ID_RE = re.compile(r'InstanceID="((?:[^"\\]|\\.)*)"')


def parent_id(path):
    """The InstanceID a Parent path names (its backslashes unescaped)."""
    m = PARENT_ID_RE.search(path or "")
    return re.sub(r"\\(.)", r"\1", m.group(1)) if m else None


def check_layout(instances):
    """The drives of one DefineSystem as Hyper-V places them: no more
    controllers of a kind than a VM has, every drive on a location its
    controller has, no two drives on one location, no two media in one
    drive, no two instances with one InstanceID."""
    ids = {}
    for inst in instances:
        iid = pval(inst, "InstanceID")
        if iid:
            if iid in ids:
                raise Bad("DefineSystem: two instances have the InstanceID %r" % iid)
            ids[iid] = inst
    for rtype, (most, _) in CONTROLLERS.items():
        n = sum(1 for i in instances if pval(i, "ResourceType") == rtype)
        if n > most:
            raise Bad("DefineSystem: %d controllers of ResourceType %d, a Hyper-V VM has %d"
                      % (n, rtype, most))
    kinds = {pval(i, "ResourceType") for i in instances} & set(CONTROLLERS)
    taken = {}
    for inst in instances:
        rtype = pval(inst, "ResourceType")
        parent = parent_id(pval(inst, "Parent"))
        if parent is None:
            continue
        if rtype == 31:
            if parent in taken:
                raise Bad("DefineSystem: two media in the drive %r" % parent)
            taken[parent] = inst
            continue
        if rtype not in (14, 16, 17):
            continue
        ctl = ids.get(parent)
        # A request without InstanceIDs (Hyper-V assigns them) names
        # controllers to be: with controllers of one kind, it is that kind.
        kind = pval(ctl, "ResourceType") if ctl is not None else (
            next(iter(kinds)) if len(kinds) == 1 else None)
        where = pval(inst, "AddressOnParent")
        if kind in CONTROLLERS:
            _, places = CONTROLLERS[kind]
            if where is None or not where.isdigit() or int(where) >= places:
                raise Bad("DefineSystem: drive %r at location %r of controller %r, which has "
                          "locations 0 to %d" % (pval(inst, "InstanceID"), where, parent,
                                                 places - 1))
        key = (parent, where)
        if where is not None and key in taken:
            raise Bad("DefineSystem: two drives at location %s of controller %r" % (where, parent))
        taken[key] = inst


def check_file(checker, path):
    data = read_text(path)
    parser = Parser()
    kind, items = parse_document(data, parser)
    summary = {"file": path, "kind": kind, "methods": [], "instances": {}, "properties": 0}
    if kind == "request":
        for methodname, ipath, params in items:
            summary["methods"].append(methodname)
            check_call(checker, methodname, ipath, params, summary)
    else:
        if not items:
            raise Bad("no INSTANCE")
        namespaces = set()
        for i, inst in enumerate(items):
            ns = gettext_namespace(inst, checker)
            if ns not in (NS_V2, NS_V1):
                raise Bad("INSTANCE[%d] (%s): namespace %s is not Hyper-V's" % (
                    i, inst.classname, ns))
            namespaces.add(ns)
            where = "INSTANCE[%d]" % i
            summary["properties"] += checker.create(inst, ns, where)
            summary["instances"][inst.classname] = summary["instances"].get(inst.classname, 0) + 1
            check_values(inst, where)
        summary["namespaces"] = sorted(namespaces)
        del summary["methods"]
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pretty", action="store_true", help="indented JSON")
    ap.add_argument("files", nargs="+", metavar="FILE")
    args = ap.parse_args(argv)
    checker = Checker()
    status = 0
    for path in args.files:
        try:
            summary = check_file(checker, path)
        except Bad as exc:
            print("hyperv_check: %s: %s" % (path, exc), file=sys.stderr)
            status = 1
        except OSError as exc:
            print("hyperv_check: %s: %s" % (path, exc), file=sys.stderr)
            status = 1
        except Exception as exc:  # a pywbem or checker bug: report it, go on
            print("hyperv_check: %s: checker error %s: %s" % (
                path, type(exc).__name__, one_line(exc)), file=sys.stderr)
            status = 1
        else:
            print(json.dumps(summary, indent=2 if args.pretty else None))
        finally:
            checker.reset()
    return status


if __name__ == "__main__":
    sys.exit(main())
