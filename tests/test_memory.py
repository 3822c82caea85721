from company.action import Action
from company.memory import Memory
from company.message import Message


class X(Action):
    """An action class used only as a cause."""


def test_memory_indexes_by_cause_and_ignores_duplicates():
    memory = Memory()
    a = Message(id="1", seq=1, content="a", cause_by="X", sent_from="R1")
    b = Message(id="2", seq=2, content="b", cause_by="Y", sent_from="R1")
    c = Message(id="3", seq=3, content="c", cause_by="X", sent_from="R2")
    for message in (a, b, c, a):
        memory.add(message)
    assert len(memory) == 3 and memory.last_seq == 3
    assert [m.id for m in memory.by_cause("X")] == ["1", "3"]
    assert [m.id for m in memory.by_cause(X)] == ["1", "3"]
    assert memory.latest(X) is c and memory.latest("Z") is None
    assert memory.all() == [a, b, c]
