"""huia installed without its source tree (a plain, non-editable `pip install`): the package finds the web app, the
shared spec JSON and the bundled models through HUIA_WEB_DIR, and says what is missing when it is not set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from huia import paths

PROBE = ("import huia; from huia.pose.spec import keypoint_spec; from huia.models import get_model; "
         "assert 'site-packages' in huia.__file__, huia.__file__; "
         "print(keypoint_spec().names[0], get_model('movenet-lightning').path.name)")


def _installed_copy(tmp_path):
    site = tmp_path / "site-packages"
    shutil.copytree(paths.PACKAGE_DIR, site / "huia", ignore=shutil.ignore_patterns("__pycache__"))
    return site


def _run(site, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUIA_")}
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                          env={**clean, "PYTHONPATH": str(site), **env}, cwd=site)


def test_installed_package_reads_web_spec_and_models_from_huia_web_dir(tmp_path, node_modules):
    site = _installed_copy(tmp_path)
    out = _run(site, HUIA_WEB_DIR=str(paths.WEB_DIR))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["nose", "movenet-lightning.json"]


def test_installed_package_without_web_dir_names_what_is_missing(tmp_path):
    site = _installed_copy(tmp_path)
    out = _run(site)
    assert out.returncode != 0
    assert "spec file missing" in out.stderr and "HUIA_WEB_DIR" in out.stderr, out.stderr
