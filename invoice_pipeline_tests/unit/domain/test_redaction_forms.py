"""SECURITY.md's promise, form by form: a registered secret is found raw, URL-encoded (both ways, either hex case,
twice), JSON-escaped, in base64 at any alignment and in either alphabet (Basic auth of user:secret), case-folded,
and cut short to any prefix of 8 characters or more when it has 12 or more; a shorter secret only as its length
allows; a secret under 4 characters, and text holding no secret, are left as they are.

Each test starts from an empty registry (the process's secrets are put back after it).
"""

from __future__ import annotations

from collections import OrderedDict

import pytest

from invoice_pipeline.domain import redaction
from invoice_pipeline.domain.redaction import redact

# 33 characters that URL-encoding, JSON and base64 each change; 33 bytes: its base64 has no padding.
SECRET = 'Zq9+Sx/7kP=aB3&dEf"Gh\\Ij~Kl.mN_oP'


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redaction, "_secrets", OrderedDict())
    monkeypatch.setattr(redaction, "_tokens", OrderedDict())
    monkeypatch.setattr(redaction, "_matcher", None)


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(SECRET, id="raw"),
        pytest.param("Zq9%2BSx%2F7kP%3DaB3%26dEf%22Gh%5CIj~Kl.mN_oP", id="url-encoded-upper-hex"),
        pytest.param("Zq9%2bSx%2f7kP%3daB3%26dEf%22Gh%5cIj~Kl.mN_oP", id="url-encoded-lower-hex"),
        pytest.param("Zq9%2BSx/7kP%3DaB3%26dEf%22Gh%5CIj~Kl.mN_oP", id="url-encoded-keeping-slash"),
        pytest.param("Zq9%252BSx%252F7kP%253DaB3%2526dEf%2522Gh%255CIj~Kl.mN_oP", id="url-encoded-twice"),
        pytest.param('Zq9+Sx/7kP=aB3&dEf\\"Gh\\\\Ij~Kl.mN_oP', id="json-escaped"),
        pytest.param("WnE5K1N4LzdrUD1hQjMmZEVmIkdoXElqfktsLm1OX29Q", id="base64"),
        pytest.param('ZQ9+SX/7KP=AB3&DEF"GH\\IJ~KL.MN_OP', id="upper-cased"),
        pytest.param('zq9+sx/7kp=ab3&def"gh\\ij~kl.mn_op', id="lower-cased"),
        pytest.param("ZQ9%2BSX%2F7KP%3DAB3%26DEF%22GH%5CIJ~KL.MN_OP", id="url-encoded-upper-cased"),
    ],
)
def test_a_registered_secret_is_masked_in_each_form_an_echo_can_take(echo):
    redaction.register(SECRET)

    assert redact(f"server said: <{echo}> is wrong") == "server said: <***> is wrong"


@pytest.mark.parametrize(
    ("encoded", "shown"),
    [
        pytest.param("eFpxOStTeC83a1A9YUIzJmRFZiJHaFxJan5LbC5tTl9vUA==", "eF***A==", id="after-one-byte"),
        pytest.param("eHlacTkrU3gvN2tQPWFCMyZkRWYiR2hcSWp+S2wubU5fb1A=", "eHl***A=", id="after-two-bytes"),
        pytest.param("eHlacTkrU3gvN2tQPWFCMyZkRWYiR2hcSWp-S2wubU5fb1A=", "eHl***A=", id="url-safe-alphabet"),
    ],
)
def test_a_secret_inside_base64_is_masked_at_any_alignment_keeping_the_characters_of_its_neighbours(encoded, shown):
    """`encoded` is base64 of `x` or `xy` followed by the secret: only the characters of the secret's bits go."""
    redaction.register(SECRET)

    assert redact(f"body={encoded}") == f"body={shown}"


def test_a_basic_auth_header_of_the_registered_user_is_masked_whole():
    redaction.register(SECRET, user="ab")

    # base64("ab:" + SECRET)
    assert redact("Authorization: Basic YWI6WnE5K1N4LzdrUD1hQjMmZEVmIkdoXElqfktsLm1OX29Q") == "Authorization: Basic ***"


def test_a_basic_auth_header_of_another_user_still_loses_the_secret():
    redaction.register(SECRET, user="ab")

    # base64("someone:" + SECRET): the user's characters stay, the secret's go
    shown = redact("Authorization: Basic c29tZW9uZTpacTkrU3gvN2tQPWFCMyZkRWYiR2hcSWp+S2wubU5fb1A=")

    assert shown == "Authorization: Basic c29tZW9uZTp***A="


@pytest.mark.parametrize(
    ("echo", "shown"),
    [
        pytest.param("Zq9+Sx/7", "***", id="raw-8-characters"),
        pytest.param("ZQ9+SX/7KP", "***", id="upper-cased-10-characters"),
        pytest.param("Zq9%2BSx", "***", id="url-encoded-8-characters"),
        pytest.param("WnE5K1N4", "***", id="base64-8-characters"),
        pytest.param("Zq9+Sx/", "Zq9+Sx/", id="7-characters-kept"),
    ],
)
def test_an_echo_cut_short_is_masked_from_8_characters_of_a_long_secret(echo, shown):
    redaction.register(SECRET)

    assert redact(f"[{echo}]") == f"[{shown}]"


