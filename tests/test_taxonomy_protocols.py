"""Label selection, cross-corpus sets, session and official-partition protocols."""

from __future__ import annotations

import logging

import pytest
from datasets import ClassLabel, Dataset

from sertune.data import load_corpora, load_corpus, select_labels, speaker_independent_folds
from sertune.data.protocols import official_folds
from sertune.errors import SpeakerLeakError

from corpus_fixtures import emodb_names, write_emodb


def test_labels_keep_four_classes(emodb_fixture, caplog):
    with caplog.at_level(logging.INFO, logger="sertune"):
        ds = load_corpus("emodb", emodb_fixture, labels=["neutral", "happy", "sad", "angry"])
    assert ds.features["label"].names == ["angry", "happy", "neutral", "sad"]  # taxonomy order
    assert len(ds) == 16  # 4 speakers x 4 kept emotions
    names = ds.features["label"].names
    assert {names[i] for i in ds["label"]} == {"angry", "happy", "neutral", "sad"}
    # The native label confirms each row kept its own class.
    native = {"W": "angry", "F": "happy", "N": "neutral", "T": "sad"}
    assert all(native[n] == names[i] for n, i in zip(ds["native_label"], ds["label"], strict=True))
    assert "dropped 12 of 28 rows outside the selection" in caplog.text
    assert "'bored': 4" in caplog.text


def test_labels_merge_with_a_mapping(emodb_fixture):
    ds = load_corpus(
        "emodb", emodb_fixture, labels={"neutral": "neutral", "bored": "neutral", "angry": "angry"}
    )
    assert ds.features["label"].names == ["angry", "neutral"]
    names = ds.features["label"].names
    merged = [names[i] for i, n in zip(ds["label"], ds["native_label"], strict=True) if n == "L"]
    assert merged == ["neutral"] * 4
    assert len(ds) == 12


def test_labels_errors(emodb_fixture):
    ds = load_corpus("emodb", emodb_fixture)
    with pytest.raises(ValueError, match=r"\['excited'\] are not in the common taxonomy"):
        select_labels(ds, ["happy", "excited"])
    with pytest.raises(ValueError, match="selects no class"):
        select_labels(ds, [])


def test_load_corpora_harmonises_labels_and_speakers(tmp_path):
    # Two copies of EMO-DB standing in for two corpora with different label sets.
    first = write_emodb(tmp_path / "a", emodb_names(speakers=("03", "08")))
    second = write_emodb(tmp_path / "b", emodb_names(speakers=("03",)))
    combined = load_corpora({"emodb": first}, labels=["sad", "angry"])
    assert combined.column_names == ["id", "audio", "label", "speaker", "gender", "corpus"]
    assert set(combined["speaker"]) == {"emodb:03", "emodb:08"}
    assert combined[0]["id"].startswith("emodb:")
    assert isinstance(combined.features["label"], ClassLabel)
    assert combined.features["label"].names == ["angry", "sad"]
    # Different label selections per corpus give one union label space.
    happy = load_corpus("emodb", second, labels=["happy"])
    assert happy.features["label"].names == ["happy"]
    with pytest.raises(ValueError, match="at least one corpus"):
        load_corpora([])


def _iemocap_like() -> Dataset:
    rows = []
    for session in range(1, 6):
        for gender in "FM":
            for index in range(8):
                rows.append(
                    {
                        "speaker": f"Ses0{session}{gender}",
                        "label": index % 4,
                        "session": session,
                        "partition": "train"
                        if session < 4
                        else ("development" if session == 4 else "test1"),
                    }
                )
    return Dataset.from_list(rows)


def test_session_protocol_leaves_one_session_out():
    ds = _iemocap_like()
    folds = speaker_independent_folds(ds, "session", seed=0)
    assert [f.name for f in folds] == [f"session-{s}" for s in range(1, 6)]
    for session, fold in enumerate(folds, start=1):
        assert fold.test_speakers == (f"Ses0{session}F", f"Ses0{session}M")
        assert len(fold.validation_speakers) == 1
        assert not fold.validation_speakers[0].startswith(f"Ses0{session}")
        assert len(fold.test) == 16 and len(fold.train) == 64 - 8


def test_session_protocol_needs_the_column_and_one_session_per_speaker():
    ds = _iemocap_like().remove_columns("session")
    with pytest.raises(ValueError, match="needs a 'session' column"):
        speaker_independent_folds(ds, "session")
    rows = _iemocap_like().to_list()
    rows[0]["session"] = 2  # Ses01F now appears in two sessions
    with pytest.raises(ValueError, match="Ses01F appears in several session values"):
        speaker_independent_folds(Dataset.from_list(rows), "session")


def test_official_folds_from_partitions():
    folds = official_folds(_iemocap_like())
    assert [f.name for f in folds] == ["official-test1"]
    (fold,) = folds
    assert (len(fold.train), len(fold.validation), len(fold.test)) == (48, 16, 16)
    assert fold.test_speakers == ("Ses05F", "Ses05M")


def test_official_folds_refuse_speaker_overlap_unless_allowed():
    rows = [
        {"speaker": s, "label": 0, "partition": p}
        for s in ("0011", "0012")
        for p in ("train", "train", "evaluation", "test")
    ]
    ds = Dataset.from_list(rows)
    with pytest.raises(SpeakerLeakError, match="not speaker-independent"):
        official_folds(ds)
    (fold,) = official_folds(ds, allow_speaker_overlap=True)
    assert fold.name == "official-test" and len(fold.test) == 2
