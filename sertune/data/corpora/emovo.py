"""EMOVO: an Italian emotional speech corpus.

Origin:
    Recorded at the Fondazione Ugo Bordoni (Rome) with professional equipment: six actors
    (3 female, 3 male) speak 14 Italian sentences in the "big six" emotions plus neutral,
    588 utterances in all. A perception test with two groups of 24 listeners on two sentences
    gave 80% overall recognition (joy and disgust hardest; anger, sadness, neutral easiest).
Citation:
    G. Costantini, I. Iaderola, A. Paoloni, M. Todisco, "EMOVO Corpus: an Italian Emotional
    Speech Database", Proc. LREC 2014.
License:
    None stated. The corpus was offered for research from
    http://voice.fub.it/activities/corpora/emovo/index.html, which is no longer online; copies
    circulate through research mirrors. ``download=True`` is not possible: there is no stable
    official address to fetch it from.
Speakers (folder and file-name code: gender):
    f1, f2, f3 female; m1, m2, m3 male (the code's letter is the gender).
Audio:
    48 kHz, 16-bit WAV as distributed; sertune's audio loader down-mixes and resamples.
Layout as distributed::

    <data_dir>/f1/dis-f1-b1.wav ... 98 files per actor (7 emotions x 14 sentences)
    <data_dir>/{f2,f3,m1,m2,m3}/...

    ``data_dir`` may also be a folder holding only ``EMOVO/`` (the unpacked archive's folder).
    Other entries in ``data_dir`` (e.g. a ``documents`` folder) are listed in a warning.

File-name grammar ``EEE-SS-TT.wav``:
    ``EEE`` emotion (Italian, three letters), ``SS`` speaker (must match the folder), ``TT``
    sentence: ``b1 b2 l1 l2 l3 l4 l5 n1 n2 n3 n4 n5 d1 d2``. The letter is the sentence type;
    the paper's grouping is, as far as we can tell from it, b = short (brevi), l = long
    (lunghe), n = nonsense, d = questions (domande) -- only the codes are kept.
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    dis (disgusto) -> disgust, gio (gioia) -> happy, neu (neutro) -> neutral,
    pau (paura) -> fear, rab (rabbia) -> angry, sor (sorpresa) -> surprise,
    tri (tristezza) -> sad. 84 files each.
Official partitions:
    None. Use ``loso`` over the six actors, or ``speaker_kfold``.

Columns beyond the common schema: ``sentence`` (the code, e.g. ``b1``) and ``native_label``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import CorpusTemplate, ParsedName
from sertune.data.files import warn_stray_entries
from sertune.errors import CorpusFileError, CorpusLayoutError

NAME = "emovo"
NUM_UTTERANCES = 588

#: EMOVO's Italian emotion codes mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "dis": "disgust",  # disgusto
    "gio": "happy",  # gioia
    "neu": "neutral",  # neutro
    "pau": "fear",  # paura
    "rab": "angry",  # rabbia
    "sor": "surprise",  # sorpresa
    "tri": "sad",  # tristezza
}

#: Speaker code -> gender.
SPEAKERS: dict[str, str] = {
    "f1": "female",
    "f2": "female",
    "f3": "female",
    "m1": "male",
    "m2": "male",
    "m3": "male",
}

#: The 14 sentence codes.
SENTENCES: tuple[str, ...] = (
    "b1",
    "b2",
    "l1",
    "l2",
    "l3",
    "l4",
    "l5",
    "n1",
    "n2",
    "n3",
    "n4",
    "n5",
    "d1",
    "d2",
)

_FILE_NAME = re.compile(
    r"^(?P<emotion>[a-z]{3})-(?P<speaker>[a-z]\d)-(?P<sentence>[a-z]\d)\.wav$", re.IGNORECASE
)

CORPUS = CorpusTemplate(
    name=NAME,
    title="EMOVO",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={"sentence": Value("string"), "native_label": Value("string")},
    expected_layout=(
        "expected the EMOVO layout <data_dir>/<speaker>/EEE-SS-TT.wav, e.g. "
        "<data_dir>/f1/dis-f1-b1.wav (speaker folders f1 f2 f3 m1 m2 m3). EMOVO cannot be "
        "downloaded automatically (its site voice.fub.it is gone): get a copy and pass the "
        "folder that holds the speaker folders"
    ),
    description="EMOVO: 6 Italian actors, 7 emotions, 14 sentences, 588 files",
    homepage="http://voice.fub.it/activities/corpora/emovo/index.html",
    license="unstated (offered for research by Fondazione Ugo Bordoni)",
    full_size=NUM_UTTERANCES,
)


@dataclass(frozen=True)
class EmovoName(ParsedName):
    """The fields of an EMOVO file name."""

    native_to_common = NATIVE_TO_COMMON

    native_label: str
    speaker: str
    sentence: str

    @property
    def gender(self) -> str:
        return SPEAKERS[self.speaker]


def parse_filename(file_name: str | Path) -> EmovoName:
    """Parse an EMOVO file name such as ``dis-f1-b1.wav``.

    Codes are matched without regard to case (``Dis-F1-B1.WAV`` reads as ``dis-f1-b1``).

    Args:
        file_name: The base name (a path is accepted; only its last part is read).

    Raises:
        CorpusFileError: The name is not ``EEE-SS-TT.wav`` or names an unknown emotion, speaker
            or sentence; the message names the file.
    """
    base = Path(file_name).name
    match = _FILE_NAME.match(base)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not an EMOVO file name; expected EEE-SS-TT.wav, e.g. dis-f1-b1.wav "
            "(emotion, speaker, sentence)"
        )
    emotion, speaker, sentence = (match[key].lower() for key in ("emotion", "speaker", "sentence"))
    if emotion not in NATIVE_TO_COMMON:
        raise CorpusFileError(
            f"{file_name}: unknown EMOVO emotion {emotion!r}; known: {sorted(NATIVE_TO_COMMON)}"
        )
    if speaker not in SPEAKERS:
        raise CorpusFileError(
            f"{file_name}: unknown EMOVO speaker {speaker!r}; known: {list(SPEAKERS)}"
        )
    if sentence not in SENTENCES:
        raise CorpusFileError(
            f"{file_name}: unknown EMOVO sentence {sentence!r}; known: {list(SENTENCES)}"
        )
    return EmovoName(native_label=emotion, speaker=speaker, sentence=sentence)


def _speaker_folders(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.is_dir() and p.name.lower() in SPEAKERS]


def check_layout(root: Path) -> Path:
    """Return the folder holding EMOVO's speaker folders: ``root`` or its only sub-folder.

    Raises:
        CorpusLayoutError: No speaker folder is found; the message says which layout was
            expected.
    """
    folder = CORPUS.find_root(root, lambda folder: bool(_speaker_folders(folder)))
    if folder is None:
        hint = ""
        if root.name.lower() in SPEAKERS:
            hint = f" (it looks like you gave a speaker folder; pass {root.parent})"
        raise CORPUS.layout_error(root, f"no EMOVO speaker folder found{hint}")
    return folder


@CORPUS.register
def load_emovo(data_dir: Path, *, download: bool = False) -> Dataset:
    """Load EMOVO from ``<data_dir>/<speaker>/EEE-SS-TT.wav`` (see the module docstring).

    Args:
        data_dir: The folder holding the speaker folders ``f1`` ... ``m3``.
        download: Not supported (no stable official address); must be ``False``.

    Raises:
        CorpusLayoutError: ``data_dir`` is not an EMOVO folder, or ``download=True``.
        CorpusFileError: A file name does not parse, or its speaker is not its folder's.
    """
    if download:
        raise CorpusLayoutError(CORPUS.download_refusal())
    root = check_layout(Path(data_dir))
    speaker_dirs = _speaker_folders(root)
    stray = [p for p in sorted(root.iterdir()) if p not in speaker_dirs]
    warn_stray_entries(root, stray, corpus=NAME, expected="speaker folders")

    rows = []
    seen: dict[str, Path] = {}
    for speaker_dir in speaker_dirs:
        for path in CORPUS.scan(speaker_dir, recursive=False):
            name = parse_filename(path)
            if name.speaker != speaker_dir.name.lower():
                raise CorpusFileError(
                    f"{path}: file of speaker {name.speaker} in folder {speaker_dir.name}"
                )
            row_id = f"{name.native_label}-{name.speaker}-{name.sentence}"
            if row_id in seen:
                raise CorpusFileError(f"{path}: a second file for {row_id} (also {seen[row_id]})")
            seen[row_id] = path
            rows.append(
                {
                    "id": row_id,
                    "path": path,
                    "label": name.label,
                    "speaker": name.speaker,
                    "gender": name.gender,
                    "sentence": name.sentence,
                    "native_label": name.native_label,
                }
            )
    return CORPUS.dataset(rows, root)
