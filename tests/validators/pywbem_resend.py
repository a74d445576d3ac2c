#!/usr/bin/env python3
"""Re-send a Hyper-V request through pywbem's own client: hvxform's reader is
then tested on CIM-XML that pywbem wrote, not only on its own.

usage: $HVX_PYWBEM_PYTHON pywbem_resend.py IN.xml OUT.xml

IN is a DefineSystem request (with ModifySecuritySettings in a MULTIREQ, as
hvxform writes them). pywbem's tuple parser reads it into CIMInstance objects;
for each method call, pywbem's WBEMConnection.InvokeMethod builds the request
it would send (to an address that refuses the connection, so nothing is sent)
and OUT gets that request XML (`conn.last_request`). With two calls OUT holds
them as a MULTIREQ of the two SIMPLEREQs pywbem wrote. Exit 1 with
`pywbem_resend: reason` on stderr if pywbem cannot read or write it.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pywbem  # noqa: E402

from hyperv_check import Bad, Parser, parse_document, read_text  # noqa: E402


def request_xml(methodname, path, params):
    # Port 1 on loopback refuses at once: pywbem builds the request, fails to
    # send it, and keeps it as last_request.
    conn = pywbem.WBEMConnection("http://127.0.0.1:1", ("user", "password"),
                                 default_namespace=path.namespace, timeout=2)
    conn.debug = True
    # A plain value keeps the CIM type its PARAMTYPE gave (pywbem writes a
    # str as a string).
    args = [(name, pywbem.cimvalue(value, ptype) if isinstance(value, str) and ptype
             not in (None, "string", "reference") else value) for name, ptype, value in params]
    try:
        conn.InvokeMethod(methodname, path, args)
    except pywbem.ConnectionError:
        pass
    if not conn.last_request:
        raise Bad("pywbem wrote no request for %s" % methodname)
    return conn.last_request


def resend(path):
    """The request in `path` as pywbem's client writes it (a MULTIREQ of the
    SIMPLEREQs it wrote when there are several calls)."""
    kind, calls = parse_document(read_text(path), Parser())
    if kind != "request":
        raise Bad("%s is not a request" % path)
    docs = [request_xml(*c) for c in calls]
    if len(docs) == 1:
        return docs[0]
    # One MESSAGE: the SIMPLEREQ of each request pywbem wrote, in a MULTIREQ.
    reqs = [re.search(r"<SIMPLEREQ>.*</SIMPLEREQ>", d, re.S).group(0) for d in docs]
    head = re.match(r"(.*?<MESSAGE[^>]*>)", docs[0], re.S).group(1)
    return head + "<MULTIREQ>" + "".join(reqs) + "</MULTIREQ></MESSAGE></CIM>"


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        out = resend(argv[1])
    except (Bad, pywbem.Error) as exc:
        print("pywbem_resend: %s: %s" % (argv[1], exc), file=sys.stderr)
        return 1
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
