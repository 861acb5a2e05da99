"""Publishing a run: what is staged, the model card, loading the staged folder, the push calls."""

from __future__ import annotations

import ast
import inspect
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from huggingface_hub import CommitInfo, HfApi, ModelCard, metadata_load
from transformers import HfArgumentParser

from sertune import hub
from sertune.cli import main as sertune_main
from sertune.data.arguments import DataArguments
from sertune.data.protocols import Fold
from sertune.hub import push as hub_push
from sertune.hub import staging as hub_staging
from sertune.metrics import compute_ser_metrics
from sertune.models import build_cnn_model, build_feature_extractor, build_tiny_random_model
from sertune.models.factory import builders, presets, spec
from sertune.models.logmel import LogMelFeatureExtractor
from sertune.training import TrainingConfig
from sertune.training.augment import AugmentationArguments
from sertune.training.report import (
    plot_training_curves,
    run_config_sections,
    write_run_config,
    write_run_report,
)

LABELS = ["angry", "neutral", "sad"]
ID2LABEL = dict(enumerate(LABELS))
FAKE_TOKEN = "hf_secret_test_token"

FAMILIES = {
    "wav2vec2": {
        "model_name_or_path": "tiny-random",
        "code": ["heads.py", "pooling.py", "wav2vec2_ser.py"],
        "base_model": None,
    },
    "cnn": {
        # A Hub id, as a real CNN run has (the weights here are a tiny random model's).
        "model_name_or_path": "microsoft/resnet-18",
        "code": [
            "aggregators.py",
            "backbones.py",
            "cnn_ser.py",
            "heads.py",
            "logmel.py",
            "pooling.py",
        ],
        "base_model": "microsoft/resnet-18",
    },
}
PUBLISHED = [
    "README.md",
    "config.json",
    "confusion_matrix.png",
    "metrics.json",
    "model.safetensors",
    "preprocessor_config.json",
    "run_config.json",
    "training_curves.png",
]


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_run(folder: Path, family: str) -> Path:
    """A run folder as a recipe leaves it, from a tiny untrained model, plus files to keep."""
    if family == "wav2vec2":
        model = build_tiny_random_model("wav2vec2", id2label=ID2LABEL)
        extractor = build_feature_extractor(model.config)
    else:
        model = build_cnn_model("tiny-random-cnn-resnet", id2label=ID2LABEL)
        extractor = LogMelFeatureExtractor(n_mels=32, segment_frames=32)
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)

    fold = Fold(
        name="holdout",
        train=list(range(20)),
        validation=list(range(20, 25)),
        test=list(range(25, 31)),
        train_speakers=("03", "08"),
        validation_speakers=("10",),
        test_speakers=("16",),
    )
    # No neutral test utterance: its recall is NaN, null in metrics.json.
    test_metrics = compute_ser_metrics([0, 0, 1, 2, 2, 0], [0, 0, 0, 2, 2, 2], LABELS)
    write_run_report(
        folder,
        test_metrics=test_metrics,
        label_names=LABELS,
        fold=fold,
        corpus="emodb",
        best_validation_uar=0.6,
        best_step=20,
        global_step=30,
        train_seconds=12.5,
    )
    history = [{"step": s, "loss": 1.0 / s} for s in range(1, 31)]
    history += [{"step": 20, "eval_loss": 0.9, "eval_uar": 0.6, "eval_wa": 0.6}]
    plot_training_curves(history, folder / "training_curves.png")
    run_config = run_config_sections(
        model={
            "model_name_or_path": FAMILIES[family]["model_name_or_path"],
            "head_hidden_size": 16,
        },
        data=DataArguments(corpus="emodb", test_speakers=["16"], validation_speakers=["10"]),
        training=TrainingConfig(
            output_dir=str(folder), max_steps=30, learning_rate=1e-3, class_weighting="balanced"
        ),
        augmentation=AugmentationArguments(noise_prob=0.5, speed_prob=0.3),
    )
    write_run_config(folder, run_config)

    # What a run also leaves behind and must stay local.
    (folder / "checkpoints" / "step-20").mkdir(parents=True)
    shutil.copy(folder / "model.safetensors", folder / "checkpoints" / "step-20")
    (folder / "checkpoints" / "step-20" / "optimizer.bin").write_bytes(b"\x80\x04junk")
    (folder / "checkpoints" / "step-20" / "random_states_0.pkl").write_bytes(b"\x80\x04junk")
    (folder / "best_model").mkdir()
    shutil.copy(folder / "model.safetensors", folder / "best_model")
    (folder / "tensorboard").mkdir()
    (folder / "tensorboard" / "events.out.tfevents.1.host").write_bytes(b"events")
    (folder / "train.log").write_text("INFO training\n")
    (folder / "training_log.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    (folder / "scratch.pkl").write_bytes(b"\x80\x04pickle")
    (folder / "notes.py").write_text("# not named by any auto_map\n")
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    return {
        family: write_run(tmp_path_factory.mktemp(f"run-{family}"), family) for family in FAMILIES
    }


@pytest.fixture(scope="module")
def staged(runs, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("staged")
    return {
        family: hub.stage_for_hub(run, root / family, repo_id=f"someone/ser-{family}")
        for family, run in runs.items()
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_staged_folder_holds_exactly_what_is_published(staged, family):
    names = sorted(p.relative_to(staged[family]).as_posix() for p in staged[family].rglob("*"))
    assert names == sorted(PUBLISHED + FAMILIES[family]["code"])


REMOTE_PIPELINE = """
import json, sys
sys.modules["sertune"] = None
sys.modules["torchaudio"] = None
from transformers import pipeline

results = {}
for folder in sys.argv[2:]:
    classify = pipeline("audio-classification", model=folder, trust_remote_code=True)
    results[folder] = classify(sys.argv[1], top_k=3)
results["sertune_imported"] = [m for m in sys.modules if m.startswith("sertune") and sys.modules[m]]
print(json.dumps(results))
"""


@pytest.mark.ffmpeg
def test_staged_folders_load_with_pipeline_without_sertune(staged, tmp_path):
    wav = tmp_path / "speech.wav"
    seconds = np.arange(8_000) / 8_000
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 220 * seconds)).astype(np.float32), 8_000)
    folders = [str(staged[family]) for family in FAMILIES]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    run = subprocess.run(
        [sys.executable, "-c", REMOTE_PIPELINE, str(wav), *folders],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert results.pop("sertune_imported") == []
    for folder in folders:
        predictions = results[folder]
        assert sorted(p["label"] for p in predictions) == sorted(LABELS)
        assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-4)


