"""Model validation (issue 7): internal checks against closed forms, external checks against
published outcomes, cross-model checks against published evaluations; set-ups, checks,
the published figures as data (published.yaml) and the page."""
