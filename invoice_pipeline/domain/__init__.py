"""Domain words: statuses, money, provider invoice keys."""
