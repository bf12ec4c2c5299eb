"""The index: building generations (`build`), loading and checking them (`store`), and
telling whether the one in service is fresh for a corpus (`freshness`)."""
