"""A real 20-step run on the toy triples: the loss falls, the model folder loads and
evaluates, and a resumed run ends bitwise where the uninterrupted one did."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.training.conftest import quick_config


def _infonce_over(student, data, config) -> float:
    """Mean InfoNCE (own group, no dropout) over the examples the run trained on: one
    fixed yardstick for the model before and after training."""
    from training.losses import group_layout, info_nce

    train = data.train
    seen = np.unique(
        np.concatenate(
            [train.batch(s, config.optimiser.batch_size, config.run.seed) for s in range(1, 21)]
        )
    )
    student.eval()
    losses = []
    with torch.no_grad():
        for lo in range(0, len(seen), 16):
            idx = seen[lo : lo + 16]
            groups = train.groups[idx]
            q = student.encode_queries(
                [train.queries[i] for i in train.query_index[idx]], config.student.query_max_length
            )
            d = student.encode_documents(
                [train.docs[i] for i in groups.ravel()], config.student.doc_max_length
            )
            positives, own = group_layout(len(idx), groups.shape[1])
            losses.append(info_nce(q @ d.T, positives, own).item() * len(idx))
    return sum(losses) / len(seen)


def test_training_lowers_the_loss(toy_run):
    from training.models import build_from_config, build_student
    from training.prepare import prepare_data

    config, result = toy_run
    assert [h["step"] for h in result.history] == list(range(1, 21))
    data = prepare_data(config)
    before = build_from_config(config, data.corpus)
    from encoders.idf import load_idf_json
    from encoders.loading import load_tokenizer

    out = config.run.output
    after = build_student(
        "inference-free", out, load_idf_json(f"{out}/idf.json", load_tokenizer(out))
    )
    loss_before = _infonce_over(before, data, config)
    loss_after = _infonce_over(after, data, config)
    print(f"InfoNCE over the trained examples: {loss_before:.4f} -> {loss_after:.4f}")
    assert loss_after < 0.8 * loss_before, (loss_before, loss_after)
    # The FLOPS part was on (quadratic warm-up to 1e-3 by step 10) and recorded.
    assert result.history[-1]["lambda_d"] == pytest.approx(1e-3)
    assert result.history[0]["lambda_d"] == pytest.approx(1e-3 * (1 / 10) ** 2)
    assert all(h["flops_d"] > 0 for h in result.history)


def test_output_is_a_model_folder_spire_loads_and_evaluates(toy_run, tiny_beir):
    from encoders import load_encoder
    from eval.experiments.pipeline import evaluate

    config, result = toy_run
    out = result.output
    for name in ("config.json", "model.safetensors", "tokenizer.json", "idf.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "training_config.json").read_text())
    assert summary["config"]["optimiser"]["steps"] == 20
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [10, 20]
    encoder = load_encoder(str(out), "inference-free")
    assert encoder.idf is not None and encoder.idf.shape == (30522,)  # from idf.json
    vectors = encoder.encode_documents(["Paris is the capital of France."])
    assert 0 < vectors.nnz < 30522
    report = evaluate(tiny_beir, model=str(out), mode="inference-free", show_progress=False)
    assert report.n_queries == 3
    assert 0.0 <= report.metrics["nDCG@10"] <= 1.0
    assert report.stats["postings_per_doc"] > 0


def test_resume_repeats_the_uninterrupted_run(toy_run, tmp_path):
    from training import train

    config, result = toy_run
    first = result.output / "checkpoints" / "step-0000010"
    resumed = train(quick_config(tmp_path / "resumed", config.data.train_data, resume=str(first)))
    assert [h["step"] for h in resumed.history] == list(range(11, 21))
    for a, b in zip(result.history[10:], resumed.history, strict=True):
        assert a == pytest.approx(b, rel=0, abs=0), (a, b)
    full = load_file(str(result.output / "model.safetensors"))
    again = load_file(str(resumed.output / "model.safetensors"))
    assert full.keys() == again.keys()
    for key in full:
        assert torch.equal(full[key], again[key]), key
    assert (result.output / "idf.json").read_text() == (resumed.output / "idf.json").read_text()


def test_training_forward_matches_the_inference_encoder(splade_tiny_path):
    """The student's differentiable forward is the function encoders/ indexes with (the
    query side drops punctuation pieces as search does)."""
    from encoders import load_encoder
    from training.models import build_student

    texts = ["Paris is the capital of France.", "Coffee contains caffeine.", "x"]
    encoder = load_encoder("splade-tiny", "inference-free")
    idf = encoder.fit_idf(texts)
    student = build_student("inference-free", "splade-tiny", idf).eval()
    with torch.no_grad():
        docs = student.encode_documents(texts, 256).numpy()
        queries = student.encode_queries(["capital of france?", "the the coffee"], 64).numpy()
    assert np.abs(docs - encoder.encode_documents(texts).toarray()).max() < 1e-5
    expected = encoder.encode_queries(["capital of france?", "the the coffee"]).toarray()
    assert np.abs(queries - expected).max() < 1e-6


def test_saved_model_indexes_what_the_student_scored(toy_run):
    """The default inference-free student adds the lexical term; the saved folder carries
    it in lexical.json, so the encoder's document vectors are the student's
    document_vectors (learnt + lexical), beyond the transformer's length too."""
    from encoders import load_encoder
    from encoders.lexical import load_lexical
    from training.models import build_student

    config, result = toy_run
    out = result.output
    lexical = load_lexical(out)
    assert (lexical.weight, lexical.k1, lexical.b) == (1.0, 0.9, 0.4) and lexical.avgdl > 0
    texts = ["Paris is the capital of France. " * 3, "Coffee contains caffeine.", "x"]
    encoder = load_encoder(str(out), "inference-free", doc_max_length=8)
    student = build_student("inference-free", str(out), encoder.idf, lexical=load_lexical(out))
    with torch.no_grad():
        learnt = student.eval().encode_documents(texts, 8)
        docs = student.document_vectors(learnt, texts).numpy()
    assert np.abs(docs - encoder.encode_documents(texts).toarray()).max() < 1e-5
    vocab = encoder.tokenizer.get_vocab()
    # "france" occurs 3 times, twice past the first 8 tokens: the lexical term counts all.
    france = vocab["france"]
    tokens = len(encoder.tokenizer(texts[0], add_special_tokens=False)["input_ids"])
    norm = 0.9 * (1 - 0.4 + 0.4 * tokens / lexical.avgdl)  # BM25's length normalisation
    assert docs[0, france] == pytest.approx(float(learnt[0, france]) + 3 * 1.9 / (3 + norm))


