"""Verification against the checksums of the original files."""

import shutil
from pathlib import Path

import pandas as pd
import soundfile as sf

from ser_utils.data import verify
from ser_utils.data.verify import verify_corpus


def _actor_01_originals(ravdess_48k_sample, root: Path) -> Path:
    shutil.copytree(ravdess_48k_sample / "Actor_01", root / "Actor_01")
    return root


def test_verify_finds_missing_corrupt_renamed_duplicate_and_extra_files(ravdess_48k_sample, ravdess_16k, tmp_path):
    root = _actor_01_originals(ravdess_48k_sample, tmp_path)
    actor = root / "Actor_01"
    assert verify_corpus(root).verified == [f"Actor_01/{p.name}" for p in sorted(actor.iterdir())]
    names = sorted(p.name for p in actor.iterdir())
    damaged = bytearray((actor / names[0]).read_bytes())
    damaged[5000] ^= 0xFF  # one flipped byte in the audio data
    (actor / names[0]).write_bytes(bytes(damaged))
    (actor / names[1]).rename(actor / "take 2.wav")
    shutil.copy(actor / names[2], actor / f"{Path(names[2]).stem} (copy).wav")
    (actor / names[3]).unlink()
    (actor / "notes.txt").write_text("x")
    shutil.copy(ravdess_16k / "Actor_01" / names[4], actor / names[4])  # a faithful 16 kHz copy
    short, rate = sf.read(ravdess_16k / "Actor_01" / names[5])
    sf.write(actor / names[5], short[: rate // 2], rate)  # a 16 kHz copy cut to 0.5 s

    result = verify_corpus(root)
    assert len(result.verified) == 55 and result.copies == {f"Actor_01/{names[4]}": 16_000}
    assert result.corrupt == {
        f"Actor_01/{names[0]}": "checksum differs from the original: damaged or altered",
        f"Actor_01/{names[5]}": "0.50 s long, the original 3.60 s: truncated",
    }
    assert result.renamed == {"Actor_01/take 2.wav": f"Actor_01/{names[1]}"}
    assert result.duplicates == {f"Actor_01/{Path(names[2]).stem} (copy).wav": f"Actor_01/{names[2]}"}
    assert result.extra == {"Actor_01/notes.txt": "not a RAVDESS name (expected 03-01-EE-II-SS-RR-AA.wav)"}
    assert result.missing[0] == f"Actor_01/{names[3]}" and len(result.missing) == 1 + 23 * 60
    assert not result.complete
    assert result.summary().startswith("56/1440 present (55 verified by checksum, 1 converted copies at 16 kHz")
    assert result.summary().endswith("1381 missing, 2 corrupt, 1 renamed, 1 duplicates, 1 extra")


def test_all_original_checksums_are_shipped():
    table = pd.read_csv(verify.CHECKSUMS, sep="\t")
    assert len(table) == 1440 and table["md5"].str.fullmatch("[0-9a-f]{32}").all()
    assert table["path"].str.extract(r"^(Actor_\d\d)/")[0].value_counts().eq(60).all()
