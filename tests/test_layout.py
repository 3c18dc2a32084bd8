"""The package's layout contracts: no import cycles (read from the source with ast,
imports inside functions included), and importing neqsim compiles nothing."""
import ast
import os
import subprocess
import sys
import tempfile
import time

import pytest

import neqsim

ROOT = os.path.dirname(os.path.abspath(neqsim.__file__))


def _modules():
    """{dotted module name: path} of every module of the package."""
    out = {}
    for dirpath, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join(["neqsim"] + rel)] = os.path.join(dirpath, f)
    return out


def import_graph():
    """{module: set of neqsim modules it imports}. ``from P import x`` is an edge to P.x
    when that is a module, else to P; importing P.Q.m also runs the packages P and P.Q
    (edges to them), except the packages that contain the importer itself."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        is_pkg = path.endswith("__init__.py")
        package = name if is_pkg else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("neqsim"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                if not mod.startswith("neqsim"):
                    continue
                for a in node.names:
                    sub = f"{mod}.{a.name}"
                    targets.add(sub if sub in mods else mod)
        edges = set()
        for t in targets:
            parts = t.split(".")
            for i in range(2, len(parts) + 1):
                anc = ".".join(parts[:i])
                if anc in mods and not (name == anc or name.startswith(anc + ".")):
                    edges.add(anc)
            if t == "neqsim" and name != "neqsim":
                edges.add("neqsim")
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                cycle = visit(n)
                if cycle:
                    return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m)
            if cycle:
                return cycle
    return None


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 40 and "neqsim.engine.driver" in graph["neqsim.sampling.annealing"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    """The test can fail: a planted cycle (and the three of 0.1.0's layout) are found."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    old = {"integrators": {"_kernels"}, "_kernels": {"integrators"}}
    assert find_cycle(old) is not None
    graph = import_graph()
    graph["neqsim.dynamics.base"] = graph["neqsim.dynamics.base"] | {"neqsim.engine.driver"}
    assert find_cycle(graph) is not None


def test_layers_point_down():
    """The data path, lower to higher: a module never imports a higher layer."""
    order = ["_numba", "exact", "systems", "protocols", "dynamics", "storage", "engine",
             "analysis", "sampling", "targets", "validation", "bench", "cli"]
    rank = {layer: i for i, layer in enumerate(order)}

    def layer(mod):
        parts = mod.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in rank else None

    bad = []
    for mod, edges in import_graph().items():
        lm = layer(mod)
        for t in edges:
            lt = layer(t)
            if lm is not None and lt is not None and rank[lt] > rank[lm]:
                bad.append(f"{mod} -> {t}")
    assert not bad, "imports pointing up the data path: " + ", ".join(sorted(bad))


def test_import_compiles_nothing_and_is_quick():
    """A fresh process with an empty numba cache imports neqsim in under 3 s, and no
    numba dispatcher compiles (or loads) anything on import."""
    code = ("import time; t = time.perf_counter()\n"
            "import numba.core.dispatcher as d\n"
            "calls = []\n"
            "orig = d.Dispatcher.compile\n"
            "d.Dispatcher.compile = lambda self, sig: calls.append(self) or orig(self, sig)\n"
            "import neqsim\n"
            "print(len(calls), time.perf_counter() - t)\n")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=120)
        wall = time.perf_counter() - t
    assert out.returncode == 0, out.stderr
    n_compiled, t_import = out.stdout.split()
    assert int(n_compiled) == 0
    assert wall < 3.0, f"python -c 'import neqsim' took {wall:.2f} s"


@pytest.mark.parametrize("module", ["neqsim.cli", "neqsim.analysis", "neqsim.storage"])
def test_light_modules_import_without_compiling(module):
    code = ("import numba.core.dispatcher as d\ncalls = []\n"
            "orig = d.Dispatcher.compile\n"
            "d.Dispatcher.compile = lambda self, sig: calls.append(self) or orig(self, sig)\n"
            f"import {module}\nprint(len(calls))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0"]
