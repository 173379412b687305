#!/usr/bin/env python3
"""Prints the import graph of a crate's top-level modules and every import cycle in it.

A module's edges are the crate modules it names in `use crate::...` lines, `crate::x::` paths
and `super::` paths that leave it. Test code is left out: `#[cfg(test)]` modules (inline or in
files of their own, such as `tests.rs`, `testdb.rs` or a test fixture) and everything below
them. A cycle is a strongly connected component of two or more modules, of any length.

Usage: scripts/module-graph.py [SRC ...]   (default: every crate's src folder)
Exits 1 when a cycle is found, so it can guard the structure."""
import os
import re
import sys

CFG_TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*([;{])")


def module_of(src, path):
    parts = os.path.relpath(path, src)[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        parts = []
    return tuple(parts)


def load(src):
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                files[module_of(src, p)] = open(p, encoding="utf-8").read()
    test_only = set()
    for mod, text in files.items():
        for m in CFG_TEST_MOD.finditer(text):
            test_only.add(mod + (m.group(1),))
    kept = {}
    for mod, text in files.items():
        if any(mod[: len(t)] == t for t in test_only):
            continue
        m = CFG_TEST_MOD.search(text)
        while m and m.group(2) == ";":
            m = CFG_TEST_MOD.search(text, m.end())
        kept[mod] = text[: m.start()] if m else text
    return kept


def references(mod, text):
    text = re.sub(r"//[^\n]*", "", text)
    out = set()
    for group in re.findall(r"crate::\{([^;]*?)\};", text, re.S):
        for part in group.split(","):
            name = part.strip().split("::")[0].strip("{} \n")
            if name and name != "self":
                out.add(name)
    out.update(re.findall(r"crate::([a-z_][a-z0-9_]*)", text))
    for chain in re.findall(r"((?:super::)+)([a-z_][a-z0-9_]*)", text):
        ups = chain[0].count("super::")
        base = mod[: len(mod) - ups]
        target = base + (chain[1],)
        out.add(target[0] if target else chain[1])
    return out


def graph(src):
    mods = load(src)
    tops = {m[0] for m in mods if m}
    edges = {t: set() for t in tops}
    for mod, text in mods.items():
        if not mod:
            continue
        me = mod[0]
        for name in references(mod, text):
            if name in tops and name != me:
                edges[me].add(name)
    return edges


def cycles(edges):
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
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
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main():
    srcs = sys.argv[1:] or sorted(d + "/src" for d in os.listdir(".") if os.path.isfile(os.path.join(d, "Cargo.toml")) and os.path.isdir(d + "/src"))
    bad = False
    for src in srcs:
        edges = graph(src)
        print(f"== {src}")
        for m in sorted(edges):
            print(f"  {m:<16} -> {', '.join(sorted(edges[m])) or '(none)'}")
        found = cycles(edges)
        print(f"  cycles: {found if found else 'none'}")
        bad = bad or bool(found)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
