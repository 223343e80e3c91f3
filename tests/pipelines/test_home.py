"""The home: every store cadet writes lies under the one folder, at the place the README gives."""

import ast
from pathlib import Path

from pipelines.home import Home

ROOT = Path(__file__).resolve().parents[2]
STORES = ("lake", "quarantine", "reports", "reviews", "mlflow", "prefect", "tmp", "secrets", "simulated")


def test_every_store_lies_under_the_home_where_the_readme_says(tmp_path):
    home = Home.of(tmp_path / "site")
    assert home.lake == tmp_path / "site" / "lake"
    assert home.quarantine == tmp_path / "site" / "quarantine"
    assert home.report_folder("abc") == tmp_path / "site" / "reports" / "abc"
    assert home.reviews == tmp_path / "site" / "reviews"
    assert home.pseudonym_key == tmp_path / "site" / "secrets" / "pseudonym.key"
    assert home.mlflow_database == (tmp_path / "site").resolve() / "mlflow" / "mlflow.db"
    assert home.artifacts.parent == home.registry_record.parent == home.mlflow
    assert home.prefect == (tmp_path / "site").resolve() / "prefect"
    assert home.lock_file.parent == home.simulated("asterisk").parent.parent == home.root


def test_a_relative_home_is_made_absolute_once_and_a_home_passes_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    home = Home.of("cadet-data")
    assert home.root == tmp_path / "cadet-data" and Home.of(home) is home
    assert str(home) == str(tmp_path / "cadet-data") and Path(home) == home.root


def test_no_module_but_the_home_names_a_store_under_it():
    """`home / "lake"` anywhere else would be a second place the layout is declared."""
    found = []
    for path in sorted((ROOT / "pipelines").rglob("*.py")):
        if path.name == "home.py" or "simulator" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant)
                    and node.right.value in STORES and "home" in ast.unparse(node.left).lower()):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "paths under the home are Home's to name:\n" + "\n".join(found)
