"""Troubleshooting: every error the seeds and the version facts name, with symptom, cause, check and fix."""
