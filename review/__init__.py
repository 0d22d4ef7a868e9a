"""Human review of flagged sessions. (Built in the review issue.)"""
