from company.memory import Memory
from company.message import Message


def test_memory_indexes_by_cause_and_sender_and_ignores_duplicates():
    memory = Memory()
    a = Message(id="1", content="a", cause_by="X", sent_from="R1")
    b = Message(id="2", content="b", cause_by="Y", sent_from="R1")
    c = Message(id="3", content="c", cause_by="X", sent_from="R2")
    memory.extend([a, b, c, a])
    assert len(memory) == 3
    assert [m.id for m in memory.by_cause("X")] == ["1", "3"]
    assert [m.id for m in memory.by_sender("R1")] == ["1", "2"]
    assert memory.latest("X") is c and memory.latest("Z") is None
    assert memory.get("2") is b and memory.tail(2) == [b, c]
