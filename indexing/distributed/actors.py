"""What runs on the Ray workers, and how the driver reaches a cluster.

`ShardEncoder` is the callable class `map_batches` runs in each actor: it loads the
model once, when the actor starts, and encodes one shard per call. Its answer is the
shard's CSR arrays as raw bytes (int64 indptr, int32 indices, float32 weights), so no
pickled object crosses the object store.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import numpy as np

from spire.core.errors import SpireError

CONNECT_TIMEOUT_S = 10.0


class ShardEncoder:
    """One model replica: `__call__` encodes the shards of a batch (one row each)."""

    def __init__(self, model: str, mode: str, options: dict, threads: int, gpus: float) -> None:
        import torch

        from encoders import load_encoder

        torch.set_num_threads(max(int(threads), 1))
        self.encoder = load_encoder(model, mode, **options)
        if gpus > 0 and torch.cuda.is_available():
            inner = getattr(self.encoder, "model", self.encoder)
            if hasattr(inner, "mlm"):
                inner.mlm.to("cuda")

    def __call__(self, batch: dict) -> dict:
        import time

        out: dict[str, list] = {"shard": [], "indptr": [], "indices": [], "data": [], "cpu_s": []}
        for shard, texts in zip(batch["shard"], batch["texts"], strict=True):
            cpu = time.process_time()  # this worker's own CPU: throughput apart from load
            matrix = self.encoder.encode_documents([str(t) for t in texts], show_progress=False)
            matrix.sort_indices()
            out["cpu_s"].append(time.process_time() - cpu)
            out["shard"].append(int(shard))
            out["indptr"].append(np.asarray(matrix.indptr, np.int64).tobytes())
            out["indices"].append(np.asarray(matrix.indices, np.int32).tobytes())
            out["data"].append(np.asarray(matrix.data, np.float32).tobytes())
        return out


def connect_ray(address: str, num_cpus: int) -> None:
    """ray.init for `address` ("local": a cluster in this machine, "auto": the running
    one, "ray://host:port": a remote one), or one line naming the address that failed."""
    try:
        import ray
    except ImportError:
        raise SpireError("--engine ray needs the [ray] extra: pip install 'spire[ray]'") from None
    if ray.is_initialized():
        return  # a cluster this process already joined (tests, notebooks)
    if address.startswith("ray://"):
        _reachable(address)
    kwargs = {"include_dashboard": False, "log_to_driver": False}
    try:
        if address == "local":
            ray.init(num_cpus=num_cpus, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except Exception as exc:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise SpireError(f"--ray-address {address}: cannot start or join Ray ({text})") from None


def _reachable(address: str) -> None:
    """Fail within CONNECT_TIMEOUT_S when a ray:// address does not answer (Ray's own
    client retries for minutes)."""
    parts = urlsplit(address)
    try:
        port = parts.port or 10001
    except ValueError:
        raise SpireError(f"--ray-address {address}: not ray://HOST:PORT") from None
    try:
        socket.create_connection((parts.hostname or "", port), CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SpireError(f"--ray-address {address}: cannot connect ({reason})") from None
