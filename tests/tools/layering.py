#!/usr/bin/env python3
"""layering.py: who calls whom between ember's object files, and the circles in it.

    layering.py OBJ...        print each circle (a strongly connected set of two or more
                              objects, with the symbols on each edge); exit 1 if any
    layering.py --edges OBJ...  print every edge "a -> b: symbols"

An edge a -> b means a.o uses a function or object b.o defines (nm: U in a, T/D/B/R in b):
a call at link time. Function pointers handed over at run time are not edges, which is
the point: a lower layer reports upward through them.
"""
import os
import subprocess
import sys


def symbols(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "TDBR":
            defined.add(f[2])
        elif len(f) == 2 and f[0] == "U":
            used.add(f[1])
    return defined, used


def graph(objs):
    defs, uses = {}, {}
    for o in objs:
        defs[o], uses[o] = symbols(o)
    owner = {s: o for o in objs for s in defs[o]}
    edges = {}
    for a in objs:
        for s in uses[a]:
            b = owner.get(s)
            if b and b != a:
                edges.setdefault(a, {}).setdefault(b, set()).add(s)
    return edges


def circles(objs, edges):
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
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

    for v in objs:
        if v not in index:
            visit(v)
    return found


def main(argv):
    show_edges = argv[:1] == ["--edges"]
    objs = argv[1:] if show_edges else argv
    edges = graph(objs)
    if show_edges:
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f"{a} -> {b}: {' '.join(sorted(edges[a][b]))}")
        return 0
    found = circles(objs, edges)
    for comp in found:
        print("circle: " + " ".join(comp))
        for a in comp:
            for b in comp:
                if b in edges.get(a, {}):
                    print(f"  {a} -> {b}: {' '.join(sorted(edges[a][b])[:6])}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
