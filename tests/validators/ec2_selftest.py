"""Self-test of ec2_check.py: a good response passes, and each kind of
mistake it exists to catch is caught (run by .ci/run before the tests)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ec2_check  # noqa: E402

NS = ec2_check.NS
GOOD = f"""<DescribeInstancesResponse xmlns="{NS}"><requestId>r</requestId><reservationSet><item>
<reservationId>r-1</reservationId><instancesSet><item><instanceId>i-1</instanceId>
<instanceType>t3.micro</instanceType><architecture>x86_64</architecture><bootMode>uefi</bootMode>
<tagSet><item><key>Name</key><value>a &amp; b</value></item></tagSet>
</item></instancesSet></item></reservationSet></DescribeInstancesResponse>"""

BAD = {
    "unknown element": (GOOD.replace("<bootMode>", "<bootModes>uefi</bootModes><bootMode>"), "unknown or misplaced"),
    "misplaced element": (GOOD.replace("<reservationId>r-1</reservationId>", "<reservationId>r-1</reservationId><instanceType>x</instanceType>"), "unknown or misplaced"),
    "enum value": (GOOD.replace("<bootMode>uefi<", "<bootMode>efi<"), "not one of BootModeValues"),
    "architecture": (GOOD.replace(">x86_64<", ">amd64<"), "not one of ArchitectureValues"),
    "namespace": (GOOD.replace(NS, NS.rstrip("/")), "root is"),
    "root": (GOOD.replace("DescribeInstancesResponse", "RunInstancesResponse"), "root is"),
    "no reservation": (GOOD.split("<reservationSet>")[0] + "</DescribeInstancesResponse>", "no reservation parsed"),
    "not XML": (GOOD.replace("</requestId>", ""), "not XML"),
}

REQUESTS = {
    "RunInstances": (
        '{"InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1, "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "a"}]}]}',
        [
            ('{"InstanceType": "t3.micro", "MinCount": "1", "MaxCount": 1}', "Invalid type"),
            ('{"InstanceType": "t3.micro", "MaxCount": 1}', "Missing required parameter"),
            ('{"InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1, "Colour": "red"}', "Unknown parameter"),
            ('{"MinCount": 1, "MaxCount": 1, "TagSpecifications": {"ResourceType": "instance"}}', "Invalid type"),
            ('{"MinCount": 1, "MaxCount": 1, "InstanceType": "t3.colossal"}', "not one of InstanceType"),
            ("{}", "not a JSON object"),
        ],
    ),
    "ImportImage": (
        '{"DiskContainers": [{"Format": "VMDK", "UserBucket": {"S3Bucket": "b", "S3Key": "k"}}], "BootMode": "uefi"}',
        [
            ('{"BootMode": "efi"}', "not one of BootModeValues"),
            ('{"DiskContainers": [{"Bucket": "b"}]}', "Unknown parameter"),
        ],
    ),
}

fails = 0
cases = 1 + len(BAD)
for op, (good, bads) in REQUESTS.items():
    cases += 1 + len(bads)
    errs = ec2_check.check_request(op, good)
    if errs:
        print(f"FAIL good {op} request refused: {errs}")
        fails += 1
    for text, want in bads:
        errs = ec2_check.check_request(op, text)
        if not any(want in e for e in errs):
            print(f"FAIL {op} {text}: expected {want!r}, got {errs}")
            fails += 1

errs = ec2_check.check(GOOD.encode())
if errs:
    print(f"FAIL good response refused: {errs}")
    fails += 1
for name, (text, want) in BAD.items():
    errs = ec2_check.check(text.encode())
    if not any(want in e for e in errs):
        print(f"FAIL {name}: expected {want!r}, got {errs}")
        fails += 1
print(f"ec2_check self-test: {cases - fails} of {cases} cases as expected")
sys.exit(1 if fails else 0)
