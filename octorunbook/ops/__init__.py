"""Operations outside a run: schedule, fleet summary, node drain, doctor; no runbook imports them."""
