"""Walking the alert flow as a caller would, in English and French."""

import json

import pytest
from flowkit import REFERENCE, long_level, numbers, pick

from flows import Screen


def walk(engine, submit, inputs, lang=None, state=None, words=False):
    """Begin a session (or go on from state) and feed inputs, state going through JSON."""
    screen = None
    if state is None:
        state, screen = engine.begin(lang)
    for answer in inputs:
        state = json.loads(json.dumps(state))
        state, screen = engine.advance(state, answer, submit, words=words)
    return state, screen


@pytest.mark.parametrize(
    ("lang_number", "lang", "thanks"),
    [("1", "en", "Your report number is"), ("2", "fr", "Le numéro de votre alerte est")],
)
def test_whole_alert_flow_submits_once(engine, submit, lang_number, lang, thanks):
    # language, report, continue, sexual violence, Ouham (one level down), Bossangoa, earlier,
    # someone else, 15 to 17, two or three girls, no boys, in danger now: yes, an SMS later:
    # yes, send
    inputs = [lang_number, "1", "1", "3", "3", "1", "4", "3", "2", "3", "1", "1", "1", "1"]
    state, screen = walk(engine, submit, inputs)
    assert screen.end
    assert screen.ussd().startswith("END ")
    assert REFERENCE in screen.text and thanks in screen.text
    assert len(submit.calls) == 1
    sub = submit.calls[0]
    assert sub.flow == "alert" and sub.language == lang
    assert sub.answers == {
        "category": "sexual_violence",
        "when": "earlier",
        "location": "CF111",
        "perpetrator": "other",
        "age": "15_17",
        "girls": "2-3",
        "boys": "0",
        "urgent": "yes",
        "callback": "yes",
    }
    # A repeated input after the end re-shows the end and submits nothing more.
    state, again = engine.advance(state, "1", submit)
    assert again == screen and len(submit.calls) == 1


def test_language_known_skips_choice(engine):
    state, screen = engine.begin("fr")
    assert "Que voulez-vous faire ?" in screen.text
    assert "0 " not in screen.text  # nothing to go back to
    assert engine.language_of(state) == "fr"


def test_unknown_language_falls_back_to_choice(engine):
    state, screen = engine.begin("xx")
    assert numbers(screen) == {"1": "English", "2": "Français"}
    assert engine.language_of(state) == "en"


def test_dont_know_on_every_question(engine, submit):
    state, screen = walk(engine, submit, ["1", "1", "1"])
    # category, place, when, who, age, girls, boys, urgent
    for _ in range(8):
        options = numbers(screen)
        unsure = [
            lbl for lbl in options.values() if "don't know" in lbl.lower() or "Not sure" in lbl
        ]
        if not unsure and "98" in options:  # on a later page ("Other/don't know" is last)
            state, screen = engine.advance(state, "98", submit)
            options = numbers(screen)
            unsure = [lbl for lbl in options.values() if "don't know" in lbl.lower()]
        assert unsure, screen.text
        label = unsure[0]
        state, screen = engine.advance(state, pick(screen, label), submit)
    # The top of a single country's list offers "elsewhere in" the country, not None.
    state, screen = engine.advance(state, pick(screen, "No"), submit)  # no SMS later
    state, screen = engine.advance(state, pick(screen, "Send"), submit)
    assert submit.calls[0].answers == {
        "category": "other",
        "location": "CF",
        "when": "unknown",
        "perpetrator": "unknown",
        "age": "unknown",
        "girls": "unknown",
        "boys": "unknown",
        "urgent": "unknown",
        "callback": "no",
    }


