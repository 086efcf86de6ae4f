"""Job-option files shipped with metflow."""
