"""Property-based tests (hypothesis): file-name parsers, the log-mel front end and the metrics.

Each property runs at most 40 examples without a deadline, so the file stays fast on two cores.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sertune.audio import resample
from sertune.data.corpora import (
    aesdd,
    casia,
    cremad,
    emodb,
    emovo,
    esd,
    iemocap,
    msp_podcast,
    ravdess,
    savee,
    shemo,
    tess,
    urdu,
)
from sertune.errors import CorpusFileError
from sertune.metrics import compute_ser_metrics
from sertune.models.logmel import LogMelFeatureExtractor

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pick(values):
    return st.sampled_from(sorted(values))


def _case(text: str, upper: bool) -> str:
    return text.upper() if upper else text


# ------------------------------------------------------------------------------------------------
# File-name parsers: every corpus's grammar, generated from the corpus's own tables.
#
# Each generator draws the fields of a valid name, builds the name and returns it with the fields
# the parser must give back.


@st.composite
def emodb_names(draw):
    speaker, text = draw(_pick(emodb.SPEAKERS)), draw(_pick(emodb.TEXTS))
    letter, version = draw(_pick(emodb.NATIVE_TO_COMMON)), draw(st.sampled_from("abcdef"))
    name = f"{speaker}{text}{letter}{version}.wav"
    return emodb.parse_filename, name, {"speaker": speaker, "text_id": text, "native_label": letter}


@st.composite
def ravdess_names(draw):
    channel = draw(_pick(ravdess.VOCAL_CHANNELS))
    emotions = [
        code
        for code, emotion in ravdess.EMOTION_CODES.items()
        if not (ravdess.VOCAL_CHANNELS[channel] == "song" and emotion in ravdess.NOT_IN_SONG)
    ]
    emotion = draw(_pick(emotions))
    intensity = "01" if ravdess.EMOTION_CODES[emotion] == "neutral" else draw(_pick(["01", "02"]))
    statement, repetition = draw(_pick(ravdess.STATEMENTS)), draw(_pick(["01", "02"]))
    actor = draw(_pick(ravdess.ACTORS))
    name = f"03-{channel}-{emotion}-{intensity}-{statement}-{repetition}-{actor}.wav"
    expected = {
        "actor": actor,
        "native_label": ravdess.EMOTION_CODES[emotion],
        "vocal_channel": ravdess.VOCAL_CHANNELS[channel],
        "repetition": int(repetition),
    }
    return ravdess.parse_filename, name, expected


@st.composite
def cremad_names(draw):
    actor = str(draw(st.integers(cremad.ACTOR_IDS.start, cremad.ACTOR_IDS.stop - 1)))
    sentence, emotion = draw(_pick(cremad.SENTENCES)), draw(_pick(cremad.NATIVE_TO_COMMON))
    intensity = draw(_pick(cremad.INTENSITIES))
    name = f"{actor}_{sentence}_{emotion}_{intensity}.{draw(_pick(['wav', 'WAV']))}"
    expected = {"actor": actor, "sentence": sentence, "native_label": emotion}
    return cremad.parse_filename, name, expected


@st.composite
def tess_names(draw):
    speaker = draw(_pick(tess.SPEAKERS))
    word = draw(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8))
    spelling = draw(_pick(tess.EMOTION_SPELLINGS))
    name = f"{_case(speaker, True)}_{word}_{spelling}.wav"
    expected = {
        "speaker": speaker,
        "word": word,
        "native_label": tess.EMOTION_SPELLINGS[spelling],
    }
    return tess.parse_filename, name, expected


@st.composite
def savee_names(draw):
    speaker, emotion = draw(_pick(savee.SPEAKERS)), draw(_pick(savee.NATIVE_TO_COMMON))
    number = draw(st.integers(1, savee.SENTENCES_PER_EMOTION[emotion]))
    name = draw(
        st.sampled_from(
            [
                f"{speaker}_{emotion}{number:02d}.wav",
                f"AudioData/{speaker}/{emotion}{number:02d}.wav",
            ]
        )
    )
    expected = {"speaker": speaker, "native_label": emotion, "sentence_number": number}
    return savee.parse_filename, name, expected


@st.composite
def shemo_names(draw):
    letter = draw(_pick(shemo.GENDERS))
    gender, count = shemo.GENDERS[letter]
    number = draw(st.integers(1, count))
    emotion, sequence = draw(_pick(shemo.NATIVE_TO_COMMON)), draw(st.integers(1, 999))
    width = 2 if sequence < 100 else 3
    name = f"{letter}{number:02d}{emotion}{sequence:0{width}d}.wav"
    expected = {
        "speaker": f"{letter}{number:02d}",
        "gender": gender,
        "native_label": emotion,
        "sequence": sequence,
    }
    return shemo.parse_filename, name, expected


@st.composite
def urdu_names(draw):
    letter = draw(_pick(urdu.GENDERS))
    gender, highest = urdu.GENDERS[letter]
    number, file_number = draw(st.integers(1, highest)), draw(st.integers(0, 999))
    initial, index = draw(_pick(urdu.EMOTION_INITIALS)), draw(st.integers(0, 999))
    name = f"S{letter}{number}_F{file_number}_{initial}0{index}.wav"
    expected = {
        "speaker": f"S{letter}{number}",
        "gender": gender,
        "file_number": file_number,
        "native_label": urdu.EMOTION_INITIALS[initial],
        "index": index,
    }
    return urdu.parse_filename, name, expected


@st.composite
def aesdd_names(draw):
    initial = draw(_pick(aesdd.EMOTION_INITIALS))
    utterance, actor = draw(st.integers(1, aesdd.NUM_UTTERANCE_TEXTS)), draw(st.integers(1, 99))
    take, space = draw(st.sampled_from(["", "b", "c"])), draw(st.sampled_from(["", " "]))
    name = f"{initial}{utterance:02d}{space}({actor}){take}.wav"
    expected = {
        "native_label": aesdd.EMOTION_INITIALS[initial],
        "utterance": utterance,
        "actor": str(actor),
        "take": take,
    }
    return aesdd.parse_filename, name, expected


@st.composite
def emovo_names(draw):
    emotion, speaker = draw(_pick(emovo.NATIVE_TO_COMMON)), draw(_pick(emovo.SPEAKERS))
    sentence, upper = draw(_pick(emovo.SENTENCES)), draw(st.booleans())
    name = _case(f"{emotion}-{speaker}-{sentence}", upper) + ".wav"
    expected = {"native_label": emotion, "speaker": speaker, "sentence": sentence}
    return emovo.parse_filename, name, expected


@st.composite
def esd_names(draw):
    speaker = draw(_pick(esd.SPEAKERS))
    number = draw(st.integers(1, esd.UTTERANCES_PER_EMOTION * len(esd.EMOTION_BLOCK_START)))
    name = f"{speaker}_{number:06d}.wav"
    return esd.parse_filename, name, {"speaker": speaker, "number": number}


@st.composite
def msp_podcast_names(draw):
    podcast, segment = draw(st.integers(0, 9999)), draw(st.integers(0, 9999))
    part = draw(st.one_of(st.none(), st.integers(0, 9999)))
    suffix = "" if part is None else f"_{part:04d}"
    name = f"MSP-PODCAST_{podcast:04d}_{segment:04d}{suffix}.wav"
    expected = {
        "podcast": f"{podcast:04d}",
        "segment": f"{segment:04d}",
        "part": None if part is None else f"{part:04d}",
    }
    return msp_podcast.parse_filename, name, expected


@st.composite
def casia_paths(draw):
    speaker, emotion = draw(_pick(casia.SPEAKERS)), draw(_pick(casia.NATIVE_TO_COMMON))
    sentence = draw(st.integers(0, 999))
    folder = draw(st.sampled_from([speaker, speaker.lower()]))
    path = f"CASIA/{folder}/{emotion}/{sentence:03d}.wav"
    expected = {"speaker": speaker, "native_label": emotion, "sentence_id": sentence}
    return casia.parse_path, path, expected


@st.composite
def iemocap_names(draw):
    session, marker = draw(st.integers(1, 5)), draw(st.sampled_from("FM"))
    dialog = f"Ses0{session}{marker}_impro0{draw(st.integers(1, 8))}"
    letter, turn = draw(st.sampled_from("FM")), draw(st.integers(0, 999))
    name = f"{dialog}_{letter}{turn:03d}.wav"
    expected = {"name": name[:-4], "speaker_letter": letter, "turn": turn}
    return iemocap.parse_utterance_name, name, expected


VALID_NAMES = {
    "emodb": emodb_names(),
    "ravdess": ravdess_names(),
    "cremad": cremad_names(),
    "tess": tess_names(),
    "savee": savee_names(),
    "shemo": shemo_names(),
    "urdu": urdu_names(),
    "aesdd": aesdd_names(),
    "emovo": emovo_names(),
    "esd": esd_names(),
    "msp_podcast": msp_podcast_names(),
    "casia": casia_paths(),
    "iemocap": iemocap_names(),
}


@pytest.mark.parametrize("corpus", sorted(VALID_NAMES))
def test_valid_names_parse_to_their_fields(corpus):
    @FUZZ
    @given(VALID_NAMES[corpus])
    def check(case):
        parse, name, expected = case
        parsed = parse(name)
        assert {field: getattr(parsed, field) for field in expected} == expected, name

    check()


#: Each corpus's parser and the shape of its names, for names that match the grammar's shape but
#: hold arbitrary (also non-ASCII) field values.
PARSERS = {
    "emodb": (emodb.parse_filename, emodb._FILE_NAME),
    "ravdess": (ravdess.parse_filename, ravdess._FILE_NAME),
    "cremad": (cremad.parse_filename, cremad._FILE_NAME),
    "tess": (tess.parse_filename, tess._FILE_NAME),
    "savee": (savee.parse_filename, savee._SPEAKER_NAME),
    "shemo": (shemo.parse_filename, shemo._FILE_NAME),
    "urdu": (urdu.parse_filename, urdu._FILE_NAME),
    "aesdd": (aesdd.parse_filename, aesdd._FILE_NAME),
    "emovo": (emovo.parse_filename, emovo._FILE_NAME),
    "esd": (esd.parse_filename, esd._FILE_NAME),
    "msp_podcast": (msp_podcast.parse_filename, msp_podcast._FILE_NAME),
    "casia": (casia.parse_path, casia._FILE_NAME),
    "iemocap": (iemocap.parse_utterance_name, iemocap._UTTERANCE_NAME),
}


def _parse_or_corpus_error(parse, name):
    """Parse a name: it must give a result or a CorpusFileError naming it, nothing else."""
    try:
        return parse(name)
    except CorpusFileError as error:
        assert str(error).startswith(str(name)), error
        return None


@pytest.mark.parametrize("corpus", sorted(PARSERS))
def test_any_text_parses_or_raises_the_corpus_error(corpus):
    parse, shape = PARSERS[corpus]
    names = st.one_of(
        st.text(max_size=40),
        st.text(max_size=20).map(lambda text: text + ".wav"),
        st.from_regex(shape, fullmatch=True),
    )

    @FUZZ
    @given(names)
    def check(name):
        assume("\x00" not in name)
        _parse_or_corpus_error(parse, name)

    check()


# ------------------------------------------------------------------------------------------------
# Log-mel front end: any length, any common rate, any amplitude, silence included.

RATES = [8_000, 16_000, 22_050, 44_100, 48_000]


def _expected_segments(samples: int, extractor: LogMelFeatureExtractor) -> int:
    frames = 1 + (max(samples, extractor.win_length) - extractor.win_length) // extractor.hop_length
    overhang = max(0, frames - extractor.segment_frames)
    return 1 + math.ceil(overhang / extractor.segment_hop_frames)


@FUZZ
@given(
    rate=st.sampled_from(RATES),
    seconds=st.floats(1.0, 3.0),
    amplitude=st.one_of(st.just(0.0), st.floats(0.0, 1e3)),
    resample_first=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_logmel_features_are_finite_and_shaped(rate, seconds, amplitude, resample_first, seed):
    waveform = np.random.default_rng(seed).uniform(-1, 1, int(seconds * rate)) * amplitude
    waveform = waveform.astype(np.float32)
    if resample_first:
        waveform, rate = resample(waveform, rate, 16_000), 16_000
    # n_fft at least the 25 ms window: 512 at 8-16 kHz, 2048 at 44.1-48 kHz.
    n_fft = 1 << (round(0.025 * rate) - 1).bit_length()
    extractor = LogMelFeatureExtractor(
        sampling_rate=rate, n_fft=n_fft, n_mels=32, segment_frames=32
    )
    out = extractor(waveform, sampling_rate=rate, return_tensors="np")
    features, mask = out["input_features"], out["attention_mask"]
    segments = _expected_segments(len(waveform), extractor)
    assert features.shape == (1, segments, 3, 32, 32)
    assert mask.shape == (1, segments) and mask.all()
    assert np.isfinite(features).all()


# ------------------------------------------------------------------------------------------------
# Metrics: any label sequences.


@st.composite
def label_pairs(draw):
    num_classes = draw(st.integers(1, 6))
    size = draw(st.integers(1, 60))
    labels = st.lists(st.integers(0, num_classes - 1), min_size=size, max_size=size)
    return num_classes, draw(labels), draw(labels)


@FUZZ
@given(label_pairs())
def test_metrics_agree_with_their_definitions(case):
    num_classes, predictions, references = case
    scores = compute_ser_metrics(predictions, references, num_labels=num_classes)
    predictions, references = np.array(predictions), np.array(references)

    # With at least one sample, every summary metric is defined (no NaN) and in [0, 1].
    for name in ("uar", "wa", "macro_f1"):
        assert 0.0 <= scores[name] <= 1.0, (name, scores[name])
    assert scores["wa"] == pytest.approx(float((predictions == references).mean()))
    present = sorted(set(references.tolist()))
    recalls = [float((predictions[references == c] == c).mean()) for c in present]
    assert scores["uar"] == pytest.approx(float(np.mean(recalls)))
    for class_id in range(num_classes):
        if class_id in present:
            assert scores["recall"][class_id] == pytest.approx(recalls[present.index(class_id)])
        else:
            assert math.isnan(scores["recall"][class_id])  # documented: 0 / 0
    in_either = set(present) | set(predictions.tolist())
    for class_id in range(num_classes):
        assert math.isnan(scores["f1"][class_id]) == (class_id not in in_either)
    assert scores["macro_f1"] == pytest.approx(
        float(np.mean([scores["f1"][c] for c in sorted(in_either)]))
    )
