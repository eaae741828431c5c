"""`visearch opensearch up | status | down` on a second port: idempotent, and leaves nothing."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from visearch import cli
from visearch.commands.node import node_for
from visearch.scripts.opensearch_node import JavaChoice, LocalNode, NodeError, java_home

PORT = 9251
URL = f"http://127.0.0.1:{PORT}"

pytestmark = pytest.mark.slow


def _java_processes_on(node: LocalNode) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if "java" in line and str(node.config) in line]


def test_up_status_down() -> None:
    runner = CliRunner()
    node = node_for(URL, os.environ)
    env = {"OPENSEARCH_URL": URL}
    try:
        first = runner.invoke(cli.main, ["opensearch", "up", "--json"], env=env)
        assert first.exit_code == 0, first.output
        status = json.loads(first.stdout)
        assert status["running"] and "opensearch-knn" in status["plugins"]
        if platform.system() == "Linux" and platform.machine() == "x86_64":
            # The node runs the JDK 21 assembled in the cache, so Lucene's SIMD code is on.
            assert status["jvm"].startswith("21.")
            this_start = (node.logs / "visearch-local.log").read_text().rsplit("JVM home [", 1)[-1]
            assert "Java vector incubator API enabled" in this_start

        started = time.monotonic()
        again = runner.invoke(cli.main, ["opensearch", "up", "--json"], env=env)
        assert again.exit_code == 0 and json.loads(again.stdout)["pid"] == status["pid"]
        assert time.monotonic() - started < 5  # idempotent: a no-op in seconds

        assert runner.invoke(cli.main, ["opensearch", "status"], env=env).exit_code == 0
    finally:
        down = runner.invoke(cli.main, ["opensearch", "down"], env=env)
    assert down.output.strip() == "stopped"
    assert _java_processes_on(node) == []
    after = runner.invoke(cli.main, ["opensearch", "status", "--json"], env=env)
    assert after.exit_code == 1 and json.loads(after.stdout)["running"] is False


def test_other_clusters_are_not_touched() -> None:
    result = CliRunner().invoke(
        cli.main, ["opensearch", "up"], env={"OPENSEARCH_URL": "https://search.example.com:9200"}
    )
    assert result.exit_code != 0
    assert "another cluster" in result.output


def _fake_java(root: Path, version: str) -> Path:
    """A JAVA_HOME whose `java -version` says `version`."""
    java = root / version / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2025-01-01' >&2\n")
    java.chmod(0o755)
    return java.parent.parent


def test_the_node_needs_java_21(tmp_path: Path) -> None:
    old, new = _fake_java(tmp_path, "17.0.15"), _fake_java(tmp_path, "21.0.4")
    machine_only = JavaChoice(assemble=False, machine_homes=(old,))
    with pytest.raises(NodeError, match="needs Java 21"):
        java_home(LocalNode(home=tmp_path / "cache", port=PORT, java=machine_only))
    newer = JavaChoice(assemble=False, machine_homes=(old, new))
    assert java_home(LocalNode(home=tmp_path / "cache", port=PORT, java=newer)) == str(new)


def test_the_node_settings_come_from_the_environment(tmp_path: Path) -> None:
    old, new = _fake_java(tmp_path, "17.0.15"), _fake_java(tmp_path, "21.0.4")
    environ = {
        "VISEARCH_NODE_HOME": str(tmp_path / "cache"),
        "VISEARCH_NODE_JDK": "system",
        "JAVA_HOME": str(new),
        "PATH": str(old / "bin"),
        "VISEARCH_DEBIAN_MIRROR": "http://mirror.example",
    }
    node = node_for(URL, environ)
    assert (node.home, node.port) == (tmp_path / "cache", PORT)
    assert node.java == JavaChoice(None, False, (new, old), "http://mirror.example")
    explicit = node_for(URL, {**environ, "OPENSEARCH_JAVA_HOME": str(new)})
    assert explicit.java.home == new and java_home(explicit) == str(new)
