"""IEMOCAP: the Interactive Emotional Dyadic Motion Capture database.

Origin:
    Recorded at the University of Southern California (SAIL lab): five sessions, each a
    mixed-gender pair of actors performing improvisations of hypothetical scenarios and scripted
    plays, in English, with audio, video and motion capture of the face, head and hands. The
    dialogs are cut into 10,039 speaker turns ("utterances"), each labelled by at least three
    annotators with categories and with valence, activation and dominance.
Citation:
    C. Busso, M. Bulut, C.-C. Lee, A. Kazemzadeh, E. Mower, S. Kim, J. N. Chang, S. Lee,
    S. S. Narayanan, "IEMOCAP: Interactive emotional dyadic motion capture database",
    Language Resources and Evaluation 42(4), pp. 335-359, 2008.
License:
    USC's IEMOCAP release agreement: research use only, no redistribution. The corpus is
    requested from https://sail.usc.edu/iemocap/iemocap_release.htm (a signed form), and
    ``download=True`` is not possible.
Speakers:
    10 actors, one woman and one man per session. Speaker ids here are the session plus the
    gender of the speaking actor: ``Ses01F``, ``Ses01M``, ... ``Ses05M`` (5 female, 5 male).
Audio:
    ``sentences/wav``: one 16 kHz, 16-bit mono WAV per utterance, a few seconds long.
Layout as distributed (``IEMOCAP_full_release``)::

    <data_dir>/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav
    <data_dir>/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt    labels, one file per dialog
    <data_dir>/Session1/dialog/EmoEvaluation/{Attribute,Categorical,Self-evaluation}/
                                                                   per-annotator files (unused)
    ... Session2 to Session5 alike; Documentation/, README.txt and the video, motion-capture
    and transcription folders are not read.

    ``data_dir`` is the ``IEMOCAP_full_release`` folder, or the folder that holds it.

Name grammar (:func:`parse_dialog_name`, :func:`parse_utterance_name`):
    Dialog ``Ses0<n><F|M>_<impro|script><nn>[a|b][_<k>[b]]``, e.g. ``Ses01F_impro01``,
    ``Ses03M_impro05a``, ``Ses01F_script01_1``, ``Ses05M_script01_1b``: session ``n`` (1-5),
    the gender of the actor who wore the motion-capture markers (NOT the speaker of an
    utterance), improvised or scripted, scenario or script number, and a part. Utterance
    ``<dialog>_<F|M><nnn>``, e.g. ``Ses01F_impro01_M012``: ``F``/``M`` is the gender of the actor
    speaking this turn; with the session it gives the speaker id (``Ses01M`` here).
Evaluation files (:func:`read_evaluation_file`):
    A header line ``% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]``, then one block per
    utterance: a consensus line ``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000,
    2.5000, 2.5000]`` (start and end in seconds within the dialog, utterance, consensus category,
    mean valence, activation and dominance on a 1-5 scale) followed by per-annotator lines
    (``C-E1:`` categories, ``A-E1:`` attributes), which are skipped. Every ``.wav`` must have a
    consensus line (an error names the file otherwise); consensus lines whose ``.wav`` is missing
    are listed in a warning.
Native labels and the common taxonomy (:data:`NATIVE_TO_COMMON`, :data:`EXCITED_MERGE`):
    ang (anger) -> angry, hap (happiness) -> happy, sad (sadness) -> sad, neu (neutral) ->
    neutral, fea (fear) -> fear, sur (surprise) -> surprise, dis (disgust) -> disgust;
    exc (excited) -> happy when ``merge_excited_into_happy=True`` (the default, as in the usual
    four-class setup), else dropped. fru (frustration), oth (other) and xxx (no majority among
    the annotators) have no common label: those utterances are dropped, with one log line
    counting them per native label; the ``native_label`` column keeps the label of every row
    kept (``exc`` stays visible after the merge).
    Consensus counts in the 10,039 utterances: xxx 2507, fru 1849, neu 1708, ang 1103,
    sad 1084, exc 1041, hap 595, sur 107, fea 40, oth 3, dis 2.
The four-class setup (:data:`FOUR_CLASS`):
    Most IEMOCAP results use ``labels=["neutral", "happy", "sad", "angry"]`` with excited merged
    into happy: 5,531 utterances (neutral 1708, happy 1636, angry 1103, sad 1084)::

        load_corpus("iemocap", path, labels=FOUR_CLASS)

    With ``merge_excited_into_happy=False`` the same selection gives the older 4,490-utterance
    set (happy 595).
Official partitions:
    None. The usual protocol is leave-one-session-out, on the ``session`` column: five folds,
    each training on four sessions and testing on the fifth, so that no speaker and no dialog
    crosses train and test (validation speakers come from the training sessions; some papers
    instead validate on one speaker of the held-out session and test on the other). ``loso``
    over the ten speakers is also used, but there the test speaker's dialog partner trains.
    Report unweighted (UAR) and weighted accuracy, averaged over the folds.
Download:
    Not possible (license agreement, manual download only; see above).

Columns beyond the common schema: ``session`` (1-5), ``dialog``, ``improvised`` (True for
``impro`` dialogs, False for ``script``), ``start`` and ``end`` (seconds within the dialog),
``valence``, ``activation``, ``dominance`` (consensus means, 1-5) and ``native_label``.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Value

from sertune.data.corpora._template import CorpusTemplate, shown
from sertune.errors import CorpusFileError, CorpusLayoutError

logger = logging.getLogger(__name__)

NAME = "iemocap"
HOMEPAGE = "https://sail.usc.edu/iemocap/"
RELEASE_FOLDER = "IEMOCAP_full_release"
SESSIONS: tuple[int, ...] = (1, 2, 3, 4, 5)
NUM_UTTERANCES = 10039

#: IEMOCAP's consensus categories mapped to the common taxonomy.
NATIVE_TO_COMMON: dict[str, str] = {
    "ang": "angry",
    "hap": "happy",
    "sad": "sad",
    "neu": "neutral",
    "fea": "fear",
    "sur": "surprise",
    "dis": "disgust",
}

#: The merge applied when ``merge_excited_into_happy=True`` (the default).
EXCITED_MERGE: dict[str, str] = {"exc": "happy"}

#: Every native category, with its meaning; those outside the mappings above are dropped.
NATIVE_LABELS: dict[str, str] = {
    "ang": "anger",
    "hap": "happiness",
    "exc": "excited",
    "sad": "sadness",
    "neu": "neutral",
    "fru": "frustration",
    "fea": "fear",
    "sur": "surprise",
    "dis": "disgust",
    "oth": "other",
    "xxx": "no majority among the annotators",
}

#: The usual four-class selection: ``load_corpus("iemocap", path, labels=FOUR_CLASS)``.
FOUR_CLASS: tuple[str, ...] = ("neutral", "happy", "sad", "angry")

GENDERS: dict[str, str] = {"F": "female", "M": "male"}

_DIALOG = (
    r"Ses0(?P<session>[1-5])(?P<marker>[FM])_(?P<kind>impro|script)(?P<number>\d{2})"
    r"(?P<variant>[ab])?(?:_(?P<part>\d)(?P<part_variant>b)?)?"
)
_DIALOG_NAME = re.compile(rf"^{_DIALOG}$")
_UTTERANCE_NAME = re.compile(rf"^(?P<dialog>{_DIALOG})_(?P<speaker>[FM])(?P<turn>\d{{3}})$")
_NUMBER = r"\d+(?:\.\d*)?"
_CONSENSUS_LINE = re.compile(
    rf"^\[\s*(?P<start>{_NUMBER})\s*-\s*(?P<end>{_NUMBER})\s*\]\s+(?P<utterance>\S+)\s+"
    rf"(?P<label>\S+)\s+\[\s*(?P<valence>{_NUMBER})\s*,\s*(?P<activation>{_NUMBER})\s*,"
    rf"\s*(?P<dominance>{_NUMBER})\s*\]$"
)
#: Per-annotator lines: categories (``C-E1:``) and attributes (``A-E1:``, ``A-F1:`` ...).
_ANNOTATOR_LINE = re.compile(r"^[CA]-[A-Za-z]+\d*\s*:")
#: Folders inside ``EmoEvaluation/`` that hold per-annotator files, not read here.
_ANNOTATOR_FOLDERS = frozenset({"Attribute", "Categorical", "Self-evaluation"})

CORPUS = CorpusTemplate(
    name=NAME,
    title="IEMOCAP",
    native_to_common={**NATIVE_TO_COMMON, **EXCITED_MERGE},
    extra_features={
        "session": Value("int32"),
        "dialog": Value("string"),
        "improvised": Value("bool"),
        "start": Value("float64"),
        "end": Value("float64"),
        "valence": Value("float32"),
        "activation": Value("float32"),
        "dominance": Value("float32"),
        "native_label": Value("string"),
    },
    expected_layout=(
        "expected the official IEMOCAP layout: <data_dir>/Session1..Session5/sentences/wav/"
        "<dialog>/<utterance>.wav (e.g. Session1/sentences/wav/Ses01F_impro01/"
        "Ses01F_impro01_F000.wav) with labels in <data_dir>/SessionN/dialog/EmoEvaluation/"
        f"<dialog>.txt, where <data_dir> is the {RELEASE_FOLDER} folder or the folder holding "
        "it. IEMOCAP cannot be downloaded automatically: request it from "
        "https://sail.usc.edu/iemocap/iemocap_release.htm (USC license agreement)"
    ),
    description="IEMOCAP: 10 English-speaking actors in 5 dyadic sessions, ~10k utterances",
    homepage=HOMEPAGE,
    license="USC IEMOCAP release agreement (research only, no redistribution)",
)


@dataclass(frozen=True)
class IemocapDialog:
    """The fields of an IEMOCAP dialog name such as ``Ses03M_impro05a``."""

    name: str
    session: int
    #: Gender letter of the actor who wore the motion-capture markers (not a speaker id).
    marker_actor: str
    improvised: bool


@dataclass(frozen=True)
class IemocapUtterance:
    """The fields of an IEMOCAP utterance name such as ``Ses01F_impro01_M012``."""

    name: str
    dialog: IemocapDialog
    #: Gender letter (``F``/``M``) of the actor speaking this turn.
    speaker_letter: str
    turn: int

    @property
    def session(self) -> int:
        return self.dialog.session

    @property
    def speaker(self) -> str:
        """Speaker id: session plus the speaking actor's gender, e.g. ``Ses01M``."""
        return f"Ses{self.session:02d}{self.speaker_letter}"

    @property
    def gender(self) -> str:
        return GENDERS[self.speaker_letter]


