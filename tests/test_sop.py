from pathlib import Path

import pytest

from company.sop import SOP_DIR, SOPError, load_sop, parse_sop


def test_every_shipped_sop_loads():
    names = sorted(p.stem for p in SOP_DIR.glob("*.yaml"))
    assert "default" in names
    for name in names:
        sop = load_sop(name)
        assert sop.roles and sop.digest


def test_unknown_role_names_file_and_line():
    text = "name: x\nroles:\n  - name: Analyst\n  - name: Wizard\n"
    with pytest.raises(SOPError, match=r"my\.yaml:4: roles\.1\.name: unknown role 'Wizard'"):
        parse_sop(text, source="my.yaml")


def test_unknown_action_in_watch_names_the_line():
    text = "name: x\nroles:\n  - name: Analyst\n    watch: [UserRequirement, Dance]\n"
    with pytest.raises(SOPError, match=r"x\.yaml:4: roles\.0\.watch: unknown action 'Dance'"):
        parse_sop(text, source="x.yaml")


def test_unknown_field_names_its_line():
    text = "name: x\nroles:\n  - name: Analyst\nlimits:\n  n_round: 3\n  speed: 9\n"
    with pytest.raises(SOPError, match=r"x\.yaml:6: limits\.speed: unknown field 'speed'"):
        parse_sop(text, source="x.yaml")


def test_bad_yaml_and_missing_file(tmp_path: Path):
    with pytest.raises(SOPError, match=r"b\.yaml:[23]: not valid YAML"):
        parse_sop("name: x\nroles: [\n", source="b.yaml")
    with pytest.raises(SOPError, match="no such SOP file"):
        load_sop(str(tmp_path / "nope.yaml"))


def test_react_mode_is_validated():
    text = "name: x\nroles:\n  - name: Analyst\n    react_mode: chaos\n"
    with pytest.raises(SOPError, match=r":4: roles\.0\.react_mode"):
        parse_sop(text, source="x.yaml")


@pytest.mark.parametrize("value", [".inf", ".nan", "-1"])
def test_sop_investment_must_be_finite_and_positive(value: str):
    text = f"name: x\nroles:\n  - name: Analyst\nlimits: {{investment: {value}}}\n"
    with pytest.raises(SOPError, match="investment"):
        parse_sop(text, source="x.yaml")
