"""Line file limits as the configuration writes them: a whole number of bytes, or a number with a unit (B, KB, MB,
GB, TB by powers of 1000; KiB, MiB, GiB, TiB by powers of 1024, any case), refused in one sentence otherwise; and a
size as a person reads it in a refusal."""

from __future__ import annotations

import pytest

from invoice_pipeline.connectors.line_file_limits import byte_size, byte_size_text

HINT = "line_length_limit must be a size such as 1MB, 50GB or 1048576 (bytes)"


@pytest.mark.parametrize(
    ("written", "size"),
    [
        pytest.param(1048576, 1048576, id="whole-number-of-bytes"),
        pytest.param("1048576", 1048576, id="bytes-as-text"),
        pytest.param("512B", 512, id="bytes-unit"),
        pytest.param("1MB", 1000**2, id="megabytes-by-1000"),
        pytest.param("1KiB", 1024, id="kibibytes-by-1024"),
        pytest.param("1.5MB", 1_500_000, id="fractional-amount"),
        pytest.param(" 2 kb ", 2000, id="spaced-lower-case-unit"),
    ],
)
def test_a_size_is_read_in_bytes_from_a_number_and_its_unit(written, size):
    assert byte_size(written, "line_length_limit") == size


@pytest.mark.parametrize(
    "written",
    [
        pytest.param("lots", id="words"),
        pytest.param(True, id="boolean"),
        pytest.param(1.5, id="float"),
        pytest.param("-1MB", id="negative"),
        pytest.param("10 PB", id="unknown-unit"),
    ],
)
def test_a_value_that_is_not_a_size_is_refused_saying_how_to_write_one(written):
    with pytest.raises(ValueError) as refused:
        byte_size(written, "line_length_limit")

    assert str(refused.value) == HINT


@pytest.mark.parametrize("written", [pytest.param(0, id="zero"), pytest.param("0.0001KB", id="under-one-byte")])
def test_a_size_under_one_byte_is_refused(written):
    with pytest.raises(ValueError) as refused:
        byte_size(written, "line_file_size_limit")

    assert str(refused.value) == "line_file_size_limit must be at least 1 byte"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        pytest.param(1000, "1 KB", id="kilobyte"),
        pytest.param(16 * 1000**2, "16 MB", id="megabytes"),
        pytest.param(1_500_000, "1.5 MB", id="one-decimal"),
        pytest.param(1024, "1 KiB", id="kibibyte"),
        pytest.param(1023, "1023 bytes", id="under-a-kilobyte"),
        pytest.param(1_234_567, "1234567 bytes", id="no-round-unit"),
    ],
)
def test_a_size_is_told_in_the_largest_unit_that_writes_it_with_at_most_one_decimal(size, text):
    assert byte_size_text(size) == text
