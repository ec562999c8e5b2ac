"""A lazy group imports a command's module only when the command is invoked or listed in the group's help."""

import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from invoice_pipeline.cli.lazy_group import LazyGroup

MODULE = "lazy_group_example_commands"


@pytest.fixture
def group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """A lazy group with one command, `hello`, in a module not imported yet."""
    (tmp_path / f"{MODULE}.py").write_text(
        "import click\n\n\n@click.command()\ndef hello() -> None:\n"
        '    """Say hello."""\n    click.echo("hello")\n\n\nnot_a_command = 1\n',
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)

    @click.group(cls=LazyGroup, lazy_subcommands={"hello": f"{MODULE}:hello"})
    def example() -> None:
        """An example group."""

    @example.command()
    def here() -> None:
        """Defined in the group's own module."""

    return example


def test_listing_the_commands_imports_none_of_them(group):
    assert group.list_commands(click.Context(group)) == ["hello", "here"]
    assert MODULE not in sys.modules


def test_invoking_a_command_imports_its_module_and_runs_it(group):
    ran = CliRunner().invoke(group, ["hello"])
    assert (ran.exit_code, ran.output) == (0, "hello\n")
    assert MODULE in sys.modules


def test_the_groups_help_shows_each_commands_own_help(group):
    helped = CliRunner().invoke(group, ["--help"])
    assert "hello  Say hello." in helped.output


def test_a_name_that_is_not_a_click_command_is_a_type_error_naming_it(group):
    broken = LazyGroup(lazy_subcommands={"broken": f"{MODULE}:not_a_command"})
    with pytest.raises(TypeError, match=f"{MODULE}:not_a_command is not a click command"):
        broken.get_command(click.Context(broken), "broken")
