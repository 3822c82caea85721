from company.message import EVERYONE, Message
from company.payloads import Analysis


def test_message_round_trips_through_json_without_loss():
    msg = Message(id="t-00001", task_id="t", seq=1, content="héllo", cause_by="AnalyzeRequest",
                  sent_from="Analyst", send_to=["Planner"],
                  payload={"summary": "s", "ideas": [], "action_items": []})
    again = Message.from_json(msg.to_json())
    assert again == msg
    assert isinstance(again.typed_payload(), Analysis)


def test_default_address_is_everyone_and_is_for():
    msg = Message(content="x")
    assert msg.send_to == [EVERYONE]
    assert msg.is_for("Anyone")
    direct = Message(content="x", send_to=["Planner"])
    assert direct.is_for("Planner") and not direct.is_for("Analyst")
