"""The `sertune` command line: `data list` and `data info`."""

from __future__ import annotations

import json

import pytest

from sertune.cli import main

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
    with pytest.raises(SystemExit):
        main(["data", "list", "--", "--x"])
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
