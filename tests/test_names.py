"""Names in SOP files: shipped roles and actions by name, anything else by import path; clear
errors for what cannot be resolved; one class per action name; path_of for hired roles."""

from __future__ import annotations

import re

import pytest

from actions.analyze_request import AnalyzeRequest
from actions.review_results import ReviewResults
from actions.run_graphs import RunGraphs
from actions.summarize_results import SummarizeResults
from actions.transcribe import Transcribe
from actions.write_plan import WritePlan
from company.action import Action
from company.boss import UserRequirement, VoiceRequest
from company.names import (
    action_class,
    actions_around,
    add_action,
    is_import_path,
    path_of,
    role_class,
    shipped_actions,
    shipped_roles,
)
from company.role import Role
from company.sop import SOPError, parse_sop
from roles.analyst import Analyst
from roles.executor import Executor
from roles.planner import Planner
from roles.transcriber import Transcriber

HERE = __name__  # tests.test_names


class Critique(Action):
    """A researcher's own action, named by import path."""

    triggers = (WritePlan,)


class Critic(Role):
    """A researcher's own role, named by import path."""

    default_watch = (WritePlan,)
    default_actions = (Critique,)


class DupA(Action):
    name = "Dup"


class DupB(Action):
    name = "Dup"


class Impostor(Action):
    """Claims a shipped action's name."""

    name = "WritePlan"


class Outer:
    class Inner(Role):
        """A role class nested in another class."""


NOT_A_CLASS = 3


# by name ----------------------------------------------------------------

def test_the_shipped_roles_are_found_by_name():
    roles = shipped_roles()
    expected = {"Analyst": Analyst, "Executor": Executor, "Planner": Planner,
                "Transcriber": Transcriber}
    assert {name: roles[name] for name in expected} == expected
    assert all(issubclass(cls, Role) and cls.name == name for name, cls in roles.items())
    assert role_class("Planner") is Planner


def test_the_shipped_actions_and_the_bosss_are_found_by_name():
    actions = shipped_actions()
    expected = {cls.name: cls for cls in (UserRequirement, VoiceRequest, AnalyzeRequest,
                                          WritePlan, RunGraphs, SummarizeResults, ReviewResults,
                                          Transcribe)}
    assert {name: actions[name] for name in expected} == expected
    assert all(issubclass(cls, Action) and cls.name == name for name, cls in actions.items())
    assert action_class("ReviewResults", actions) is ReviewResults


@pytest.mark.parametrize(("ref", "expected"), [
    ("Analyst", False), ("roles.analyst:Analyst", True), ("roles.analyst.Analyst", True)])
def test_is_import_path(ref, expected):
    assert is_import_path(ref) is expected


# by import path ---------------------------------------------------------

@pytest.mark.parametrize(("ref", "expected"), [
    ("roles.analyst:Analyst", Analyst),
    ("roles.analyst.Analyst", Analyst),
    (f"{HERE}:Critic", Critic),
    (f"{HERE}.Critic", Critic),
])
def test_roles_by_import_path(ref, expected):
    assert role_class(ref) is expected


@pytest.mark.parametrize(("ref", "expected"), [
    ("actions.write_plan:WritePlan", WritePlan),
    ("actions.write_plan.WritePlan", WritePlan),
    (f"{HERE}:Critique", Critique),
    (f"{HERE}.Critique", Critique),
])
def test_actions_by_import_path_need_not_be_known(ref, expected):
    assert action_class(ref, {}) is expected


def test_a_custom_role_in_an_sop_brings_its_actions():
    sop = parse_sop(f"name: x\nroles:\n  - name: Planner\n  - name: {HERE}:Critic\n"
                    "    watch: [WritePlan]\n", source="custom.yaml")
    assert [spec.role_class for spec in sop.roles] == [Planner, Critic]
    critic = sop.roles[1].hire().bind(None)
    assert [type(a) for a in critic.actions] == [Critique]
    assert critic.triggers == {"Critique": {"WritePlan"}}


# errors -----------------------------------------------------------------

def test_an_unknown_role_lists_the_known_ones():
    with pytest.raises(ValueError) as caught:
        role_class("Wizard")
    message = str(caught.value)
    assert message.startswith("unknown role 'Wizard'; known: Analyst, Executor, Planner, "
                              "Transcriber")
    assert "my_package.roles:Critic" in message  # how to name one's own