def test_distillation_with_learnt_idf_on_a_beir_train_split(tiny_beir, tmp_path, minilm_path):
    """KL + MarginMSE from a dense + BM25 ensemble, BM25 negatives, learnable IDF, the l0
    mask and dev evaluation on held-out train queries, for a few real steps."""
    from training import train
    from training.models import initial_idf
    from training.prepare import prepare_data

    config = quick_config(
        tmp_path / "distilled",
        tiny_beir,
        negatives_from="bm25",
        negatives=2,
        steps=3,
        teachers={"dense:all-MiniLM-L6-v2": 1.0, "bm25": 0.5},
        kl_weight=1.0,
        margin_mse_weight=0.1,
        learn_idf=True,
        idf_lr=0.05,
        l0_doc_threshold=5,
        dev_queries=2,
        eval_every=2,
    )
    result = train(config)
    assert {"infonce", "kl", "margin_mse", "flops_d"} <= set(result.history[0])
    assert [d["step"] for d in result.dev] == [0, 2, 3]
    assert 0 <= result.dev[-1]["nDCG@10"] <= 1
    cached = sorted(p.name.split("-")[0] for p in (tmp_path / "teacher-cache").glob("*.npy"))
    assert cached == ["bm25", "dense_all"]
    from encoders.idf import load_idf_json
    from encoders.loading import load_tokenizer

    learnt = load_idf_json(result.output / "idf.json", load_tokenizer("splade-tiny"))
    start = initial_idf("splade-tiny", prepare_data(config).corpus, config.student.doc_max_length)
    assert np.abs(learnt - start).max() > 1e-3  # the IDF moved


def test_siamese_student(tiny_beir, tmp_path):
    from encoders import load_encoder
    from training import train

    config = quick_config(
        tmp_path / "siamese",
        tiny_beir,
        student="siamese",
        negatives_from="bm25",
        steps=2,
        doc_regularizer="flops",
        flops_q_lambda=1e-3,
    )
    result = train(config)
    assert "flops_q" in result.history[-1]
    assert not (result.output / "idf.json").exists()
    encoder = load_encoder(str(result.output), "siamese")
    assert encoder.encode_queries(["capital of france"]).nnz > 0


def test_same_seed_same_model_on_cpu(toy_triples, tmp_path):
    from training import train

    runs = [
        train(quick_config(tmp_path / name, toy_triples, steps=3, device="cpu"))
        for name in ("one", "two")
    ]
    assert runs[0].history == runs[1].history
    first, second = (load_file(str(r.output / "model.safetensors")) for r in runs)
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_model_save_replaces_files_whole_and_drops_a_stale_lexical_json(
    splade_tiny_path, tmp_path, monkeypatch
):
    """A save stages every file beside the folder and renames it in; a failed save leaves
    the older model's files and no staging folder; lexical.json goes when the term is off."""
    import encoders.idf
    from encoders.lexical import Lexical, load_lexical
    from encoders.loading import load_tokenizer
    from training.models import build_student

    idf = np.ones(len(load_tokenizer("splade-tiny")), dtype=np.float32)
    out = tmp_path / "model"
    build_student("inference-free", "splade-tiny", idf, lexical=Lexical(1.0)).save(out)
    assert load_lexical(out) == Lexical(1.0)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"model.safetensors", "idf.json", "lexical.json"} <= set(before)

    off = build_student("inference-free", "splade-tiny", idf * 2, lexical=Lexical())

    def crash(*args):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(encoders.idf, "save_idf_json", crash)
        with pytest.raises(OSError, match="disk full"):
            off.save(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    off.save(out)
    after = sorted(p.name for p in out.iterdir())
    assert after == sorted(set(before) - {"lexical.json"})
    assert (out / "idf.json").read_bytes() != before["idf.json"]
    assert not load_lexical(out).enabled
    build_student("siamese", "splade-tiny", idf).save(out)  # a siamese model has no IDF
    assert not (out / "idf.json").exists()


def test_an_interrupted_overwrite_keeps_the_old_model(toy_triples, tmp_path, monkeypatch):
    """overwrite replaces the output only once the new model is saved: a run that fails
    or is interrupted leaves the earlier model as it was, and nothing hidden beside it."""
    import training.trainer
    from training import train

    out = tmp_path / "model"
    train(quick_config(out, toy_triples, steps=2))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def interrupted(self, start):
        (self.output / "checkpoints").mkdir(parents=True, exist_ok=True)  # a partial run
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(training.trainer._Loop, "run", interrupted)
        with pytest.raises(KeyboardInterrupt):
            train(quick_config(out, toy_triples, steps=2, seed=5, overwrite=True))
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    train(quick_config(out, toy_triples, steps=2, seed=5, overwrite=True))
    assert (out / "model.safetensors").read_bytes() != before["model.safetensors"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
