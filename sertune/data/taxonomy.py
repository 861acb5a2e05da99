"""The common emotion taxonomy that every corpus maps into.

Labels are lowercase English names. A corpus module declares, in plain sight, a dictionary from
its native labels to these names; nothing else in the package renames labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from datasets import ClassLabel

#: The common label set, in the fixed order used for class ids when a corpus uses all of them.
EMOTIONS: tuple[str, ...] = (
    "angry",
    "bored",
    "calm",
    "disgust",
    "fear",
    "happy",
    "neutral",
    "sad",
    "surprise",
)


def check_mapping(native_to_common: Mapping[str, str], corpus: str) -> None:
    """Raise if a corpus mapping points outside the common taxonomy.

    Args:
        native_to_common: The corpus's native-label to common-label dictionary.
        corpus: Corpus name, for the error message.
    """
    unknown = sorted({v for v in native_to_common.values() if v not in EMOTIONS})
    if unknown:
        raise ValueError(
            f"corpus {corpus!r} maps native labels to {unknown}, which are not in the common "
            f"taxonomy {list(EMOTIONS)}"
        )


def class_label(names: Iterable[str]) -> ClassLabel:
    """A `datasets.ClassLabel` over the given common labels, in taxonomy order.

    Args:
        names: Common label names used by a corpus (any order, duplicates allowed).
    """
    wanted = set(names)
    unknown = sorted(wanted.difference(EMOTIONS))
    if unknown:
        raise ValueError(f"labels {unknown} are not in the common taxonomy {list(EMOTIONS)}")
    return ClassLabel(names=[name for name in EMOTIONS if name in wanted])


#: Other spellings of the common labels, as checkpoints name their classes in ``id2label``
#: (SUPERB ER: ``neu``, ``hap``, ``ang``, ``sad``; others spell out nouns or adjectives). Only
#: spellings of one emotion: merges such as IEMOCAP's excited -> happy are a corpus's decision
#: and live in its module, not here.
LABEL_NAME_ALIASES: dict[str, str] = {
    "ang": "angry",
    "anger": "angry",
    "bor": "bored",
    "boredom": "bored",
    "cal": "calm",
    "dis": "disgust",
    "disgusted": "disgust",
    "fea": "fear",
    "fearful": "fear",
    "hap": "happy",
    "happiness": "happy",
    "joy": "happy",
    "neu": "neutral",
    "sadness": "sad",
    "sur": "surprise",
    "surprised": "surprise",
}


def common_label_name(name: str) -> str | None:
    """The common label a class name stands for, or ``None`` when it names none of them.

    Case and surrounding spaces are ignored: ``"ang"``, ``"Anger"`` and ``"angry"`` all give
    ``"angry"``.

    Args:
        name: A class name, e.g. from a checkpoint's ``id2label``.
    """
    key = str(name).strip().lower()
    if key in EMOTIONS:
        return key
    return LABEL_NAME_ALIASES.get(key)
