"""The model's units of time (DESIGN §4): years of 365.25 days, months of a twelfth."""

DAYS_PER_YEAR = 365.25
MONTHS_PER_YEAR = 12
