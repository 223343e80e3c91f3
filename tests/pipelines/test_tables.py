"""The lake's catalog: one declaration per table, and every stage's reads and writes name a table it declares."""

import ast
from pathlib import Path

import pytest

from pipelines.readers.asterisk import CARRY_COLUMNS as ASTERISK_CARRY_COLUMNS
from pipelines.readers.connect import CARRY_COLUMNS as CONNECT_CARRY_COLUMNS
from pipelines.tables import CATALOG, DERIVED_TABLES, INPUT_TABLES, Role

ROOT = Path(__file__).resolve().parents[2]
LAKE_METHODS = {"read", "days", "write", "upsert", "partition"}


def test_every_input_table_and_the_derived_ones_a_stage_checks_have_their_pandera_model():
    from pipelines import contracts

    assert [CATALOG[name].model for name in INPUT_TABLES] == list(contracts.INPUT_MODELS)
    assert {name: CATALOG[name].model for name in DERIVED_TABLES if CATALOG[name].model} == {
        "rep_day_features": contracts.RepDaySums, "rep_window_features": contracts.RepWindowFeatures,
        "rule_hits": contracts.RuleHits}
    assert CATALOG["calls"].contract is contracts.SCHEMAS["calls"], "ingest and the readers hold rows to one schema"


@pytest.mark.parametrize("name", INPUT_TABLES)
def test_an_input_tables_key_and_day_are_columns_its_contract_requires(name):
    table = CATALOG[name]
    required = {c for c, column in table.contract.columns.items() if not column.nullable}
    assert set(table.key) <= required, "a key column may never be empty, or two records would share a key"
    assert table.day_column is None or table.day_column in table.contract.columns


def test_the_carry_tables_store_every_column_the_readers_carry():
    """A column the reader carries but the table does not store would be lost between two nightly runs."""
    assert CATALOG["asterisk_carry"].storage.names == ASTERISK_CARRY_COLUMNS
    assert CATALOG["connect_carry"].storage.names == CONNECT_CARRY_COLUMNS
    assert all(CATALOG[name].role is Role.DERIVED and CATALOG[name].day_column for name in DERIVED_TABLES)


def test_every_lake_table_a_stage_names_is_in_the_catalog():
    """A misspelt table name would read as an empty table, silently: every literal name must be a declared table."""
    unknown = []
    for path in sorted([*(ROOT / "pipelines").rglob("*.py"), *(ROOT / "simulator").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LAKE_METHODS
                    and "lake" in ast.unparse(node.func.value).lower() and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                    and node.args[0].value not in CATALOG):
                unknown.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not unknown, "\n".join(unknown)
