"""The three views' contents, from the URL's parameters: search, compare, evaluation.

Every view reads its whole state from the query string (a permalink is the URL), and
turns bad parameters into a message on the page rather than an error page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from spire.core.choices import FUSION_METHODS

from ..schemas import MAX_QUERY_CHARS
from .data import Collection
from .evaluation import SORT_KEYS, Evaluation
from .hits import hit_views, query_vector
from .systems import RunFile, System

MAX_K = 100


@dataclass
class Ui:
    """Everything the views read: the searched index, the systems compared (it and
    --compare's, or --runs' files), the dataset, the evaluation."""

    searcher: System
    systems: list[System | RunFile]
    collection: Collection
    evaluation: Evaluation
    dense: bool  # is there a dense side (fusion) for the served index?


def link(path: str, **params) -> str:
    """A same-origin URL with its parameters encoded (never a scheme from the data)."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def _query(ui: Ui, params: Mapping[str, str]) -> dict:
    """The query (text and, for a dataset query, its id), k, and any problem with them."""
    qid = params.get("qid", "").strip()
    text = params.get("q", "")
    out = {"qid": "", "q": text, "k": 10, "problem": ""}
    if qid:
        if qid not in ui.collection.queries:
            out["problem"] = f"There is no query {qid!r} in the dataset."
            return out
        out["qid"], out["q"] = qid, ui.collection.queries[qid]
    raw_k = params.get("k", "10").strip()
    if not raw_k.isdigit() or not 1 <= int(raw_k) <= MAX_K:
        out["problem"] = f"k must be a whole number from 1 to {MAX_K}; it was {raw_k!r}."
    else:
        out["k"] = int(raw_k)
    if not out["problem"] and not out["q"].strip():
        out["problem"] = "Type a query above to search (or pick one on the Evaluation page)."
        out["empty"] = True
    elif len(out["q"]) > MAX_QUERY_CHARS:
        out["problem"] = f"The query is over {MAX_QUERY_CHARS} characters; shorten it."
    return out


def search_view(ui: Ui, params: Mapping[str, str]) -> dict:
    state = _query(ui, params)
    fusion = params.get("fusion", "")
    if fusion and (fusion not in FUSION_METHODS or not ui.dense):
        state["problem"] = state["problem"] or (
            f"Fusion {fusion!r} is not available here."
            if ui.dense else "Fusion needs a dense side: start the server with --dense DIR."
        )  # fmt: skip
    state.update(fusion=fusion, fusion_methods=FUSION_METHODS if ui.dense else (), hits=[])
    state["permalink"] = link("/ui", q=state["q"] if not state["qid"] else "",
                              qid=state["qid"], k=state["k"], fusion=fusion)  # fmt: skip
    state["compare_link"] = link("/ui/compare", q=state["q"] if not state["qid"] else "",
                                 qid=state["qid"], k=state["k"])  # fmt: skip
    state["can_grade"] = bool(state["qid"]) and ui.collection.judgments is not None
    if state["problem"]:
        return state
    system = ui.searcher
    answer = system.search([state["q"]], state["k"], explain=True, fusion=fusion or None)
    encoder = system.encoder()
    tokenizer = getattr(encoder, "tokenizer", None)
    grades = ui.collection.qrels().get(state["qid"], {}) if state["qid"] else {}
    state["hits"] = hit_views(answer["results"][0]["hits"], ui.collection, tokenizer, grades)
    state["vector"] = query_vector(encoder, state["q"])
    state["took_ms"] = answer["took_ms"]
    state["system"] = system.name
    return state


def compare_view(ui: Ui, params: Mapping[str, str]) -> dict:
    state = _query(ui, params)
    state.update(names=[s.name for s in ui.systems], sides=[], hits=[])
    state["permalink"] = link("/ui/compare", q=state["q"] if not state["qid"] else "",
                              qid=state["qid"], k=state["k"])  # fmt: skip
    state["can_grade"] = bool(state["qid"]) and ui.collection.judgments is not None
    if len(ui.systems) < 2:
        state["problem"] = state["problem"] or (
            "Nothing to compare with: start the server with --compare OTHER_INDEX, "
            "--compare query-terms=N or --compare fusion (with --dense)."
        )  # fmt: skip
    if state["problem"]:
        return state
    k = state["k"]
    runs = [s.top(state["qid"], state["q"], k) for s in ui.systems]
    if any(run is None for run in runs):
        state["problem"] = (
            "The systems compared here are run files (--runs): pick a dataset query, "
            "for example from the Evaluation page."
        )
        return state
    ranks = [{h["docid"]: h["rank"] for h in run} for run in runs]
    grades = ui.collection.qrels().get(state["qid"], {}) if state["qid"] else {}
    for side, (run, other) in enumerate(zip(runs, reversed(ranks), strict=True)):
        rows = []
        for h in run:
            doc = ui.collection.text_of(h["docid"])
            there = other.get(h["docid"])
            # B's arrows say how each document moved from A; A's say where it went in B.
            moved = (there - h["rank"]) if side == 1 and there else None
            rows.append({**h, "title": doc.title if doc else "", "other_rank": there,
                         "only_here": there is None, "moved": moved,
                         "grade": grades.get(h["docid"])})  # fmt: skip
        state["sides"].append({"name": ui.systems[side].name, "hits": rows})
    shared = set(ranks[0]) & set(ranks[1])
    state["overlap"] = len(shared)
    state["overlap_at_k"] = len(shared) / k
    return state


def eval_view(ui: Ui, params: Mapping[str, str]) -> dict:
    sort = params.get("sort", "d_ndcg" if len(ui.systems) > 1 else "a_ndcg")
    sort = sort if sort in SORT_KEYS else "qid"
    descending = params.get("order", "desc") != "asc"
    state = {"sort": sort, "order": "desc" if descending else "asc", "problem": "",
             "names": [s.name for s in ui.systems], "dataset": ui.collection.name}  # fmt: skip
    if not ui.collection.queries:
        state["problem"] = "No qrels: start the server with --qrels DATASET (a BEIR folder)."
        return state
    state.update(ui.evaluation.table(sort, descending))
    state["permalink"] = link("/ui/eval", sort=sort, order=state["order"])

    def sort_link(key: str) -> str:
        flip = "asc" if key == sort and descending else "desc"
        return link("/ui/eval", sort=key, order=flip)

    state["sort_link"] = sort_link
    state["compare_link"] = lambda qid: link("/ui/compare", qid=qid, k=10)
    state["search_link"] = lambda qid: link("/ui", qid=qid, k=10)
    return state