REMOTE_CODE_ONLY = """
import json, sys
sys.modules["sertune"] = None
sys.modules["torchaudio"] = None  # the modelling code on the Hub needs torch, numpy, transformers
import numpy as np
from transformers import pipeline

tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
results = {}
for folder in sys.argv[1:]:
    classify = pipeline("audio-classification", model=folder, trust_remote_code=True)
    results[folder] = classify(tone, top_k=3)
results["imported"] = [
    m for m in sys.modules if m.split(".")[0] in ("sertune", "torchaudio") and sys.modules[m]
]
print(json.dumps(results))
"""


def test_staged_folders_load_without_sertune_or_torchaudio(staged, tmp_path):
    folders = [str(staged[family]) for family in FAMILIES]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    run = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_ONLY, *folders],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert results.pop("imported") == []
    for folder in folders:
        assert sorted(p["label"] for p in results[folder]) == sorted(LABELS)
    # The code files published beside the weights import nothing else.
    for family in FAMILIES:
        for code in staged[family].glob("*.py"):
            imported = {
                line.split()[1].split(".")[0]
                for line in code.read_text().splitlines()
                if line.startswith(("import ", "from ")) and not line.startswith("from .")
            }
            third_party = imported - set(sys.stdlib_module_names)
            assert third_party <= {"numpy", "torch", "transformers"}, (code, third_party)