def test_dont_know_place_is_none_with_several_countries(make_engine, submit):
    rows = [("CF", "Central African Republic", None), ("SS", "South Sudan", None)]
    engine = make_engine(rows=rows)
    state, screen = walk(engine, submit, ["1", "1", "1", "98", "9"])  # other, on page 2
    assert numbers(screen) == {
        "1": "Central African Republic", "2": "South Sudan", "3": "Don't know", "0": "Back",
    }
    # Don't know where, when, who, the age, how many girls and boys, whether in danger now.
    dont_know = ["3", "5", "4", "3", "6", "6", "3"]
    state, screen = walk(engine, submit, ["1", "1", "1", "98", "9", *dont_know, "2", "1"])
    assert submit.calls[-1].answers["location"] is None


def test_follow_up_dont_know_keeps_a_sensible_code(engine, submit):
    rest = ["1", "1", "1", "1", "1", "1", "2", "1"]  # Bangui, today ... no SMS; send
    walk(engine, submit, ["1", "1", "1", "2", "3", "1", *rest])
    walk(engine, submit, ["1", "1", "1", "5", "4", "1", *rest])
    walk(engine, submit, ["1", "1", "1", "5", "2", "1", *rest])
    walk(engine, submit, ["1", "1", "1", "2", "1", "1", *rest])
    walk(engine, submit, ["1", "1", "1", "5", "3", "1", *rest])
    # Don't know what was attacked: never taken for a school (kind unknown).
    assert [s.answers["category"] for s in submit.calls] == [
        "maiming", "attack_on_schools_or_hospitals", "attack_on_hospitals", "killing",
        "military_use",
    ]


def test_location_descent_and_not_sure(engine, submit):
    state, screen = walk(engine, submit, ["1", "1", "1", "1"])
    assert numbers(screen) == {
        "1": "Bangui", "2": "Haute-Kotto", "3": "Ouham",
        "4": "Not sure / elsewhere in Central African Republic", "0": "Back",
    }
    state, screen = engine.advance(state, "3", submit)  # Ouham has children: one level deeper
    assert numbers(screen) == {
        "1": "Bossangoa", "2": "Nana-Bakassa", "3": "Not sure / elsewhere in Ouham", "0": "Back",
    }
    back_state, back_screen = engine.advance(state, "0", submit)  # back up one level
    assert "3" in numbers(back_screen) and numbers(back_screen)["3"] == "Ouham"
    state, screen = engine.advance(state, "3", submit)  # not sure: Ouham itself
    assert "When did it happen?" in screen.text
    rest = ["1", "1", "1", "1", "1", "1", "2", "1"]  # today ... in danger now, no SMS; send
    state, screen = walk(engine, submit, ["1", "1", "1", "1", "3", "3", *rest])
    assert submit.calls[-1].answers["location"] == "CF11"
    state, screen = walk(engine, submit, ["1", "1", "1", "1", "1", *rest])
    assert submit.calls[-1].answers["location"] == "CF12"  # Bangui has no children: chosen


def test_back_navigation_restores_steps_and_answers(engine, submit):
    state, screen = walk(engine, submit, ["1", "1", "1", "2"])  # Killed or injured -> harm
    assert "killed or injured?" in screen.text
    state, screen = engine.advance(state, "0", submit)
    assert screen.text.startswith("What happened?")
    assert state["answers"] == {}
    state, screen = engine.advance(state, "0", submit)
    assert "confidential: we do not keep your number" in screen.text
    state, screen = engine.advance(state, "0", submit)
    assert "What would you like to do?" in screen.text
    state, screen = engine.advance(state, "0", submit)
    assert numbers(screen) == {"1": "English", "2": "Français"}
    state, screen = engine.advance(state, "0", submit)  # nowhere further back: hint
    assert screen.text.startswith("Choose a number below.")


def test_invalid_input_shows_hint_and_same_screen(engine, submit):
    state, screen = walk(engine, submit, ["2", "1", "1"])
    for bad in ["", "abc", "42", "1*2", "99"]:
        new_state, again = engine.advance(state, bad, submit)
        lines = again.text.split("\n")
        assert lines[0] == "Choisissez un numéro."
        assert lines[1:] in (screen.text.split("\n"), screen.text.split("\n")[1:])
        assert new_state == state and not again.end


