"""The independent held-out set of round 2 (tests/data/pii_holdout2_ko.jsonl; who wrote it and how:
tests/data/pii_holdout2_README.md). Written by someone who never saw the rules, the tests or the
earlier sets, and measured once, at the end of round 2, never used to tune: these are the figures
measured, asserted so that a change cannot lower them unnoticed. The goal of issue 17 is recall >= 0.98
and precision >= 0.97; what is asserted here is what the rules reached (well below the goal)."""

import pytest

from lora_lib.clean import pii_eval

# Measured once on branch pii2 (after round 2): recall 0.782 (395/505), precision 0.949 (429/452),
# keep-rate 0.978 (667/682). By kind recall: NAME .686 (144/210), PHONE .922 (59/64), EMAIL .978 (44/45),
# ADDRESS .786 (33/42), HANDLE .766 (36/47), ID .885 (46/52), USER .733 (33/45).
# Before round 2 (main at 3593476): recall 0.735, precision 0.939, keep-rate 0.974; by kind NAME .633,
# PHONE .844, EMAIL .956, ADDRESS .619, HANDLE .745, ID .885, USER .756. ko-pii alone: 0.329 / 0.766.
# Floors rounded down to two places; a rule change that moves them must update them knowingly.
MIN_RECALL, MIN_PRECISION, MIN_KEEP_RATE = 0.78, 0.94, 0.97
MIN_RECALL_PER_KIND = {"NAME": 0.68, "PHONE": 0.92, "EMAIL": 0.97, "ADDRESS": 0.78, "HANDLE": 0.76, "ID": 0.88,
                       "USER": 0.73}


@pytest.fixture(scope="module")
def result():
    return pii_eval.score_holdout(pii_eval.load_holdout(), pii_eval.ours_with_keep)


def test_the_holdout_is_the_independent_set():
    rows = pii_eval.load_holdout()
    assert len(rows) == 658 and sum(1 for r in rows if not r["pii"]) == 223
    assert {i["kind"] for r in rows for i in r["pii"]} == set(pii_eval.HOLDOUT_KINDS)


def test_overall_figures_on_the_holdout(result):
    overall = result["overall"]
    assert overall["recall"] >= MIN_RECALL, overall
    assert overall["precision"] >= MIN_PRECISION, overall
    assert result["keep"]["rate"] >= MIN_KEEP_RATE, result["keep"]


def test_recall_per_kind_on_the_holdout(result):
    for kind, floor in MIN_RECALL_PER_KIND.items():
        assert result["per_kind"][kind]["recall"] >= floor, (kind, result["per_kind"][kind])


def test_ours_beats_ko_pii_alone_on_the_holdout(result):
    base = pii_eval.score_holdout(pii_eval.load_holdout(), pii_eval.ko_pii_alone_holdout)
    assert result["overall"]["recall"] > base["overall"]["recall"]
    assert result["overall"]["precision"] > base["overall"]["precision"]
