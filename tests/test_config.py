"""Recipe configuration: dataclasses, config files, command-line overrides, unknown keys."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from sertune.config import config_to_dict, parse_config, read_config_file


@dataclass
class Model:
    model_name_or_path: str = field(default="facebook/wav2vec2-base", metadata={"help": "m"})
    dropout: float = field(default=0.1, metadata={"help": "d"})


@dataclass
class Train:
    output_dir: str = field(metadata={"help": "o"})
    learning_rate: float = field(default=5e-5, metadata={"help": "lr"})
    test_speakers: list[str] | None = field(default=None, metadata={"help": "t"})
    freeze: bool = field(default=True, metadata={"help": "f"})


def test_defaults_and_command_line():
    model, train = parse_config((Model, Train), ["--output_dir", "out", "--learning_rate", "1e-3"])
    assert model == Model()
    assert train == Train(output_dir="out", learning_rate=1e-3)


def test_yaml_file_then_command_line_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("output_dir: from_file\nlearning_rate: 0.01\ndropout: 0.3\n")
    model, train = parse_config(
        (Model, Train), ["--config", str(path), "--learning_rate", "0.02", "--no_freeze"]
    )
    assert train.output_dir == "from_file"  # a required option satisfied by the file
    assert train.learning_rate == 0.02  # the command line wins
    assert model.dropout == 0.3
    assert train.freeze is False


def test_json_file_with_list(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"output_dir": "o", "test_speakers": ["03", "08"]}))
    _, train = parse_config((Model, Train), ["--config", str(path)])
    assert train.test_speakers == ["03", "08"]
    _, train = parse_config((Model, Train), ["--config", str(path), "--test_speakers", "10"])
    assert train.test_speakers == ["10"]


def test_unknown_key_in_file_fails_loudly(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("output_dir: o\nleraning_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"unknown options \['leraning_rate'\]"):
        parse_config((Model, Train), ["--config", str(path)])


def test_unknown_flag_fails(capsys):
    with pytest.raises(SystemExit):
        parse_config((Model, Train), ["--output_dir", "o", "--bogus", "1"])
    assert "--bogus" in capsys.readouterr().err


def test_yaml_never_constructs_objects(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("output_dir: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ValueError, match="python/object"):
        read_config_file(path)


def test_bad_config_files(tmp_path):
    with pytest.raises(ValueError, match="json, .yaml or .yml"):
        read_config_file(tmp_path.joinpath("x.toml"))
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        read_config_file(path)


def test_config_to_dict_merges():
    merged = config_to_dict(Model(), Train(output_dir="o"))
    assert merged["model_name_or_path"] == "facebook/wav2vec2-base"
    assert merged["output_dir"] == "o" and json.dumps(merged)
