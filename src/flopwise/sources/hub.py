"""``config.json`` of a Hub repository (``hf:ORG/NAME[@REVISION]``), through huggingface_hub.

Only ``config.json`` is ever fetched, never weights. The user's cache is tried first
(``HF_HUB_CACHE``, else huggingface_hub's default), then the endpoint (``HF_ENDPOINT``,
else huggingface_hub's default) unless ``HF_HUB_OFFLINE`` is set. The settings are read
from the environment at call time, so a test or a notebook can change them after
huggingface_hub was imported. Every failure is one :class:`FlopwiseError` line saying why
and what to set (``HF_TOKEN``, ``HF_HUB_OFFLINE``, ``HF_HUB_CACHE``, ``HF_ENDPOINT``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from flopwise.errors import FlopwiseError, UnknownModel, require

__all__ = [
    "HubConfig",
    "HubUnavailable",
    "fetch_hub_config",
    "hub_offline",
    "is_hub_id",
    "split_revision",
]

# ORG/NAME with the characters Hub repository ids allow, optionally @REVISION.
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*(@[^\s@]+)?$")


class HubUnavailable(FlopwiseError):
    """A Hub config could not be had: gated, missing, offline and not cached, unreachable."""


@dataclass(frozen=True)
class HubConfig:
    """Where a Hub ``config.json`` came from.

    ``path``: the file in the cache; ``from_cache``: True when the cache answered without a
    request; ``commit``: the snapshot (commit hash) the file belongs to; ``endpoint``: the
    endpoint asked (None when the cache answered).
    """

    repo_id: str
    revision: str | None
    path: Path
    from_cache: bool
    commit: str | None
    endpoint: str | None

    def describe(self) -> str:
        """One line for the output: which source answered, at which commit."""
        rev = f"@{self.revision}" if self.revision else ""
        commit = f", commit {self.commit[:12]}" if self.commit else ""
        where = "Hub cache" if self.from_cache else f"Hub {self.endpoint}"
        return f"{self.repo_id}{rev} config.json from the {where} ({self.path}{commit})"


def is_hub_id(text: str) -> bool:
    """True when ``text`` has the form ``ORG/NAME`` or ``ORG/NAME@REVISION``."""
    return bool(_HUB_ID_RE.match(text.strip()))


def split_revision(text: str) -> tuple[str, str | None]:
    """``"org/name@v1"`` -> ``("org/name", "v1")``; no ``@`` -> ``(text, None)``."""
    repo, sep, revision = text.strip().partition("@")
    return repo, (revision if sep else None)


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set now, or was when
    huggingface_hub was imported."""
    if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _cache_dir() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE


def _endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def fetch_hub_config(text: str) -> HubConfig:
    """Fetch (or find in the cache) ``config.json`` of the repo ``ORG/NAME[@REVISION]``.

    The cache is asked first; on a miss the endpoint is asked unless offline. Raises
    :class:`MissingDependency` without huggingface_hub (extra ``hf``), :class:`UnknownModel`
    for a repo or revision the Hub does not have, and :class:`HubUnavailable` for a gated
    repo, a cache miss while offline, or an unreachable endpoint.
    """
    require("huggingface_hub", "hf", "hf:ORG/NAME configs")
    from huggingface_hub import errors, hf_hub_download

    repo_id, revision = split_revision(text)
    label = f"hf:{text.strip()}"
    cache = _cache_dir()
    try:
        path = hf_hub_download(
            repo_id, "config.json", revision=revision, cache_dir=cache, local_files_only=True
        )
        return _result(repo_id, revision, path, True, None)
    except errors.LocalEntryNotFoundError:
        pass
    if hub_offline():
        raise HubUnavailable(
            f"{label}: config.json is not in the Hugging Face cache {cache} and HF_HUB_OFFLINE "
            "is set; unset HF_HUB_OFFLINE to fetch it, or set HF_HUB_CACHE to a cache that has it"
        )
    endpoint = _endpoint()
    try:
        path = hf_hub_download(
            repo_id, "config.json", revision=revision, cache_dir=cache, endpoint=endpoint
        )
    except errors.GatedRepoError:
        raise HubUnavailable(
            f"{label} is gated: accept its terms on the Hub and set HF_TOKEN to a token with "
            "access (or use HF_HUB_OFFLINE=1 with a cache holding its config.json)"
        ) from None
    except errors.RepositoryNotFoundError:
        raise UnknownModel(
            f"{label}: no repository {repo_id!r} at {endpoint} (if it is private, set HF_TOKEN; "
            "check HF_ENDPOINT)"
        ) from None
    except errors.RevisionNotFoundError:
        raise UnknownModel(f"{label}: {repo_id} has no revision {revision!r}") from None
    except errors.RemoteEntryNotFoundError:
        raise UnknownModel(
            f"{label}: {repo_id} has no config.json (not a transformers model repository?)"
        ) from None
    except errors.OfflineModeIsEnabled:
        raise HubUnavailable(
            f"{label}: config.json is not in the Hugging Face cache {cache} and offline mode is "
            "on; unset HF_HUB_OFFLINE to fetch it"
        ) from None
    except errors.LocalEntryNotFoundError:
        # hf_hub_download's answer to a connection failure with nothing cached.
        raise HubUnavailable(
            f"{label}: cannot reach {endpoint} and config.json is not in the cache {cache}; "
            "check the network or HF_ENDPOINT, or set HF_HUB_CACHE to a cache that has it"
        ) from None
    except errors.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HubUnavailable(f"{label}: the Hub at {endpoint} answered {status}: {first}") from None
    return _result(repo_id, revision, path, False, endpoint)


def _result(
    repo_id: str, revision: str | None, path: str, from_cache: bool, endpoint: str | None
) -> HubConfig:
    file = Path(path)
    # The cache layout is models--ORG--NAME/snapshots/<commit>/config.json.
    commit = file.parent.name if file.parent.parent.name == "snapshots" else None
    return HubConfig(repo_id, revision, file, from_cache, commit, endpoint)
