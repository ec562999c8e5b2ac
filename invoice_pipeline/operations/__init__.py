"""Operations people run on provider invoices, and billing customers for usage."""