@pytest.mark.parametrize("family", FAMILIES)
def test_model_card_metadata_parses_and_matches_metrics(staged, runs, family):
    readme = staged[family] / "README.md"
    metrics = json.loads((runs[family] / "metrics.json").read_text())
    card = ModelCard.load(readme)
    assert card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "audio-classification"
    assert card.data.license == "cc0-1.0"  # EMO-DB's, from the corpus registry
    assert card.data.language == ["de"]
    assert card.data.datasets == ["emodb"]
    assert card.data.base_model == FAMILIES[family]["base_model"]
    expected_family = "wav2vec2" if family == "wav2vec2" else "resnet"
    assert {"speech-emotion-recognition", "sertune", expected_family} <= set(card.data.tags)
    scores = {result.metric_name: result.metric_value for result in card.data.eval_results}
    assert scores == {"UAR": metrics["uar"], "WA": metrics["wa"], "Macro-F1": metrics["macro_f1"]}
    assert {r.dataset_type for r in card.data.eval_results} == {"emodb"}
    assert {r.dataset_split for r in card.data.eval_results} == {"test"}

    metadata = metadata_load(readme)
    (entry,) = metadata["model-index"]
    assert entry["name"] == f"ser-{family}"
    (result,) = entry["results"]
    assert result["dataset"]["args"]["test_speakers"] == ["16"]
    assert {m["name"]: m["value"] for m in result["metrics"]} == scores


def test_model_card_body_describes_the_run(staged):
    text = (staged["wav2vec2"] / "README.md").read_text()
    assert "tiny randomly initialised" in text  # a test model says so
    assert "Test speakers (held out): `16`" in text
    assert "Validation speakers (held out, model selection): `10`" in text
    assert "Training speakers: `03`, `08`" in text
    assert "protocol `holdout`" in text
    # Per-class recall: angry 2/3, neutral absent from the test speakers, sad 2/3.
    assert "| angry | 66.67 % |" in text
    assert "| neutral | n/a |" in text
    assert "n/a: the test speakers have no utterance of that class." in text
    assert "![Confusion matrix of the test speakers, rows normalised](confusion_matrix.png)" in text
    assert "(training_curves.png)" in text
    assert "| learning_rate | 0.001 |" in text
    assert "| max_steps | 30 |" in text
    assert "| class_weighting | balanced |" in text
    assert "- noise: noise_prob = 0.5" in text and "- speed: speed_prob = 0.3" in text
    assert "pitch_prob" not in text  # effects that were off are not listed
    assert "focal_gamma" not in text  # nor options without effect (the loss is cross-entropy)
    assert "acted, in German" in text
    assert "Not for consequential decisions about people" in text
    assert "CC0-1.0 (see http://emodb.bilderbar.info/)" in text
    assert (
        'pipeline("audio-classification", model="someone/ser-wav2vec2", '
        "trust_remote_code=True)" in text
    )
    cnn = (staged["cnn"] / "README.md").read_text()
    assert "[microsoft/resnet-18](https://huggingface.co/microsoft/resnet-18)" in cnn
    assert "log-mel" in cnn and "tiny randomly initialised" not in cnn


def test_a_flat_run_config_written_before_the_sections_gives_the_same_card(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["wav2vec2"], run)
    sections = json.loads((run / "run_config.json").read_text())
    flat = {key: value for options in sections.values() for key, value in options.items()}
    (run / "run_config.json").write_text(json.dumps(flat, sort_keys=True))
    same = {"repo_id": "someone/ser", "license": None}
    assert hub.model_card(run, **same).text == hub.model_card(runs["wav2vec2"], **same).text


