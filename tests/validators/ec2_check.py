"""Strict check of EC2 DescribeInstances responses, by AWS's own service model.

    python ec2_check.py FILE...
    python ec2_check.py --request OPERATION FILE...

The second form checks JSON requests (what `aws ec2 OPERATION
--cli-input-json file://FILE` reads) with botocore's ParamValidator against
the operation's input shape: unknown and missing members, wrong types, and
enum values; an empty request is refused too.

For each file: botocore's model-driven query parser reads it with the
DescribeInstances output shape, moto's model-driven EC2 serializer writes the
parsed result back, and the two documents' leaf paths (and values) are
compared: an element the model does not know, or puts elsewhere, is dropped
by the parser and shows up as a difference. Enum values are checked against
the model's lists; the root must be DescribeInstancesResponse in
http://ec2.amazonaws.com/doc/2016-11-15/ and hold at least one reservation.
Prints `FILE: OK` or the problems; exits 1 when any file has one.

The method is that of the team's consumers/ec2/ec2_strict.py, rewritten for
several files and exact diagnostics.
"""
import sys
import xml.etree.ElementTree as ET

import botocore.parsers
import botocore.session
from moto.core.serialize import EC2Serializer
from moto.core.utils import get_service_model as moto_model

NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
MODEL = botocore.session.get_session().get_service_model("ec2")
OP = MODEL.operation_model("DescribeInstances")
SERIALIZER = EC2Serializer(moto_model("ec2").operation_model("DescribeInstances"))


def leaves(xml):
    root = ET.fromstring(xml)
    out = set()

    def walk(e, path):
        kids = list(e)
        if not kids and not path.endswith("/requestId"):
            out.add((path, (e.text or "").strip()))
        for i, k in enumerate(kids):
            t = k.tag.split("}")[-1]
            walk(k, path + "/" + t + (f"[{i}]" if t == "item" else ""))

    walk(root, root.tag.split("}")[-1])
    return out, root.tag


def enum_errors(v, shape, path, errs):
    if shape.type_name == "structure":
        for k, s in shape.members.items():
            if k in v:
                enum_errors(v[k], s, path + "." + k, errs)
    elif shape.type_name == "list":
        for i, x in enumerate(v):
            enum_errors(x, shape.member, f"{path}[{i}]", errs)
    elif getattr(shape, "enum", None) and v not in shape.enum:
        errs.append(f"{path} = {v!r} is not one of {shape.name}'s values")


def check(src):
    """The problems of one document (bytes), an empty list when none."""
    try:
        ET.fromstring(src)
    except ET.ParseError as e:
        return [f"not XML: {e}"]
    parser = botocore.parsers.create_parser("ec2")
    parsed = parser.parse({"body": src, "headers": {}, "status_code": 200}, OP.output_shape)
    parsed.pop("ResponseMetadata", None)
    if "Error" in parsed or "Errors" in parsed:
        return [f"parsed as an error response: {parsed}"]
    if not parsed.get("Reservations"):
        return ["no reservation parsed (wrong root element or namespace?)"]
    back = SERIALIZER.serialize(parsed)["body"]
    (a, root), (b, _) = leaves(src), leaves(back.encode() if isinstance(back, str) else back)
    errs = []
    if root != "{" + NS + "}DescribeInstancesResponse":
        errs.append(f"root is {root}, not {{{NS}}}DescribeInstancesResponse")
    errs += [f"unknown or misplaced: {p} = {v!r}" for p, v in sorted(a - b)]
    errs += [f"changed by the model: {p} = {v!r}" for p, v in sorted(b - a)]
    enum_errors(parsed, OP.output_shape, "", errs)
    return errs


def check_request(op, text):
    """The problems of one JSON request (text), an empty list when none."""
    import json

    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters

    try:
        params = json.loads(text)
    except ValueError as e:
        return [f"not JSON: {e}"]
    if not isinstance(params, dict) or not params:
        return ["not a JSON object with members"]
    shape = MODEL.operation_model(op).input_shape
    try:
        validate_parameters(params, shape)
    except ParamValidationError as e:
        return [line.strip() for line in str(e).splitlines()[1:] if line.strip()] or [str(e)]
    errs = []
    enum_errors(params, shape, "", errs)
    return errs


def check_requests(text):
    """A sequence of requests (hvxform command --to ec2):
    {"Requests": [{"Operation": OP, "Parameters": {...}}, ...]}, each checked
    as check_request checks one."""
    import json

    try:
        doc = json.loads(text)
    except ValueError as e:
        return [f"not JSON: {e}"]
    reqs = doc.get("Requests") if isinstance(doc, dict) else None
    if not isinstance(reqs, list) or not reqs:
        return ["no Requests list"]
    errs = []
    for i, r in enumerate(reqs):
        op = r.get("Operation") if isinstance(r, dict) else None
        if op not in MODEL.operation_names:
            errs.append(f"request {i + 1}: unknown operation {op!r}")
            continue
        errs += [f"request {i + 1} ({op}): {e}" for e in check_request(op, json.dumps(r.get("Parameters")))]
    return errs


def main(paths):
    bad = 0
    op = None
    many = False
    if paths[:1] == ["--request"]:
        op, paths = paths[1], paths[2:]
    elif paths[:1] == ["--requests"]:
        many, paths = True, paths[1:]
    for p in paths:
        if many:
            errs = check_requests(open(p, encoding="utf-8").read())
        elif op:
            errs = check_request(op, open(p, encoding="utf-8").read())
        else:
            errs = check(open(p, "rb").read())
        if errs:
            bad += 1
            print(f"{p}:")
            for e in errs:
                print(f"  {e}")
        else:
            print(f"{p}: OK")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
