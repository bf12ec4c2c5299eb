"""Optional fluent answers: the engine's cited passages worded by a site's LLM server, each
generated sentence checked against its passage (`grounding`) before it is shown."""
