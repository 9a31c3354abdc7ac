"""What a RAVDESS file name means.

RAVDESS speech files are named ``03-01-EE-II-SS-RR-AA.wav``: modality (03 audio-only),
vocal channel (01 speech, 02 song), emotion, intensity (01 normal, 02 strong),
statement (01, 02), repetition (01, 02) and actor (01..24; odd male, even female).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from ser_utils.config import EMOTION_CODES

NAME_PATTERN = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
EXPECTED_NAME = "03-01-EE-II-SS-RR-AA.wav"


@dataclasses.dataclass(frozen=True)
class ClipInfo:
    """What a RAVDESS speech file name says about its clip."""

    emotion: str
    actor: int
    intensity: str
    statement: int
    repetition: int

    @property
    def gender(self) -> str:
        return "male" if self.actor % 2 else "female"


def parse_name(name: str) -> ClipInfo:
    """Parse a RAVDESS speech file name (with or without folder and suffix) into a ClipInfo.

    Raises ValueError with the reason when the name is not a RAVDESS speech name.
    """
    stem = Path(name).stem
    match = NAME_PATTERN.match(stem)
    if not match:
        raise ValueError(f"not a RAVDESS name (expected {EXPECTED_NAME})")
    modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
    if modality != "03":
        raise ValueError(f"modality {modality} is not audio-only (03); use the audio-only files")
    if channel == "02":
        raise ValueError("a song clip (vocal channel 02); this project uses speech (vocal channel 01)")
    if channel != "01":
        raise ValueError(f"vocal channel {channel} is not speech (01)")
    if emotion not in EMOTION_CODES:
        raise ValueError(f"emotion code {emotion} is not one of 01..08")
    if intensity not in ("01", "02") or statement not in ("01", "02") or repetition not in ("01", "02"):
        raise ValueError("intensity, statement and repetition must each be 01 or 02")
    if not 1 <= int(actor) <= 24:
        raise ValueError(f"actor {actor} is not one of 01..24")
    return ClipInfo(
        emotion=EMOTION_CODES[emotion],
        actor=int(actor),
        intensity="normal" if intensity == "01" else "strong",
        statement=int(statement),
        repetition=int(repetition),
    )
