"""Outside a run: schedule, fleet summary, node drain, doctor."""