@dataclass(frozen=True)
class IemocapEvaluation:
    """One consensus line of an ``EmoEvaluation/<dialog>.txt`` file."""

    utterance: str
    start: float
    end: float
    native_label: str
    valence: float
    activation: float
    dominance: float


def parse_dialog_name(name: str) -> IemocapDialog:
    """Parse an IEMOCAP dialog name such as ``Ses01F_script01_1`` or ``Ses03M_impro05a``.

    Raises:
        CorpusFileError: The name does not follow the grammar; the message names it.
    """
    match = _DIALOG_NAME.match(name)
    if match is None:
        raise CorpusFileError(
            f"{name}: not an IEMOCAP dialog name; expected Ses0<n><F|M>_<impro|script><nn>"
            "[a|b][_<k>], e.g. Ses01F_impro01, Ses03M_impro05a or Ses01F_script01_1"
        )
    return IemocapDialog(
        name=name,
        session=int(match["session"]),
        marker_actor=match["marker"],
        improvised=match["kind"] == "impro",
    )


def parse_utterance_name(file_name: str) -> IemocapUtterance:
    """Parse an IEMOCAP utterance name, with or without ``.wav``, e.g. ``Ses01F_impro01_M012``.

    Args:
        file_name: The utterance id or file name (a path is accepted; only its last part is
            read). The ``.wav`` suffix may be in any case; the name itself is matched exactly.

    Raises:
        CorpusFileError: The name does not follow ``<dialog>_<F|M><nnn>[.wav]``; the message
            names the file.
    """
    base = Path(file_name).name
    stem = base[: -len(".wav")] if base.lower().endswith(".wav") else base
    match = _UTTERANCE_NAME.match(stem)
    if match is None:
        raise CorpusFileError(
            f"{file_name}: not an IEMOCAP utterance name; expected <dialog>_<F|M><nnn>.wav, "
            "e.g. Ses01F_impro01_F000.wav or Ses05M_script01_1b_M012.wav"
        )
    return IemocapUtterance(
        name=stem,
        dialog=parse_dialog_name(match["dialog"]),
        speaker_letter=match["speaker"],
        turn=int(match["turn"]),
    )


