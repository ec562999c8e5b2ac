"""The unit tier: the rules, tested with no engine, no Dagster, no subprocess and no network.

A test here builds its input in memory (or in a temporary folder) and runs in milliseconds; the tier is the inner
loop (`.venv/bin/python -m pytest invoice_pipeline_tests/unit -n 0`, see the README). `test_the_unit_tier_stays_light`
fails when a module of this folder imports an engine or Dagster.
"""
