"""The `spire` command line: one module per command group, assembled here.

index, search, export (indexes.py); eval, compare (evaluate.py); models (models.py);
train (train.py); serve, index-dense, add, delete, merge, reidf (serve.py); prune
(prune.py); sparsify (sparsify.py). `main` is the console entry point (pyproject
[project.scripts])."""

from __future__ import annotations

import gc
import os
import sys
import warnings

import typer

from spire.core.errors import SpireError

from .evaluate import compare, eval_cmd
from .indexes import export, index, search
from .models import models_app
from .output import err_console, print_error
from .prune import prune_app
from .scale import reorder
from .serve import serve_app
from .sparsify import sparsify_app
from .train import train_app

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="spire: learned sparse retrieval (index, search, eval, models).",
)
app.command()(index)
app.command()(search)
app.command("eval")(eval_cmd)
app.command()(compare)
app.command()(export)
app.command()(reorder)
app.add_typer(models_app, name="models")
app.add_typer(train_app)  # `spire train`, top level
app.add_typer(serve_app)  # `spire serve|add|delete|merge|reidf`, top level
app.add_typer(prune_app)  # `spire prune`, top level
app.add_typer(sparsify_app)  # `spire sparsify`, top level


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    print_error(f"warning: {message}")


def main() -> None:
    """Entry point: input errors exit 2 with one line, internal errors exit 1."""
    warnings.showwarning = _one_line_warnings
    try:
        app()
    except SystemExit:
        if sys.argv[1:2] == ["search"]:
            # The interpreter's last garbage collection walks every object numba, scipy
            # and the tokenizer made: 0.3-0.4 s of CPU in a 1.5 s search, for memory the
            # exit frees anyway. Search writes nothing that a finaliser would flush.
            gc.freeze()
        raise
    except SpireError as exc:
        print_error(f"error: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug, not bad input
        if os.environ.get("SPIRE_DEBUG"):
            raise
        err_console.print(
            f"internal error: {type(exc).__name__}: {exc} (set SPIRE_DEBUG=1 for a traceback)",
            highlight=False,
            markup=False,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
