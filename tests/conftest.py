"""Shared fixtures. `../shared` holds the real data sets: tests skip cleanly without it, except under CI=true,
where a missing `../shared` fails the run so that no test silently stops running."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HUIA_SHARED", REPO_ROOT.parent / "shared"))
NODE_MODULES = REPO_ROOT / "web" / "node_modules"
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_sessionstart(session):
    if IN_CI and not (SHARED / "data").is_dir():
        raise pytest.UsageError(f"CI=true but the shared data folder {SHARED}/data is missing: refusing to skip tests")
    if IN_CI and not NODE_MODULES.is_dir():
        raise pytest.UsageError(f"CI=true but {NODE_MODULES} is missing: run `make setup`")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when it is absent (never under CI)."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED}/data not found")
    return SHARED / "data"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """web/node_modules with TF.js and the bundled models; skips when `npm ci` has not run (never under CI)."""
    if not (NODE_MODULES / "@tensorflow" / "tfjs").is_dir() or shutil.which("node") is None:
        pytest.skip("web/node_modules or node not found: run `make setup`")
    return NODE_MODULES


@pytest.fixture()
def out_dir(request) -> Path:
    """A per-test folder under test-output/ kept after the run (screenshots, plots) so a person can look at them."""
    d = REPO_ROOT / "test-output" / request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d
