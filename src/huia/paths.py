"""Where huia finds things on disk: the web app, the npm packages it vendors, the bundled pretrained models."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# src/huia -> repository root (an editable install finds web/ here; any other install needs HUIA_WEB_DIR)
REPO_ROOT = PACKAGE_DIR.parent.parent
WEB_DIR = Path(os.environ.get("HUIA_WEB_DIR", REPO_ROOT / "web"))
NODE_MODULES = WEB_DIR / "node_modules"
# HUIA_MODELS_DIR points huia at another copy of the human-models folder (or, in tests, at a missing one)
HUMAN_MODELS_DIR = Path(os.environ.get("HUIA_MODELS_DIR", NODE_MODULES / "@vladmandic" / "human-models" / "models"))
# The shared constants belong to the source tree, wherever the web assets are served from; a package installed
# without its source tree (not editable) finds them in $HUIA_WEB_DIR/spec
SPEC_DIR = REPO_ROOT / "web" / "spec" if (REPO_ROOT / "web" / "spec").is_dir() else WEB_DIR / "spec"

INSTALL_HINT = "run `make setup` (or `cd web && npm ci`) to install the bundled TF.js models"