@pytest.mark.parametrize(
    "train, test, license",
    [
        (["emodb"], ["urdu"], "cc0-1.0"),
        (["ravdess", "emodb"], ["urdu"], "other"),
    ],
)
def test_a_cross_corpus_card_names_every_corpus_and_their_terms(
    runs, tmp_path, train, test, license
):
    run = tmp_path / "run"
    shutil.copytree(runs["wav2vec2"], run)
    metrics = json.loads((run / "metrics.json").read_text())
    corpus = "+".join(train + test)
    metrics.update(corpus=corpus, train_corpora=train, test_corpora=test)
    (run / "metrics.json").write_text(json.dumps(metrics))
    card = hub.model_card(run, repo_id="someone/ser")
    data = card.data.to_dict()
    assert data["datasets"] == train + test
    assert data["license"] == license
    assert data["model-index"][0]["results"][0]["dataset"]["type"] == "urdu"
    assert "(cross-corpus)" in card.text and "tested on [URDU" in card.text
    for name in train:  # each training corpus's terms, never the test corpus's
        assert f"(`{name}`)" in card.text
    assert card.text.count("is distributed under:") == len(train)
    if license == "other":
        assert data["license_name"] == "ravdess-emodb-corpus-terms"
        assert "bound by the corpora's terms" in card.text


def _names_defined_in(module) -> set[str]:
    """The functions, classes and constants a module defines at its top level."""
    names = set()
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


@pytest.mark.parametrize("family", FAMILIES)
def test_staged_code_holds_no_builder_preset_or_name_parsing(staged, family):
    # Names, presets and builders stay in sertune.models.factory; the Hub gets models only.
    factory_names = set().union(*(_names_defined_in(m) for m in (spec, presets, builders)))
    assert {"parse_model_name", "build_cnn_model", "HUB_ARCHITECTURES"} <= factory_names
    for code in staged[family].glob("*.py"):
        text = code.read_text()
        assert sorted(name for name in factory_names if name in text) == [], code.name
        assert "tiny-random" not in text and "random:" not in text, code.name


def test_license_other_for_a_research_agreement_corpus(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["wav2vec2"], run)
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "corpus": "iemocap"}))
    card = hub.model_card(run)
    assert card.data.license == "other"
    assert card.data.license_name == "iemocap-corpus-terms"
    assert card.data.license_link == "https://sail.usc.edu/iemocap/"
    assert card.data.language == ["en"]
    assert "research only, no redistribution" in card.text
    assert hub.model_card(run, license="cc-by-nc-4.0").data.license == "cc-by-nc-4.0"


class FakeHfApi:
    """Records the calls ``push_to_hub`` makes, checked against the real HfApi's signatures."""

    calls: list[tuple[str, dict]] = []
    uploaded: dict[str, bytes] = {}

    def __init__(self, **kwargs):
        inspect.signature(HfApi.__init__).bind(self, **kwargs)
        self.calls.append(("init", kwargs))

    def create_repo(self, *args, **kwargs):
        inspect.signature(HfApi.create_repo).bind(self, *args, **kwargs)
        self.calls.append(("create_repo", {"args": args, **kwargs}))

    def create_branch(self, *args, **kwargs):
        inspect.signature(HfApi.create_branch).bind(self, *args, **kwargs)
        self.calls.append(("create_branch", {"args": args, **kwargs}))

    def upload_folder(self, **kwargs):
        inspect.signature(HfApi.upload_folder).bind(self, **kwargs)
        self.calls.append(("upload_folder", kwargs))
        folder = Path(kwargs["folder_path"])
        FakeHfApi.uploaded = {p.name: p.read_bytes() for p in folder.iterdir()}
        url = f"https://huggingface.co/{kwargs['repo_id']}/commit/0123abcd"
        pr = f"https://huggingface.co/{kwargs['repo_id']}/discussions/1"
        return CommitInfo(
            commit_url=url,
            commit_message=kwargs["commit_message"],
            commit_description="",
            oid="0123abcd",
            pr_url=pr if kwargs.get("create_pr") else None,
        )


@pytest.fixture
def fake_hub(monkeypatch):
    monkeypatch.setattr(hub_push, "HfApi", FakeHfApi)
    FakeHfApi.calls = []
    FakeHfApi.uploaded = {}
    return FakeHfApi


