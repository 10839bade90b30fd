"""The type stubs of the compiled modules (_core.pyi, _regions.pyi) match the modules.

Every public name of sigprop._core and sigprop._regions has a stub and every public
stub name exists; functions take the same parameters, in the same order, with
defaults in the same places; classes have the same public members; module
constants have the stub's type. The stubs and py.typed sit beside the installed
package (so a wheel that lost them fails here).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import types
from pathlib import Path

import pytest

import sigprop

PACKAGE = Path(sigprop.__file__).parent
MODULES = ["_core", "_regions"]


def public(names):
    return {n for n in names if not n.startswith("_")}


def stub_tree(name: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{name}.pyi").read_text(encoding="utf-8"))


def stub_definitions(tree: ast.Module) -> dict[str, ast.stmt]:
    out: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node
    return out


def runtime_public(module: types.ModuleType) -> set[str]:
    """Public names the module defines (not modules it imported, such as np)."""
    return {n for n in public(dir(module)) if not isinstance(getattr(module, n), types.ModuleType)}


def split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def runtime_parameters(func) -> list[tuple[str, bool]]:
    """(name, has default) of each parameter: from inspect.signature (Cython), else
    from the signature line pybind11 writes at the top of the docstring."""
    try:
        sig = inspect.signature(func)
    except (ValueError, TypeError):
        sig = None
    if sig is not None:
        return [(p.name, p.default is not inspect.Parameter.empty) for p in sig.parameters.values()]
    first = (func.__doc__ or "").splitlines()[0]
    assert first.startswith(func.__name__ + "("), f"no signature line in {func.__name__}.__doc__"
    inner = first[len(func.__name__) + 1 : first.rindex(") ->")]
    out = []
    for part in split_top_level(inner):
        name = part.split(":", 1)[0].split("=", 1)[0].strip()
        out.append((name, "=" in part))
    return out


def stub_parameters(node: ast.FunctionDef) -> list[tuple[str, bool]]:
    args = [*node.args.posonlyargs, *node.args.args]
    n_defaults = len(node.args.defaults)
    plain = [(a.arg, i >= len(args) - n_defaults) for i, a in enumerate(args)]
    kw = [
        (a.arg, d is not None)
        for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
    ]
    return plain + kw


@pytest.mark.parametrize("name", MODULES)
def test_stub_files_ship_with_the_package(name):
    assert (PACKAGE / f"{name}.pyi").is_file()
    assert (PACKAGE / "py.typed").is_file()


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_has_a_stub_and_back(name):
    module = importlib.import_module(f"sigprop.{name}")
    stubbed = public(stub_definitions(stub_tree(name)))
    present = runtime_public(module)
    assert present - stubbed == set(), f"sigprop.{name}: names without a stub"
    assert stubbed - present == set(), f"{name}.pyi: stubs of names the module lacks"


@pytest.mark.parametrize("name", MODULES)
def test_stub_signatures_match(name):
    module = importlib.import_module(f"sigprop.{name}")
    defs = stub_definitions(stub_tree(name))
    checked = 0
    for n, node in defs.items():
        if n.startswith("_") or not isinstance(node, ast.FunctionDef):
            continue
        assert stub_parameters(node) == runtime_parameters(getattr(module, n)), n
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("name", MODULES)
def test_stub_classes_and_constants_match(name):
    module = importlib.import_module(f"sigprop.{name}")
    kinds = {"bool": bool, "int": int, "float": float, "str": str}
    for n, node in stub_definitions(stub_tree(name)).items():
        if n.startswith("_"):
            continue
        value = getattr(module, n)
        if isinstance(node, ast.ClassDef):
            members = {
                b.name for b in node.body if isinstance(b, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            members |= {
                b.target.id
                for b in node.body
                if isinstance(b, ast.AnnAssign) and isinstance(b.target, ast.Name)
            }
            assert public(members) == public(dir(value)), n
        elif isinstance(node, ast.AnnAssign):
            ann = ast.unparse(node.annotation)
            base = ann.removeprefix("Final[").removesuffix("]")
            assert base in kinds, f"{name}.pyi: {n}: {ann} is not checked here"
            # bool is an int: require the exact type
            assert type(value) is kinds[base], f"{n}: {type(value).__name__}, stub says {ann}"
