"""The project's floor plan in figures (issue 13): which packages import which, how many imports hide
inside functions, which files hold SQL, how many ``Scope`` types exist.

    .venv/bin/python scripts/floorplan.py            # a table
    .venv/bin/python scripts/floorplan.py --json     # the same figures as JSON

The layers the project means to have, lowest first (a package may import only packages of its own layer
or below): the kernel ``hcp`` (without its roof modules) → ``warehouse`` → ``ingest``, ``metrics``,
``supervision`` → ``models`` → ``reports``, ``dashboard`` → the roof (``hcp.cli``, ``hcp.serve``,
``hcp.demo``, every package's ``cli.py``). An import from a lower layer into a higher one is *upward*.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("hcp", "warehouse", "ingest", "metrics", "supervision", "models", "reports", "dashboard")
#: layer of each package (the roof is layer 9).
LAYER = {"hcp": 0, "warehouse": 1, "ingest": 2, "metrics": 2, "supervision": 2, "models": 3,
         "reports": 4, "dashboard": 4}
ROOF_LAYER = 9
ROOF_MODULES = ("hcp.cli", "hcp.serve", "hcp.demo", "hcp.admin", "hcp.calendar_cli", "hcp.options")
#: The query layer: the only place SQL is written (DDL and the facade's plumbing included).
QUERY_LAYER = "warehouse/"
#: A comment on an import inside a function that says why it is there (keeping ``hcp --help`` fast, an
#: optional heavy dependency); such imports are counted apart.
JUSTIFIED = re.compile(r"#.*(--help|lazy|heavy|optional|startup|cycle)", re.IGNORECASE)
#: A comment at the top level of a CLI module saying its commands import their stage inside themselves to keep
#: ``hcp --help`` fast (``hcp --help`` imports every command module) justifies all of that module's.
JUSTIFIED_MODULE = re.compile(r"^#.*inside the commands.*\n?#?.*--help.? fast|^#.*to keep\s+`?hcp --help`? fast",
                              re.IGNORECASE | re.MULTILINE)
SQL = re.compile(r"\b(SELECT\b[\s\S]*?\bFROM|INSERT\s+INTO|ALTER\s+TABLE|CREATE\s+TABLE|OPTIMIZE\s+TABLE)\b",
                 re.IGNORECASE)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """The layer of a module: the roof for CLIs, ``hcp serve`` and the demo generator, else its package's."""
    if module.startswith(ROOF_MODULES) or module.split(".")[-1] == "cli":
        return ROOF_LAYER
    return LAYER.get(module.split(".")[0], ROOF_LAYER)


def imports(tree: ast.AST, module: str):
    """(imported module, inside a function?) for every import of a project package."""
    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, in_function
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".")[: -child.level] if child.level else []
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:
                    yield (f"{target}.{alias.name}" if child.module is None or child.level else target), in_function
            yield from visit(child, inner)
    for target, in_function in visit(tree, False):
        if target.split(".")[0] in PACKAGES:
            yield target, in_function


def is_type_checking(node) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def survey() -> dict:
    files = [p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))]
    edges, upward, inner_imports, sql_files, scopes = Counter(), [], [], {}, []
    inner_statements, justified = set(), set()
    for path in files:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        module = module_name(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Scope"):
                scopes.append(f"{module}.{node.name}")
        type_only = {id(n) for t in ast.walk(tree) if is_type_checking(t) for n in ast.walk(t)}
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        hits = sum(len(SQL.findall(s)) for s in strings)
        if hits:
            sql_files[str(path.relative_to(REPO))] = hits
        lines = source.splitlines()
        for target, in_function in imports(tree, module):
            source_pkg, target_pkg = module.split(".")[0], target.split(".")[0]
            if in_function:
                inner_imports.append(f"{module} → {target}")
            if source_pkg != target_pkg:
                edges[(source_pkg, target_pkg)] += 1
            if layer_of(target) > layer_of(module):
                upward.append(f"{module} → {target}")
        del type_only
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for child in ast.walk(node):
                    if isinstance(child, (ast.Import, ast.ImportFrom)):
                        inner_statements.add(f"{module}:{child.lineno}")
                        if JUSTIFIED.search(lines[child.lineno - 1]) or JUSTIFIED_MODULE.search(source):
                            justified.add(f"{module}:{child.lineno}")

    pairs = sorted({tuple(sorted(e)) for e in edges})
    return {
        "python_files": len(files),
        "package_pairs_importing": len(pairs),
        "package_pairs_possible": len(PACKAGES) * (len(PACKAGES) - 1) // 2,
        "upward_imports": sorted(set(upward)),
        "imports_inside_functions": len(inner_imports),
        "import_statements_inside_functions": len(inner_statements),
        "import_statements_inside_functions_justified": len(justified),
        "import_statements_inside_functions_unexplained": sorted(inner_statements - justified),
        "files_with_sql": dict(sorted(sql_files.items(), key=lambda kv: -kv[1])),
        "files_with_sql_outside_query_layer": sorted(f for f in sql_files if not f.startswith(QUERY_LAYER)),
        "scope_types": scopes,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = survey()
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return 0
    print(f"python files                    {figures['python_files']}")
    print(f"package pairs importing         {figures['package_pairs_importing']} of {figures['package_pairs_possible']}")
    print(f"upward imports                  {len(figures['upward_imports'])}")
    by_pair = defaultdict(int)
    for edge in figures["upward_imports"]:
        src, dst = edge.split(" → ")
        by_pair[(src.split(".")[0], dst.split(".")[0] if not dst.startswith(ROOF_MODULES) else dst)] += 1
    for (src, dst), n in sorted(by_pair.items()):
        print(f"    {src:12} → {dst:18} {n}")
    print(f"imports inside functions        {figures['imports_inside_functions']} names of project modules; "
          f"{figures['import_statements_inside_functions']} statements, "
          f"{figures['import_statements_inside_functions_justified']} with a comment saying why")
    print(f"files with SQL                  {len(figures['files_with_sql'])}"
          f"  ({len(figures['files_with_sql_outside_query_layer'])} outside {QUERY_LAYER})")
    for name, n in figures["files_with_sql"].items():
        print(f"    {name:40} {n}")
    print(f"Scope types                     {len(figures['scope_types'])}: {', '.join(figures['scope_types'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
