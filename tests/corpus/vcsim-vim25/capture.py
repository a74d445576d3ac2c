"""Capture vcsim's (govmomi's vCenter simulator) RetrievePropertiesEx
responses for the `config` of every VM of its default inventory, as raw SOAP."""
import http.client, re, sys, os
host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
cookie = None
def call(body, action="urn:vim25/8.0.2.0"):
    global cookie
    c = http.client.HTTPConnection(host, port)
    env = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>' % body)
    h = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action}
    if cookie: h["Cookie"] = cookie
    c.request("POST", "/sdk", env.encode(), h)
    r = c.getresponse()
    sc = r.getheader("Set-Cookie")
    if sc: cookie = sc.split(";")[0]
    data = r.read()
    assert r.status == 200, data[:500]
    return data
sc = call('<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>').decode()
sm = re.search(r'<sessionManager type="SessionManager">([^<]+)<', sc).group(1)
pc = re.search(r'<propertyCollector type="PropertyCollector">([^<]+)<', sc).group(1)
vmgr = re.search(r'<viewManager type="ViewManager">([^<]+)<', sc).group(1)
root = re.search(r'<rootFolder type="Folder">([^<]+)<', sc).group(1)
call('<Login xmlns="urn:vim25"><_this type="SessionManager">%s</_this><userName>user</userName><password>pass</password></Login>' % sm)
v = call('<CreateContainerView xmlns="urn:vim25"><_this type="ViewManager">%s</_this><container type="Folder">%s</container><type>VirtualMachine</type><recursive>true</recursive></CreateContainerView>' % (vmgr, root)).decode()
view = re.search(r'<returnval type="ContainerView">([^<]+)<', v).group(1)
lst = call('<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">%s</_this><specSet><propSet><type>ContainerView</type><pathSet>view</pathSet></propSet><objectSet><obj type="ContainerView">%s</obj></objectSet></specSet><options/></RetrievePropertiesEx>' % (pc, view)).decode()
vms = re.findall(r'<ManagedObjectReference type="VirtualMachine"[^>]*>([^<]+)<', lst)
for vm in vms:
    body = call('<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">%s</_this><specSet><propSet><type>VirtualMachine</type><pathSet>config</pathSet></propSet><objectSet><obj type="VirtualMachine">%s</obj></objectSet></specSet><options/></RetrievePropertiesEx>' % (pc, vm))
    name = re.findall(rb'<name>([^<]+)</name>', body)[1].decode()
    fn = os.path.join(out, "%s.xml" % name)
    open(fn, "wb").write(body)
    print(fn, len(body))
