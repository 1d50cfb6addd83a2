"""The papermill seam: runner, engine, redacting saves, the papermill hook, the kernel watch."""
