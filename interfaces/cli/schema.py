"""``supportos schema``: write (or check) the GraphQL SDL committed at ``docs/schema.graphql``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interfaces.graphql.schema import SDL_PATH, sdl


def schema(
    output: Annotated[Path, typer.Option(help="Where to write the SDL; '-' prints it.")] = SDL_PATH,
    check: Annotated[bool, typer.Option(help="Exit 1 if the file differs, writing nothing.")] = False,
) -> None:
    """Print the schema's SDL into docs/schema.graphql (the file clients and reviews read)."""
    text = sdl()
    if str(output) == "-":
        typer.echo(text, nl=False)
        return
    if check:
        current = output.read_text() if output.exists() else ""
        if current != text:
            typer.echo(f"{output} is out of date: run `supportos schema`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{output} is up to date")
        return
    output.write_text(text)
    typer.echo(f"wrote {output}")
