"""What the repository holds: nothing one machine made for itself."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.processes import ROOT


def tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        if os.environ.get("CI") == "true":
            raise AssertionError("CI runs in a git checkout with git installed")
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [p for p in listed.split("\0") if p]


def test_no_terraform_working_folders_or_lock_files_are_tracked() -> None:
    paths = tracked()
    assert paths  # the listing works
    assert [p for p in paths if "/.terraform/" in p or p.endswith(".terraform.lock.hcl")] == []


def test_no_tracked_link_points_at_a_machine_path() -> None:
    links = [p for p in tracked() if (ROOT / p).is_symlink()]
    absolute = [p for p in links if os.path.isabs(os.readlink(ROOT / p))]
    assert absolute == []
