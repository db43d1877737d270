"""Services: outcomes (courses, PROs, one-time links, response rates, cohorts)."""
