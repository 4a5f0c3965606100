"""``hf:ORG/NAME[@REVISION]``: Hub configs through huggingface_hub, against a real HTTP
server started here (serving the Hub's ``/{repo}/resolve/{revision}/config.json`` layout)
and against a pre-populated cache in offline mode. Only config.json is ever requested."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("transformers")

from flopwise.errors import BadModelFile, FlopwiseError, UnknownModel  # noqa: E402
from flopwise.sources import load_model  # noqa: E402
from flopwise.sources.hf_configs import BUILTIN, resolve_config  # noqa: E402
from flopwise.sources.hub import HubUnavailable, is_hub_id, split_revision  # noqa: E402

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TINY = dict(BUILTIN["tiny-llama"], num_hidden_layers=3)


class _Hub(BaseHTTPRequestHandler):
    """The part of the Hub's file API that hf_hub_download uses: HEAD then GET of
    /{org}/{name}/resolve/{revision}/{file}, answered with X-Repo-Commit and ETag."""

    repos: dict[str, bytes] = {}
    gated: set[str] = set()
    requests: list[tuple[str, str]] = []

    def _answer(self, body: bool) -> None:
        self.requests.append((self.command, self.path))
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            self._error(404, "RepoNotFound")
            return
        repo, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        if repo in self.gated:
            self._error(403, "GatedRepo", f"Access to model {repo} is restricted.")
            return
        if repo not in self.repos:
            self._error(404, "RepoNotFound")
            return
        if revision not in ("main", COMMIT):
            self._error(404, "RevisionNotFound")
            return
        if filename != "config.json":
            self._error(404, "EntryNotFound")
            return
        data = self.repos[repo]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str = "not found") -> None:
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running local Hub with one public, one gated and one remote-code repo; HF_ENDPOINT
    points at it and HF_HUB_CACHE at an empty folder."""
    _Hub.repos = {
        "acme/tiny-llama": json.dumps(TINY).encode(),
        "acme/remote": json.dumps(dict(TINY, auto_map={"AutoModel": "m.Remote"})).encode(),
    }
    _Hub.gated = {"acme/gated"}
    _Hub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield _Hub
    server.shutdown()
    server.server_close()


def test_hub_id_forms():
    assert is_hub_id("meta-llama/Llama-3.1-8B") and is_hub_id("acme/x@v1.0")
    assert not is_hub_id("llama-3-8b") and not is_hub_id("a/b/c") and not is_hub_id("/abs/p")
    assert split_revision("acme/x@v1.0") == ("acme/x", "v1.0")
    assert split_revision("acme/x") == ("acme/x", None)


def test_fetch_from_server_then_cache(hub):
    first = resolve_config("acme/tiny-llama")
    assert first.config == TINY and first.kind == "hub"
    assert "acme/tiny-llama config.json from the Hub http://127.0.0.1" in first.where
    assert COMMIT[:12] in first.where
    # Only config.json was asked for, by HEAD then GET.
    assert {path for _, path in hub.requests} == {"/acme/tiny-llama/resolve/main/config.json"}
    asked = len(hub.requests)
    second = resolve_config("acme/tiny-llama")
    assert second.config == TINY and "from the Hub cache" in second.where
    assert len(hub.requests) == asked  # the cache answered without a request


def test_profile_builds_from_server_and_prints_source(hub):
    from flopwise.pipeline import run_profile

    prof = run_profile("hf:acme/tiny-llama@" + COMMIT, [], device="meta")
    resolved = prof.source.resolved
    assert "acme/tiny-llama@" in resolved and "from the Hub http" in resolved
    assert "source: acme/tiny-llama@" in prof.table()
    # Same architecture as the built-in tiny-llama with 3 layers: same count as that config.
    assert prof.totals.params == _params_of(TINY)


def _params_of(config: dict) -> int:
    from flopwise.sources.models import build_hf_model

    model = build_hf_model(config, device="meta")
    return sum(p.numel() for p in model.parameters())


def test_hub_errors_one_line(hub):
    with pytest.raises(HubUnavailable, match="gated.*HF_TOKEN") as gated:
        resolve_config("acme/gated")
    with pytest.raises(UnknownModel, match="no repository 'acme/missing'.*HF_TOKEN") as missing:
        resolve_config("acme/missing")
    with pytest.raises(UnknownModel, match="has no revision 'v9'"):
        resolve_config("acme/tiny-llama@v9")
    for exc in (gated.value, missing.value):
        assert "\n" not in str(exc) and isinstance(exc, FlopwiseError)


