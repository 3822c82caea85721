from actions.analyze_request import AnalyzeRequest
from actions.write_plan import WritePlan
from company.message import EVERYONE, Message, cause_name
from company.payloads import Analysis


def test_message_round_trips_through_json_without_loss():
    msg = Message(id="t-00001", task_id="t", seq=1, content="héllo", cause_by="AnalyzeRequest",
                  sent_from="Analyst", send_to=["Planner"],
                  payload={"summary": "s", "ideas": [], "action_items": []})
    again = Message.from_json(msg.to_json())
    assert again == msg
    assert AnalyzeRequest.payload is Analysis
    assert Analysis.model_validate(again.payload).summary == "s"


def test_default_address_is_everyone_and_is_for():
    msg = Message(content="x")
    assert msg.send_to == [EVERYONE]
    assert msg.is_for("Anyone")
    direct = Message(content="x", send_to=["Planner"])
    assert direct.is_for("Planner") and not direct.is_for("Analyst")


def test_an_action_is_named_by_its_class_or_its_name():
    assert cause_name(WritePlan) == "WritePlan" == cause_name("WritePlan")
    assert Message(content="x", cause_by=cause_name(WritePlan)).cause_by == "WritePlan"
