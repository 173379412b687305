#!/usr/bin/env python3
"""Prints the module import graph of a crate's src folder (module -> modules of the crate it
names in `use crate::...` lines and `crate::x::` paths, tests left out) and every import cycle
(strongly connected component of any length). Usage: scripts/module-graph.py [broker/src]"""
import os, re, sys
src = sys.argv[1] if len(sys.argv) > 1 else "broker/src"
mods = {}
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"): continue
        p = os.path.join(root, f)
        rel = os.path.relpath(p, src)[:-3]
        name = rel.replace("/mod", "").replace("/", "::")
        if name == "lib": name = "lib"
        mods[name] = open(p).read()
top = {m.split("::")[0] for m in mods if m != "lib"}
def strip_tests(text):
    m = re.search(r"#\[cfg\(test\)\]\s*mod tests\b", text)
    return text if m is None else text[:m.start()]
graph = {}
for m, text in mods.items():
    deps = set()
    body = strip_tests(text)
    # use crate::{a, b::c, ...}; use crate::a::...; crate::a:: in code
    for grp in re.findall(r"crate::\{([^;]*?)\}", body, re.S):
        for part in re.split(r",", grp):
            w = part.strip().split("::")[0].strip()
            if w: deps.add(w)
    for w in re.findall(r"crate::([a-z_][a-z0-9_]*)", body):
        deps.add(w)
    for w in re.findall(r"super::([a-z_][a-z0-9_]*)", body):
        if "::" in m: deps.add(m.split("::")[0] + "::" + w)
    if m == "lib":
        deps.update(re.findall(r"^pub use ([a-z_][a-z0-9_]*)::", body, re.M))
    me = m.split("::")[0]
    deps = {d for d in deps if (d in top or d in mods) and d != me and d != m}
    # names from lib.rs (Broker, BrokerError) count as lib
    if re.search(r"crate::(\{[^}]*\b(Broker|BrokerError)\b|Broker\b|BrokerError\b)", body): deps.add("lib")
    graph[m] = sorted(deps)
for m in sorted(graph):
    print(f"{m:16} -> {', '.join(graph[m]) or '(none)'}")
# collapse to top-level modules for cycle search (lib excluded: it declares every module)
g = {}
for m, ds in graph.items():
    a = m.split("::")[0]
    g.setdefault(a, set()).update(d.split("::")[0] for d in ds if d.split("::")[0] != a)
# Tarjan SCC
idx, low, st, on, out, n = {}, {}, [], set(), [], [0]
def sc(v):
    idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
    for w in g.get(v, ()):
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        c = []
        while True:
            w = st.pop(); on.discard(w); c.append(w)
            if w == v: break
        if len(c) > 1: out.append(sorted(c))
sys.setrecursionlimit(10000)
for v in list(g): 
    if v not in idx: sc(v)
print("cycles (strongly connected components of any length; lib = the crate root):", out or "none")
