"""Prometheus metrics, one set per app: its own registry, handed to whatever counts.

Not prometheus-client's process-wide default registry: an app made twice in one process (the
tests make many) would share, or fail to register, module-level counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from peelqa.models import AskResponse


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # The process's own figures (memory, CPU, open files), as the default registry has.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "peelqa_requests",
            "HTTP requests answered, by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "peelqa_request_duration_seconds",
            "Time from request to the end of the response, by route",
            ["method", "route"],
            # Answers take milliseconds to a second; a queue or the deadline shows in the tail.
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.refusals = Counter(
            "peelqa_refusals", "Questions the reports do not answer (answered: false)", registry=r
        )
        self.answers = Counter(
            "peelqa_answers", "Questions answered (answered: true), with citations", registry=r
        )
        self.cached = Counter(
            "peelqa_cached_answers",
            "Answers (and refusals) repeated from the answer cache",
            registry=r,
        )
        self.errors = Counter(
            "peelqa_errors",
            "Error responses, by status and the contract's error code",
            ["status", "code"],
            registry=r,
        )
        self.rate_limit_store_errors = Counter(
            "peelqa_rate_limit_store_errors",
            "Rate-limit checks that Redis did not answer (counted in the process's memory instead)",
            registry=r,
        )
        self.llm_answers = Counter(
            "peelqa_llm_answers",
            "Answers the LLM server was asked for, by outcome: generated, or the reason the "
            "answer fell back to extractive",
            ["outcome"],
            registry=r,
        )
        self.generated_sentences = Counter(
            "peelqa_generated_sentences",
            "Sentences the LLM wrote, by verdict: kept, repaired (marker corrected) or dropped",
            ["verdict"],
            registry=r,
        )

        self.stored_answers = Counter(
            "peelqa_stored_answers",
            "Answers handed to the database writer, by outcome: written, failed (a database "
            "error, logged) or dropped (the writer's queue was full)",
            ["outcome"],
            registry=r,
        )
        self.storage_errors = Counter(
            "peelqa_storage_errors",
            "Database operations that failed, by operation (migrate, write, feedback, read, purge)",
            ["operation"],
            registry=r,
        )

    def count_answer(self, result: AskResponse, *, cached: bool = False) -> None:
        (self.answers if result.answered else self.refusals).inc()
        if cached:
            self.cached.inc()
