"""The floor of the tree: errors, crash-safe files, ids, argument checks, the overwrite
guard, file hashing (remembering files already verified) and lazy package exports. It
imports only the standard library, numpy and itself (`make lint` checks this;
docs/architecture.md)."""