def read_evaluation_file(path: str | Path) -> list[IemocapEvaluation]:
    """Read the consensus lines of an ``EmoEvaluation/<dialog>.txt`` file.

    The header (``%`` line), blank lines and per-annotator lines (``C-E1:``, ``A-E1:``, ...)
    are skipped; every other line must be a consensus line.

    Args:
        path: The evaluation file; its stem is the dialog name.

    Raises:
        CorpusFileError: A line is neither, names an unknown category, an utterance of another
            dialog, or an utterance already listed; the message gives the file and line number.
    """
    path = Path(path)
    dialog = path.stem
    evaluations: list[IemocapEvaluation] = []
    seen: set[str] = set()
    # Latin-1 decodes any byte: the annotators' free-text comments are skipped anyway.
    for number, raw in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("%") or _ANNOTATOR_LINE.match(line):
            continue
        where = f"{path}:{number}"
        match = _CONSENSUS_LINE.match(line)
        if match is None:
            raise CorpusFileError(
                f"{where}: not an IEMOCAP evaluation line; expected '[start - end]<TAB>"
                f"<utterance><TAB><category><TAB>[V, A, D]' or an annotator line (C-E1:, A-E1:"
                f" ...): {raw!r}"
            )
        utterance, label = match["utterance"], match["label"]
        try:
            parsed = parse_utterance_name(utterance)
        except CorpusFileError as error:
            raise CorpusFileError(f"{where}: {error}") from None
        if parsed.dialog.name != dialog:
            raise CorpusFileError(f"{where}: utterance {utterance} is not of dialog {dialog}")
        if utterance in seen:
            raise CorpusFileError(f"{where}: utterance {utterance} is listed twice")
        if label not in NATIVE_LABELS:
            raise CorpusFileError(
                f"{where}: unknown IEMOCAP category {label!r} for {utterance}; "
                f"known: {sorted(NATIVE_LABELS)}"
            )
        seen.add(utterance)
        evaluations.append(
            IemocapEvaluation(
                utterance=utterance,
                start=float(match["start"]),
                end=float(match["end"]),
                native_label=label,
                valence=float(match["valence"]),
                activation=float(match["activation"]),
                dominance=float(match["dominance"]),
            )
        )
    return evaluations


