"""The ``promptproc`` command: a thin click layer over importable functions.

Each command group lives in its own module and is registered in
`_COMMAND_MODULES`; a command module exposes one click command or group named
in that table.  Every error ends in a one-line reason on stderr and a non-zero
exit code (2 for usage errors, 1 otherwise); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from typing import Any

import click

__all__ = ["cli", "main"]

# (module, attribute): the command groups of promptproc, in --help order.
_COMMAND_MODULES: tuple[tuple[str, str], ...] = (
    ("promptproc.cli.config_cmd", "config"),
    ("promptproc.cli.repo_cmd", "repo"),
    ("promptproc.cli.apdb_cmd", "apdb"),
    ("promptproc.cli.simulate_cmd", "simulate"),
    ("promptproc.cli.demo_cmd", "demo"),
)


class _PromptprocGroup(click.Group):
    """A click group that loads its subcommands lazily.

    Importing the Butler and pipe_base takes over a second, so ``promptproc
    --help`` and ``promptproc config`` import only what they run.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = [attr for module, attr in _COMMAND_MODULES if _module_exists(module)]
        return names + sorted(super().list_commands(ctx))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module, attr in _COMMAND_MODULES:
            if attr == cmd_name and _module_exists(module):
                return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@click.group(cls=_PromptprocGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logging.")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="WARNING",
    show_default=True,
    help="Level of the log messages written to stderr.",
)
@click.version_option(package_name="promptproc")
@click.pass_context
def cli(ctx: click.Context, debug: bool, log_level: str) -> None:
    """Prompt processing for time-domain astronomy.

    Prepare, process and export one detector-visit at a time, on the Rubin
    middleware (Butler, PipelineTask, APDB, alert packets).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(level="DEBUG" if debug else log_level.upper(), stream=sys.stderr)


def main(argv: list[str] | None = None) -> Any:
    """Run the ``promptproc`` command and turn any failure into an exit code.

    Parameters
    ----------
    argv : `list` [`str`], optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    None
        It exits the process: 0 on success, 2 on a usage error, 1 otherwise.
    """
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        # Without standalone mode click returns the code given to ``ctx.exit(code)``
        # (or what the command returned) instead of exiting.
        status = cli.main(args=args, prog_name="promptproc", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as err:
        # A group run without a subcommand: show its help as it is, not squeezed on one line.
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("promptproc: aborted", err=True)
        sys.exit(1)
    except click.exceptions.Exit as stop:
        sys.exit(stop.exit_code)
    except click.ClickException as err:
        # Usage errors already say which option is wrong; keep them on one line.
        click.echo(f"promptproc: error: {err.format_message()}".replace("\n", " "), err=True)
        sys.exit(err.exit_code)
    except Exception as err:
        if debug:
            raise
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        click.echo(f"promptproc: error: {reason}", err=True)
        sys.exit(1)
    sys.exit(status if isinstance(status, int) and not isinstance(status, bool) else 0)
