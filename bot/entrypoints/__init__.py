"""Entry points: the CLI, the console, the HTTP server, the web API, the webhook, Lambda, the scheduler, the doctor.

Imported by nothing (import-linter checks it)."""
