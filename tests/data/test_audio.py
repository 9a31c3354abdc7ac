"""Reading, downmixing, resampling and cutting audio."""

import librosa
import numpy as np
import soundfile as sf

from ser_utils.config import NUM_SAMPLES
from ser_utils.data.audio import read_window, to_mono_at, trim_to_window
from ser_utils.data.corpora import window_for

RAVDESS_WINDOW = window_for("ravdess")
OFFSET_SAMPLES = RAVDESS_WINDOW.offset  # 0.6 s at 16 kHz


def test_trim_to_window_offsets_and_pads():
    ramp = np.arange(60_000, dtype=np.float32)
    window = trim_to_window(ramp, OFFSET_SAMPLES, NUM_SAMPLES)
    assert window.shape == (NUM_SAMPLES,)
    assert window[0] == OFFSET_SAMPLES and window[-1] == OFFSET_SAMPLES + NUM_SAMPLES - 1
    short = trim_to_window(np.ones(20_000, dtype=np.float32), OFFSET_SAMPLES, NUM_SAMPLES)
    assert short.shape == (NUM_SAMPLES,)
    assert short[: 20_000 - OFFSET_SAMPLES].all() and not short[20_000 - OFFSET_SAMPLES :].any()


def test_mono_and_resampling_give_librosas_numbers_exactly(ravdess_48k_sample, stereo_clips):
    stereo = ravdess_48k_sample / f"{stereo_clips[0]}.wav"
    mono = sorted(ravdess_48k_sample.glob("Actor_01/*.wav"))[0]
    three, _ = sf.read(stereo, dtype="float32")
    three = np.column_stack([three, three[:, ::-1].sum(axis=1) / 3])  # a third channel
    cases = [sf.read(path, dtype="float32", always_2d=True) for path in (stereo, mono)]
    for audio, rate in [*cases, (three, 48_000), (three, 44_100), (three, 16_000)]:
        expected = librosa.resample(librosa.to_mono(audio.T), orig_sr=rate, target_sr=16_000, res_type="soxr_hq")
        result = to_mono_at(audio, rate)
        assert result.dtype == np.float32 and np.array_equal(result, expected)


def test_48k_originals_match_their_16k_copies(ravdess_16k, ravdess_48k_sample):
    originals = sorted(ravdess_48k_sample.glob("Actor_01/*.wav"))
    assert len(originals) == 60 and sf.info(originals[0]).samplerate == 48_000
    worst = 0.0
    for original in originals:
        from_48k = read_window(original, RAVDESS_WINDOW)[0]
        from_16k = read_window(ravdess_16k / "Actor_01" / original.name, RAVDESS_WINDOW)[0]
        assert from_48k.shape == (NUM_SAMPLES,)
        worst = max(worst, float(np.abs(from_48k - from_16k).max()))
    assert worst < 1e-4, worst  # the 16 kHz copies differ only by 16-bit rounding
