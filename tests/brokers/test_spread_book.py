"""SpreadBook: the spread queries and money rules both brokers answer from.

Every expected number is worked out here from the positions' own fields.
"""

from __future__ import annotations

import datetime as dt

import pytest

from brokers.spread_book import SpreadBook
from brokers.spreads import SpreadLeg, SpreadPosition

EXPIRY = dt.date(2024, 3, 15)


def spread(pid: int, underlying: str = "SPY", contracts: int = 2, credit: float = 1.50,
           margin: float = 700.0, mark: float = 1.20, commission: float = 2.60,
           status: str = "open", order_ref: str | None = None) -> SpreadPosition:
    short = SpreadLeg(f"{underlying}240315P00400000", EXPIRY, 400.0, "P", -1)
    long = SpreadLeg(f"{underlying}240315P00395000", EXPIRY, 395.0, "P", 1)
    extra = {"order_ref": order_ref} if order_ref else {}
    return SpreadPosition(id=pid, underlying=underlying, kind="put_credit", short=short,
                          long=long, contracts=contracts, entry_date=dt.date(2024, 2, 1),
                          entry_credit=credit, commission=commission, margin=margin,
                          mark=mark, dte=43, status=status, extra=extra)


def test_empty_book_answers_nothing_and_numbers_from_one():
    book = SpreadBook()
    assert len(book) == 0
    assert book.open() == [] and book.closed() == []
    assert book.get(1) is None and book.opened_by("ref") is None
    assert book.reserved_margin() == 0.0 and book.liability() == 0.0
    assert book.next_id() == 1


def test_open_and_closed_split_by_status_and_underlying_in_insertion_order():
    a, b = spread(3), spread(1, underlying="QQQ")
    c = spread(2, status="closed")
    book = SpreadBook([a, b, c])
    assert book.open() == [a, b]  # insertion order, not id order
    assert book.open("QQQ") == [b] and book.open("IWM") == []
    assert book.closed() == [c] and book.closed("QQQ") == []
    assert book.get(2) is c
    assert book.next_id() == 4  # past the largest id, also of a closed spread


def test_add_replaces_a_position_with_the_same_id():
    book = SpreadBook([spread(1, contracts=1)])
    again = spread(1, contracts=3)
    assert book.add(again) is again
    assert len(book) == 1 and book.get(1).contracts == 3


def test_opened_by_finds_the_spread_of_an_order_ref():
    first, second = spread(1, order_ref="btml/a"), spread(2, order_ref="btml/b")
    book = SpreadBook([first, second])
    assert book.opened_by("btml/b") is second
    assert book.opened_by("btml/c") is None


def test_margin_and_liability_count_open_spreads_only():
    book = SpreadBook([spread(1, margin=700.0, mark=1.20, contracts=2),
                       spread(2, margin=350.0, mark=0.40, contracts=1),
                       spread(3, margin=900.0, mark=9.99, status="closed")])
    assert book.reserved_margin() == pytest.approx(1050.0)
    assert book.liability() == pytest.approx(1.20 * 100 * 2 + 0.40 * 100 * 1)


def test_revalue_is_credit_minus_mark_after_commissions():
    position = spread(1, credit=1.50, mark=1.20, contracts=2, commission=2.60)
    SpreadBook.revalue(position)
    assert position.unrealized_pnl == pytest.approx((1.50 - 1.20) * 100 * 2 - 2.60)
    position.mark = 2.00  # a loss once the mark is above the credit
    SpreadBook.revalue(position)
    assert position.unrealized_pnl == pytest.approx((1.50 - 2.00) * 100 * 2 - 2.60)


def test_close_books_the_exit_and_realized_pnl_with_both_commissions():
    position = spread(1, credit=1.50, contracts=2, commission=2.60, margin=700.0)
    position.unrealized_pnl = 12.0
    day = dt.date(2024, 2, 20)
    book = SpreadBook([position])
    book.close(position, day, 0.70, 2.60, "close", "profit_take")
    assert not position.is_open and book.open() == [] and book.closed() == [position]
    assert (position.exit_date, position.exit_debit, position.mark) == (day, 0.70, 0.70)
    assert (position.exit_reason, position.tag) == ("close", "profit_take")
    assert position.commission == pytest.approx(5.20)
    assert position.realized_pnl == pytest.approx((1.50 - 0.70) * 100 * 2 - 5.20)
    assert position.unrealized_pnl == 0.0
    assert position.margin == 700.0  # margin is the broker's to release
    assert book.reserved_margin() == 0.0  # but a closed spread holds none


def test_open_follows_status_changes_made_after_adding_and_keeps_book_order():
    a, b, c = spread(1), spread(2), spread(3)
    book = SpreadBook([a, b, c])
    SpreadBook.close(b, dt.date(2024, 2, 5), debit=0.5, commission=1.3, reason="close", tag="t")
    assert book.open() == [a, c] and book.closed() == [b]
    # IB rebuilds a spread under its id: an open replacement of a closed one comes back
    # in book order, not at the end
    book.add(spread(2))
    assert [p.id for p in book.open()] == [1, 2, 3]
    book.add(spread(1, status="closed"))
    assert [p.id for p in book.open()] == [2, 3]
