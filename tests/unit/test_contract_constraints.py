"""Every check constraint of a model's contract names only the contract's columns.

The project sets an enforced contract's check constraints as Delta table properties in the
create statement (macros/contract_constraints.sql), not with ``alter table ... add
constraint``, which would refuse an unknown column by name. So a typo there (``count_pin >= 1``
over a column ``count_pins``, a contributor's trial) is not reported as an unknown column: Delta
reads the unknown name as null and the build fails with "CHECK constraint ... violated by row
with values: - count_pin : null" and a Java stack trace, which reads as bad data. This test
names the typo instead, before any build.
"""

from __future__ import annotations

import re

import pytest
import yaml

from pinlake.config import REPO_ROOT

#: Words of Spark SQL a check expression may hold besides column names and function calls.
SQL_WORDS = frozenset(
    "and or not is null true false in between like rlike ilike case when then else end"
    " distinct cast as int bigint smallint tinyint string double float decimal boolean date"
    " timestamp interval".split()
)


def unknown_columns(expression: str, columns: set[str]) -> set[str]:
    """The names in ``expression`` that are neither one of ``columns`` nor Spark SQL's words:
    string literals left out, a name followed by ``(`` a function, ``a.b`` and backticks read
    as the name."""
    text = re.sub(r"'(?:[^'\\]|\\.)*'", "''", expression).replace("`", "")
    names = {m.group(1) for m in re.finditer(r"\b([A-Za-z_]\w*)\b(?!\s*\()", text)}
    return {n for n in names if n.lower() not in SQL_WORDS and n not in columns}


def _check_constraints() -> list[tuple[str, str, str, set[str]]]:
    """``(yaml file, model, expression, contract columns)`` of every check constraint of the
    project's models, the model's and its columns'."""
    found = []
    for path in sorted((REPO_ROOT / "models").rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
            columns = model.get("columns") or []
            names = {c["name"] for c in columns}
            constraints = list(model.get("constraints") or [])
            for column in columns:
                constraints += column.get("constraints") or []
            for constraint in constraints:
                if constraint.get("type") == "check":
                    where = str(path.relative_to(REPO_ROOT))
                    found.append((where, model["name"], constraint["expression"], names))
    return found


CHECKS = _check_constraints()


def test_the_project_has_check_constraints_to_read() -> None:
    assert len(CHECKS) >= 10  # the marts' contracts; an empty list would check nothing
    assert all(columns for *_, columns in CHECKS)


@pytest.mark.parametrize(("path", "model", "expression", "columns"), CHECKS)
def test_a_check_constraint_names_only_its_models_columns(
    path: str, model: str, expression: str, columns: set[str]
) -> None:
    unknown = unknown_columns(expression, columns)
    assert not unknown, (
        f"{path}: a check constraint of {model} names {', '.join(sorted(unknown))}, not a"
        f" column of its contract ({', '.join(sorted(columns))}): {expression!r}"
    )


@pytest.mark.parametrize(
    ("expression", "unknown"),
    [
        ("count_pin >= 1", {"count_pin"}),  # the contributor's typo
        ("count_pins >= 1", set()),
        ("save_location is null or not startswith(save_location, 'Local save in')", set()),
        ("`count_pins` between 1 and 10 and category != 'a b_c'", set()),
        ("length(category) > 0 and categry is not null", {"categry"}),
    ],
)
def test_unknown_columns_reads_names_not_literals_or_functions(
    expression: str, unknown: set[str]
) -> None:
    columns = {"count_pins", "category", "save_location"}
    assert unknown_columns(expression, columns) == unknown
