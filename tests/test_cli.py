"""The `sertune` command line: `data list` and `data info`."""

from __future__ import annotations

import errno
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sertune.cli import main
from sertune.errors import SertuneError

from corpus_fixtures import emodb_names, write_emodb


def test_data_list(capsys):
    assert main(["data", "list", "--json"]) == 0
    listed = {item["name"]: item for item in json.loads(capsys.readouterr().out)}
    assert listed["emodb"]["downloadable"] is True
    assert listed["emodb"]["license"] == "CC0-1.0"


def test_data_info_json(emodb_fixture, capsys):
    assert main(["data", "info", "emodb", "--data_dir", str(emodb_fixture), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["utterances"] == 28
    assert report["speakers"] == 4
    assert report["speakers_by_gender"] == {"female": 2, "male": 2}
    assert report["labels"] == dict.fromkeys(
        ["angry", "bored", "disgust", "fear", "happy", "neutral", "sad"], 4
    )
    assert report["sampling_rates"] == {"16000": 28}
    assert report["channels"] == {"1": 28}
    assert report["encodings"] == {"WAV/PCM_16": 28}
    # The fixture writes 1.0, 1.1 and 1.2 s files in turn.
    duration = report["duration_seconds"]
    assert duration["min"] == pytest.approx(1.0) and duration["max"] == pytest.approx(1.2)
    assert duration["files"] == 28
    assert report["unreadable"] == []


def test_data_info_lists_unreadable_files(tmp_path, capsys):
    root = write_emodb(tmp_path, emodb_names(speakers=("03",)))
    (root / "wav" / "03a01Wa.wav").write_bytes(b"")
    (root / "wav" / "03a01Fa.wav").write_text("not audio")
    assert main(["data", "info", "emodb", "--data_dir", str(root)]) == 1
    out = capsys.readouterr().out
    assert "utterances:  7" in out
    assert "unreadable:  2" in out
    assert "03a01Wa.wav: file is empty (0 bytes)" in out
    assert "03a01Fa.wav: not a readable audio file" in out


def test_data_info_wrong_folder(tmp_path, capsys):
    assert main(["data", "info", "emodb", "--data_dir", str(tmp_path)]) == 1
    assert "expected the official EMO-DB layout" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "data" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["augment", "preview", "--help"], "--noise_prob"),
        (["push", "--help"], "sertune push"),
        (["predict", "--help"], "--format"),
        (["export", "--help"], "--onnx"),
        (["cv", "--help"], "--seeds"),
    ],
)
def test_subcommands_dispatch_to_their_parsers(argv, usage, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert usage in capsys.readouterr().out


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("data", "cv", "augment", "push", "predict", "export"):
        assert command in out


def test_options_after_double_dash_only_for_cv(capsys):
    assert main(["data", "list", "--", "--x"]) == 2
    assert "only `sertune cv`" in capsys.readouterr().err


@pytest.mark.parametrize(
    "recipe",
    ["wav2vec2_emodb", "cnn_emodb", "cnn_lstm_emodb", "lora_wav2vec2_emodb", "distill_emodb"],
)
def test_recipe_help_lists_every_option_group(recipe, capsys):
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "recipes" / f"{recipe}.py"
    spec = importlib.util.spec_from_file_location(f"{recipe}_help", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--protocol", "--class_weighting", "--speed_factors", "--push_to_hub"):
        assert option in out


# ------------------------------------------------------------------------------------------------
# One error boundary for every command: one line on stderr, status 2 or 1, no traceback.

RECIPE = str(Path(__file__).resolve().parents[1] / "recipes" / "cnn_emodb.py")

USAGE_ERRORS = [
    pytest.param(["data", "list", "--bogus"], "data list", "--bogus", id="data list"),
    pytest.param(["data", "info", "emodb"], "data info", "--data_dir", id="data info"),
    pytest.param(["cv", RECIPE, "--seeds", "one"], "cv", "--seeds", id="cv"),
    pytest.param(
        ["augment", "preview", "a.wav", "--output_dir", "o", "--num_examples", "-1"],
        "augment preview",
        "num_examples",
        id="augment preview",
    ),
    pytest.param(["predict", "model"], "predict", "--inputs", id="predict"),
    pytest.param(["push", "run", "user/repo", "extra"], "push", "'extra'", id="push"),
    pytest.param(["export", "model", "out"], "export", "--onnx", id="export"),
    pytest.param(["probe", "--features", "egemaps"], "probe", "--output_dir", id="probe"),
    pytest.param(["evaluate", "model"], "evaluate", "--output_dir", id="evaluate"),
]


def _one_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"sertune {command}: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(("argv", "command", "named"), USAGE_ERRORS)
def test_usage_errors_are_one_line_and_status_2(argv, command, named, capsys):
    assert main(argv) == 2
    assert named in _one_line(capsys.readouterr().err, command)


def _raise(error):
    def raiser(*args, **kwargs):
        raise error

    return raiser


FAILED_RUNS = [
    pytest.param(
        ["data", "list"],
        ("data", "list_corpora"),
        SertuneError("the registry is broken"),
        "the registry is broken",
        id="data list",
    ),
    pytest.param(
        ["data", "info", "emodb", "--data_dir", "/data/emodb"],
        ("data", "load_corpus"),
        PermissionError(errno.EACCES, "Permission denied", "/data/emodb"),
        "/data/emodb: Permission denied",
        id="data info",
    ),
    pytest.param(
        ["cv", RECIPE, "--output_dir", "runs/cv"],
        ("cv", "cross_validate"),
        OSError(errno.ENOSPC, "No space left on device", "runs/cv/fold-00"),
        "runs/cv/fold-00: No space left on device",
        id="cv",
    ),
    pytest.param(
        ["cv", RECIPE, "--output_dir", "runs/cv"],
        ("cv", "cross_validate"),
        RuntimeError("fold 0 failed; see runs/cv/fold-00"),
        "fold 0 failed; see runs/cv/fold-00",
        id="cv run failed",
    ),
    pytest.param(
        ["augment", "preview", "a.wav", "--output_dir", "out"],
        ("augment", "preview_augmentations"),
        OSError(errno.EROFS, "Read-only file system", "out/a_original.wav"),
        "out/a_original.wav: Read-only file system",
        id="augment preview",
    ),
    pytest.param(
        ["predict", "model", "a.wav"],
        ("predict", "EmotionPredictor.from_pretrained"),
        FileNotFoundError(errno.ENOENT, "No such file or directory", "model/config.json"),
        "model/config.json: No such file or directory",
        id="predict",
    ),
    pytest.param(
        ["push", "run", "user/repo"],
        ("push", "push_to_hub"),
        ValueError("run: the card cannot be rendered"),
        "run: the card cannot be rendered",
        id="push",
    ),
    pytest.param(
        ["export", "model", "out", "--onnx"],
        ("export", "export_onnx"),
        SertuneError("the graph's logits differ from PyTorch's"),
        "differ from PyTorch's",
        id="export",
    ),
    pytest.param(
        ["probe", "--features", "egemaps", "--output_dir", "out"],
        ("probe", "run_probe"),
        OSError(errno.ENOSPC, "No space left on device", "cache/a.npy"),
        "cache/a.npy: No space left on device",
        id="probe",
    ),
    pytest.param(
        ["evaluate", "model", "--output_dir", "out"],
        ("evaluate", "EmotionPredictor.from_pretrained"),
        ValueError("model: cannot load an audio-classification model"),
        "model: cannot load an audio-classification model",
        id="evaluate",
    ),
]


def _patch(monkeypatch, target, error):
    module_name, attribute = target
    module = importlib.import_module(f"sertune.cli.{module_name}")
    if module_name == "predict":
        monkeypatch.setattr(module, "iter_audio_files", lambda inputs: [Path(inputs[0])])
    owner, _, name = attribute.rpartition(".")
    monkeypatch.setattr(getattr(module, owner) if owner else module, name, _raise(error))


@pytest.mark.parametrize(("argv", "target", "error", "message"), FAILED_RUNS)
def test_failed_runs_are_one_line_and_status_1(argv, target, error, message, capsys, monkeypatch):
    monkeypatch.delenv("SERTUNE_DEBUG", raising=False)
    _patch(monkeypatch, target, error)
    assert main(argv) == 1
    command = " ".join(argv[:2]) if argv[0] in ("data", "augment") else argv[0]
    assert message in _one_line(capsys.readouterr().err, command)


@pytest.mark.parametrize(("argv", "target", "error", "message"), FAILED_RUNS[:3])
def test_debug_shows_the_traceback(argv, target, error, message, capsys, monkeypatch):
    _patch(monkeypatch, target, error)
    assert main([*argv, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].endswith(message)
    monkeypatch.setenv("SERTUNE_DEBUG", "1")
    assert main(argv) == 1
    assert "Traceback" in capsys.readouterr().err
    assert main(["predict", "model"]) == 2  # a usage error too
    assert "Traceback" in capsys.readouterr().err


def test_a_bug_is_not_hidden(monkeypatch):
    _patch(monkeypatch, ("data", "list_corpora"), KeyError("bug"))
    with pytest.raises(KeyError):
        main(["data", "list"])


def test_unknown_command_and_group_help(capsys):
    assert main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert err == "sertune: unknown command 'bogus' (see sertune --help)\n"
    assert main(["data"]) == 2
    out = capsys.readouterr().out
    assert "data info" in out and "probe" not in out


def test_python_m_sertune_cli(tmp_path):
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("SERTUNE_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "sertune.cli", "export", str(tmp_path), str(tmp_path / "out")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--onnx" in _one_line(done.stderr, "export")
