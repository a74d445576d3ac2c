#!/usr/bin/env python3
"""Self-test of hyperv_check.py: the reference DefineSystem passes, broken variants fail
with the expected reason, and the other accepted forms (MULTIREQ with
ModifySecuritySettings, RequestStateChange, GetText INSTANCE output, UTF-16, the
vendored WMI instances of tests/corpus/hyperv-wmi-cim-nova/) parse.

usage: $HVX_PYWBEM_PYTHON tests/validators/hyperv_selftest.py
Ends with a line "N passed, N failed"; exit status 1 if any case failed.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "reference-definesystem.xml")
CHECK = os.path.join(HERE, "hyperv_check.py")
NOVA = os.path.join(os.path.dirname(HERE), "corpus", "hyperv-wmi-cim-nova")


def E(text):
    """Text as it appears inside an embedded instance (XML-escaped into a VALUE)."""
    return escape(text, {'"': "&quot;"})


# (name, old, new, expected stderr fragment); old must occur in the reference. Anchors
# wrapped in E() are inside the embedded instances.
MUTATIONS = [
    ("unknown class", E('CLASSNAME="Msvm_SerialPortSettingData"'),
     E('CLASSNAME="Msvm_SerialPortSetting"'),
     "Creation class 'Msvm_SerialPortSetting' of new instance does not exist"),
    ("unknown property", E('NAME="TargetMemoryBuffer"'), E('NAME="TargetMemoryBuffers"'),
     "Property 'TargetMemoryBuffers' in the instance does not exist"),
    ("uint16 value 'abc'", E('NAME="EnabledState" TYPE="uint16"><VALUE>2<'),
     E('NAME="EnabledState" TYPE="uint16"><VALUE>abc<'), "Invalid numeric value 'abc'"),
    ("uint16 value out of range", E('NAME="ResourceType" TYPE="uint16"><VALUE>6<'),
     E('NAME="ResourceType" TYPE="uint16"><VALUE>70000<'), "out of range for CIM datatype uint16"),
    ("uint64 property sent as string", E('NAME="VirtualQuantity" TYPE="uint64"><VALUE>4096<'),
     E('NAME="VirtualQuantity" TYPE="string"><VALUE>4096<'),
     "'VirtualQuantity' in the instance has incorrect type='string', but should have type='uint64'"),
    ("uint16 property sent as uint32", E('NAME="ResourceType" TYPE="uint16"><VALUE>3<'),
     E('NAME="ResourceType" TYPE="uint32"><VALUE>3<'),
     "incorrect type='uint32', but should have type='uint16'"),
    ("boolean property sent as string", E('NAME="StaticMacAddress" TYPE="boolean"'),
     E('NAME="StaticMacAddress" TYPE="string"'), "should have type='boolean'"),
    ("boolean value 'yes'", E('NAME="SecureBootEnabled" TYPE="boolean"><VALUE>TRUE<'),
     E('NAME="SecureBootEnabled" TYPE="boolean"><VALUE>yes<'), "Invalid boolean value 'yes'"),
    ("string array sent as scalar",
     E('<PROPERTY.ARRAY NAME="HostResource" TYPE="string"><VALUE.ARRAY><VALUE>C:\\ISO\\debian-12.iso</VALUE></VALUE.ARRAY></PROPERTY.ARRAY>'),
     E('<PROPERTY NAME="HostResource" TYPE="string"><VALUE>C:\\ISO\\debian-12.iso</VALUE></PROPERTY>'),
     "'HostResource' in the instance has incorrect is_array=False, but should have is_array=True"),
    ("scalar sent as array",
     E('<PROPERTY NAME="AddressOnParent" TYPE="string"><VALUE>1</VALUE></PROPERTY>'),
     E('<PROPERTY.ARRAY NAME="AddressOnParent" TYPE="string"><VALUE.ARRAY><VALUE>1</VALUE></VALUE.ARRAY></PROPERTY.ARRAY>'),
     "incorrect is_array=True, but should have is_array=False"),
    ("property name case", E('<PROPERTY NAME="ElementName" TYPE="string"><VALUE>SCSI'),
     E('<PROPERTY NAME="elementname" TYPE="string"><VALUE>SCSI'), "is spelt ElementName"),
    ("no ResourceType", E('<PROPERTY NAME="ResourceType" TYPE="uint16"><VALUE>6</VALUE></PROPERTY>\n'),
     "", "Msvm_ResourceAllocationSettingData has no ResourceType"),
    ("no ResourceSubType", E('<PROPERTY NAME="ResourceSubType" TYPE="string"><VALUE>Microsoft:Hyper-V:Serial Port</VALUE></PROPERTY>\n'),
     "", "has no ResourceSubType"),
    ("ResourceType does not match subtype", E('TYPE="uint16"><VALUE>16<'),
     E('TYPE="uint16"><VALUE>17<'), "needs ResourceType 16, not 17"),
    ("subtype on the wrong class", E('CLASSNAME="Msvm_ResourceAllocationSettingData"'),
     E('CLASSNAME="Msvm_SyntheticEthernetPortSettingData"'),
     "'Microsoft:Hyper-V:Synthetic SCSI Controller' belongs to class Msvm_ResourceAllocationSettingData"),
    ("unknown subtype", E("Microsoft:Hyper-V:Synthetic SCSI Controller"),
     E("Microsoft:Hyper-V:SCSI Controller"), "is not one hyperv_check knows"),
    ("two drives at one location", E('NAME="AddressOnParent" TYPE="string"><VALUE>1<'),
     E('NAME="AddressOnParent" TYPE="string"><VALUE>0<'), "two drives at location 0 of controller"),
    ("a location the SCSI controller does not have",
     E('NAME="AddressOnParent" TYPE="string"><VALUE>1<'),
     E('NAME="AddressOnParent" TYPE="string"><VALUE>64<'), "which has locations 0 to 63"),
    ("MAC with colons", E("00155D012A05"), E("00:15:5D:01:2A:05"), "is not 12 hex digits"),
    ("bad VirtualSystemSubType", E("Microsoft:Hyper-V:SubType:2"), E("Microsoft:Hyper-V:SubType:3"),
     "VirtualSystemSubType"),
    ("not well-formed XML", "</MESSAGE></CIM>", "</MESSAGE></CIMX>", "not well-formed XML"),
    ("not well-formed embedded instance", E("</INSTANCE>"), E("</INSTANC>"), "embedded object"),
    ("unknown attribute", '<METHODCALL NAME="DefineSystem">',
     '<METHODCALL NAME="DefineSystem" TIMEOUT="5">', "has invalid attribute(s)"),
    ("unknown element", '<NAMESPACE NAME="root"/>', '<NAMESPACES NAME="root"/>',
     "has invalid child element(s) {'NAMESPACES'}"),
    ("CIMVERSION 3", 'CIMVERSION="2.0"', 'CIMVERSION="3.0"', "CIMVERSION"),
    ("wrong method name (v1 DefineVirtualSystem)", 'METHODCALL NAME="DefineSystem"',
     'METHODCALL NAME="DefineVirtualSystem"', "unknown method DefineVirtualSystem"),
    ("method on the wrong class", 'INSTANCENAME CLASSNAME="Msvm_VirtualSystemManagementService"',
     'INSTANCENAME CLASSNAME="Msvm_VirtualSystemSnapshotService"', "is called on class"),
    ("wrong namespace path (v1)", '<NAMESPACE NAME="v2"/>', "",
     "called in namespace 'root/virtualization', expected root/virtualization/v2"),
    ("instance path without keys", "__NO_KEYS__", "", "without any keys"),
    ("unknown parameter", 'PARAMVALUE NAME="ResourceSettings"', 'PARAMVALUE NAME="ResourceSetting"',
     "DefineSystem has no parameter ResourceSetting"),
    ("missing SystemSettings", "__DROP_SYSTEMSETTINGS__", "",
     "required parameter SystemSettings is missing"),
    ("SystemSettings of the wrong class", E('CLASSNAME="Msvm_VirtualSystemSettingData"'),
     E('CLASSNAME="Msvm_VirtualSystemGlobalSettingData"'), "expected Msvm_VirtualSystemSettingData"),
    ("SystemSettings not embedded",
     'PARAMVALUE NAME="SystemSettings" PARAMTYPE="string" EmbeddedObject="instance"',
     'PARAMVALUE NAME="SystemSettings" PARAMTYPE="string"', "not an embedded instance"),
    ("ResourceSettings not an array", "__SINGLE_RESOURCE__", "", "expected VALUE.ARRAY"),
]

SECURITY_CALL = (
    '<SIMPLEREQ><METHODCALL NAME="ModifySecuritySettings"><LOCALINSTANCEPATH><LOCALNAMESPACEPATH>'
    '<NAMESPACE NAME="root"/><NAMESPACE NAME="virtualization"/><NAMESPACE NAME="v2"/>'
    '</LOCALNAMESPACEPATH><INSTANCENAME CLASSNAME="Msvm_SecurityService">'
    '<KEYBINDING NAME="Name"><KEYVALUE VALUETYPE="string">SecurityService</KEYVALUE></KEYBINDING>'
    '</INSTANCENAME></LOCALINSTANCEPATH>'
    '<PARAMVALUE NAME="SecuritySettingData" PARAMTYPE="string" EmbeddedObject="instance"><VALUE>'
    + E('<INSTANCE CLASSNAME="Msvm_SecuritySettingData">'
        '<PROPERTY NAME="InstanceID" TYPE="string"><VALUE>Microsoft:C7A5FDBD-EDAF-9455-926A-D65C16DB1809</VALUE></PROPERTY>'
        '<PROPERTY NAME="TpmEnabled" TYPE="boolean"><VALUE>TRUE</VALUE></PROPERTY>'
        '<PROPERTY NAME="EncryptStateAndVmMigrationTraffic" TYPE="boolean"><VALUE>FALSE</VALUE></PROPERTY>'
        '</INSTANCE>')
    + '</VALUE></PARAMVALUE></METHODCALL></SIMPLEREQ>')

# The forms of shared/consumers/hyperv/: a minimal DefineSystem, RequestStateChange, and
# GetText(1) output with WMI system properties (v1 namespace in __PATH).
MINIMAL_DEFINE = (
    '<?xml version="1.0" encoding="utf-8"?>\n<CIM CIMVERSION="2.0" DTDVERSION="2.0">'
    '<MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ><METHODCALL NAME="DefineSystem">'
    '<LOCALINSTANCEPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="virtualization"/>'
    '<NAMESPACE NAME="v2"/></LOCALNAMESPACEPATH><INSTANCENAME CLASSNAME="Msvm_VirtualSystemManagementService">'
    '<KEYBINDING NAME="Name"><KEYVALUE VALUETYPE="string">vmms</KEYVALUE></KEYBINDING></INSTANCENAME>'
    '</LOCALINSTANCEPATH>'
    '<PARAMVALUE NAME="SystemSettings" PARAMTYPE="string" EmbeddedObject="instance"><VALUE>'
    + E('<INSTANCE CLASSNAME="Msvm_VirtualSystemSettingData">\n'
        ' <PROPERTY NAME="ElementName" TYPE="string"><VALUE>vm1</VALUE></PROPERTY>\n</INSTANCE>\n')
    + '</VALUE></PARAMVALUE>'
    '<PARAMVALUE NAME="ResourceSettings" PARAMTYPE="string" EmbeddedObject="instance"><VALUE.ARRAY><VALUE>'
    + E('<INSTANCE CLASSNAME="Msvm_ProcessorSettingData">\n'
        ' <PROPERTY NAME="ResourceType" TYPE="uint16"><VALUE>3</VALUE></PROPERTY>\n'
        ' <PROPERTY NAME="ResourceSubType" TYPE="string"><VALUE>Microsoft:Hyper-V:Processor</VALUE></PROPERTY>\n'
        ' <PROPERTY NAME="VirtualQuantity" TYPE="uint64"><VALUE>2</VALUE></PROPERTY>\n</INSTANCE>\n')
    + '</VALUE></VALUE.ARRAY></PARAMVALUE></METHODCALL></SIMPLEREQ></MESSAGE></CIM>')
REQUEST_STATE = (
    '<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
    '<MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ><METHODCALL NAME="RequestStateChange">'
    '<LOCALINSTANCEPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="virtualization"/>'
    '<NAMESPACE NAME="v2"/></LOCALNAMESPACEPATH><INSTANCENAME CLASSNAME="Msvm_ComputerSystem">'
    '<KEYBINDING NAME="CreationClassName"><KEYVALUE VALUETYPE="string">Msvm_ComputerSystem</KEYVALUE></KEYBINDING>'
    '<KEYBINDING NAME="Name"><KEYVALUE VALUETYPE="string">C7A5FDBD-EDAF-9455-926A-D65C16DB1809</KEYVALUE></KEYBINDING>'
    '</INSTANCENAME></LOCALINSTANCEPATH><PARAMVALUE NAME="RequestedState" PARAMTYPE="uint16"><VALUE>2</VALUE>'
    '</PARAMVALUE></METHODCALL></SIMPLEREQ></MESSAGE></CIM>')
GETTEXT = (
    '<INSTANCE CLASSNAME="Msvm_MemorySettingData"><PROPERTY NAME="__PATH" CLASSORIGIN="___SYSTEM" TYPE="string">'
    '<VALUE>\\\\HV12OSDEMO1\\root\\virtualization:Msvm_MemorySettingData.InstanceID="Microsoft:8FB6FE34-0C9B-472F-B0D8-9B7ADA69C509\\\\4764334d-e001-4176-82ee-5594ec9b530e"</VALUE></PROPERTY>'
    '<PROPERTY.ARRAY NAME="__DERIVATION" CLASSORIGIN="___SYSTEM" TYPE="string"><VALUE.ARRAY>'
    '<VALUE>CIM_ResourceAllocationSettingData</VALUE><VALUE>CIM_SettingData</VALUE><VALUE>CIM_ManagedElement</VALUE>'
    '</VALUE.ARRAY></PROPERTY.ARRAY><PROPERTY NAME="__PROPERTY_COUNT" CLASSORIGIN="___SYSTEM" TYPE="sint32">'
    '<VALUE>26</VALUE></PROPERTY><PROPERTY NAME="Address" CLASSORIGIN="CIM_ResourceAllocationSettingData" TYPE="string">'
    '</PROPERTY><PROPERTY NAME="AllocationUnits" CLASSORIGIN="CIM_ResourceAllocationSettingData" TYPE="string">'
    '<VALUE>MB</VALUE></PROPERTY><PROPERTY.ARRAY NAME="Connection" CLASSORIGIN="CIM_ResourceAllocationSettingData" TYPE="string">'
    '</PROPERTY.ARRAY><PROPERTY NAME="DynamicMemoryEnabled" CLASSORIGIN="Msvm_MemorySettingData" TYPE="boolean">'
    '<VALUE>FALSE</VALUE></PROPERTY><PROPERTY NAME="InstanceID" CLASSORIGIN="CIM_SettingData" TYPE="string">'
    '<VALUE>Microsoft:8FB6FE34-0C9B-472F-B0D8-9B7ADA69C509\\4764334d-e001-4176-82ee-5594ec9b530e</VALUE></PROPERTY>'
    '<PROPERTY NAME="ResourceType" CLASSORIGIN="CIM_ResourceAllocationSettingData" TYPE="uint16"><VALUE>4</VALUE>'
    '</PROPERTY><PROPERTY NAME="VirtualQuantity" CLASSORIGIN="CIM_ResourceAllocationSettingData" TYPE="uint64">'
    '<VALUE>512</VALUE></PROPERTY></INSTANCE>')
V2_INSTANCES = (
    '<INSTANCE CLASSNAME="Msvm_ProcessorSettingData">\n'
    ' <PROPERTY NAME="ResourceType" TYPE="uint16"><VALUE>3</VALUE></PROPERTY>\n'
    ' <PROPERTY NAME="VirtualQuantity" TYPE="uint64"><VALUE>2</VALUE></PROPERTY>\n</INSTANCE>\n'
    '<INSTANCE CLASSNAME="Msvm_VirtualSystemSettingData">\n'
    ' <PROPERTY NAME="ElementName" TYPE="string"><VALUE>vm1</VALUE></PROPERTY>\n'
    ' <PROPERTY.ARRAY NAME="Notes" TYPE="string"><VALUE.ARRAY><VALUE>n</VALUE></VALUE.ARRAY></PROPERTY.ARRAY>\n'
    '</INSTANCE>\n')

# Vendored nova instances whose class hvxform does not use (not in msvm.mof).
NOVA_UNKNOWN = {"Msvm_Error-001.xml", "Msvm_VirtualHardDiskInfo-001.xml",
                "Msvm_VirtualSystemMigrationSettingData-001.xml"}


def run(*paths):
    return subprocess.run([sys.executable, CHECK, *paths], capture_output=True, text=True)


def mutate(ref, name, old, new):
    if old == "__DROP_SYSTEMSETTINGS__":
        start = ref.index('<PARAMVALUE NAME="SystemSettings"')
        end = ref.index("</PARAMVALUE>", start) + len("</PARAMVALUE>")
        return ref[:start] + ref[end:]
    if old == "__SINGLE_RESOURCE__":  # ResourceSettings as one VALUE, not VALUE.ARRAY
        start = ref.index("<VALUE.ARRAY>\n") + len("<VALUE.ARRAY>\n")
        end = ref.index("</VALUE>\n", start) + len("</VALUE>")
        head = ref[:ref.index("<VALUE.ARRAY>\n")]
        tail = ref[ref.index("</VALUE.ARRAY></PARAMVALUE>") + len("</VALUE.ARRAY>"):]
        return head + ref[start:end] + tail
    if old == "__NO_KEYS__":
        start = ref.index('<INSTANCENAME CLASSNAME="Msvm_VirtualSystemManagementService">')
        end = ref.index("</INSTANCENAME>", start) + len("</INSTANCENAME>")
        return ref[:start] + '<INSTANCENAME CLASSNAME="Msvm_VirtualSystemManagementService"/>' + ref[end:]
    if old not in ref:
        return None
    return ref.replace(old, new, 1)


def main():
    with open(REF, encoding="utf-8") as fh:
        ref = fh.read()
    passed = failed = 0

    def report(ok, name, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL %s %s" % (name, detail))

    def expect_pass(path, name, check=None):
        r = run(path)
        ok = r.returncode == 0 and not r.stderr
        if ok and check:
            ok = check(json.loads(r.stdout))
        report(ok, name, "rc=%d stdout=%r stderr=%r" % (r.returncode, r.stdout[-400:], r.stderr[-400:]))

    def expect_fail(path, name, expect):
        r = run(path)
        ok = r.returncode == 1 and expect in r.stderr and \
            r.stderr.startswith("hyperv_check: %s: " % path)
        report(ok, name, "rc=%d stderr=%r" % (r.returncode, r.stderr[-500:]))

    expect_pass(REF, "reference passes", lambda d: d["methods"] == ["DefineSystem"] and d["instances"] == {
        "Msvm_VirtualSystemSettingData": 1, "Msvm_ProcessorSettingData": 1,
        "Msvm_MemorySettingData": 1, "Msvm_ResourceAllocationSettingData": 3,
        "Msvm_StorageAllocationSettingData": 2, "Msvm_SyntheticEthernetPortSettingData": 1,
        "Msvm_EthernetPortAllocationSettingData": 1, "Msvm_SerialPortSettingData": 1}
        and d["properties"] == 52)

    with tempfile.TemporaryDirectory() as tmp:
        def write(fname, text, encoding="utf-8"):
            path = os.path.join(tmp, fname)
            with open(path, "w", encoding=encoding, newline="") as fh:
                fh.write(text)
            return path

        for name, old, new, expect in MUTATIONS:
            doc = mutate(ref, name, old, new)
            if doc is None:
                report(False, name, "(mutation anchor not found)")
                continue
            expect_fail(write("case.xml", doc), name, expect)

        # Other accepted forms.
        multi = ref.replace("<SIMPLEREQ>", "<MULTIREQ><SIMPLEREQ>", 1).replace(
            "</SIMPLEREQ>", "</SIMPLEREQ>\n" + SECURITY_CALL + "</MULTIREQ>", 1)
        expect_pass(write("multi.xml", multi), "MULTIREQ DefineSystem + ModifySecuritySettings",
                    lambda d: d["methods"] == ["DefineSystem", "ModifySecuritySettings"]
                    and d["instances"]["Msvm_SecuritySettingData"] == 1)
        one = ref.replace("<SIMPLEREQ>", "<MULTIREQ><SIMPLEREQ>", 1).replace(
            "</SIMPLEREQ>", "</SIMPLEREQ></MULTIREQ>", 1)
        expect_fail(write("multi1.xml", one), "MULTIREQ of one SIMPLEREQ", "at least two SIMPLEREQ")
        tpm_typo = multi.replace(E('NAME="TpmEnabled"'), E('NAME="TPMEnabled"'))
        expect_fail(write("tpm.xml", tpm_typo), "TpmEnabled spelt TPMEnabled", "is spelt TpmEnabled")
        expect_pass(write("minimal.xml", MINIMAL_DEFINE), "minimal DefineSystem (consumers/hyperv form)",
                    lambda d: d["instances"] == {"Msvm_VirtualSystemSettingData": 1,
                                                 "Msvm_ProcessorSettingData": 1})
        expect_pass(write("rsc.xml", REQUEST_STATE), "RequestStateChange",
                    lambda d: d["methods"] == ["RequestStateChange"])
        expect_fail(write("rsc-bad.xml", REQUEST_STATE.replace("<VALUE>2</VALUE>", "<VALUE>on</VALUE>")),
                    "RequestStateChange with a non-numeric state", "is not a uint16")
        expect_pass(write("gettext.xml", GETTEXT), "GetText instance with system properties (v1 __PATH)",
                    lambda d: d["kind"] == "instances" and d["namespaces"] == ["root/virtualization"]
                    and d["properties"] == 7)
        expect_pass(write("gettext16.xml", '<?xml version="1.0" encoding="UTF-16"?>\r\n' + GETTEXT,
                          encoding="utf-16"), "GetText in UTF-16 with BOM")
        expect_pass(write("two.xml", V2_INSTANCES), "two INSTANCE elements, no root",
                    lambda d: d["instances"] == {"Msvm_ProcessorSettingData": 1,
                                                 "Msvm_VirtualSystemSettingData": 1})
        expect_fail(write("two-bad.xml", V2_INSTANCES.replace('NAME="Notes"', 'NAME="Note"')),
                    "GetText with an unknown property", "Property 'Note' in the instance does not exist")
        expect_fail(write("rsp.xml", "<RESPONSE/>"), "unknown root element", "root element RESPONSE")

    # Vendored WMI instances (nova's recordings; v1 and v2 namespaces).
    files = sorted(glob.glob(os.path.join(NOVA, "*.xml")))
    report(len(files) == 20, "nova corpus present", "found %d files" % len(files))
    for path in files:
        base = os.path.basename(path)
        if base in NOVA_UNKNOWN:
            expect_fail(path, "nova " + base, "does not exist in namespace")
        else:
            expect_pass(path, "nova " + base)

    print("hyperv: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