def _session_folders(root: Path) -> dict[int, Path]:
    folders = {}
    for path in root.iterdir():
        match = re.fullmatch(r"Session([1-5])", path.name)
        if match and path.is_dir():
            folders[int(match[1])] = path
    return folders


def check_layout(data_dir: Path) -> tuple[Path, dict[int, Path]]:
    """Find the ``IEMOCAP_full_release`` folder and its session folders.

    Args:
        data_dir: The ``IEMOCAP_full_release`` folder, or the folder that holds it.

    Returns:
        The release folder and its ``SessionN`` folders by session number. Missing sessions are
        named in a warning (a full copy has all five).

    Raises:
        CorpusLayoutError: No session folder is found, or one lacks ``sentences/wav/`` or
            ``dialog/EmoEvaluation/``; the message says which layout was expected.
    """
    CORPUS.require_folder(data_dir)
    root = data_dir
    sessions = _session_folders(root)
    if not sessions and (root / RELEASE_FOLDER).is_dir():
        root = root / RELEASE_FOLDER
        sessions = _session_folders(root)
    if not sessions:
        hint = ""
        if re.fullmatch(r"Session[1-5]", root.name):
            hint = f" (it looks like you gave one session folder; pass {root.parent})"
        elif root.name in {"sentences", "wav", "dialog", "EmoEvaluation"}:
            hint = (
                " (it looks like you gave a folder inside a session; "
                f"pass the {RELEASE_FOLDER} folder)"
            )
        else:
            releases = sorted(p.name for p in root.iterdir() if p.name.startswith("IEMOCAP"))
            if releases:
                hint = f" (found {releases}: pass that folder itself)"
        raise CORPUS.layout_error(root, f"no Session1..Session5 folders{hint}")
    for folder in sessions.values():
        for part in ("sentences/wav", "dialog/EmoEvaluation"):
            if not (folder / part).is_dir():
                raise CORPUS.layout_error(folder, f"no {part}/ folder")
    missing = [session for session in SESSIONS if session not in sessions]
    if missing:
        logger.warning(
            "%s: %s: sessions %s are missing (a full copy has Session1..Session5); loading %s",
            NAME,
            root,
            missing,
            sorted(sessions),
        )
    return root, sessions


