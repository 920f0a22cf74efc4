"""The command line's shared vocabulary: options that several commands take, switches
shown without a type, and command classes that list -h/--help as a switch."""

from __future__ import annotations

from typing import Annotated, Any

import typer


class _SwitchHelp:
    """-h/--help listed as a switch, without the `<bool>` help would print (as Flag)."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class SwitchHelpGroup(_SwitchHelp, typer.core.TyperGroup):
    pass


class SwitchHelpCommand(_SwitchHelp, typer.core.TyperCommand):
    pass


#: The backend options, the same on `run` and `batch`.
BackendOption = Annotated[
    str, typer.Option(help="Where units run: serial (default), processes or dask.")
]
WorkersOption = Annotated[
    int | None, typer.Option(min=1, max=256, help="Worker processes (default: one per core).")
]


def Flag(*names: str, **options: Any) -> Any:
    """A switch: typer.Option without the `<bool>` that help would print after it."""
    return typer.Option(*names, metavar="", **options)


SchedulerOption = Annotated[
    str | None, typer.Option(help="Dask scheduler address tcp://HOST:PORT (with --backend dask).")
]


OneWayOption = Annotated[
    bool,
    Flag(
        "--one-way/--no-one-way",
        help="Run the one-way (tornado) and threshold analyses the scenario asks for.",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY.PATH=VALUE",
        help="Change one value of the scenario for this run (repeatable), e.g. --set "
        "strategies.itb.care_cost_multiplier=0.8; the value is read as YAML.",
    ),
]