def test_push_to_hub_calls_and_no_token_anywhere(runs, fake_hub, monkeypatch, caplog):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    caplog.set_level(logging.DEBUG)
    url = hub.push_to_hub(
        runs["wav2vec2"], "someone/ser", private=True, revision="fold-0", commit_message="run 1"
    )
    assert url == "https://huggingface.co/someone/ser/commit/0123abcd"
    assert [name for name, _ in fake_hub.calls] == [
        "init",
        "create_repo",
        "create_branch",
        "upload_folder",
    ]
    _, init = fake_hub.calls[0]
    assert init == {"token": None}  # huggingface_hub reads HF_TOKEN itself
    _, create = fake_hub.calls[1]
    assert create == {"args": ("someone/ser",), "private": True, "exist_ok": True}
    _, branch = fake_hub.calls[2]
    assert branch == {"args": ("someone/ser",), "branch": "fold-0", "exist_ok": True}
    _, upload = fake_hub.calls[3]
    assert upload["repo_id"] == "someone/ser"
    assert upload["revision"] == "fold-0"
    assert upload["commit_message"] == "run 1"
    assert upload["create_pr"] is False
    assert "delete_patterns" not in upload  # files others added to the repo stay
    assert not Path(upload["folder_path"]).exists()  # the temporary staging is removed
    assert sorted(fake_hub.uploaded) == sorted(PUBLISHED + FAMILIES["wav2vec2"]["code"])
    assert all(FAKE_TOKEN.encode() not in content for content in fake_hub.uploaded.values())
    assert "someone/ser" in caplog.text and FAKE_TOKEN not in caplog.text


def test_push_to_main_with_pr_and_default_message(runs, fake_hub):
    url = hub.push_to_hub(runs["cnn"], "someone/cnn", token="hf_explicit", create_pr=True)
    assert url == "https://huggingface.co/someone/cnn/discussions/1"
    assert [name for name, _ in fake_hub.calls] == ["init", "create_repo", "upload_folder"]
    assert fake_hub.calls[0][1] == {"token": "hf_explicit"}
    upload = fake_hub.calls[2][1]
    assert upload["revision"] is None and upload["create_pr"] is True
    assert upload["commit_message"].startswith("sertune: emodb holdout, test UAR")


def test_a_token_in_the_run_folder_is_refused(runs, tmp_path, fake_hub, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hub_staging, "get_token", lambda: None)  # no saved login either
    run = tmp_path / "run"
    shutil.copytree(runs["wav2vec2"], run)
    run_config = json.loads((run / "run_config.json").read_text())
    (run / "run_config.json").write_text(json.dumps({**run_config, "hub_token": FAKE_TOKEN}))
    # A token given to push_to_hub...
    with pytest.raises(ValueError, match="run_config.json: holds a Hugging Face token") as error:
        hub.push_to_hub(run, "someone/ser", token=FAKE_TOKEN)
    assert FAKE_TOKEN not in str(error.value)
    assert fake_hub.calls == []  # refused before any request
    # ... or the one huggingface_hub finds.
    monkeypatch.undo()
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    with pytest.raises(ValueError, match="run_config.json: holds a Hugging Face token"):
        hub.stage_for_hub(run, tmp_path / "staged")
    assert not (tmp_path / "staged").exists()


def test_folder_without_safetensors_is_refused(runs, tmp_path):
    run = tmp_path / "pickled-run"
    shutil.copytree(runs["wav2vec2"], run)
    (run / "model.safetensors").unlink()
    with pytest.raises(hub.RunFolderError, match="missing model.safetensors") as error:
        hub.stage_for_hub(run, tmp_path / "staged")
    assert str(run) in str(error.value) and "pytorch_model.bin" in str(error.value)
    assert not (tmp_path / "staged").exists()


def test_missing_custom_code_and_non_empty_staging_are_refused(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["wav2vec2"], run)
    (run / "pooling.py").unlink()  # wav2vec2_ser.py imports it
    with pytest.raises(hub.RunFolderError, match="wav2vec2_ser.py imports pooling.py"):
        hub.stage_for_hub(run, tmp_path / "staged")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "stale.txt").write_text("old")
    with pytest.raises(FileExistsError, match="must be empty"):
        hub.stage_for_hub(runs["wav2vec2"], busy)


