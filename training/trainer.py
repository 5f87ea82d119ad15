"""The training loop: preflight checks, data, teacher targets, student, steps, checkpoints.

Everything that can fail on bad input (config, output folder, resume checkpoint, data
source, teacher and student models) is checked before the first step, so a mistake costs
seconds, not a training run.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from spire.artefacts import mark_artefact
from spire.files import write_text_atomic

from . import checkpoint as ckpt
from .config import TrainConfig
from .dev_eval import evaluate_dev
from .losses import (
    flops,
    group_layout,
    idf_aware_flops,
    info_nce,
    kl_distillation,
    l0_doc_mask,
    margin_mse,
    matched_flops,
)
from .models import build_from_config
from .preflight import preflight
from .prepare import Prepared, prepare_data
from .schedules import LambdaSchedule, linear_lr_factor

CONFIG_FILE = "training_config.json"
LOG_FILE = "log.jsonl"


@dataclass
class TrainResult:
    output: Path
    steps: int
    seconds: float  # the whole loop, dev evaluations included
    history: list[dict] = field(default_factory=list)  # one entry per step of this run
    dev: list[dict] = field(default_factory=list)
    dev_seconds: float = 0.0  # of `seconds`, spent in dev evaluation


def train(config: TrainConfig) -> TrainResult:
    """Train a student as `config` says and write its model folder to `config.output`."""
    threads = torch.get_num_threads()
    if config.threads:
        # On a shared machine one thread can beat two: a 2-thread parallel region waits
        # for its slower thread whenever another process takes a core.
        torch.set_num_threads(config.threads)
    try:
        return _train(config)
    finally:
        torch.set_num_threads(threads)


def _train(config: TrainConfig) -> TrainResult:
    resume = preflight(config)
    output = Path(config.output).expanduser()
    if not (config.overwrite and resume is None and output.exists()):
        return _run(config, resume, output)
    # The model being replaced stays on disk until the new one is saved, and comes back
    # when the run fails or is interrupted: a replacing run never leaves neither.
    old = output.parent / f".{output.name}.replaced-{os.getpid()}"
    os.replace(output, old)
    try:
        result = _run(config, resume, output)
    except BaseException:
        shutil.rmtree(output, ignore_errors=True)
        os.replace(old, output)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return result


def _run(config: TrainConfig, resume, output: Path) -> TrainResult:
    data = prepare_data(config)
    if resume is not None:
        ckpt.check_data(resume[1], data.train.fingerprint(), resume[0])
    targets = teacher_targets(config, data)
    torch.manual_seed(config.seed)
    device = _device(config.device)
    student = build_from_config(config, data.corpus).to(device)
    optimizer = _optimizer(config, student)
    start = 0
    if resume is not None:
        start = ckpt.load_checkpoint(resume[0], student, optimizer)
    loop = _Loop(config, student, optimizer, data, targets, device, output)
    return loop.run(start)


def teacher_targets(config: TrainConfig, data: Prepared) -> np.ndarray | None:
    """(examples, group) ensemble scores of the teachers, from the disk cache if there."""
    from encoders.registry import spire_home

    from .teachers import cached_scores, ensemble_scores, load_teacher

    active = {spec: w for spec, w in config.teachers.items() if w > 0}
    if not active:
        return None
    cache = Path(config.teacher_cache or spire_home() / "teacher-scores").expanduser()
    train = data.train
    pairs = train.pairs()
    per_teacher = []
    for spec in active:
        teacher = load_teacher(spec, data.corpus, config)
        teacher.show_progress = config.show_progress
        scores = cached_scores(teacher, train.queries, train.docs, pairs, cache)
        per_teacher.append(scores.reshape(len(train), train.group_size))
    return ensemble_scores(
        per_teacher, list(active.values()), config.teacher_norm, config.score_scale
    )


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _optimizer(config: TrainConfig, student) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and LayerNorms (as transformers' Trainer), and
    the IDF vector, when learnt, in its own group with its own learning rate."""
    decay, no_decay = [], []
    for name, param in student.doc.mlm.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay, "base_lr": config.lr},
        {"params": no_decay, "weight_decay": 0.0, "base_lr": config.lr},
    ]
    if getattr(student, "idf", None) is not None and student.idf.requires_grad:
        idf_lr = config.idf_lr if config.idf_lr is not None else config.lr
        groups.append({"params": [student.idf], "weight_decay": 0.0, "base_lr": idf_lr})
    return torch.optim.AdamW(groups, lr=config.lr)


