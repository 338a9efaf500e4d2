"""Typed answers (input steps), steps shown on one channel only, and flows walked by SMS."""

import json

from flowkit import REFERENCE, STATUS, numbers


def go(engine, state, submit, answers, words=False):
    screen = None
    for answer in answers:
        state = json.loads(json.dumps(state))
        state, screen = engine.advance(state, answer, submit, words=words)
    return state, screen


def test_by_sms_every_option_is_in_one_message_and_free_text_is_asked(engine, submit):
    state, screen = engine.begin("en", flow="alert", channel="sms")
    assert screen.text.startswith("Your report goes to child-protection workers")
    state, screen = go(engine, state, submit, ["1"])
    assert list(numbers(screen)) == [str(n) for n in range(1, 10)] + ["0"]  # no "98 More"
    # recruited, Ouham, Bossangoa, today, armed group, under 15, no girls, one boy, in danger: no
    state, screen = go(engine, state, submit, ["1", "3", "1", "1", "1", "1", "1", "2", "2"])
    assert "Do not write any names" in screen.text
    assert numbers(screen) == {"1": "Nothing to add", "0": "Back"}
    state, screen = go(engine, state, submit, ["  They were taken  at the market\n"])
    assert screen.text.startswith("Do you want one SMS")
    state, screen = go(engine, state, submit, ["no", "send"], words=True)
    assert screen.end and REFERENCE in screen.text
    [sent] = submit.calls
    assert sent.answers["details"] == "They were taken at the market"
    assert sent.answers["callback"] == "no" and sent.answers["location"] == "CF111"


def test_nothing_to_add_saves_no_text_and_back_returns(engine, submit):
    state, _ = engine.begin("en", flow="alert", channel="sms")
    state, screen = go(engine, state, submit, ["1", "1", "3", "1", "1", "1", "1", "1", "2", "2"])
    state, screen = go(engine, state, submit, ["0"])
    assert screen.text.startswith("Is a child in danger right now?")
    state, screen = go(engine, state, submit, ["2", "1", "2", "1"])
    assert "details" not in submit.calls[0].answers


def test_ussd_passes_over_a_step_shown_by_sms_only(engine, submit):
    state, screen = engine.begin("en")
    state, screen = go(engine, state, submit, ["1", "1", "1", "3", "1", "1", "1", "1", "1", "2"])
    state, screen = go(engine, state, submit, ["2"])  # in danger: no
    assert screen.text.startswith("Do you want one SMS")
    state, screen = go(engine, state, submit, ["0"])  # back skips the SMS-only step too
    assert screen.text.startswith("Is a child in danger right now?")


def test_a_typed_number_is_taken_with_keypad_tolerance(engine, submit):
    state, screen = engine.begin("en")
    state, screen = go(engine, state, submit, ["2"])  # follow up a report
    assert screen.text.startswith("Type your report number.")
    for bad in ["", "abc", "12a4", "1" * 13]:
        same, again = engine.advance(state, bad, submit)
        assert same == state and again.text.startswith("Choose a number below.")
    state, screen = go(engine, state, submit, [" ４８２１９３７# "])
    assert screen.end and screen.text == STATUS
    assert submit.calls[-1].flow == "status"
    assert submit.calls[-1].answers == {"reference": "4821937"}
