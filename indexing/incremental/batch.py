"""WriteBatch: an ordered list of adds and deletes that one commit applies atomically.

Operations keep their order inside a batch: "add x, delete x" leaves x absent and
"delete x, add x" leaves the new x. The batch's new documents form one segment; every
id it touches that is live in an older segment gets a tombstone there, which is how a
replace works (an id is live in at most one segment).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from spire.core.errors import SpireError
from spire.core.ids import check_ids


@dataclass
class OpResult:
    kind: str  # "add" or "delete"
    ids: list[str]
    found: list[bool] = field(default_factory=list)  # add: replaced; delete: was present

    @property
    def count(self) -> int:
        return sum(self.found)


@dataclass
class CommitResult:
    generation: int
    committed: bool
    results: list[OpResult] = field(default_factory=list)
    segment: str | None = None


@dataclass
class WriteBatch:
    ops: list[tuple[str, list[str], sp.csr_matrix | None]] = field(default_factory=list)

    def add(self, ids: list[str], matrix: sp.csr_matrix) -> WriteBatch:
        ids = check_ids(ids)  # spire.core.ids: the rule every reader applies
        if matrix.shape[0] != len(ids):
            raise SpireError(f"{matrix.shape[0]} document vectors but {len(ids)} ids")
        self.ops.append(("add", ids, sp.csr_matrix(matrix, dtype=np.float32)))
        return self

    def delete(self, ids: list[str]) -> WriteBatch:
        self.ops.append(("delete", [str(i) for i in ids], None))
        return self

    def __len__(self) -> int:
        return len(self.ops)

    def new_documents(self, vocab_size: int) -> tuple[list[str], sp.csr_matrix | None]:
        """The documents that survive the batch, in the order they were added."""
        winner: dict[str, tuple[int, int]] = {}  # id -> (op, row) of the add that stands
        for op, (kind, ids, matrix) in enumerate(self.ops):
            if kind == "add" and matrix.shape[1] != vocab_size:
                raise SpireError(
                    f"document vectors have {matrix.shape[1]} columns; "
                    f"the index vocabulary has {vocab_size}"
                )
            for row, docid in enumerate(ids):
                if kind == "add":
                    winner[docid] = (op, row)
                else:
                    winner.pop(docid, None)
        by_op: dict[int, list[int]] = {}
        for op, row in winner.values():
            by_op.setdefault(op, []).append(row)
        out_ids: list[str] = []
        parts = []
        for op in sorted(by_op):
            rows = sorted(by_op[op])
            _, ids, matrix = self.ops[op]
            out_ids.extend(ids[r] for r in rows)
            parts.append(matrix if len(rows) == len(ids) else matrix[rows])
        if not parts:
            return [], None
        return out_ids, sp.vstack(parts, format="csr") if len(parts) > 1 else parts[0]

    def resolve(self, is_live) -> tuple[list[OpResult], set[str]]:
        """Per-operation results and the ids to tombstone in older segments, given
        `is_live(id)` for the committed state the batch applies to."""
        overlay: dict[str, bool] = {}
        tombstone: set[str] = set()
        results = []
        for kind, ids, _ in self.ops:
            result = OpResult(kind, ids)
            for docid in ids:
                committed = is_live(docid)
                result.found.append(overlay.get(docid, committed))
                overlay[docid] = kind == "add"
                if committed:
                    tombstone.add(docid)
            results.append(result)
        return results, tombstone