class _Loop:
    def __init__(self, config, student, optimizer, data: Prepared, targets, device, output):
        self.c = config
        self.student = student
        self.optimizer = optimizer
        self.data = data
        self.targets = None if targets is None else torch.as_tensor(targets, device=device)
        self.device = device
        self.output = output
        self.lambda_d = LambdaSchedule(
            config.flops_d_lambda, config.flops_d_warmup, config.flops_start
        )
        self.lambda_q = LambdaSchedule(
            config.flops_q_lambda, config.flops_q_warmup, config.flops_start
        )
        self.result = TrainResult(output, config.steps, 0.0)

    def run(self, start: int) -> TrainResult:
        c = self.c
        self.output.mkdir(parents=True, exist_ok=True)
        mark_artefact(self.output, "training output")  # replaceable even if this run stops
        self.student.train()
        began = time.perf_counter()
        bar = tqdm(total=c.steps, initial=start, desc="training", disable=not c.show_progress)
        with bar, open(self.output / LOG_FILE, "a", encoding="utf-8") as log:
            if c.dev_queries and start == 0:
                self.evaluate(0, log)  # the starting point
            for step in range(start + 1, c.steps + 1):
                record = self.step(step)
                self.result.history.append(record)
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k in _SHOWN})
                if step % c.log_every == 0 or step == c.steps:
                    log.write(json.dumps({**record, "seconds": time.perf_counter() - began}))
                    log.write("\n")
                    log.flush()
                if self.c.dev_queries and c.eval_every and step % c.eval_every == 0:
                    self.evaluate(step, log)
                if c.save_every and step % c.save_every == 0:
                    self.save_checkpoint(step)
            if self.c.dev_queries and not (c.eval_every and c.steps % c.eval_every == 0):
                self.evaluate(c.steps, log)
        self.result.seconds = time.perf_counter() - began
        self.save_model()
        return self.result

    def step(self, step: int) -> dict:
        parts = self.losses(step)
        self.optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        if self.c.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.student.parameters(), self.c.max_grad_norm)
        factor = linear_lr_factor(step, self.c.warmup_steps, self.c.steps)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        self.optimizer.step()
        record = {"step": step, "lr": self.c.lr * factor}
        record.update({k: float(v.detach()) for k, v in parts.items()})
        return record

    def losses(self, step: int) -> dict[str, torch.Tensor]:
        """Every loss part of one batch; "loss" is their weighted sum."""
        c, train = self.c, self.data.train
        idx = train.batch(step, c.batch_size, c.seed)
        groups = train.groups[idx]
        n, g = groups.shape
        q = self.student.encode_queries(
            [train.queries[i] for i in train.query_index[idx]], c.query_max_length
        )
        texts = [train.docs[i] for i in groups.ravel()]
        d = self.student.encode_documents(texts, c.doc_max_length)  # the learnt part
        indexed = self.student.document_vectors(d, texts)  # + the lexical part, if any
        scores = q @ indexed.T  # (n, n * g): every query against every document of the batch
        own = scores.view(n, n, g)[torch.arange(n), torch.arange(n)]  # (n, g), positive first
        parts: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=self.device)
        if c.infonce_weight > 0:
            positives, own_group = group_layout(n, g)
            allowed = self._in_batch_allowed(idx, groups) if c.in_batch_negatives else own_group
            parts["infonce"] = info_nce(
                scores, positives.to(self.device), allowed.to(self.device), c.temperature
            )
            total = total + c.infonce_weight * parts["infonce"]
        if self.targets is not None and c.kl_weight > 0:
            parts["kl"] = kl_distillation(own, self.targets[idx], c.temperature)
            total = total + c.kl_weight * parts["kl"]
        if self.targets is not None and c.margin_mse_weight > 0:
            parts["margin_mse"] = margin_mse(own, self.targets[idx])
            total = total + c.margin_mse_weight * parts["margin_mse"]
        total = total + self._regularizers(step, q, d, parts)
        parts["loss"] = total
        with torch.no_grad():
            parts["doc_postings"] = (indexed > 0).sum(dim=1).float().mean()
            parts["query_postings"] = (q > 0).sum(dim=1).float().mean()
        return parts

    def _regularizers(self, step: int, q, d, parts: dict) -> torch.Tensor:
        c = self.c
        total = torch.zeros((), device=self.device)
        lam_d = self.lambda_d(step)
        if c.doc_regularizer != "none":
            mask = None if c.l0_doc_threshold is None else l0_doc_mask(d, c.l0_doc_threshold)
            if c.student == "siamese":
                penalty = flops(d, mask)
            elif c.doc_regularizer == "idf-flops":
                penalty = idf_aware_flops(d, self.student.idf, mask)
            else:
                penalty = matched_flops(d, self.student.idf, mask)
            parts["flops_d"] = penalty
            total = total + lam_d * penalty
        lam_q = self.lambda_q(step)
        if c.student == "siamese" and c.flops_q_lambda > 0:
            parts["flops_q"] = flops(q)
            total = total + lam_q * parts["flops_q"]
        parts["lambda_d"] = torch.tensor(lam_d)
        return total

    def _in_batch_allowed(self, idx: np.ndarray, groups: np.ndarray) -> torch.Tensor:
        """Every document of the batch is a negative for every query, except the query's
        own other positives (it may appear twice with two positives)."""
        train = self.data.train
        flat = groups.ravel()
        rows = [~np.isin(flat, list(train.positives[train.query_index[i]])) for i in idx]
        return torch.as_tensor(np.stack(rows))

    def evaluate(self, step: int, log) -> None:
        c = self.c
        began = time.perf_counter()
        doc_length = c.dev_doc_max_length or c.doc_max_length
        metrics = evaluate_dev(
            self.student, self.data.dev, c.query_max_length, doc_length, c.dev_mode
        )
        seconds = round(time.perf_counter() - began, 2)
        self.result.dev_seconds += seconds
        entry = {"step": step, **metrics}
        self.result.dev.append(entry)
        log.write(json.dumps({"dev": {**entry, "mode": c.dev_mode, "seconds": seconds}}) + "\n")
        log.flush()
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        tqdm.write(f"step {step}: dev ({c.dev_mode}, {seconds:.0f} s) {shown}")

    def save_checkpoint(self, step: int) -> None:
        folder = self.output / "checkpoints" / ckpt.checkpoint_name(step)
        ckpt.save_checkpoint(
            folder,
            self.student,
            self.optimizer,
            step,
            self.c.to_dict(),
            self.data.train.fingerprint(),
        )

    def save_model(self) -> None:
        """The model folder `spire index/eval --model OUTPUT` loads, and how it was made."""
        self.student.save(self.output)
        summary = {
            "config": self.c.to_dict(),
            "data_fingerprint": self.data.train.fingerprint(),
            "examples": len(self.data.train),
            "seconds_this_run": round(self.result.seconds, 2),
            "dev_seconds_this_run": round(self.result.dev_seconds, 2),
            "last": self.result.history[-1] if self.result.history else None,
            "dev": self.result.dev[-1] if self.result.dev else None,
        }
        write_text_atomic(self.output / CONFIG_FILE, json.dumps(summary, indent=1))


_SHOWN = ("loss", "infonce", "kl", "margin_mse", "flops_d", "doc_postings")
