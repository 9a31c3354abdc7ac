"""Other corpora made of real RAVDESS clips: renamed into each corpus's naming convention, resampled to its rate and
laid out as its usual Kaggle dataset (for tests/data/test_corpora.py and tests/evaluate/test_score.py)."""

from pathlib import Path

import soundfile as sf

from ser_utils.data.audio import load_audio
from ser_utils.data.ravdess import parse_name

# Each corpus's own code for the RAVDESS emotions it has, written out from the corpora's documentation.
CORPUS_CODES = {
    "crema-d": {"Anger": "ANG", "Disgust": "DIS", "Fear": "FEA", "Happy": "HAP", "Neutral": "NEU", "Sad": "SAD"},
    "tess": {
        "Anger": "angry",
        "Disgust": "disgust",
        "Fear": "fear",
        "Happy": "happy",
        "Neutral": "neutral",
        "Sad": "sad",
        "Surprise": "ps",
    },
    "savee": {"Anger": "a", "Disgust": "d", "Fear": "f", "Happy": "h", "Neutral": "n", "Sad": "sa", "Surprise": "su"},
    "emodb": {"Anger": "W", "Disgust": "E", "Fear": "A", "Happy": "F", "Sad": "T", "Neutral": "N", "Calm": "L"},
}
CORPUS_RATES = {"crema-d": 16_000, "tess": 24_414, "savee": 44_100, "emodb": 16_000}
WORDS = [
    "back",
    "bar",
    "base",
    "bath",
    "bean",
    "beg",
    "bite",
    "boat",
    "bone",
    "book",
    "bought",
    "burn",
    "cab",
    "calm",
    "came",
    "cause",
    "chain",
    "chair",
    "chalk",
    "chat",
    "check",
    "cheek",
    "chief",
    "choice",
]


def corpus_path(corpus: str, emotion: str, n: int) -> str:
    """A file name of `corpus` for a clip of `emotion` (n: which clip), in its usual Kaggle layout."""
    code = CORPUS_CODES[corpus][emotion]
    return {
        "crema-d": f"cremad/AudioWAV/{1001 + n % 3}_DFA_{code}_XX.wav",
        "tess": f"tess/TESS Toronto emotional speech set data/{'OAF' if n % 2 else 'YAF'}_{code}/"
        f"{'OAF' if n % 2 else 'YAF'}_{WORDS[n]}_{code}.wav",
        "savee": f"savee/ALL/{['DC', 'JE', 'JK', 'KL'][n % 4]}_{code}{n + 1:02d}.wav",
        "emodb": f"emodb/wav/{['03', '08'][n % 2]}a{n:02d}{code}a.wav",
    }[corpus]


# Each corpus is made of another actor's clips: real corpora share no recording (the leakage audit would see it).
CORPUS_ACTORS = {"crema-d": "Actor_03", "tess": "Actor_04", "savee": "Actor_05", "emodb": "Actor_06"}


def make_kaggle_input(ravdess_16k: Path, root: Path) -> Path:
    """A /kaggle/input-like folder in `root`: RAVDESS (2 actors, linked) and the four other corpora, each made of
    another actor's clips (CORPUS_ACTORS), 2 per emotion, renamed into each convention and resampled to each
    corpus's rate."""
    ravdess = root / "ravdess-emotional-speech-audio" / "audio_speech_actors_01-24"
    for actor in ("Actor_01", "Actor_02"):
        (ravdess / actor).mkdir(parents=True)
        for clip in sorted((ravdess_16k / actor).iterdir())[:8]:
            (ravdess / actor / clip.name).symlink_to(clip)
    for corpus, codes in CORPUS_CODES.items():
        sources = sorted((ravdess_16k / CORPUS_ACTORS[corpus]).iterdir())
        chosen = [s for s in sources if parse_name(s.name).emotion in codes]
        chosen = [s for e in codes for s in [c for c in chosen if parse_name(c.name).emotion == e][:2]]  # 2 each
        for n, source in enumerate(chosen):
            audio, _ = load_audio(source, CORPUS_RATES[corpus])
            path = root / corpus_path(corpus, parse_name(source.name).emotion, n)
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, audio, CORPUS_RATES[corpus], subtype="PCM_16")
    return root


# Each corpus's Kaggle dataset (owner, slug) and where its clips sit in it; RAVDESS and TESS hold two copies.
KAGGLE_DATASETS = {
    "ravdess": ("uwrfkaggler", "ravdess-emotional-speech-audio", ["", "audio_speech_actors_01-24/"]),
    "crema-d": ("ejlok1", "cremad", ["AudioWAV/"]),
    "tess": (
        "ejlok1",
        "toronto-emotional-speech-set-tess",
        [
            "TESS Toronto emotional speech set data/",
            "tess toronto emotional speech set data/TESS Toronto emotional speech set data/",
        ],
    ),
    "savee": ("ejlok1", "surrey-audiovisual-expressed-emotion-savee", ["ALL/"]),
    "emodb": ("piyushagni5", "berlin-database-of-emotional-speech-emodb", ["wav/"]),
}


def kaggle_dataset_dir(root: Path, corpus: str, mount: str) -> Path:
    """Where Kaggle mounts `corpus`'s dataset under `root`: "new" /kaggle/input/datasets/<owner>/<slug>/, "old"
    /kaggle/input/<slug>/."""
    owner, slug, _ = KAGGLE_DATASETS[corpus]
    return root / "datasets" / owner / slug if mount == "new" else root / slug


def make_kaggle_mount(kaggle_input: Path, root: Path, mount: str) -> Path:
    """The five corpora of `kaggle_input` (make_kaggle_input) linked into `root` as Kaggle mounts their datasets
    (`mount`: "new" or "old"), each copy of a duplicated tree holding every clip."""
    from ser_utils.data.corpora import find_corpora

    for corpus, folder in find_corpora(kaggle_input).items():
        base = kaggle_dataset_dir(root, corpus, mount)
        for copy in KAGGLE_DATASETS[corpus][2]:
            for clip in sorted(folder.rglob("*.wav")):
                target = base / copy / clip.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(clip)
    return root
