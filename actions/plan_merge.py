"""Joining steps a small model planned apart: a re-asked plan that swapped a step for the one its
doubt asked for is merged with the plan it answers (and one that added a step at its end, after
steps of the same graphs, gives the plan that step), a step given the very text an earlier
step changes gets the changed text when the request asks for it after the change, and a step
that looks in a changed text for what the change took out looks for what it put in.

They return plans whose ``depends_on`` the caller derives again
(``planning.derive_dependencies``)."""

from __future__ import annotations

from actions.input_values import STEP_REF, step_reference, strings_in
from actions.request_notes import RequestFacts, TextChange, cue_positions, load_facts
from actions.step_ids import renamed, renumbered, step_refs
from company.payloads import Plan, PlanStep


def merged_plan(first: Plan, second: Plan) -> Plan | None:
    """``first`` with the steps of ``second`` that run a graph no step of ``first`` runs
    appended (renumbered after ``first``'s), with ``first``'s notes; None when ``second`` adds
    no such step, or when one uses the output of a step it does not add.

    Asked for the ``answer_question`` step its plan lacked, a 1.5B model swapped its
    ``word_count`` step for it instead of adding it: each plan did half the request."""
    planned = {step.graph for step in first.steps}
    added = [step for step in second.steps if step.graph not in planned]
    ids = {step.id for step in added}
    if not added or any(step_refs(step) - ids for step in added):
        return None
    # the added steps' ids kept apart from the first plan's until the whole plan is renumbered
    apart = {step.id: f"added{n}" for n, step in enumerate(added, 1)}
    # the re-ask's notes spoke of a plan without the first plan's steps ("No step can count")
    return renumbered([*first.steps, *(renamed(step, apart) for step in added)], first.notes)


def extended_plan(first: Plan, second: Plan) -> Plan | None:
    """``first`` with the steps ``second`` has after its own first ones appended, where those
    run the same graphs in the same order as ``first``'s steps (each reference to one of them
    following the step of ``first`` in its place), with ``first``'s notes; None when ``second``
    is no such extension.

    Asked to use the 9 its plan left out, the 0.5B model added the step that divides by 9 and
    also changed the first step's 32 to 0: the step it added runs after the plan's own."""
    count = len(first.steps)
    if len(second.steps) <= count or [s.graph for s in second.steps[:count]] != [
            s.graph for s in first.steps]:
        return None
    # the second plan's leading steps stand for the first plan's, position by position
    place = {step.id: f"first{n}" for n, step in enumerate(second.steps[:count])}
    apart = {step.id: f"added{n}" for n, step in enumerate(second.steps[count:])}
    own_ids = {step.id: f"first{n}" for n, step in enumerate(first.steps)}
    own = [renamed(step, own_ids) for step in first.steps]
    added = [renamed(step, place | apart) for step in second.steps[count:]]
    return renumbered([*own, *added], first.notes)


def chained_texts(plan: Plan, request: str, facts: RequestFacts | None = None
                  ) -> tuple[Plan, list[str]]:
    """The plan with each step given, word for word, the text an earlier step changes
    (``text_changes``: ``replace_text``'s ``text``) given the changed text instead, and what
    was changed (in the step ids as written); the steps reordered so each comes after what it
    uses, and renumbered.

    A second change of the same text takes the first's result ("put Priya in place of {name}
    and then A-1042 in place of {id}"). Any other step takes the last change's result when the
    request asks for its graph after the change graph ("replace ERROR with WARN and then count
    the words": ``graph_cues`` positions) and none of its other inputs holds a text a change
    took out (splitting on the ";" a replacement removed needs the original)."""
    facts = facts or load_facts()
    asked = cue_positions(request, {step.graph for step in plan.steps}, facts)
    steps = list(plan.steps)
    chains: dict[str, list[PlanStep]] = {}  # a changed text -> its changes, in plan order
    changes: list[str] = []
    for n, step in enumerate(steps):
        spec = facts.text_changes.get(step.graph)
        text = _literal(step.inputs.get(spec.text)) if spec else None
        if spec is None or text is None:
            continue
        if text in chains:
            last = chains[text][-1]
            step = _given(step, [spec.text], last, facts.text_changes[last.graph])
            steps[n] = step
            changes.append(f"{step.id}.{spec.text} -> {last.id}.{spec.changed}")
        chains.setdefault(text, []).append(step)
    for n, step in enumerate(steps):
        if step.graph in facts.text_changes:
            continue
        for text, chain in chains.items():
            names = [name for name, value in step.inputs.items() if _literal(value) == text]
            first, last = chain[0], chain[-1]
            if not names or not _asked_after(step.graph, first.graph, asked) or _uses_removed(
                    step, names, chain, facts):
                continue
            step = _given(step, names, last, facts.text_changes[last.graph])
            steps[n] = step
            changes.append(f"{step.id}.{names[0]} -> {last.id}."
                           f"{facts.text_changes[last.graph].changed}")
            break
    if not changes:
        return plan, []
    return renumbered(_ordered(steps), plan.notes), changes


