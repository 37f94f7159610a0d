"""The house of DESIGN.md: which top-level package may import which (tests, bench and
migrations aside). A forbidden import anywhere, at module level or inside a function, fails."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("oidc", "bff", "accounts", "pages", "config", "idp", "demo")
ALLOWED = {
    "oidc": set(),
    "bff": {"oidc"},
    "accounts": {"bff", "oidc"},
    "pages": {"bff", "oidc"},
    "config": {"oidc", "bff", "accounts", "pages"},
    "idp": set(),
    "demo": set(),
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name.split(".")[0] for name in names} & set(PACKAGES)


def modules(package: str) -> list[Path]:
    return [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_the_house_allows(package):
    forbidden = {
        str(path.relative_to(ROOT)): sorted(found)
        for path in modules(package)
        if (found := imported_packages(path) - ALLOWED[package] - {package})
    }
    assert forbidden == {}, f"{package} may import only {sorted(ALLOWED[package])}"


def test_the_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from accounts.models import User\n    import bff.sessions\n")
    assert imported_packages(module) == {"accounts", "bff"}
