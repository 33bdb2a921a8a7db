#!/usr/bin/env python3
"""Builds the fuzz targets' seed corpus (fuzz/corpus/<target>/seed-*) from the project's
fixtures: the recorded QueryPerf answers (tests/fixtures/queryperf_*.xml.gz, cut to a few
entities so that a seed stays small), the README's example configuration, and a few SOAP
answers of the shapes the client reads. Nothing here is committed; scripts/fuzz.sh runs it."""

import gzip
import os
import re
import struct
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def cut_fixture(doc, entities):
    """The envelope with only the first `entities` returnvals."""
    end = 0
    for _ in range(entities):
        end = doc.index(b"</returnval>", end) + len(b"</returnval>")
    return doc[:end] + b"</QueryPerfResponse></soapenv:Body></soapenv:Envelope>"


ENV = (b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
       b'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
       b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>')
END = b"</soapenv:Body></soapenv:Envelope>"
FAULT = (ENV + b"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The session "
         b"is not authenticated.</faultstring><detail><NotAuthenticatedFault xmlns=\"urn:vim25\" "
         b"xsi:type=\"NotAuthenticated\"><object type=\"Folder\">group-d1</object>"
         b"</NotAuthenticatedFault></detail></soapenv:Fault>" + END)

perf = []
for fmt in ("normal", "csv"):
    with gzip.open(os.path.join(root, "tests", "fixtures", f"queryperf_{fmt}.xml.gz")) as f:
        doc = f.read()
    for n in (1, 2):
        perf.append((f"{fmt}-{n}", cut_fixture(doc, n)))
perf.append(("fault", FAULT))
perf.append(("empty", ENV + b'<QueryPerfResponse xmlns="urn:vim25"></QueryPerfResponse>' + END))
# Chunk headers: one read, 1-byte reads, a mix.
headers = [b"\x00", b"\x01\x00\x00", b"\x03" + struct.pack("<HHH", 6, 15, 1022)]
for name, doc in perf:
    for i, h in enumerate(headers):
        put("perf_stream", f"{name}-{i}", h + doc)
        put("perf_differential", f"{name}-{i}", h + doc)

soap = {
    "fault": FAULT,
    "service-content": ENV + b'<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval>'
    b'<rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">'
    b'propertyCollector</propertyCollector><viewManager type="ViewManager">ViewManager</viewManager>'
    b'<about><fullName>VMware vCenter Server 8.0.3</fullName><apiVersion>8.0.3.0</apiVersion>'
    b'</about><sessionManager type="SessionManager">SessionManager</sessionManager>'
    b'<perfManager type="PerformanceManager">PerfMgr</perfManager></returnval>'
    b'</RetrieveServiceContentResponse>' + END,
    "inventory": ENV + b'<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><token>1</token>'
    b'<objects><obj type="HostSystem">host-1</obj><propSet><name>name</name><val xsi:type="xsd:string">'
    b'esx1</val></propSet><propSet><name>parent</name><val type="ClusterComputeResource" '
    b'xsi:type="ManagedObjectReference">domain-c1</val></propSet></objects><objects>'
    b'<obj type="VirtualMachine">vm-1</obj><propSet><name>name</name><val>vm1</val></propSet>'
    b'<propSet><name>runtime.host</name><val type="HostSystem">host-1</val></propSet></objects>'
    b'<objects><obj type="ClusterComputeResource">domain-c1</obj><propSet><name>name</name>'
    b'<val>c1</val></propSet><propSet><name>parent</name><val type="Folder">group-h1</val>'
    b'</propSet></objects></returnval></RetrievePropertiesExResponse>' + END,
    "counters": ENV + b'<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects>'
    b'<obj type="PerformanceManager">PerfMgr</obj><propSet><name>perfCounter</name><val>'
    b'<PerfCounterInfo><key>2</key><nameInfo><key>usage</key></nameInfo><groupInfo><key>cpu'
    b'</key></groupInfo><unitInfo><key>percent</key></unitInfo><rollupType>average</rollupType>'
    b'</PerfCounterInfo></val></propSet></objects></returnval></RetrievePropertiesExResponse>' + END,
    "html": b"<html><body><h1>502 Bad Gateway</h1></body></html>",
}
for name, doc in soap.items():
    put("soap_dom", name, doc)

vsan = {
    "perf": ENV + b'<VsanPerfQueryPerfResponse xmlns="urn:vsan"><returnval><entityRefId>'
    b'host-domclient:5e0f343a-87d7-24ad-4ada-43a87d724ada</entityRefId><sampleInfo>'
    b'2026-12-06 14:50:00,2026-12-06 14:55:00</sampleInfo><value><metricId><label>iopsRead'
    b'</label><group>host-domclient</group></metricId><values>12,0.5</values></value>'
    b'</returnval></VsanPerfQueryPerfResponse>' + END,
    "space": ENV + b'<VsanQuerySpaceUsageResponse xmlns="urn:vsan"><returnval><totalCapacityB>'
    b'6597069766656</totalCapacityB><freeCapacityB>4398046511104</freeCapacityB></returnval>'
    b'</VsanQuerySpaceUsageResponse>' + END,
    "resync": ENV + b'<VsanQuerySyncingVsanObjectsResponse xmlns="urn:vsan"><returnval>'
    b'<totalObjectsToSync>3</totalObjectsToSync><totalBytesToSync>12884901888</totalBytesToSync>'
    b'<totalRecoveryETA>600</totalRecoveryETA></returnval></VsanQuerySyncingVsanObjectsResponse>'
    + END,
    "cmmds": ENV + b'<QueryCmmdsResponse xmlns="urn:vim25"><returnval>{&#34;result&#34;:[{'
    b'&#34;uuid&#34;:&#34;h1&#34;,&#34;owner&#34;:&#34;h1&#34;,&#34;content&#34;:{&#34;hostname'
    b'&#34;:&#34;esx1&#34;,&#34;isSsd&#34;:0}}]}</returnval></QueryCmmdsResponse>' + END,
    "fault": FAULT,
}
for name, doc in vsan.items():
    put("vsan", name, doc)

with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
    readme = f.read()
for i, block in enumerate(re.findall(r"```toml\n(.*?)```", readme, re.S)):
    put("config", f"readme-{i}", block.encode())
    uncommented = re.sub(r"^# (\[cluster\]|\w+ = )", r"\1", block, flags=re.M)
    put("config", f"readme-cluster-{i}", uncommented.encode())
put("config", "full", b"""[node]
name = "n1"
listen = "0.0.0.0:7400"
[cluster]
peers = ["10.0.0.1:7400"]
token_env = "HOME"
heartbeat_interval = "100ms"
election_timeout = "300ms"
failure_timeout = "5s"
max_voters = 5
[[vcenter]]
name = "vc1"
url = "https://vc1.example.com/sdk"
username = "u"
password_env = "HOME"
timeout = "60s"
[collect]
interval = "20s"
lookback = "1h"
discovery_interval = "5m"
format = "csv"
max_query_entities = 64
max_query_metrics = 50000
concurrency = 4
vm_counters = ["cpu.usage.average"]
[output]
url = "http://127.0.0.1:8086"
timeout = "10s"
batch_lines = 5000
batch_bytes = 1048576
spool_max_bytes = 1073741824
max_retries = 3
""")
