"""CASIA: the CASIA Chinese Emotional Speech Corpus (Mandarin).

Origin:
    Recorded at the Institute of Automation, Chinese Academy of Sciences (CASIA), Beijing: four
    professional speakers read Mandarin sentences in six emotions. The full corpus has 9,600
    utterances: per speaker and emotion, 300 sentences with the same text in every emotion
    (folder ``相同文本300``) and 100 sentences whose text carries the emotion (``不同文本100``).
    The copy that circulates for research, and that almost every published CASIA figure uses,
    is a 1,200-file subset of the same-text part: 4 speakers x 6 emotions x 50 sentences
    (sentence ids 201-250).
Citation:
    There is no corpus paper. Cite the corpus by its distributor: Institute of Automation,
    Chinese Academy of Sciences, "CASIA Chinese Emotional Speech Corpus", Chinese Linguistic
    Data Consortium (catalogued at http://shachi.org/resources/27).
License:
    Commercial, through the Chinese LDC; the 1,200-file subset is not published under any open
    license. ``download=True`` is therefore not possible: obtain the corpus yourself and give the
    folder that holds the four speaker folders.
Speakers (folder name: gender):
    ``liuchanhg`` (sic, Liu Changhong) female, ``wangzhe`` male, ``zhaoquanyin`` female,
    ``ZhaoZuoxiang`` male. The corpus is described everywhere as "two male and two female
    speakers" but no document that ships with it names who is who. The assignment above comes
    from a speaker-recognition project built on these recordings, whose model files are named
    ``男-wangzhe``, ``男-zhaozuoxiang``, ``女-liuchang``, ``女-zhaoquanyin`` (男 male, 女 female),
    and agrees with the published 2/2 split. Confidence: medium-high, not verified by listening.
    (A briefing that listed ``liuchanhg`` as male contradicts both sources.)
Audio:
    16 kHz, 16-bit mono WAV, one short sentence per file.
Layout as distributed (1,200-file subset)::

    <data_dir>/liuchanhg/angry/201.wav ... 250.wav
    <data_dir>/liuchanhg/{fear,happy,neutral,sad,surprise}/201.wav ...
    <data_dir>/{wangzhe,zhaoquanyin,ZhaoZuoxiang}/...

    ``data_dir`` may also be a folder holding exactly one folder with that layout (the unpacked
    archive's own top folder); for a full copy, give its ``相同文本300`` folder.

File-name grammar ``<speaker>/<emotion>/NNN.wav``:
    The speaker and the emotion are the two parent folders (speaker folders are matched without
    regard to case and reported under the spellings above); ``NNN`` is the three-digit sentence
    id, the same text in every emotion and speaker. File stems repeat across folders, so row ids
    are ``<speaker>_<emotion>_<NNN>`` (e.g. ``wangzhe_sad_201``).
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`):
    angry -> angry, fear -> fear, happy -> happy, neutral -> neutral, sad -> sad,
    surprise -> surprise (one-to-one; 200 files each in the subset).
Official partitions:
    None. Use ``loso`` over the four speakers (4 folds), as most papers do.

Columns beyond the common schema: ``sentence_id`` (int, 201-250 in the subset) and
``native_label`` (the emotion folder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import CorpusTemplate, ParsedName
from sertune.data.files import warn_stray_entries
from sertune.errors import CorpusFileError, CorpusLayoutError

NAME = "casia"
NUM_UTTERANCES_SUBSET = 1200

#: CASIA's emotion folder names mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "angry": "angry",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprise": "surprise",
}

#: Speaker folder -> gender (see the module docstring for the source and its confidence).
SPEAKERS: dict[str, str] = {
    "liuchanhg": "female",
    "wangzhe": "male",
    "zhaoquanyin": "female",
    "ZhaoZuoxiang": "male",
}

_SPEAKER_BY_FOLDER = {speaker.lower(): speaker for speaker in SPEAKERS}
_FILE_NAME = re.compile(r"^(?P<sentence>\d{3})\.wav$", re.IGNORECASE)

CORPUS = CorpusTemplate(
    name=NAME,
    title="CASIA",
    native_to_common=NATIVE_TO_COMMON,
    extra_features={"sentence_id": Value("int32"), "native_label": Value("string")},
    expected_layout=(
        "expected the CASIA layout <data_dir>/<speaker>/<emotion>/NNN.wav, e.g. "
        "<data_dir>/liuchanhg/angry/201.wav, with speaker folders liuchanhg, wangzhe, "
        "zhaoquanyin, ZhaoZuoxiang and emotion folders angry, fear, happy, neutral, sad, "
        "surprise. CASIA cannot be downloaded automatically (licensed through the Chinese LDC): "
        "obtain it and pass the folder that holds the speaker folders"
    ),
    description="CASIA Chinese Emotional Speech Corpus: 4 Mandarin speakers, 6 emotions, "
    "1,200-file public subset",
    homepage="http://shachi.org/resources/27",
    license="proprietary (Chinese LDC); research copies circulate without a license",
    full_size=NUM_UTTERANCES_SUBSET,
    full_size_of="the public subset",
)


@dataclass(frozen=True)
class CasiaName(ParsedName):
    """The fields of a CASIA file path."""

    native_to_common = NATIVE_TO_COMMON

    speaker: str
    native_label: str
    sentence_id: int

    @property
    def gender(self) -> str:
        """The speaker's gender."""
        return SPEAKERS[self.speaker]