def test_main_stage_only_and_errors(runs, tmp_path, capsys):
    target = tmp_path / "to-upload"
    assert sertune_main(["push", str(runs["cnn"]), "someone/cnn", "--stage_only", str(target)]) == 0
    assert str(target) in capsys.readouterr().out
    assert (target / "README.md").is_file() and (target / "logmel.py").is_file()

    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    code = sertune_main(
        ["push", str(not_a_run), "someone/cnn", "--stage_only", str(tmp_path / "x")]
    )
    assert code == 1
    error = capsys.readouterr().err
    assert str(not_a_run) in error and "not a finished sertune run" in error
    assert sertune_main(["push", str(tmp_path / "absent"), "someone/cnn"]) == 1
    assert "no such folder" in capsys.readouterr().err


def test_main_pushes(runs, fake_hub, capsys):
    assert (
        sertune_main(["push", str(runs["cnn"]), "someone/cnn", "--private", "--revision", "v1"])
        == 0
    )
    assert capsys.readouterr().out.strip() == "https://huggingface.co/someone/cnn/commit/0123abcd"
    assert fake_hub.calls[1][1]["private"] is True
    assert fake_hub.calls[2][1]["branch"] == "v1"


def test_hub_arguments(runs, fake_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    assert hub.HubArguments().push_if_requested(runs["wav2vec2"]) is None
    assert fake_hub.calls == []
    with pytest.raises(ValueError, match="--push_to_hub needs --hub_model_id"):
        hub.HubArguments(push_to_hub=True)
    with pytest.raises(ValueError, match="Repo id must be"):
        hub.HubArguments(push_to_hub=True, hub_model_id="not a/valid//id")
    with monkeypatch.context() as patched:
        patched.setattr(hub_push, "get_token", lambda: None)
        with pytest.raises(ValueError, match="needs a Hugging Face token"):
            hub.HubArguments(push_to_hub=True, hub_model_id="someone/ser")

    (arguments,) = HfArgumentParser(hub.HubArguments).parse_args_into_dataclasses(
        [
            "--push_to_hub",
            "--hub_model_id",
            "someone/ser",
            "--hub_private_repo",
            "--hub_revision",
            "fold-2",
            "--hub_commit_message",
            "fold 2",
        ]
    )
    url = arguments.push_if_requested(runs["wav2vec2"])
    assert url == "https://huggingface.co/someone/ser/commit/0123abcd"
    calls = dict(FakeHfApi.calls)
    assert calls["create_repo"]["private"] is True
    assert calls["create_branch"]["branch"] == "fold-2"
    assert calls["upload_folder"]["commit_message"] == "fold 2"


def test_recipe_pushes_after_training(emodb_fixture, tmp_path, fake_hub, monkeypatch):
    import importlib.util
    import sys

    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    path = Path(__file__).resolve().parents[1] / "recipes" / "cnn_lstm_emodb.py"
    spec = importlib.util.spec_from_file_location("cnn_lstm_emodb_push", path)
    recipe = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = recipe
    spec.loader.exec_module(recipe)
    argv = ["--model_name_or_path", "tiny-random-cnn-lstm", "--n_mels", "32"]
    argv += ["--segment_frames", "32", "--max_steps", "2", "--dataloader_num_workers", "0"]
    argv += ["--data_dir", str(emodb_fixture), "--output_dir", str(tmp_path / "run")]
    argv += ["--report_to", "none", "--push_to_hub", "--hub_model_id", "someone/cnn-lstm"]
    recipe.main(argv)
    upload = dict(fake_hub.calls)["upload_folder"]
    assert upload["repo_id"] == "someone/cnn-lstm"
    assert {"model.safetensors", "README.md", "metrics.json"} <= set(fake_hub.uploaded)