def test_remote_code_refused_in_one_line(hub):
    with pytest.raises(BadModelFile, match="needs remote code.*--trust-remote-code") as exc:
        load_model("hf:acme/remote", device="meta")
    assert "\n" not in str(exc.value)


def test_unreachable_endpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    with pytest.raises(HubUnavailable, match="cannot reach .*HF_HUB_CACHE"):
        resolve_config("acme/tiny-llama")


def _populate_cache(cache: Path, repo: str, config: dict, ref: str = "main") -> Path:
    """The layout huggingface_hub writes: models--ORG--NAME/{refs/main, snapshots/<sha>/}."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    snapshot = folder / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(config))
    (folder / "refs").mkdir()
    (folder / "refs" / ref).write_text(COMMIT)
    return snapshot / "config.json"


def test_offline_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    path = _populate_cache(cache, "acme/cached", TINY)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # must never be asked
    resolved = resolve_config("acme/cached")
    assert resolved.config == TINY and resolved.kind == "hub"
    assert f"from the Hub cache ({path}, commit {COMMIT[:12]})" in resolved.where
    # A revision by commit hash reads the same snapshot.
    assert resolve_config(f"acme/cached@{COMMIT}").config == TINY
    # Not cached and offline: one line naming HF_HUB_OFFLINE and the cache.
    with pytest.raises(HubUnavailable, match="not in the Hugging Face cache.*HF_HUB_OFFLINE"):
        resolve_config("acme/absent")


def test_offline_cli(tmp_path, monkeypatch, capsys):
    from flopwise.cli import main

    cache = tmp_path / "hub"
    _populate_cache(cache, "acme/cached", TINY)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FLOPWISE_HOME", str(tmp_path / "home"))
    assert main(["profile", "hf:acme/cached", "--format", "json", "--no-save"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "acme/cached config.json from the Hub cache" in doc["source"]["resolved"]
    assert doc["source"]["default_inputs"] == ["input_ids=1x128:int64"]
    assert main(["profile", "hf:acme/absent", "--no-save"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: hf:acme/absent") and "HF_HUB_OFFLINE" in err
    assert "\n" not in err


def test_order_local_then_builtin_then_hub(tmp_path, monkeypatch):
    # A local folder named like a repo wins over the Hub; a built-in hub id never asks the Hub.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "acme" / "local").mkdir(parents=True)
    (tmp_path / "acme" / "local" / "config.json").write_text(json.dumps(TINY))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    local = resolve_config("acme/local")
    assert local.kind == "local" and local.config == TINY
    builtin = resolve_config("meta-llama/Llama-2-7b-hf")
    assert builtin.kind == "builtin" and builtin.config == BUILTIN["llama-2-7b"]
    assert "built-in config llama-2-7b" in builtin.where


def test_trust_remote_code_runs_local_code(tmp_path):
    # A repository folder whose config names its own classes (auto_map), as remote-code
    # models do; the code is a small transformers model defined in the folder.
    (tmp_path / "configuration_toy.py").write_text(
        "from transformers import PretrainedConfig\n"
        "class ToyConfig(PretrainedConfig):\n"
        "    model_type = 'toy'\n"
        "    def __init__(self, hidden_size=8, **kw):\n"
        "        self.hidden_size = hidden_size\n"
        "        super().__init__(**kw)\n"
    )
    (tmp_path / "modeling_toy.py").write_text(
        "import torch\n"
        "from transformers import PreTrainedModel\n"
        "from .configuration_toy import ToyConfig\n"
        "class ToyModel(PreTrainedModel):\n"
        "    config_class = ToyConfig\n"
        "    def __init__(self, config):\n"
        "        super().__init__(config)\n"
        "        self.proj = torch.nn.Linear(config.hidden_size, config.hidden_size)\n"
        "        self.post_init()\n"
        "    def forward(self, x):\n"
        "        return self.proj(x)\n"
    )
    config = {
        "model_type": "toy",
        "hidden_size": 8,
        "auto_map": {
            "AutoConfig": "configuration_toy.ToyConfig",
            "AutoModel": "modeling_toy.ToyModel",
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BadModelFile, match="needs remote code"):
        load_model(f"hf:{tmp_path}", device="meta")
    loaded = load_model(f"hf:{tmp_path}", trust_remote_code=True)
    assert type(loaded.model).__name__ == "ToyModel"
    assert "remote code trusted (--trust-remote-code): configuration_toy.ToyConfig" in (
        loaded.origin or ""
    )
