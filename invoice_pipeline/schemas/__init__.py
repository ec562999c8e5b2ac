"""What valid headers, line summaries and reference data are: Pandera schemas for lines and reference data, plain
Python for the header's rules, the line files' column names and the shared date and currency patterns."""