def test_keypad_tolerance(engine, submit):
    state, screen = walk(engine, submit, ["２", " 1# ", "#１"])
    assert engine.language_of(state) == "fr"
    assert screen.text.startswith("Qu'est-il arrivé ?")


def test_advance_does_not_mutate_state(engine, submit):
    state, _ = walk(engine, submit, ["1", "1", "1", "1"])
    frozen = json.dumps(state, sort_keys=True)
    engine.advance(state, "3", submit)
    engine.advance(state, "4", submit)
    engine.advance(state, "0", submit)
    assert json.dumps(state, sort_keys=True) == frozen


def test_submit_errors_propagate(engine):
    def broken(_submission):
        raise RuntimeError("database down")

    answers = ["1"] * 11 + ["2"]  # ... in danger: yes; SMS: no
    state, _ = walk(engine, lambda s: {"reference": "1"}, answers)
    with pytest.raises(RuntimeError):
        engine.advance(state, "1", broken)


def test_failure_screen_in_language(engine):
    assert engine.failure("fr").ussd().startswith("END Désolé")
    assert engine.failure(None) == Screen(
        text="Sorry, something went wrong. Please dial again later.", end=True
    )
    assert engine.failure("kg").text.startswith("Sorry")


def test_paging_forty_places(make_engine, submit):
    engine = make_engine(rows=long_level(40))
    state, screen = walk(engine, submit, ["1", "1", "1", "1"])
    seen: dict[str, str] = {}
    pages = [state]
    while True:
        options = numbers(screen)
        assert options.get("0") == "Back"
        for number, label in options.items():
            if number not in ("0", "98"):
                assert label not in seen.values() or label.startswith("Not sure")
                seen[number] = label
        if "98" not in options:
            break
        state, screen = engine.advance(state, "98", submit)
        pages.append(state)
    assert len(pages) > 2
    places = {n: lbl for n, lbl in seen.items() if lbl.startswith("Province")}
    assert sorted(int(n) for n in places) == list(range(1, 41))  # stable numbers
    assert seen["41"] == "Not sure / elsewhere in Country"
    # Every option is reachable: pick each one from the page it is shown on.
    for number in places:
        state, screen = walk(engine, submit, ["1", "1", "1", "1"])
        while number not in numbers(screen):
            state, screen = engine.advance(state, "98", submit)
        picked, after = engine.advance(state, number, submit)
        assert picked["answers"]["location"] == f"XX{int(number):02d}"
    # "0 Back" on page 3 goes to page 2.
    state, screen = walk(engine, submit, ["1", "1", "1", "1", "98", "98"])
    page3 = screen
    state, screen = engine.advance(state, "0", submit)
    _, forward = engine.advance(state, "98", submit)
    assert forward == page3 and screen != page3


def test_sms_answers_may_name_an_option_in_the_callers_language(engine, submit):
    state, screen = engine.begin()
    state, screen = engine.advance(state, "FRANCAIS!", submit, words=True)
    assert engine.language_of(state) == "fr"
    state, screen = walk(engine, submit, ["1", "Continuer."], state=state, words=True)
    assert screen.text.startswith("Qu'est-il arrivé ?")
    # Accents and case folded, punctuation ignored; a word on its own names its option.
    state, screen = engine.advance(state, "  Enlevé. ", submit, words=True)
    assert state["answers"]["category"] == "abduction"


def test_words_are_not_answers_on_ussd_or_when_ambiguous(engine, submit):
    state, _ = walk(engine, submit, ["2", "1", "1"])
    same, again = engine.advance(state, "enlevé", submit)  # USSD: numbers only
    assert same == state and again.text.startswith("Choisissez un numéro.")
    same, again = engine.advance(state, "de", submit, words=True)  # no option is named so
    assert same == state and again.text.startswith("Choisissez un numéro.")
