"""Uploading a staged run to the Hub: :func:`push_to_hub` and the recipes' :class:`HubArguments`
(``sertune push`` is :mod:`sertune.cli.push`).

:func:`push_to_hub` stages into a temporary folder (:func:`~sertune.hub.staging.stage_for_hub`),
creates the repository (and the branch), and uploads the staged folder in one commit. The commit
adds and overwrites files but deletes none: files others added to the repository stay. The token
comes from ``huggingface_hub``'s usual sources (``HF_TOKEN``, ``hf auth login``) unless one is
passed; it is never logged, and staging refuses a folder in which it appears.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from accelerate import PartialState
from huggingface_hub import HfApi, get_token
from huggingface_hub.utils import validate_repo_id

from sertune.hub.card import percent
from sertune.hub.files import METRICS_FILE, read_json
from sertune.hub.staging import stage_for_hub

logger = logging.getLogger(__name__)


def push_to_hub(
    output_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    create_pr: bool = False,
    license: str | None = None,
) -> str:
    """Publish a run: stage it, create the repository (and branch), upload in one commit.

    The commit adds the staged files and overwrites those of the same name; it deletes nothing,
    so files others added to the repository (and those of an earlier run with other names, such
    as another run's shards) stay.

    Args:
        output_dir: The run's output folder.
        repo_id: ``namespace/name`` of the model repository; created when missing.
        private: Create the repository private (an existing one keeps its visibility).
        revision: Branch to commit to, created from ``main`` when missing; default ``main``.
        commit_message: The commit's message; by default one naming the corpus, fold and UAR.
        token: A Hugging Face token; by default ``HF_TOKEN`` or the one ``hf auth login``
            saved. It is never logged.
        create_pr: Open a pull request with the upload instead of committing to the branch.
        license: Hub license identifier overriding the one derived from the corpus.

    Returns:
        The commit's URL (the pull request's when ``create_pr``).

    Raises:
        RunFolderError: ``output_dir`` cannot be published (see :func:`stage_for_hub`).
        huggingface_hub.errors.HfHubHTTPError: The Hub refused a request.
    """
    validate_repo_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="sertune-hub-") as temporary:
        staged = stage_for_hub(
            output_dir, Path(temporary) / "staged", repo_id=repo_id, license=license, token=token
        )
        if commit_message is None:
            commit_message = _default_commit_message(staged)
        api = HfApi(token=token)
        logger.info("uploading %s to %s (branch %s)", output_dir, repo_id, revision or "main")
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=staged,
            revision=revision,
            commit_message=commit_message,
            create_pr=create_pr,
        )
    url = commit.pr_url if create_pr and commit.pr_url else commit.commit_url
    logger.info("pushed %s: %s", output_dir, url)
    return url


def _default_commit_message(staged: Path) -> str:
    metrics = read_json(staged / METRICS_FILE)
    fold = (metrics.get("fold") or {}).get("name", "")
    return (
        f"sertune: {metrics['corpus']} {fold}".rstrip()
        + f", test UAR {percent(metrics['uar'])}, WA {percent(metrics['wa'])}"
    )


@dataclass
class HubArguments:
    """Whether and where a recipe publishes its model after training (see :func:`push_to_hub`).

    There is deliberately no token option: a token on a command line ends up in shell histories
    and ``run_config.json``; ``hf auth login`` or ``HF_TOKEN`` provide it.
    """

    push_to_hub: bool = field(
        default=False,
        metadata={
            "help": "After training, upload the model, its card and the run's metrics to the "
            "Hub (needs `hf auth login` or HF_TOKEN)."
        },
    )
    hub_model_id: str | None = field(
        default=None,
        metadata={"help": "Hub repository for push_to_hub, e.g. user/wav2vec2-emodb."},
    )
    hub_private_repo: bool = field(
        default=False, metadata={"help": "Create the Hub repository private."}
    )
    hub_revision: str | None = field(
        default=None, metadata={"help": "Branch to push to (created when missing); default main."}
    )
    hub_commit_message: str | None = field(
        default=None, metadata={"help": "Commit message; default names the corpus, fold and UAR."}
    )

    def __post_init__(self) -> None:
        # Checked before training, not after hours of it.
        if not self.push_to_hub:
            return
        if not self.hub_model_id:
            raise ValueError("--push_to_hub needs --hub_model_id, e.g. user/wav2vec2-emodb")
        validate_repo_id(self.hub_model_id)
        if get_token() is None:
            raise ValueError(
                "--push_to_hub needs a Hugging Face token: run `hf auth login` or set HF_TOKEN"
            )

    def push_if_requested(self, output_dir: str | os.PathLike) -> str | None:
        """Push the finished run in ``output_dir`` when ``push_to_hub`` is set.

        Only the main process pushes; under DDP the others return ``None``.

        Args:
            output_dir: The run's output folder.

        Returns:
            The commit URL, or ``None`` when nothing was pushed.
        """
        if not self.push_to_hub:
            return None
        if not PartialState().is_main_process:
            return None
        return push_to_hub(
            output_dir,
            self.hub_model_id,
            private=self.hub_private_repo,
            revision=self.hub_revision,
            commit_message=self.hub_commit_message,
        )
