"""Write a small IEMOCAP copy in the layout of ``IEMOCAP_full_release``.

Seven real dialog names over the five sessions (including the ``impro05a`` and ``script01_1b``
variants), two to four utterances each, covering every native category. Evaluation files follow
the real format: a ``%`` header, one consensus line per utterance followed by per-annotator
``C-`` and ``A-`` lines, blocks separated by blank lines.
"""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from corpus_fixtures import tone

#: dialog -> [(utterance suffix, native category, (valence, activation, dominance))].
IEMOCAP_DIALOGS: dict[str, list[tuple[str, str, tuple[float, float, float]]]] = {
    "Ses01F_impro01": [
        ("F000", "neu", (2.5, 2.5, 2.5)),
        ("M000", "fru", (2.0, 3.5, 3.5)),
        ("F001", "ang", (1.5, 4.0, 4.0)),
        ("M001", "xxx", (2.5, 3.0, 3.0)),
    ],
    "Ses01F_script01_1": [("F000", "exc", (4.0, 4.0, 3.0)), ("M000", "hap", (4.5, 3.0, 3.0))],
    "Ses02M_impro02": [("F000", "sad", (1.5, 2.0, 2.0)), ("M000", "neu", (3.0, 2.0, 2.5))],
    "Ses03M_impro05a": [("M012", "sur", (3.5, 4.0, 3.0)), ("F000", "fea", (1.5, 3.5, 2.0))],
    "Ses04F_script02_2": [("F000", "dis", (1.0, 3.0, 3.5)), ("M003", "oth", (2.5, 2.5, 2.5))],
    "Ses05M_script01_1b": [("F000", "hap", (4.0, 3.0, 3.0)), ("M000", "exc", (4.5, 4.5, 3.5))],
    "Ses05M_script03_2": [("F001", "ang", (1.0, 4.5, 4.5)), ("M002", "sad", (2.0, 1.5, 1.5))],
}

#: Native category -> tone pitch, so a tiny model can tell the classes apart.
IEMOCAP_PITCH_HZ = {
    "ang": 310.0,
    "hap": 240.0,
    "exc": 260.0,
    "sad": 130.0,
    "neu": 160.0,
    "fru": 200.0,
    "fea": 280.0,
    "sur": 290.0,
    "dis": 180.0,
    "oth": 210.0,
    "xxx": 220.0,
}

_CATEGORY_WORDS = {
    "ang": "Anger",
    "hap": "Happiness",
    "exc": "Excited",
    "sad": "Sadness",
    "neu": "Neutral",
    "fru": "Frustration",
    "fea": "Fear",
    "sur": "Surprise",
    "dis": "Disgust",
    "oth": "Other",
    "xxx": "Frustration",
}


def iemocap_utterances(dialogs=None) -> list[str]:
    """Utterance ids of the fixture, e.g. ``Ses01F_impro01_F000``."""
    dialogs = IEMOCAP_DIALOGS if dialogs is None else dialogs
    return [f"{dialog}_{suffix}" for dialog, turns in dialogs.items() for suffix, _, _ in turns]


def _evaluation_text(dialog: str, turns) -> str:
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    start = 6.2901
    for suffix, category, (valence, activation, dominance) in turns:
        end = start + 1.9456
        lines.append(
            f"[{start:.4f} - {end:.4f}]\t{dialog}_{suffix}\t{category}\t"
            f"[{valence:.4f}, {activation:.4f}, {dominance:.4f}]"
        )
        word = _CATEGORY_WORDS[category]
        lines += [
            f"C-E2:\t{word};\t()",
            f"C-E3:\t{word}; Neutral;\t()",
            f"C-{suffix[0]}1:\t{word};\t(curious)",
            "A-E3:\tval 3; act 2; dom  2;\t()",
            f"A-{suffix[0]}1:\tval 3; act 2; dom  1;\t(mildly aggravated, attitude)",
            "",
        ]
        start = end + 0.7
    return "\n".join(lines) + "\n"


def write_iemocap(
    root: Path,
    dialogs: dict[str, list[tuple[str, str, tuple[float, float, float]]]] | None = None,
    *,
    sampling_rate: int = 16_000,
    quirks: bool = True,
) -> Path:
    """Write ``root/IEMOCAP_full_release`` and return that folder.

    Args:
        root: Where to create ``IEMOCAP_full_release``.
        dialogs: Dialogs to write (default :data:`IEMOCAP_DIALOGS`).
        sampling_rate: Rate of the 16-bit files.
        quirks: Also write what real copies show: one stereo file, one 24-bit file, one
            ``.WAV`` extension, the per-annotator folders of ``EmoEvaluation/`` and the
            ``Documentation/`` folder.
    """
    dialogs = IEMOCAP_DIALOGS if dialogs is None else dialogs
    release = root / "IEMOCAP_full_release"
    for session in range(1, 6):
        (release / f"Session{session}" / "sentences" / "wav").mkdir(parents=True, exist_ok=True)
        evaluation_dir = release / f"Session{session}" / "dialog" / "EmoEvaluation"
        evaluation_dir.mkdir(parents=True, exist_ok=True)
        if quirks:
            for folder in ("Attribute", "Categorical", "Self-evaluation"):
                (evaluation_dir / folder).mkdir(exist_ok=True)
            categorical = evaluation_dir / "Categorical" / f"Ses0{session}F_impro01_e2_cat.txt"
            categorical.write_text(f"Ses0{session}F_impro01_F000 :Neutral state; ()\n")
    if quirks:
        (release / "Documentation").mkdir(exist_ok=True)
        (release / "README.txt").write_text("IEMOCAP release\n")

    index = 0
    for dialog, turns in dialogs.items():
        session = int(dialog[4])
        session_dir = release / f"Session{session}"
        wav_dir = session_dir / "sentences" / "wav" / dialog
        wav_dir.mkdir(parents=True, exist_ok=True)
        evaluation = session_dir / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
        evaluation.write_text(_evaluation_text(dialog, turns))
        for suffix, category, _ in turns:
            channels, subtype, extension = 1, "PCM_16", ".wav"
            if quirks and index == 0:
                channels = 2
            if quirks and index == 2:
                subtype = "PCM_24"
            if quirks and index == 4:
                extension = ".WAV"
            audio = tone(
                0.2 + 0.05 * (index % 4),
                sampling_rate,
                IEMOCAP_PITCH_HZ[category],
                seed=index,
                channels=channels,
            )
            path = wav_dir / f"{dialog}_{suffix}{extension}"
            sf.write(path, audio, sampling_rate, subtype=subtype, format="WAV")
            index += 1
    return release