def parse_path(path: str | Path) -> CasiaName:
    """Parse a CASIA file path such as ``liuchanhg/angry/201.wav``.

    Args:
        path: The file's path; its last three parts (speaker folder, emotion folder, file name)
            are read.

    Raises:
        CorpusFileError: The file name is not ``NNN.wav`` or the folders name an unknown
            speaker or emotion; the message names the file.
    """
    parts = Path(path).parts
    if len(parts) < 3:
        raise CorpusFileError(
            f"{path}: expected <speaker>/<emotion>/NNN.wav, e.g. wangzhe/sad/201.wav"
        )
    speaker_folder, emotion_folder, file_name = parts[-3:]
    match = _FILE_NAME.match(file_name)
    if match is None:
        raise CorpusFileError(
            f"{path}: not a CASIA file name; expected NNN.wav "
            "(three-digit sentence id, e.g. 201.wav)"
        )
    speaker = _SPEAKER_BY_FOLDER.get(speaker_folder.lower())
    if speaker is None:
        raise CorpusFileError(
            f"{path}: unknown CASIA speaker folder {speaker_folder!r}; known: {list(SPEAKERS)}"
        )
    if emotion_folder not in NATIVE_TO_COMMON:
        raise CorpusFileError(
            f"{path}: unknown CASIA emotion folder {emotion_folder!r}; "
            f"known: {sorted(NATIVE_TO_COMMON)}"
        )
    return CasiaName(
        speaker=speaker, native_label=emotion_folder, sentence_id=int(match["sentence"])
    )


def _speaker_folders(folder: Path) -> list[Path]:
    return [
        path
        for path in sorted(folder.iterdir())
        if path.is_dir() and path.name.lower() in _SPEAKER_BY_FOLDER
    ]


def check_layout(root: Path) -> Path:
    """Check that ``root`` holds CASIA speaker folders and return the folder that does.

    ``root`` itself, or its only sub-folder (the unpacked archive's top folder), may hold them.

    Raises:
        CorpusLayoutError: No speaker folder is found; the message says which layout was
            expected and, where it can tell, what was given instead.
    """
    folder = CORPUS.find_root(root, lambda folder: bool(_speaker_folders(folder)))
    if folder is None:
        hint = ""
        if root.name in NATIVE_TO_COMMON or root.name.lower() in _SPEAKER_BY_FOLDER:
            hint = (
                " (it looks like you gave a speaker or emotion folder; "
                f"pass its parent {root.parent})"
            )
        elif any((root / name).is_dir() for name in ("相同文本300", "不同文本100")):
            hint = f" (a full CASIA copy: pass {root / '相同文本300'})"
        raise CORPUS.layout_error(root, f"no CASIA speaker folder found{hint}")
    return folder


def _warn_stray(folder: Path, stray: list[Path]) -> None:
    warn_stray_entries(folder, stray, corpus=NAME, expected="CASIA folders")


@CORPUS.register
def load_casia(data_dir: Path, *, download: bool = False) -> Dataset:
    """Load CASIA from ``<data_dir>/<speaker>/<emotion>/NNN.wav`` (see the module docstring).

    Args:
        data_dir: The folder holding the four speaker folders.
        download: Not supported (CASIA is licensed); must be ``False``.

    Raises:
        CorpusLayoutError: ``data_dir`` is not a CASIA folder, or ``download=True``.
        CorpusFileError: A folder or file name does not parse.
    """
    if download:
        raise CorpusLayoutError(CORPUS.download_refusal())
    root = check_layout(Path(data_dir))

    speaker_dirs = _speaker_folders(root)
    _warn_stray(root, [p for p in sorted(root.iterdir()) if p not in speaker_dirs])
    rows = []
    for speaker_dir in speaker_dirs:
        for emotion_dir in CORPUS.label_folders(speaker_dir, expected="CASIA folders"):
            for path in CORPUS.scan(emotion_dir, recursive=False):
                name = parse_path(path)
                rows.append(
                    {
                        "id": f"{name.speaker}_{name.native_label}_{name.sentence_id:03d}",
                        "path": path,
                        "label": name.label,
                        "speaker": name.speaker,
                        "gender": name.gender,
                        "sentence_id": name.sentence_id,
                        "native_label": name.native_label,
                    }
                )
    return CORPUS.dataset(rows, root)
