"""The `huia` command as a whole: range checks at parse time, a quiet exit on a closed pipe, one-line warnings,
progress bars only where someone watches, and help texts (CLI audit findings 4, 6, 12, 16, 18-20)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import huia.cli as cli
from huia.cli import build_parser, main

HUIA = [sys.executable, "-m", "huia.cli"]


# ------------------------------------------------------------------------------------------------------------
# shared range checks


@pytest.mark.parametrize("check,good,bad", [
    ("positive_int", {"1": 1, "300": 300}, ["0", "-1", "1.5", "x", ""]),
    ("non_negative_int", {"0": 0, "7": 7}, ["-1", "2.0"]),
    ("positive_float", {"0.001": 0.001, "4": 4.0}, ["0", "-1", "nan", "inf", "x"]),
    ("fraction", {"0.2": 0.2, "0.999": 0.999}, ["0", "1", "2", "-0.1"]),
    ("probability", {"0": 0.0, "1": 1.0, "0.3": 0.3}, ["1.5", "-1"]),
    ("dropout_rate", {"0": 0.0, "0.5": 0.5}, ["1", "1.5", "-0.1"]),
])
def test_range_types_accept_the_range_and_name_the_typed_value(check, good, bad):
    check = getattr(cli, check)  # the names other command modules import
    for text, value in good.items():
        assert check(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError) as exc:
            check(text)
        assert repr(text) in str(exc.value)


def test_custom_ranges_state_their_bounds():
    with pytest.raises(argparse.ArgumentTypeError, match=r"in \[161, 801\], got '7'"):
        cli.int_range(161, 801)("7")
    with pytest.raises(argparse.ArgumentTypeError, match=r"in \(0, 1\]"):
        cli.float_range(0, 1, lo_open=True)("0")
    assert cli.float_range(0, 1, lo_open=True)("1") == 1.0


@pytest.mark.parametrize("option,value", [
    ("--val-fraction", "2"), ("--val-fraction", "1"), ("--hidden", "-1"), ("--dropout", "1.5"),
    ("--epochs", "0"), ("--views", "-1"), ("--patience", "-1"), ("--finetune-epochs", "-1"), ("--shots", "0"),
])
def test_classify_train_refuses_out_of_range_values_before_any_work(tmp_path, capsys, option, value):
    """Each used to start and end in a traceback (or train with a nonsense value); now a usage error, exit 2."""
    with pytest.raises(SystemExit) as exc:
        main(["classify", "train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and repr(value) in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_tfjs_quantize_shard_size_error_names_what_was_typed(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tfjs", "quantize", str(tmp_path), str(tmp_path / "q"), "--dtype", "uint8", "--shard-mb", "-1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--shard-mb" in err and "'-1'" in err and "1048576" not in err


# ------------------------------------------------------------------------------------------------------------
# serve --cors


def test_serve_cors_takes_one_origin_per_flag_and_leaves_dir_alone(tmp_path):
    args = build_parser().parse_args(["serve", "--cors", "http://a.com", str(tmp_path)])
    assert args.dir == str(tmp_path) and args.cors == ["http://a.com"]
    args = build_parser().parse_args(["serve", str(tmp_path), "--cors", "http://a.com", "--cors", "*"])
    assert args.cors == ["http://a.com", "*"]
    assert build_parser().parse_args(["serve", str(tmp_path)]).cors == []


def test_serve_refuses_a_comma_list_or_a_path_as_origin(tmp_path, capsys):
    for bad in ("http://a.com,http://b.com", "http://a.com/app"):
        assert main(["serve", str(tmp_path), "--cors", bad, "--port", "0"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("huia: error: --cors"), err


# ------------------------------------------------------------------------------------------------------------
# closed pipe, warnings


def _env(tmp_path) -> dict:
    return {**os.environ, "HUIA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONWARNINGS": ""}


def test_a_closed_stdout_pipe_ends_quietly(tmp_path):
    """`huia ... | head` where head is already gone: no BrokenPipeError traceback, the SIGPIPE exit status."""
    for argv in (["classify", "cache", "--json"], ["pose", "--help"]):
        r, w = os.pipe()
        os.close(r)  # the reader is gone before huia writes a byte: every write fails with EPIPE
        try:
            proc = subprocess.run(HUIA + argv, stdout=w, stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
                                  timeout=120)
        finally:
            os.close(w)
        assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
        assert proc.returncode in (141, 0), (argv, proc.returncode, proc.stderr)
        if argv[0] == "classify":
            assert proc.returncode == 141


def test_warnings_are_one_huia_line_without_source(monkeypatch, tmp_path, capsys):
    """main() installs the format for every command (a warning raised deep inside one) and restores it after."""
    from huia.classify import cache

    def usage():
        warnings.warn("some/file.jpg: truncated image file, using the part that decodes", UserWarning)
        return 0, 0

    monkeypatch.setenv("HUIA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "usage", usage)
    before = warnings.showwarning
    assert main(["classify", "cache"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["huia: warning: some/file.jpg: truncated image file, using the part that decodes"]
    assert warnings.showwarning is before


def test_truncated_image_warning_from_a_real_command(shared_data, node_modules, tmp_path):
    """The real entry point: the data loader's TruncatedImageWarning comes out as one `huia: warning:` line."""
    data = (shared_data / "pose-video" / "pose.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 2 // 3])
    proc = subprocess.run(HUIA + ["pose", str(cut), "--json", str(tmp_path / "p.json")], capture_output=True,
                          text=True, env=_env(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    warn = [ln for ln in lines if ln.startswith("huia: warning")]
    assert warn == [f"huia: warning: {cut}: truncated image file, using the part that decodes (every row, with "
                    f"less detail: a progressive JPEG)"], lines  # pose.jpg is progressive
    assert not any(".py:" in ln or "Warning:" in ln for ln in lines), lines


# ------------------------------------------------------------------------------------------------------------
# progress bars


class _Stream:
    def __init__(self, tty: bool):
        self.tty = tty
        self.text = ""

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass


@pytest.mark.parametrize("env,tty,shown", [(None, False, False), (None, True, True), ("1", False, True),
                                           ("0", True, False)])
def test_progress_bars_follow_the_terminal_and_huia_progress(monkeypatch, env, tty, shown):
    from huia.train.common import progress, progress_enabled

    if env is None:
        monkeypatch.delenv("HUIA_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("HUIA_PROGRESS", env)
    stream = _Stream(tty)
    monkeypatch.setattr(sys, "stderr", stream)
    assert progress_enabled() is shown
    # detect train passes disable=None: HUIA_PROGRESS=1 must still turn the bar on
    for kwargs in ({}, {"disable": None}):
        bar = progress(range(3), desc="work", file=stream, **kwargs)
        assert bar.disable is (not shown)
        list(bar)
        bar.close()
    assert ("work" in stream.text) is shown
    assert progress(range(3), disable=True, file=stream).disable  # quiet mode stays quiet


# ------------------------------------------------------------------------------------------------------------
# help texts


def _subparser(*names):
    p = build_parser()
    for n in names:
        action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        p = action.choices[n]
    return p


@pytest.mark.parametrize("group", ["classify", "tfjs", "models"])
def test_sub_command_groups_say_command(group):
    p = _subparser(group)
    action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    assert action.metavar == "COMMAND"
    assert "COMMAND" in p.format_usage()


@pytest.mark.parametrize("names", [("classify", "predict"), ("models", "list"), ("tfjs", "info")])
def test_commands_have_descriptions(names):
    assert len(_subparser(*names).description or "") > 40


def test_option_help_states_defaults():
    train = _subparser("classify", "train")
    helps = {a.option_strings[0]: a.help for a in train._actions if a.option_strings}
    for opt, default in [("--seed", "0"), ("--epochs", "300"), ("--patience", "40"), ("--hidden", "256"),
                         ("--dropout", "0.5"), ("--views", "4"), ("--val-fraction", "0.2")]:
        assert f"default {default}" in helps[opt], (opt, helps[opt])
    assert "DATA" in train.description and "DIR" not in train.description
    predict = {a.option_strings[0]: a.help for a in _subparser("classify", "predict")._actions if a.option_strings}
    assert "default 3" in predict["--top"]
    quant = {a.option_strings[0]: a.help for a in _subparser("tfjs", "quantize")._actions if a.option_strings}
    assert quant["--dtype"] and "uint8" in quant["--dtype"]


# ------------------------------------------------------------------------------------------------------------
# tfjs


def test_tfjs_info_shortens_long_metadata_and_json_keeps_it(tmp_path, capsys):
    import numpy as np

    from huia.tfjs.artifacts import ModelArtifacts, save_artifacts

    promoted = {f"layer_{i}/kernel": "uint16" for i in range(60)}
    art = ModelArtifacts(format="graph-model", model_topology={"node": [{"name": "x", "op": "Placeholder"}]},
                         weights={"w": np.ones((2, 2), np.float32)}, quantization={}, signature=None,
                         user_defined_metadata={"task": "detect", "mixed_precision": {"promoted": promoted}},
                         path=None)
    model = save_artifacts(art, tmp_path / "m")
    capsys.readouterr()
    assert main(["tfjs", "info", str(model)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) < 200
    assert '    task: "detect"' in out and "--json" in out and "layer_0/kernel" in out
    assert main(["tfjs", "info", str(model), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["userDefinedMetadata"]["mixed_precision"]["promoted"] == promoted


def test_tfjs_run_on_a_layers_model_speaks_cli(tmp_path, capsys):
    import numpy as np

    from huia.tfjs.artifacts import ModelArtifacts, save_artifacts

    art = ModelArtifacts(format="layers-model", model_topology={"class_name": "Sequential", "config": []},
                         weights={"d/kernel": np.ones((2, 2), np.float32)}, quantization={}, signature=None,
                         user_defined_metadata=None, path=None)
    model = save_artifacts(art, tmp_path / "m")
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 2), np.float32))
    capsys.readouterr()
    assert main(["tfjs", "run", str(model), "--input", f"x={x}", "--out", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("huia: error:") and "layers" in err and "huia tfjs info" in err
    assert "load_artifacts" not in err and "\n" not in err
