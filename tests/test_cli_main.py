"""The command group: fast help, version, clean errors."""

import subprocess
import sys

from click.testing import CliRunner

from nuclassify import __version__
from nuclassify.cli.main import COMMANDS, cli


def test_version_flag():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_every_command_with_an_example():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output
        assert f"nuclassify {name}" in result.output, f"no worked example for {name}"


def test_help_does_not_import_tensorflow():
    code = ("import sys; from nuclassify.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_unknown_command_fails_nonzero():
    proc = subprocess.run([sys.executable, "-m", "nuclassify", "no-such-command"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "no-such-command" in proc.stderr


def test_usage_errors_are_one_line_naming_the_option(tmp_path, capsys):
    import pytest

    from nuclassify.cli.main import main

    cases = {("train", "--data", str(tmp_path)): "'--data'",  # a folder where a file belongs
             ("simulate", "minerva", "--seed", "-1", "-o", str(tmp_path / "x.h5")): "'--seed'",
             ("inspect", "--sample", "-1", str(tmp_path)): "'--sample'",
             ("evaluate", "--no-such-option"): "--no-such-option",
             ("train",): "Missing option '--data'"}
    for args, fragment in cases.items():
        with pytest.raises(SystemExit) as info:
            main(list(args))
        err = capsys.readouterr().err
        assert info.value.code == 2, args
        assert err.count("\n") == 1 and err.startswith("nuclassify: error: ") and fragment in err, err
        assert f"(see 'nuclassify {args[0]}" in err


def test_nothing_outside_the_cli_imports_from_it():
    # The CLI is the top layer: the library and the benchmarks use only the library's public API,
    # so a command can change without breaking them. (__main__ is the entry point, the one exception.)
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    offenders = []
    for path in [*root.joinpath("nuclassify").rglob("*.py"), *root.joinpath("benchmarks").rglob("*.py")]:
        rel = path.relative_to(root).as_posix()
        if rel.startswith("nuclassify/cli/") or rel == "nuclassify/__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{rel}: {n}" for n in names if n == "nuclassify.cli" or n.startswith("nuclassify.cli.")]
    assert not offenders, offenders


def test_verbose_and_quiet_work_after_the_subcommand_too(tmp_path, capsys):
    import pytest

    from nuclassify.cli.main import main

    missing = str(tmp_path / "missing.h5")
    for argv, traceback_shown in ((["predict", "--model", "trackfit", "--data", missing], False),
                                  (["predict", "--model", "trackfit", "--data", missing, "-v"], True),
                                  (["-v", "predict", "--model", "trackfit", "--data", missing], True)):
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert info.value.code != 0
        assert ("Traceback" in err) == traceback_shown, (argv, err)
        assert err.rstrip().splitlines()[-1] == f"nuclassify: error: {missing}: no such file"
    # -q after a group's sub-command (simulate minerva) silences the progress, as before it does.
    for argv in (["simulate", "minerva", "-n", "5", "-o", str(tmp_path / "a.h5")],
                 ["simulate", "minerva", "-n", "5", "-o", str(tmp_path / "b.h5"), "-q"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        err = capsys.readouterr().err
        assert ("simulating MINERvA" in err) == ("-q" not in argv), err
