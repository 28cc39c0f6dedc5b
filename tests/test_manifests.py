"""The two Slack app manifests: one app, two ways to reach it. manifest.yml is Socket Mode;
manifest-http.yml is the same app with Slack calling the bot's HTTPS URL. Their comments point
only at files in this repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
URL = "https://revoker.example.com/slack/events"


def load(name: str) -> tuple[str, dict[str, Any]]:
    text = (ROOT / name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return text, loaded


def test_the_http_manifest_is_the_socket_app_with_request_urls() -> None:
    _, socket = load("manifest.yml")
    _, http = load("manifest-http.yml")
    assert http["settings"]["socket_mode_enabled"] is False
    assert http["settings"]["interactivity"] == {"is_enabled": True, "request_url": URL}
    (command,) = http["features"]["slash_commands"]
    assert command.pop("url") == URL
    # Apart from where Slack sends requests, the same app: command, scopes, names.
    http["settings"]["socket_mode_enabled"] = True
    del http["settings"]["interactivity"]["request_url"]
    assert http == socket


def test_manifest_comments_cite_only_files_in_the_repository() -> None:
    for name in ("manifest.yml", "manifest-http.yml"):
        text, _ = load(name)
        comments = " ".join(
            line.split("#", 1)[1] for line in text.splitlines() if "#" in line.split('"')[0]
        )
        assert "DESIGN" not in comments and "shared/" not in comments
        assert not re.findall(r"https?://(?!revoker\.example\.com)", comments), name
        for cited in re.findall(r"\b([\w./-]+\.(?:md|yml|yaml|json))\b", comments):
            assert (ROOT / cited).is_file(), f"{name} cites {cited}, which is not in the repo"
