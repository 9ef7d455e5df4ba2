"""tools/mutants.toml cannot rot silently: every mutant still names one exact line of today's code.

`./dev mutants` (slow, not in CI) applies them; this fast check fails as soon as an edit moves or
rewrites a guarded line, so the list is updated in the same change as the guard.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.mutants import ListError, load


def test_every_mutant_names_text_that_occurs_exactly_once_in_its_file() -> None:
    mutants = load()
    assert len(mutants) >= 19
    # The promises issue 29 found unguarded stay on the list.
    assert {
        "s3-guard-bucket",
        "s3-guard-double-slash",
        "consent-csrf-compared",
        "consent-membership-reread",
        "consent-tenant-active",
        "refresh-tenant-active",
        "refresh-scope-narrow-only",
    } <= {m.id for m in mutants}


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ('old = "return True"', "occurs 0 times"),
        ('old = "x = 1"', "occurs 2 times"),
    ],
)
def test_a_stale_or_ambiguous_entry_is_refused(tmp_path: Path, entry: str, says: str) -> None:
    (tmp_path / "code.py").write_text("x = 1\ny = 2\nx = 1\n")
    listing = tmp_path / "mutants.toml"
    listing.write_text(
        f'[[mutant]]\nid = "m"\nfile = "code.py"\n{entry}\nnew = "pass"\npromise = "p"\ntests = ["code.py"]\n'
    )
    with pytest.raises(ListError, match=says):
        load(listing, tmp_path)
