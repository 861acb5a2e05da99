"""``sertune push OUTPUT_DIR REPO_ID [options]``: publish a finished run on the Hugging Face Hub.

Uploads the model (safetensors), its custom code, configs, metrics, figures and a generated
model card (:func:`sertune.hub.push_to_hub`), or with ``--stage_only DIR`` writes what would be
uploaded into ``DIR`` (:func:`sertune.hub.stage_for_hub`) and uploads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from huggingface_hub.utils import validate_repo_id

from sertune.cli._parsing import parse_command
from sertune.hub import push_to_hub, stage_for_hub


@dataclass
class PushArguments:
    """Options of ``sertune push``."""

    output_dir: str = field(metadata={"help": "The run's output folder."})
    repo_id: str = field(metadata={"help": "Hub model repository, e.g. user/wav2vec2-emodb."})
    private: bool = field(default=False, metadata={"help": "Create the repository private."})
    revision: str | None = field(
        default=None, metadata={"help": "Branch to push to (created when missing)."}
    )
    commit_message: str | None = field(default=None, metadata={"help": "The commit's message."})
    create_pr: bool = field(
        default=False, metadata={"help": "Open a pull request instead of committing."}
    )
    license: str | None = field(
        default=None,
        metadata={"help": "Hub license identifier to declare (default: the corpus's, else other)."},
    )
    stage_only: str | None = field(
        default=None,
        metadata={
            "help": "Write what would be uploaded into DIR (empty or absent) and upload nothing.",
            "metavar": "DIR",
        },
    )


def run(argv: list[str]) -> int:
    """Push (or stage) a run and print the commit's URL (or the staged folder); returns 0.

    Args:
        argv: ``OUTPUT_DIR REPO_ID [options]``.

    Raises:
        RunFolderError: The folder cannot be published.
        huggingface_hub.errors.HfHubHTTPError: The Hub refused a request (an ``OSError``).
    """
    (args,) = parse_command(
        [PushArguments],
        argv,
        command="push",
        usage="sertune push OUTPUT_DIR REPO_ID [options]",
        description="Publish a finished run on the Hugging Face Hub: the model (safetensors), "
        "its custom code, configs, metrics, figures and a generated model card. Checkpoints, "
        "logs and pickles stay local. The token comes from `hf auth login` or HF_TOKEN.",
        positionals=("output_dir", "repo_id"),
    )
    validate_repo_id(args.repo_id)
    if args.stage_only is not None:
        staged = stage_for_hub(
            args.output_dir, args.stage_only, repo_id=args.repo_id, license=args.license
        )
        print(f"staged {sum(1 for _ in staged.iterdir())} files in {staged}")
        return 0
    url = push_to_hub(
        args.output_dir,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
        create_pr=args.create_pr,
        license=args.license,
    )
    print(url)
    return 0