def test_an_unknown_action_lists_the_known_ones():
    known = {"WritePlan": WritePlan, "AnalyzeRequest": AnalyzeRequest}
    with pytest.raises(ValueError, match=r"^unknown action 'Dance'; known: AnalyzeRequest, "
                                         r"WritePlan, or an import path"):
        action_class("Dance", known)


@pytest.mark.parametrize("ref", [f"{HERE}:Critique", f"{HERE}:NOT_A_CLASS", f"{HERE}:Outer",
                                 "company.names:path_of"])
def test_a_role_path_to_something_else_is_refused(ref):
    with pytest.raises(ValueError, match=rf"^{re.escape(repr(ref))} is not a Role subclass$"):
        role_class(ref)


@pytest.mark.parametrize("ref", ["roles.analyst:Analyst", f"{HERE}:NOT_A_CLASS"])
def test_an_action_path_to_something_else_is_refused(ref):
    with pytest.raises(ValueError, match=rf"^{re.escape(repr(ref))} is not an Action subclass$"):
        action_class(ref, {})


@pytest.mark.parametrize(("ref", "module"), [
    ("no_such_package.roles:Critic", "no_such_package.roles"),
    ("no_such_package.Critic", "no_such_package"),
])
def test_a_missing_module_is_named(ref, module):
    with pytest.raises(ValueError, match=rf"^cannot import {re.escape(repr(module))} for "
                                         rf"{re.escape(repr(ref))}: "):
        role_class(ref)


def test_a_missing_class_in_a_module_is_named():
    with pytest.raises(ValueError, match=r"^roles\.analyst has no 'Nobody' "
                                         r"\(from 'roles\.analyst:Nobody'\)$"):
        role_class("roles.analyst:Nobody")


# one class per name -----------------------------------------------------

def test_two_classes_with_one_action_name_are_refused():
    known: dict[str, type[Action]] = {}
    add_action(known, DupA)
    add_action(known, DupA)  # the same class again is fine
    with pytest.raises(ValueError, match=rf"^two actions are named 'Dup': {HERE}:DupA and "
                                         rf"{HERE}:DupB; give one another name$"):
        add_action(known, DupB)
    assert known == {"Dup": DupA}


def test_a_custom_action_cannot_take_a_shipped_name():
    known = dict(shipped_actions())
    with pytest.raises(ValueError, match=rf"two actions are named 'WritePlan': "
                                         rf"actions\.write_plan:WritePlan and {HERE}:Impostor"):
        add_action(known, Impostor)

    class Fraud(Role):
        default_actions = (Impostor,)

    with pytest.raises(ValueError, match="two actions are named 'WritePlan'"):
        actions_around([Fraud])


def test_an_sop_naming_two_classes_for_one_action_name_fails_at_their_line():
    text = f"name: x\nroles:\n  - name: Analyst\n    actions: [{HERE}:DupA, {HERE}:DupB]\n"
    with pytest.raises(SOPError, match=r"dup\.yaml:4: roles\.0\.actions: two actions are "
                                       r"named 'Dup'"):
        parse_sop(text, source="dup.yaml")


# path_of ----------------------------------------------------------------

@pytest.mark.parametrize(("cls", "path"), [
    (Analyst, "Analyst"), (Transcriber, "Transcriber"), (WritePlan, "WritePlan"),
    (UserRequirement, "UserRequirement"), (VoiceRequest, "VoiceRequest"),
    (Critic, f"{HERE}:Critic"), (Critique, f"{HERE}:Critique"),
    (Outer.Inner, f"{HERE}:Outer.Inner"),
])
def test_path_of_gives_bare_names_for_shipped_classes_and_module_qualname_otherwise(cls, path):
    assert path_of(cls) == path


def test_path_of_round_trips_through_role_class():
    for cls in (Analyst, Planner, Critic):
        assert role_class(path_of(cls)) is cls
    assert action_class(path_of(Critique), {}) is Critique
    assert action_class(path_of(WritePlan), shipped_actions()) is WritePlan


def test_path_of_a_nested_class_round_trips():
    assert role_class(path_of(Outer.Inner)) is Outer.Inner


def test_a_class_defined_in_a_function_cannot_be_named_for_a_stored_task():
    from company.action import Action
    from company.names import path_of

    class Local(Action):
        """Lives in a function."""

    with pytest.raises(ValueError, match="defined inside a function"):
        path_of(Local)