def _read_session_evaluations(eval_dir: Path, session: int) -> dict[str, IemocapEvaluation]:
    """Consensus lines of every ``<dialog>.txt`` in one session's ``EmoEvaluation/``."""
    evaluations: dict[str, IemocapEvaluation] = {}
    stray: list[str] = []
    for entry in sorted(eval_dir.iterdir()):
        if entry.is_dir():
            if entry.name not in _ANNOTATOR_FOLDERS:
                stray.append(entry.name + "/")
            continue
        if entry.suffix != ".txt" or entry.name.startswith("."):
            stray.append(entry.name)
            continue
        try:
            dialog = parse_dialog_name(entry.stem)
        except CorpusFileError:
            stray.append(entry.name)
            continue
        if dialog.session != session:
            raise CorpusFileError(
                f"{entry}: a session {dialog.session} dialog inside Session{session}"
            )
        for evaluation in read_evaluation_file(entry):
            evaluations[evaluation.utterance] = evaluation
    if stray:
        logger.warning(
            "%s: %s: ignoring %d entries that are not <dialog>.txt evaluation files: %s",
            NAME,
            eval_dir,
            len(stray),
            shown(stray),
        )
    return evaluations


def _scan_session_audio(wav_dir: Path, session: int) -> dict[str, tuple[IemocapUtterance, Path]]:
    """The utterance files of one session's ``sentences/wav/<dialog>/`` folders."""
    found: dict[str, tuple[IemocapUtterance, Path]] = {}
    for path in CORPUS.scan(wav_dir, recursive=True):
        utterance = parse_utterance_name(str(path))
        if path.parent.parent != wav_dir or path.parent.name != utterance.dialog.name:
            raise CorpusFileError(
                f"{path}: expected at {wav_dir}/{utterance.dialog.name}/{path.name}"
            )
        if utterance.session != session:
            raise CorpusFileError(
                f"{path}: a session {utterance.session} file inside Session{session}"
            )
        if utterance.name in found:
            raise CorpusFileError(f"{path}: {utterance.name} is also {found[utterance.name][1]}")
        found[utterance.name] = (utterance, path)
    return found


