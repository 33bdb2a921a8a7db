#!/usr/bin/env python3
"""The crate's structure rules, checked from the source alone (no build, no network):

* the file-level import graph of src/ has no cycle (edges from `use crate::…`, `use super::…`
  and `crate::…`/`super::…` paths in code; test code is ignored);
* the data plane (vsphere, collect, sink) does not import the control plane (cluster), and the
  control plane does not import the vSphere client: what both need lives in `contract`;
* no function is longer than 100 lines (test code excluded).

Known offenders still being split are listed in scripts/structure-allow.txt (one finding per
line, exactly as printed); anything else fails. A listed finding that no longer occurs is
reported so the list only shrinks.

Usage: scripts/structure.py [SRC_DIR]   (exit 1 on a new finding)
"""
import os
import re
import sys

LIMIT = 100
here = os.path.dirname(os.path.abspath(__file__))
src = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "src"))
allow_file = os.path.join(here, "structure-allow.txt")


def module_of(path):
    parts = os.path.relpath(path, src)[:-3].split(os.sep)
    return tuple(parts[:-1] if parts[-1] in ("mod", "lib", "main") else parts)


files = {}
for d, _, names in os.walk(src):
    for f in names:
        if f.endswith(".rs"):
            files[module_of(os.path.join(d, f))] = os.path.join(d, f)


def code_of(path):
    """The file without its tests and comments."""
    if os.path.basename(path) == "tests.rs":
        return ""
    text = open(path, encoding="utf-8").read()
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def target(parts):
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in files:
            return tuple(parts[:n])
    return None


PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_]\w*)+)")
GROUP = re.compile(r"\buse\s+(crate|super)((?:::[A-Za-z_]\w*)*)::\{([^;]*)\}", re.S)
edges = {}
for mod, path in files.items():
    text = re.sub(r"//[^\n]*", "", code_of(path))
    parent = list(mod[:-1])
    found = set()

    def add(root, rest):
        parts = [p for p in rest.split("::") if p]
        base = [] if root == "crate" else list(parent)
        while parts and parts[0] == "super":
            base, parts = base[:-1], parts[1:]
        t = target(base + parts)
        if t and t != mod and tuple(base + parts[:1]) != mod:
            found.add(t)

    for m in GROUP.finditer(text):
        root, prefix, inner = m.groups()
        for item in re.split(r"[,\s]+", re.sub(r"\{[^}]*\}", "", inner)):
            if item.strip() and item.strip() != "self":
                add(root, prefix + "::" + item.split(" as ")[0])
        add(root, prefix)
    for m in PATH.finditer(text):
        add(m.group(1), m.group(2))
    # a module declaring its children does not import them
    edges[mod] = {t for t in found if t[:-1] != mod}

findings = []
name = lambda m: os.path.relpath(files[m], os.path.dirname(src))

# Cycles: Tarjan's strongly connected components.
index, low, stack, on = {}, {}, [], set()
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            findings.append("cycle: " + " <-> ".join(sorted(name(m) for m in comp)))


for v in sorted(files):
    if v not in index:
        visit(v)

for a, ts in sorted(edges.items()):
    for b in sorted(ts):
        if a and b and a[0] in ("vsphere", "collect", "sink") and b[0] == "cluster":
            findings.append(f"plane: {name(a)} -> {name(b)}")
        if a and b and a[0] == "cluster" and b[0] == "vsphere":
            findings.append(f"plane: {name(a)} -> {name(b)}")

FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:unsafe\s+)?(?:const\s+)?fn\s+(\w+)")
for mod, path in sorted(files.items()):
    lines = code_of(path).split("\n")
    i = 0
    while i < len(lines):
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            line = re.sub(r'"(?:\\.|[^"\\])*"', '""', re.sub(r"//.*", "", lines[j]))
            line = re.sub(r"'(?:\\.|[^'\\])'", "''", line)
            for ch in line:
                if ch == "{":
                    depth, started = depth + 1, True
                elif ch == "}":
                    depth -= 1
            if (started and depth <= 0) or (not started and line.rstrip().endswith(";")):
                break
            j += 1
        if started and j - i + 1 > LIMIT:
            findings.append(f"long fn: {name(mod)} {m.group(1)}")
        i = j + 1 if started else i + 1

allowed = set()
if os.path.exists(allow_file):
    for line in open(allow_file, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#"):
            allowed.add(line)
new = [f for f in findings if f not in allowed]
gone = sorted(allowed - set(findings))
for f in findings:
    print(("allowed " if f in allowed else "NEW     ") + f)
for f in gone:
    print("fixed   " + f + "  (remove it from scripts/structure-allow.txt)")
print(f"structure: {len(files)} files, {len(findings)} findings, {len(new)} new")
sys.exit(1 if new else 0)
