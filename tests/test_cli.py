"""The options the utility and the headless command share are parsed one way (twcdirector.cli)."""

from __future__ import annotations

import pytest

from twcdirector import __main__ as headless
from twcdirector import cli, utility
from twcdirector.cli import director_config
from twcdirector.gen2.config import DirectorConfig
from twcdirector.simulator import __main__ as simulator

SHARED = [
    "--port",
    "socket://127.0.0.1:1",
    "--listen-only",
    "--controller-id",
    "7777",
    "--max-current",
    "32",
    "--shared-max",
    "40",
    "--gen3",
    "192.168.1.50",
    "-v",
]


def test_both_commands_read_the_shared_options_into_the_same_config() -> None:
    expected = DirectorConfig(
        controller_id=0x7777, listen_only=True, max_current=32.0, shared_max=40.0
    )
    options = utility.parse_options(SHARED)
    assert options.config == expected
    assert (options.port, options.gen3, options.verbose) == (SHARED[1], ("192.168.1.50",), 1)
    args = headless.build_parser().parse_args(SHARED)
    assert director_config(args) == expected
    assert (args.port, args.gen3, args.verbose) == (SHARED[1], ["192.168.1.50"], 1)


@pytest.mark.parametrize("argv", [["--port", "loop://"], ["--simulate", "2"]])
def test_both_commands_take_fail_safe_into_the_config(argv: list[str]) -> None:
    # The utility's q, Ctrl-C, SIGTERM and SIGHUP all end in Director.close(), whose
    # fail-safe runs only if the option reached the config.
    assert utility.parse_options([*argv, "--fail-safe"]).config.fail_safe is True
    assert utility.parse_options(argv).config.fail_safe is False
    if argv[0] == "--port":
        args = headless.build_parser().parse_args([*argv, "--fail-safe"])
        assert director_config(args).fail_safe is True
        assert director_config(headless.build_parser().parse_args(argv)).fail_safe is False


def test_the_fail_safe_help_names_every_way_out() -> None:
    for parser in (utility.build_parser(), headless.build_parser()):
        text = " ".join(parser.format_help().split())  # argparse wraps the help
        _, _, help_text = text.partition("--fail-safe on every way out (")
        assert help_text.startswith("q in the utility, Ctrl-C, SIGTERM, SIGHUP) send every")
        assert "unit 0 A" in help_text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--controller-id", "zz"], "'zz' is not hexadecimal"),
        (["--controller-id", "10000"], "not a 16-bit ID"),
        (["--controller-id", "FFFF"], "controller_id"),
        (["--max-current", "-6"], "max_current"),
        (["--max-current", "32", "--shared-max", "40.5"], "shared_max"),
        (["--gen3", "http://x/path"], "error: "),
        (["--gen3", "h.lan", "--gen3", "http://h.lan:80/"], "same unit"),
    ],
)
def test_both_commands_refuse_a_bad_shared_option_alike(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = []
    for main in (utility.parse_options, headless.main):
        with pytest.raises(SystemExit) as info:
            main(["--port", "loop://", *argv])
        assert info.value.code == cli.EXIT_USAGE
        [line] = capsys.readouterr().err.splitlines()
        assert message in line
        lines.append(line.partition(": error: ")[2])
    assert lines[0] == lines[1]


def test_the_simulator_reports_mistakes_with_the_same_parser() -> None:
    assert isinstance(simulator._parser(), cli.OneLineParser)
    assert cli.hex_id("1839") == 0x1839