def followed_replacements(plan: Plan, facts: RequestFacts | None = None
                          ) -> tuple[Plan, list[str]]:
    """The plan with each step that is given a change's result (``{{ s1.replaced }}``) and,
    in another input, exactly the text that change took out given what the change put in
    instead, and what was changed. The text no longer holds what was taken out: the 1.5B model
    replaced ";" with "," and then split the result on ";", which finds one part. A change
    that puts nothing in, or puts in what it took out, is left alone; so are steps that are
    changes themselves (``chained_texts`` decides those)."""
    facts = facts or load_facts()
    by_id = {step.id: step for step in plan.steps if step.graph in facts.text_changes}
    steps = []
    changes: list[str] = []
    for step in plan.steps:
        for read in _changed_texts_read(step, by_id, facts):
            change, gone, put = read
            for name, value in step.inputs.items():
                if _literal(value) == gone.strip():
                    changes.append(f"{step.id}.{name}: {value!r} -> {put!r} ({change} replaced "
                                   f"{gone!r} with {put!r} in the text {step.id} reads)")
                    step = step.model_copy(update={"inputs": {**step.inputs, name: put}})
        steps.append(step)
    if not changes:
        return plan, []
    return plan.model_copy(update={"steps": steps}), changes


def _changed_texts_read(step: PlanStep, by_id: dict[str, PlanStep],
                        facts: RequestFacts) -> list[tuple[str, str, str]]:
    """(change step id, what it took out, what it put in) for each change (of ``by_id``, the
    plan's change steps) whose whole result is one of the step's inputs, when the change puts
    in something other than what it took out; none for a step that is a change itself."""
    if step.graph in facts.text_changes:
        return []
    found = []
    for value in step.inputs.values():
        whole = STEP_REF.fullmatch(value.strip()) if isinstance(value, str) else None
        change = by_id.get(whole.group(1)) if whole else None
        if change is None or whole is None:
            continue
        spec = facts.text_changes[change.graph]
        gone, put = change.inputs.get(spec.removed), change.inputs.get(spec.added)
        if (whole.group(2) == spec.changed and isinstance(gone, str) and gone.strip()
                and isinstance(put, str) and put.strip() and gone not in put):
            found.append((change.id, gone, put))
    return found


def _literal(value: object) -> str | None:
    """An input's text when it is given word for word (not a reference to a step)."""
    if not isinstance(value, str) or not value.strip() or STEP_REF.search(value):
        return None
    return value.strip()


def _given(step: PlanStep, names: list[str], change: PlanStep, spec: TextChange) -> PlanStep:
    """The step with its inputs ``names`` given ``change``'s changed text."""
    output = step_reference(change.id, spec.changed)
    return step.model_copy(update={"inputs": {**step.inputs, **dict.fromkeys(names, output)}})


def _asked_after(graph: str, change_graph: str, asked: dict[str, int]) -> bool:
    """Whether the request asks for ``graph`` after ``change_graph`` (by their cues)."""
    return graph in asked and change_graph in asked and asked[graph] > asked[change_graph]


def _uses_removed(step: PlanStep, names: list[str], chain: list[PlanStep],
                  facts: RequestFacts) -> bool:
    """Whether the step's other inputs hold a text one of the changes takes out."""
    others = strings_in([value for name, value in step.inputs.items() if name not in names])
    removed = [change.inputs.get(facts.text_changes[change.graph].removed) for change in chain]
    return any(isinstance(gone, str) and gone and gone in text
               for gone in removed for text in others)


def _ordered(steps: list[PlanStep]) -> list[PlanStep]:
    """The steps with each one after the steps it uses, in their order otherwise."""
    ids = {step.id for step in steps}
    done: list[PlanStep] = []
    waiting = list(steps)
    while waiting:
        placed = {step.id for step in done}
        ready = next((step for step in waiting if step_refs(step) & ids <= placed), waiting[0])
        done.append(ready)
        waiting.remove(ready)
    return done