def test_a_prefix_is_masked_up_to_where_the_echo_leaves_the_secret():
    redaction.register(SECRET)

    assert redact("Zq9+Sx/7kP=aB3 and the rest") == "*** and the rest"


MEDIUM = "Pa55w0rd+x"  # 10 characters: whole forms, case-folded, no prefixes


@pytest.mark.parametrize(
    ("echo", "shown"),
    [
        pytest.param(MEDIUM, "***", id="raw"),
        pytest.param("PA55W0RD+X", "***", id="upper-cased"),
        pytest.param("Pa55w0rd%2Bx", "***", id="url-encoded"),
        pytest.param("UGE1NXcwcmQreA==", "***A==", id="base64"),
        pytest.param("Pa55w0rd", "Pa55w0rd", id="8-character-prefix-kept"),
    ],
)
def test_a_secret_of_8_to_11_characters_is_masked_whole_in_every_form_but_not_cut_short(echo, shown):
    redaction.register(MEDIUM)

    assert redact(f"({echo})") == f"({shown})"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("secret=demo&user=x", "secret=***&user=x", id="a-token-of-its-own"),
        pytest.param('{"password": "demo"}', '{"password": "***"}', id="json-value"),
        pytest.param("invoice_pipeline/demo/config.yaml", "invoice_pipeline/demo/config.yaml", id="inside-a-path"),
        pytest.param("the demonstration", "the demonstration", id="inside-a-word"),
        pytest.param("a demo.yaml file", "a demo.yaml file", id="inside-a-file-name"),
        pytest.param("secret=DEMO&", "secret=DEMO&", id="other-case-kept"),
    ],
)
def test_a_secret_of_4_to_7_characters_is_masked_only_exactly_and_as_a_token_of_its_own(text, shown):
    redaction.register("demo")

    assert redact(text) == shown


def test_a_short_secrets_basic_auth_is_masked_when_its_user_is_known():
    redaction.register("demo", user="alice")

    assert redact("Authorization: Basic YWxpY2U6ZGVtbw==") == "Authorization: Basic ***"  # base64("alice:demo")


def test_a_secret_under_4_characters_is_not_registered_so_text_keeps_it():
    redaction.register("abc")

    assert redact("abc abc=abc") == "abc abc=abc"


def test_text_holding_no_registered_secret_is_returned_unchanged():
    redaction.register(SECRET)
    text = "Zq9+Sx/ Ij~Kl.mN_oP checksum failed: difference 0.37 USD (Zq9+Sx/-)"

    assert redact(text) == text


def test_an_access_token_is_masked_and_only_the_newest_64_are_kept():
    tokens = [f"{number:03d}-access-token" for number in range(65)]  # no two share 8 characters
    for token in tokens:
        redaction.register_token(token)

    assert redact(tokens[-1]) == "***"
    assert redact(tokens[1]) == "***"
    assert redact(tokens[0]) == tokens[0]  # the oldest was dropped when the 65th came


# A warehouse URL's passwords --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "passwords"),
    [
        pytest.param(
            "postgresql+psycopg://billing:p%40ss%2Bw0rd@db/invoices", ["p%40ss%2Bw0rd", "p@ss+w0rd"], id="user-part"
        ),
        pytest.param(
            "postgresql://billing@db/invoices?sslmode=require&password=a%2Bb+c",
            ["a%2Bb+c", "a+b+c", "a+b c"],
            id="password-parameter-both-decodings",
        ),
        pytest.param("postgresql://u@db/x?options=-c%20password%3Dhunter22", ["hunter22"], id="inside-options"),
        pytest.param("postgresql://u@db/x?PASSWORD=Topsecret1#frag", ["Topsecret1"], id="parameter-any-case"),
        pytest.param("postgresql://db/x?options=-c%20search_path%3Dbilling", [], id="options-without-password"),
        pytest.param("postgresql://billing@db:5432/invoices", [], id="no-password"),
    ],
)
def test_a_urls_passwords_are_read_as_written_and_url_decoded(url, passwords):
    assert redaction.url_passwords(url) == passwords


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param(
            "postgresql://u@db/x?options=-c%20password%3Dhunter22",
            "postgresql://u@db/x?options=-c%20password=***",
            id="options-password",
        ),
        pytest.param(
            "postgresql://db/x?options=-c%20search_path%3Dbilling",
            "postgresql://db/x?options=-c%20search_path%3Dbilling",
            id="options-without-password-unchanged",
        ),
        pytest.param(
            "postgresql://u@db/x?PASSWORD=Topsecret1#frag", "postgresql://u@db/x?PASSWORD=***#frag", id="upper-case"
        ),
        pytest.param("postgresql://billing@db:5432/invoices", "postgresql://billing@db:5432/invoices", id="none"),
        pytest.param("not a url at all", "not a url at all", id="not-a-url"),
    ],
)
def test_a_warehouse_url_is_shown_with_each_password_masked_and_the_rest_as_written(url, shown):
    assert redaction.masked_url(url) == shown


def test_a_registered_url_password_is_masked_when_a_driver_quotes_it_decoded():
    redaction.register_url("postgresql+psycopg://billing:p%40ss%2Bw0rd@db/invoices")

    assert redact('FATAL: password "p@ss+w0rd" for user "billing"') == 'FATAL: password "***" for user "billing"'
