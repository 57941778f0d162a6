"""The import rule of the README's layout section, checked on every module's import statements.

common imports none of the project's packages; learner imports only common; actors imports
common and learner.models (to run the network); cluster imports anything. Config modules
import only common and other config modules, so a config error never waits for torch or Ray.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("actors", "common", "learner", "cluster")
CONFIG_MODULES = [
    "actors/tasks/config.py",
    "actors/search/config.py",
    "actors/selfplay/config.py",
    "actors/replay/config.py",
    "actors/evaluator/config.py",
    "learner/config.py",
    "learner/model_config.py",
    "actors/serving/config.py",
]


def imported_modules(path: Path) -> set[str]:
    """Every module named by an import statement of ``path`` (also imports inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def allowed(package: str, module: str) -> bool:
    top = module.split(".")[0]
    if top not in PACKAGES or top == package:
        return True
    if package == "common":
        return False
    if package == "learner":
        return top == "common"
    if package == "actors":
        return (
            top == "common"
            or module == "learner.models"
            or module.startswith(("learner.models.", "learner.model_config"))
        )
    return True


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package):
    wrong = [
        f"{path.relative_to(REPO)} imports {module}"
        for path in sorted((REPO / package).rglob("*.py"))
        for module in sorted(imported_modules(path))
        if not allowed(package, module)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", CONFIG_MODULES)
def test_config_modules_import_only_light_modules(module):
    heavy = [
        name
        for name in imported_modules(REPO / module)
        if name.split(".")[0] in ("torch", "ray")
        or (
            name.split(".")[0] in PACKAGES
            and not (name.startswith("common.") or name.endswith(("config", ".registry")))
        )
    ]
    assert not heavy, f"{module} imports {heavy}"


def test_readme_documents_every_interval_field():
    """The README's metrics table is `cluster.monitor.FIELDS`, row for row."""
    from cluster.monitor import FIELDS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name, unit, meaning in FIELDS:
        assert f"| `{name}` | {unit or '–'} | {meaning} |" in readme, name
