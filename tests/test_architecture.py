"""The layers of docs/architecture.md, held by the imports: a lower layer never imports a higher one.

Every import counts, the ones inside functions too (they are how a command
avoids loading what it does not use, not a way round the layers).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOWS_AND_EDGES = {"pipelines.cli", "pipelines.run", "pipelines.schedule", "pipelines.ingest", "pipelines.features_flow",
                   "pipelines.training", "pipelines.scoring", "pipelines.report", "pipelines.inspect"}
SERVICES = ("prefect", "mlflow", "skops")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package: list[str]) -> set[str]:
    """Absolute module names a file of `package` imports, relative imports resolved."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def _modules(*packages: str) -> dict[str, set[str]]:
    found = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = _module(path).split(".")
            found[".".join(name)] = _imports(path, name if path.name == "__init__.py" else name[:-1])
    return found


def _within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_features_and_models_are_pure_and_import_no_edge():
    for module, imported in _modules("features", "models").items():
        bad = sorted(m for m in imported if _within(m, ("pipelines", *SERVICES)))
        assert not bad, f"{module} imports {bad}: features/ and models/ are pure functions and estimators over tables"
    for module, imported in _modules("features").items():
        assert not [m for m in imported if _within(m, ("models",))], f"{module}: features come before models"


def test_readers_know_the_data_model_and_nothing_of_the_flows():
    allowed = ("pipelines.config", "pipelines.contracts", "pipelines.privacy", "pipelines.readers")
    for module, imported in _modules("pipelines/readers").items():
        bad = sorted(m for m in imported if _within(m, ("pipelines",)) and not _within(m, allowed))
        bad += sorted(m for m in imported if _within(m, SERVICES))
        assert not bad, f"{module} imports {bad}: a reader turns a platform's files into cadet's tables, nothing more"


def test_the_simulator_is_an_application_on_cadets_data_model_and_cadet_never_imports_it():
    # cadet's data model and settings, the pure domain's catalogue, and atomic writes (its files are whole or absent)
    data_model = ("pipelines.config", "pipelines.contracts", "pipelines.tables", "pipelines.home", "pipelines.storage", "features")
    for module, imported in _modules("simulator").items():
        if module == "simulator.cli":  # its commands run on top of cadet's, like any user of the CLI
            continue
        bad = sorted(m for m in imported if _within(m, ("pipelines", "models", *SERVICES)) and not _within(m, data_model))
        assert not bad, f"{module} imports {bad}: the simulator writes logs on cadet's data model, it does not run cadet"
    for module, imported in _modules("pipelines", "features", "models").items():
        assert not [m for m in imported if _within(m, ("simulator",))], \
            f"{module} imports the simulator: cadet must run without it (its commands come through an entry point)"


def test_the_reports_views_and_plots_read_and_write_nothing():
    stores = ("pipelines.lake", "pipelines.storage", "pipelines.review", "pipelines.home", "pipelines.tracking", "mlflow",
              "pyarrow.parquet", "jinja2")
    for module in ("pipelines.report.views", "pipelines.report.plots"):
        imported = _modules("pipelines/report")[module]
        bad = sorted(m for m in imported if _within(m, stores))
        assert not bad, f"{module} imports {bad}: a view is made from what `data` read, and drawn by `render`"


@pytest.mark.parametrize("lower", sorted(FLOWS_AND_EDGES - {"pipelines.cli"}))
def test_no_flow_imports_the_command_line(lower):
    imported = _modules("pipelines")[lower]
    assert not [m for m in imported if _within(m, ("pipelines.cli",))], f"{lower} imports the CLI, the top layer"


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path):
    sample = tmp_path / "probe.py"
    sample.write_text("def f():\n    from pipelines import cli\n\nfrom ..readers import asterisk\n")
    assert {"pipelines.cli", "pipelines.readers.asterisk"} <= _imports(sample, ["pipelines", "simulator"])
