"""The house rules, checked: no import cycle among the project's modules (lazy imports inside functions
count too), the library never imports a script, small functions and modules, every Python file named in
the docs."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def project_files():
    folders = [ROOT, ROOT / "fbnet_pfld", ROOT / "tools"]
    return sorted(p for folder in folders for p in folder.glob("*.py"))


def module_name(path):
    relative = path.relative_to(ROOT).with_suffix("")
    return ".".join(relative.parts)


def imported_modules(path, known):
    """Project modules ``path`` imports anywhere in its body (``from a.b import c`` counts a.b, or a.b.c when
    that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return found & known


def import_graph():
    files = {module_name(p): p for p in project_files()}
    known = set(files)
    return {name: imported_modules(path, known) - {name} for name, path in files.items()}


def find_cycle(graph):
    """One import cycle as a list of modules, or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()))


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_library_never_imports_a_script_or_a_tool():
    for name, targets in import_graph().items():
        if name.startswith("fbnet_pfld"):
            outside = [t for t in targets if not t.startswith("fbnet_pfld")]
            assert not outside, f"{name} imports {outside}"


def test_small_functions_and_modules():
    too_long = []
    for path in [*project_files(), *sorted((ROOT / "tests").glob("*.py"))]:
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES and path.parent.name != "tests":
            too_long.append(f"{path.name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.name}:{node.lineno} {node.name}: {lines} lines")
    assert not too_long, too_long


def test_every_python_file_is_named_in_the_docs():
    docs = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    files = [*project_files(), *sorted((ROOT / "tests").glob("*.py"))]
    missing = [str(p.relative_to(ROOT)) for p in files if p.name != "__init__.py" and p.name not in docs]
    assert not missing, f"not named in README.md or docs/: {missing}"