def _check_every_wav_is_labelled(
    audio: dict[str, tuple[IemocapUtterance, Path]], evaluations: dict[str, IemocapEvaluation]
) -> None:
    """Raise for a ``.wav`` without a consensus line; warn about consensus lines without audio."""
    unlabelled = [path for name, (_, path) in sorted(audio.items()) if name not in evaluations]
    if unlabelled:
        first = unlabelled[0]
        raise CorpusFileError(
            f"{first}: no consensus line for {first.stem} in "
            f"{first.parents[3] / 'dialog' / 'EmoEvaluation' / (first.parent.name + '.txt')}; "
            f"{len(unlabelled)} .wav files have none: {shown([p.name for p in unlabelled])}"
        )
    without_audio = sorted(name for name in evaluations if name not in audio)
    if without_audio:
        logger.warning(
            "%s: %d utterances listed in EmoEvaluation have no .wav under sentences/wav "
            "(not loaded): %s",
            NAME,
            len(without_audio),
            shown(without_audio),
        )


@CORPUS.register
def load_iemocap(
    data_dir: Path,
    *,
    download: bool = False,
    merge_excited_into_happy: bool = True,
) -> Dataset:
    """Load IEMOCAP's ``sentences/wav`` utterances with their consensus labels.

    Args:
        data_dir: The ``IEMOCAP_full_release`` folder, or the folder that holds it.
        download: Not supported (license agreement); raises when set.
        merge_excited_into_happy: Map ``exc`` to happy (:data:`EXCITED_MERGE`), as in the usual
            four-class setup; when off, ``exc`` utterances are dropped.

    Raises:
        ValueError: ``download=True``.
        CorpusLayoutError: ``data_dir`` is not an IEMOCAP copy.
        CorpusFileError: A file name or evaluation line does not parse, or a ``.wav`` has no
            consensus line.
    """
    if download:
        raise ValueError(CORPUS.download_refusal())
    root, sessions = check_layout(Path(data_dir))
    mapping = {**NATIVE_TO_COMMON, **(EXCITED_MERGE if merge_excited_into_happy else {})}

    evaluations: dict[str, IemocapEvaluation] = {}
    audio: dict[str, tuple[IemocapUtterance, Path]] = {}
    for session, folder in sorted(sessions.items()):
        evaluations.update(_read_session_evaluations(folder / "dialog" / "EmoEvaluation", session))
        audio.update(_scan_session_audio(folder / "sentences" / "wav", session))
    if not audio:
        raise CorpusLayoutError(f"{root}: no .wav files under SessionN/sentences/wav/")

    _check_every_wav_is_labelled(audio, evaluations)

    rows = []
    dropped: Counter[str] = Counter()
    for name, (utterance, path) in sorted(audio.items()):
        evaluation = evaluations[name]
        label = mapping.get(evaluation.native_label)
        if label is None:
            dropped[evaluation.native_label] += 1
            continue
        rows.append(
            {
                "id": name,
                "path": path,
                "label": label,
                "speaker": utterance.speaker,
                "gender": utterance.gender,
                "session": utterance.session,
                "dialog": utterance.dialog.name,
                "improvised": utterance.dialog.improvised,
                "start": evaluation.start,
                "end": evaluation.end,
                "valence": evaluation.valence,
                "activation": evaluation.activation,
                "dominance": evaluation.dominance,
                "native_label": evaluation.native_label,
            }
        )
    if dropped:
        logger.info(
            "%s: dropped %d of %d utterances whose native label has no common label "
            "(merge_excited_into_happy=%s): %s",
            NAME,
            sum(dropped.values()),
            len(audio),
            merge_excited_into_happy,
            dict(sorted(dropped.items())),
        )

    return CORPUS.dataset(rows, None)
