"""The HTTP service: the app factory, one router a feature, middleware, access control,
observability, the answering service and the multi-process supervisor."""
