"""What RAVDESS file names mean."""

import pytest

from ser_utils.data.ravdess import parse_name


def test_parse_name_fields():
    info = parse_name("Actor_24/03-01-05-02-01-02-24.wav")
    assert (info.emotion, info.actor, info.gender, info.intensity, info.statement, info.repetition) == (
        "Anger",
        24,
        "female",
        "strong",
        1,
        2,
    )


@pytest.mark.parametrize(
    "name, reason",
    [
        ("03-02-05-02-01-02-24.wav", "song clip"),
        ("01-01-05-02-01-02-24.wav", "audio-only"),
        ("03-01-09-01-01-01-01.wav", "emotion code 09"),
        ("03-01-01-03-01-01-01.wav", "must each be 01 or 02"),
        ("03-01-01-01-01-01-25.wav", "actor 25"),
        ("happy_take1.wav", "not a RAVDESS name"),
    ],
)
def test_parse_name_refuses(name, reason):
    with pytest.raises(ValueError, match=reason):
        parse_name(name)
