"""Distributed encoding: `spire index ... --engine ray` (ray_index.py; the actors in
actors.py). Ray is the optional `[ray]` extra; nothing here imports it until used."""

from .ray_index import RayOptions, build_index_ray

__all__ = ["RayOptions", "build_index_ray"]
