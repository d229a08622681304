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
