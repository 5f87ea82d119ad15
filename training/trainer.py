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

from spire.core.artefacts import mark_artefact
from spire.core.files import write_text_atomic

from . import checkpoint as ckpt
from .config import TrainConfig
from .dev_eval import evaluate_dev
from .losses import Batch, configured
from .losses.registry import document_weight
from .models import build_from_config
from .preflight import preflight
from .prepare import Prepared, prepare_data
from .schedules import linear_lr_factor

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
    if config.run.threads:
        # On a shared machine one thread can beat two: a 2-thread parallel region waits
        # for its slower thread whenever another process takes a core.
        torch.set_num_threads(config.run.threads)
    try:
        return _train(config)
    finally:
        torch.set_num_threads(threads)


def _train(config: TrainConfig) -> TrainResult:
    resume = preflight(config)
    output = Path(config.run.output).expanduser()
    if not (config.run.overwrite and resume is None and output.exists()):
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
    torch.manual_seed(config.run.seed)
    device = _device(config.run.device)
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

    active = config.teachers.active()
    if not active:
        return None
    cache = Path(config.teachers.cache or spire_home() / "teacher-scores").expanduser()
    train = data.train
    pairs = train.pairs()
    per_teacher = []
    for spec in active:
        teacher = load_teacher(spec, data.corpus, config)
        teacher.show_progress = config.run.show_progress
        scores = cached_scores(teacher, train.queries, train.docs, pairs, cache)
        per_teacher.append(scores.reshape(len(train), train.group_size))
    teachers = config.teachers
    return ensemble_scores(per_teacher, list(active.values()), teachers.norm, teachers.score_scale)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _optimizer(config: TrainConfig, student) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and LayerNorms (as transformers' Trainer), and
    the IDF vector, when learnt, in its own group with its own learning rate."""
    opt = config.optimiser
    decay, no_decay = [], []
    for name, param in student.doc.mlm.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": opt.weight_decay, "base_lr": opt.lr},
        {"params": no_decay, "weight_decay": 0.0, "base_lr": opt.lr},
    ]
    if getattr(student, "idf", None) is not None and student.idf.requires_grad:
        idf_lr = opt.idf_lr if opt.idf_lr is not None else opt.lr
        groups.append({"params": [student.idf], "weight_decay": 0.0, "base_lr": idf_lr})
    return torch.optim.AdamW(groups, lr=opt.lr)


class _Loop:
    def __init__(self, config, student, optimizer, data: Prepared, targets, device, output):
        self.c = config
        self.student = student
        self.optimizer = optimizer
        self.data = data
        self.targets = None if targets is None else torch.as_tensor(targets, device=device)
        self.device = device
        self.output = output
        self.terms = configured(config.losses)  # the loss parts a step sums
        self.lambda_d = document_weight(config.losses)
        self.result = TrainResult(output, config.optimiser.steps, 0.0)

    def run(self, start: int) -> TrainResult:
        run, steps = self.c.run, self.c.optimiser.steps
        self.output.mkdir(parents=True, exist_ok=True)
        mark_artefact(self.output, "training output")  # replaceable even if this run stops
        self.student.train()
        began = time.perf_counter()
        bar = tqdm(total=steps, initial=start, desc="training", disable=not run.show_progress)
        dev = self.c.data.dev_queries
        with bar, open(self.output / LOG_FILE, "a", encoding="utf-8") as log:
            if dev and start == 0:
                self.evaluate(0, log)  # the starting point
            for step in range(start + 1, steps + 1):
                record = self.step(step)
                self.result.history.append(record)
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k in _SHOWN})
                if step % run.log_every == 0 or step == steps:
                    log.write(json.dumps({**record, "seconds": time.perf_counter() - began}))
                    log.write("\n")
                    log.flush()
                if dev and run.eval_every and step % run.eval_every == 0:
                    self.evaluate(step, log)
                if run.save_every and step % run.save_every == 0:
                    self.save_checkpoint(step)
            if dev and not (run.eval_every and steps % run.eval_every == 0):
                self.evaluate(steps, log)
        self.result.seconds = time.perf_counter() - began
        self.save_model()
        return self.result

    def step(self, step: int) -> dict:
        opt = self.c.optimiser
        parts = self.losses(step)
        self.optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        if opt.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.student.parameters(), opt.max_grad_norm)
        factor = linear_lr_factor(step, opt.warmup_steps, opt.steps)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        self.optimizer.step()
        record = {"step": step, "lr": opt.lr * factor}
        record.update({k: float(v.detach()) for k, v in parts.items()})
        return record

    def losses(self, step: int) -> dict[str, torch.Tensor]:
        """Every configured loss part of one batch; "loss" is their weighted sum (ranking
        parts first, then the sparsity penalties, as a separate sum)."""
        batch, indexed = self.batch(step)
        parts: dict[str, torch.Tensor] = {}
        ranking = torch.zeros((), device=self.device)
        penalties = torch.zeros((), device=self.device)
        for term in self.terms:
            parts[term.name] = term.loss.compute(batch)
            weighted = term.weight(step) * parts[term.name]
            if term.loss.kind == "ranking":
                ranking = ranking + weighted
            else:
                penalties = penalties + weighted
        parts["lambda_d"] = torch.tensor(self.lambda_d(step))
        parts["loss"] = ranking + penalties
        with torch.no_grad():
            parts["doc_postings"] = (indexed > 0).sum(dim=1).float().mean()
            parts["query_postings"] = (batch.queries > 0).sum(dim=1).float().mean()
        return parts

    def batch(self, step: int) -> tuple[Batch, torch.Tensor]:
        """The losses' view of the step's batch, and the documents' indexed vectors."""
        train, student = self.data.train, self.c.student
        idx = train.batch(step, self.c.optimiser.batch_size, self.c.run.seed)
        groups = train.groups[idx]
        n, g = groups.shape
        q = self.student.encode_queries(
            [train.queries[i] for i in train.query_index[idx]], student.query_max_length
        )
        texts = [train.docs[i] for i in groups.ravel()]
        d = self.student.encode_documents(texts, student.doc_max_length)  # the learnt part
        indexed = self.student.document_vectors(d, texts)  # + the lexical part, if any
        scores = q @ indexed.T  # (n, n * g): every query against every document of the batch
        batch = Batch(
            queries=q,
            docs=d,
            scores=scores,
            own=scores.view(n, n, g)[torch.arange(n), torch.arange(n)],  # positive first
            targets=None if self.targets is None else self.targets[idx],
            idf=getattr(self.student, "idf", None),
            student=student.kind,
            settings=self.c.losses,
            in_batch_allowed=lambda: self._in_batch_allowed(idx, groups),
        )
        return batch, indexed

    def _in_batch_allowed(self, idx: np.ndarray, groups: np.ndarray) -> torch.Tensor:
        """Every document of the batch is a negative for every query, except the query's
        own other positives (it may appear twice with two positives)."""
        train = self.data.train
        flat = groups.ravel()
        rows = [~np.isin(flat, list(train.positives[train.query_index[i]])) for i in idx]
        return torch.as_tensor(np.stack(rows))

    def evaluate(self, step: int, log) -> None:
        c = self.c
        mode = c.data.dev_mode
        began = time.perf_counter()
        doc_length = c.data.dev_doc_max_length or c.student.doc_max_length
        metrics = evaluate_dev(
            self.student, self.data.dev, c.student.query_max_length, doc_length, mode
        )
        seconds = round(time.perf_counter() - began, 2)
        self.result.dev_seconds += seconds
        entry = {"step": step, **metrics}
        self.result.dev.append(entry)
        log.write(json.dumps({"dev": {**entry, "mode": mode, "seconds": seconds}}) + "\n")
        log.flush()
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        tqdm.write(f"step {step}: dev ({mode}, {seconds:.0f} s) {shown}")

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
