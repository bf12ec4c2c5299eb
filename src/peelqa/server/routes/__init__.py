"""One router a feature; `server.app.create_app` includes them all."""
