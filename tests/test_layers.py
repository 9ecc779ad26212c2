"""The layers of DESIGN.md hold: import-linter's contracts (pyproject.toml) are kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken" in result.stdout


def test_contract_catches_a_forbidden_import(tmp_path: Path) -> None:
    """A copy of the tree where campaigns imports dispatcher must break the contract."""
    import shutil

    for package in ("api", "dispatcher", "channels", "templates", "campaigns"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "defaults"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "campaigns" / "sneaky.py").write_text("import dispatcher.runtime.settings\n")
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "campaigns.sneaky -> dispatcher.runtime.settings" in result.stdout


def test_the_runtime_pieces_import_one_way() -> None:
    """The task list does not import the Celery app back, nor the runtime the work queues."""
    import grimp

    graph = grimp.build_graph("dispatcher")
    assert graph.chain_exists(importer="dispatcher.runtime.celery_app", imported="dispatcher.runtime.tasks")
    assert not graph.chain_exists(importer="dispatcher.runtime.tasks", imported="dispatcher.runtime.celery_app")
    assert graph.chain_exists(importer="dispatcher.runtime.work", imported="dispatcher.runtime.core")
    assert not graph.chain_exists(importer="dispatcher.runtime.core", imported="dispatcher.runtime.work")
