"""What a person is told to do about an invoice in Error, from the rules it broke."""

from invoice_pipeline.domain.import_failures import EVERY_ERROR, ImportFailure, what_to_do


def test_what_to_do_about_an_invoice_in_error_follows_each_rule_it_broke_then_the_daily_retry():
    advice = what_to_do((ImportFailure.REFERENCES, ImportFailure.CHECKSUM))
    assert advice.index("errors.csv") < advice.index("checksum_override") < advice.index(EVERY_ERROR)


def test_every_rule_an_import_can_break_has_advice():
    for failure in ImportFailure:
        assert what_to_do((failure,)) != EVERY_ERROR, failure


def test_without_a_known_rule_only_the_daily_retry_is_said():
    assert what_to_do(()) == EVERY_ERROR
