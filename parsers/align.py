"""Finding the blanks of a printed item in what the unit sent back.

The printed words of an item ("组织开展宣讲活动（ ）场，参与（ ）人次；…") are aligned character by
character with the unit's text, allowing words to be missing, changed or added. A blank is
whatever lies between the printed words found on either side of it, so "（12）", "12", "十二场"
and a number typed over the brackets all come out the same, whatever runs or cells carried them.

Costs steer which printed words are taken as found: a digit outside a blank is dearer than other
extra text (figures belong in blanks), prose inside a numeric blank dearer still, and a
bracketed remark ("（其中线上1场）") cheap wherever it stands. A place is only trusted when
printed words that occur once in the form were found around it (see `place_blanks`).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from parsers.forms import Item
from parsers.layout import Stream, fold

# Costs, in arbitrary integer units.
_DELETE = 4  # a printed character the unit's text lacks (units abbreviate)
_EXTRA = 10  # a character of the unit's that matches nothing
_EXTRA_DIGIT = 30
_OPEN = 4  # starting a run of matched characters: whole words beat stray characters
_DISTINCT = -3  # finding a character of a word that occurs once in the form
_SKIP_OPEN = 12  # starting a run of printed characters missing from the unit's text
_LEAVE_OUT = 30  # a whole clause missing
# Text before the first and after the last printed word, and inside a text blank (an
# activity's name). Not free, else the alignment would end early to avoid paying for a remark
# in the middle. A text blank costs no less than the outside, or it would swallow a mail's
# signature; figures outside cost no more, or a footer's phone number would be pulled into a
# numeric blank.
_OUTSIDE = 3
_IN_NUMBER_UNIT = 10  # a unit word inside a numeric blank ("（12场）")
_IN_NUMBER_PROSE = 40  # prose inside a numeric blank
_LOCAL_RUN = 4  # length of the printed words that vouch for a blank on their own
_NEARLY_ALL = 0.85  # a clause this complete is found even if a typo hides its distinctive word
_REMARK = 2  # a bracketed remark between printed words: "场（其中线上1场），参与"
_DIGITS = frozenset("0123456789零〇一二两三四五六七八九十百千万壹贰叁肆伍陆柒捌玖拾佰仟萬")
_NUMBER_CHARS = _DIGITS | frozenset("()约余多近逾超左右以上来+/-_.,:;'\"…*无没有暂未共计合累总达")
_UNIT_CHARS = frozenset("场次人名位篇个件条期项家份起处所批观看")


@dataclass(frozen=True)
class BlankPlace:
    """Where one blank of an item was found.

    `text` is the unit's cell for it (raw, brackets and all). `found` is False when its
    surroundings were not found well enough to trust the place. `shared` is the key of a
    neighbouring blank that could not be told apart from this one (no printed word between).
    """

    key: str
    text: str
    found: bool
    shared: str | None


@functools.lru_cache(maxsize=64)
def distinctive_words(items: tuple[Item, ...]) -> frozenset[str]:
    """The runs of `_LOCAL_RUN` printed characters that occur once in all the items: "心得体会"
    says which blank follows, "场,参与" (in a dozen clauses) does not."""
    counts: dict[str, int] = {}
    for item in items:
        for clause in item.clauses:
            for piece in clause.pieces:
                folded = fold(piece)
                for index in range(len(folded) - _LOCAL_RUN + 1):
                    word = folded[index : index + _LOCAL_RUN]
                    counts[word] = counts.get(word, 0) + 1
    return frozenset(word for word, count in counts.items() if count == 1)


@dataclass(frozen=True)
class _Printed:
    """The printed characters of some items, in order, as `_align` consumes them; worked out
    once per form, not once per mail."""

    literals: str
    clause_of: tuple[int, ...]
    windows: tuple[int, ...]  # first literal of each distinctive word
    rewarded: tuple[bool, ...]
    gaps: tuple[tuple[int, tuple[tuple[str, bool, int], ...]], ...]  # literal index -> blanks before it
    ends_of_clauses: dict[int, int]  # literal index after a clause -> its first literal
    distinctive: frozenset[str]  # of the whole form
    clause_texts: tuple[Counter[str], ...]  # each clause's printed characters, counted

    def could_be_found(self, text: str) -> bool:
        """Could any blank be trusted in (folded) `text`? Each way of trusting one needs a
        distinctive word found unbroken, or `_NEARLY_ALL` of a clause's characters: when
        `text` has neither, no alignment can trust a blank."""
        if any(text[k : k + _LOCAL_RUN] in self.distinctive for k in range(len(text) - _LOCAL_RUN + 1)):
            return True
        available = Counter(text)
        return any(
            sum((needed & available).values()) >= _NEARLY_ALL * needed.total() for needed in self.clause_texts
        )


@functools.lru_cache(maxsize=256)
def _printed(items: tuple[Item, ...], distinctive: frozenset[str]) -> _Printed:
    literals: list[str] = []
    clause_of: list[int] = []
    windows: list[int] = []
    gaps: dict[int, list[tuple[str, bool, int]]] = {}
    clauses = [clause for item in items for clause in item.clauses]
    for number, clause in enumerate(clauses):
        for piece, blank in zip(clause.pieces, (*clause.blanks, None), strict=True):
            folded = fold(piece)
            windows.extend(
                len(literals) + k
                for k in range(len(folded) - _LOCAL_RUN + 1)
                if folded[k : k + _LOCAL_RUN] in distinctive
            )
            literals.extend(folded)
            clause_of.extend([number] * len(folded))
            if blank is not None:
                gaps.setdefault(len(literals), []).append((blank.key, blank.text, number))
    rewarded = [False] * len(literals)
    for first in windows:
        rewarded[first : first + _LOCAL_RUN] = [True] * _LOCAL_RUN
    ends_of_clauses = {
        index + 1: clause_of.index(number)
        for index, number in enumerate(clause_of)
        if index + 1 == len(clause_of) or clause_of[index + 1] != number
    }
    texts = [Counter[str]() for _ in clauses]
    for literal, number in zip(literals, clause_of, strict=True):
        texts[number][literal] += 1
    return _Printed(
        "".join(literals),
        tuple(clause_of),
        tuple(windows),
        tuple(rewarded),
        tuple((gap, tuple(blanks)) for gap, blanks in sorted(gaps.items())),
        ends_of_clauses,
        distinctive,
        tuple(texts),
    )


def place_blanks(
    items: tuple[Item, ...],
    stream: Stream,
    start: int,
    end: int,
    min_found: float,
    distinctive: frozenset[str],
) -> tuple[BlankPlace, ...]:
    """Align the printed text of `items` (in order) with folded positions [start, end).

    A blank is trusted (`found`) when its clause is found: `min_found` of its printed
    characters, among them a word that occurs nowhere else in the form (`distinctive`, so
    that "活动（ ）场，参与（ ）人次", common to a dozen clauses, never vouches alone), or
    nearly all of them; or when the printed word after it is found and a distinctive word
    right before it ("心得体会5篇" typed in a mail); or when it follows a trusted blank with
    every printed character between them found ("3场，参与120人次").
    """
    printed = _printed(items, distinctive)
    text = stream.folded[start:end]
    if not printed.could_be_found(text):
        # Nothing could be trusted ("请查收" in a mail body): the alignment would only say so.
        return tuple(BlankPlace(key, "", False, None) for _, blanks in printed.gaps for key, _, _ in blanks)
    literals, clause_of, gaps = printed.literals, printed.clause_of, dict(printed.gaps)
    matched = _align(literals, printed.rewarded, gaps, printed.ends_of_clauses, text)
    found_in_clause = [0] * len(printed.clause_texts)
    for index, position in enumerate(matched):
        found_in_clause[clause_of[index]] += position is not None
    anchored = {clause_of[first] for first in printed.windows if _unbroken(matched, first, _LOCAL_RUN)}
    places: list[BlankPlace] = []
    bounds: list[tuple[int, int]] = []
    previous_trusted = False
    for gap, blanks in printed.gaps:
        earlier = [k for k in matched[:gap] if k is not None]
        later = [k for k in matched[gap:] if k is not None]
        left = earlier[-1] if earlier else -1
        right = later[0] if later else end - start
        first = stream.raw(start + left) + 1 if left >= 0 else stream.raw(start)
        last = stream.raw(start + right)
        number = blanks[0][2]
        after = gap < len(matched) and matched[gap] is not None and clause_of[gap] == number
        words, linked = _run_before(literals, matched, clause_of, gap, set(gaps))
        share = found_in_clause[number] / printed.clause_texts[number].total()
        trusted = (share >= min_found and number in anchored) or share >= _NEARLY_ALL or (
            after
            and (
                any(words[i : i + _LOCAL_RUN] in distinctive for i in range(len(words)))
                or (previous_trusted and linked)
            )
        )
        for key, _, _ in blanks:
            places.append(BlankPlace(key, stream.text[first:last], trusted, None))
            bounds.append((left, right))
        previous_trusted = trusted
    return _mark_shared(places, bounds)


def _unbroken(matched: Sequence[int | None], first: int, length: int) -> bool:
    """Were printed characters [first, first + length) found one after another?"""
    positions = matched[first : first + length]
    return all(
        p is not None and (k == 0 or p == (positions[k - 1] or 0) + 1)
        for k, p in enumerate(positions)
    )


def _run_before(
    literals: Sequence[str],
    matched: Sequence[int | None],
    clause_of: Sequence[int],
    gap: int,
    gaps: set[int],
) -> tuple[str, bool]:
    """The printed words found unbroken right before blank `gap` (a missing quote or comma
    does not break them), and whether they reach back to the previous blank."""
    words: list[str] = []
    index, following = gap - 1, None
    while index >= 0 and clause_of[index] == clause_of[gap - 1]:
        position = matched[index]
        if position is None and literals[index].isalnum():
            break
        if position is not None:
            if following is not None and position != following - 1:
                break
            words.append(literals[index])
            following = position
        if index in gaps:
            return "".join(reversed(words)), True
        index -= 1
    return "".join(reversed(words)), False


def _mark_shared(
    places: Sequence[BlankPlace], bounds: Sequence[tuple[int, int]]
) -> tuple[BlankPlace, ...]:
    """Trusted blanks with the same printed words around them share one piece of text: which
    of them it fills cannot be known, unless it is empty. (Blanks not trusted stay empty
    anyway, so they do not contest the text.)"""
    result = []
    for index, place in enumerate(places):
        twins = [
            other.key
            for other_index, other in enumerate(places)
            if other_index != index and other.found and bounds[other_index] == bounds[index]
        ]
        shared = twins[0] if twins and place.found and place.text.strip() else None
        result.append(BlankPlace(place.key, place.text, place.found, shared))
    return tuple(result)


def _align(
    literals: Sequence[str],
    rewarded: Sequence[bool],
    gaps: Mapping[int, Sequence[tuple[str, bool, int]]],
    clauses: Mapping[int, int],
    text: str,
) -> list[int | None]:
    """For each printed character, the index in `text` it matched exactly, or None.

    Text before the first and after the last printed character is cheap. Three states per
    cell (Gotoh): the last step matched, skipped printed words, or took the unit's
    characters. Opening a run of matches or of skipped words has a price, so the alignment
    keeps printed words whole instead of picking stray characters out of a remark or a later
    clause. Finding a distinctive printed word (`rewarded`) earns a little, so that it wins
    over words common to many clauses. A whole clause may be left out for a fixed price
    (`clauses` maps the end of each clause to its start): units delete the lines they have
    nothing for, and without this the printed words shared by many clauses ("活动（ ）场，
    参与（ ）人次") would drift to whichever clause made one long gap.
    """
    n, m = len(literals), len(text)
    remark = _remarks(text)
    # A printed character replaced by one of the unit's: as dear as missing plus extra.
    changed = [(_EXTRA_DIGIT if c in _DIGITS else _EXTRA) + _DELETE for c in text]
    extra = [_REMARK if remark[j] else changed[j] - _DELETE for j in range(m)]
    in_number = [
        0 if c in _NUMBER_CHARS else _IN_NUMBER_UNIT if c in _UNIT_CHARS else _IN_NUMBER_PROSE
        for c in text
    ]
    # A name in a text blank may be bracketed like a remark: no dearer there than outside it.
    in_text = [min(_OUTSIDE, cost) for cost in extra]
    never = 1 << 40
    # Row 0: any amount of the unit's text may come first, cheaply.
    matched_row = [never] * (m + 1)
    taken_row = [_OUTSIDE * j for j in range(m + 1)]
    skipped_row = [never] * (m + 1)
    # Per cell, the predecessor state of each state: bits 0-1 matched, 2-3 taken (bit 4 set
    # when the character was taken as extra text rather than substituted), 5-6 skipped.
    moves: list[bytearray] = [bytearray(m + 1)]
    starts = set(clauses.values())
    # The best cost and state at the start of each clause, for leaving the clause out.
    at_start: dict[int, list[tuple[int, int]]] = {}
    if 0 in starts:
        at_start[0] = [(cost, 1) for cost in taken_row]
    for i in range(1, n + 1):
        literal = literals[i - 1]
        reward = _DISTINCT if rewarded[i - 1] else 0
        blanks = gaps.get(i)
        if blanks is None:
            inserting = extra
        elif any(is_text for _, is_text, _ in blanks):
            inserting = in_text
        else:
            inserting = in_number
        matched, taken, skipped = [never] * (m + 1), [never] * (m + 1), [never] * (m + 1)
        move = bytearray(m + 1)
        skipped[0], state = _best3(
            matched_row[0] + _SKIP_OPEN, taken_row[0] + _SKIP_OPEN, skipped_row[0]
        )
        skipped[0] += _DELETE
        move[0] = state << 5
        for j in range(1, m + 1):
            code = 0
            if text[j - 1] == literal:
                matched[j], state = _best3(
                    matched_row[j - 1], taken_row[j - 1] + _OPEN, skipped_row[j - 1] + _OPEN
                )
                matched[j] += reward
                code = state
                cost, state = never, 0
            else:
                cost, state = _best3(matched_row[j - 1], taken_row[j - 1], skipped_row[j - 1])
                cost += changed[j - 1]
            here, before = _best3(matched[j - 1], taken[j - 1], skipped[j - 1])
            here += inserting[j - 1]
            if here < cost:
                cost, state = here, before | 4
            taken[j] = cost
            code |= state << 2
            skipped[j], state = _best3(
                matched_row[j] + _SKIP_OPEN, taken_row[j] + _SKIP_OPEN, skipped_row[j]
            )
            skipped[j] += _DELETE
            move[j] = code | state << 5
        if i in clauses:
            for j, (cost, _) in enumerate(at_start[clauses[i]]):
                if cost + _LEAVE_OUT < skipped[j]:
                    skipped[j] = cost + _LEAVE_OUT
                    move[j] = (move[j] & 0b11111) | 3 << 5
        if i in starts:
            at_start[i] = [_best3(matched[j], taken[j], skipped[j]) for j in range(m + 1)]
        moves.append(move)
        matched_row, taken_row, skipped_row = matched, taken, skipped
    ends = [_best3(matched_row[k], taken_row[k], skipped_row[k]) for k in range(m + 1)]
    j = min(range(m + 1), key=lambda k: (ends[k][0] + _OUTSIDE * (m - k), -k))
    state = ends[j][1]
    result: list[int | None] = [None] * n
    i = n
    while i > 0:
        code = moves[i][j]
        if state == 0:
            result[i - 1] = j - 1
            state, i, j = code & 3, i - 1, j - 1
        elif state == 1:
            state = (code >> 2) & 3
            if (code >> 4) & 1:
                j -= 1
            else:
                i, j = i - 1, j - 1
        elif (code >> 5) & 3 == 3:  # the clause ending here was left out
            i = clauses[i]
            state = at_start[i][j][1]
        else:
            state, i = (code >> 5) & 3, i - 1
    return result


def _remarks(text: str) -> list[bool]:
    """Which characters of (folded) `text` are in a bracketed remark: brackets holding words
    that are not a figure ("(其中线上1场)", not "(12)", "(约300)" or "(无)")."""
    inside = [False] * len(text)
    start = -1
    for index, char in enumerate(text):
        if char == "(":
            start = index
        elif char == ")" and start >= 0:
            if _prose(text[start + 1 : index]):
                inside[start : index + 1] = [True] * (index + 1 - start)
            start = -1
    return inside


_BRACKETED = re.compile(r"[（(【\[][^（()）【】\[\]]*[）)】\]]")


def without_remarks(text: str) -> str:
    """`text` without its bracketed remarks ("（线上线下结合），(253)" gives "，(253)")."""
    return _BRACKETED.sub(lambda g: "" if _prose(fold(g.group())[1:-1]) else g.group(), text)


def _prose(words: str) -> bool:
    """Do (folded) `words` say more than a figure would ("其中线上1场", not "约300场")?"""
    return any(c not in _NUMBER_CHARS and c not in _UNIT_CHARS for c in words)


def _best3(matched: int, taken: int, skipped: int) -> tuple[int, int]:
    """The least of three state costs and its state (0 matched, 1 taken, 2 skipped); ties go
    to the earlier state."""
    if matched <= taken and matched <= skipped:
        return matched, 0
    if taken <= skipped:
        return taken, 1
    return skipped, 2
