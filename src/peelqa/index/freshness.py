"""Whether the index in service is missing, stale or fresh for a corpus and a model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from peelqa.index.build import CHUNKER_VERSION
from peelqa.index.store import (
    FORMAT_VERSION,
    IndexMissing,
    current_generation,
    read_manifest,
)
from peelqa.reports.corpus import corpus_sha256


def freshness(
    *,
    index_dir: Path,
    corpus_dir: Path,
    model_id: str,
    encoder_ok: Callable[[Path], bool] | None = None,
) -> str:
    """'missing', 'stale' or 'fresh' for this corpus and model; a broken index raises.

    With `encoder_ok`, an index without an exported encoder, or whose export (the folder it is
    given) it rejects, counts as stale.
    """
    try:
        m = read_manifest(index_dir)
    except IndexMissing:
        return "missing"
    if (
        m.format != FORMAT_VERSION
        or m.chunker_version != CHUNKER_VERSION
        or m.model != model_id
        or m.corpus_sha256 != corpus_sha256(corpus_dir)
    ):
        return "stale"
    if encoder_ok is not None and (
        m.encoder is None or not encoder_ok(current_generation(index_dir) / m.encoder)
    ):
        return "stale"
    return "fresh"
