"""The two Korean chat sets written by someone who never saw the rules (who wrote them and how:
tests/data/pii_holdout2_README.md, tests/data/pii_tuning2_README.md), one table of figures each.

- holdout2 (tests/data/pii_holdout2_ko.jsonl): the independent held-out set of round 2 of issue 17, never
  read and never used to tune, measured once at the end of round 2. The goal of issue 17 is recall >= 0.98
  and precision >= 0.97; what is asserted is what the rules reached (well below the goal).
- tuning2 (tests/data/pii_tuning2_ko.jsonl): round 1's independent held-out set (recall 0.870, precision
  0.951, keep-rate 0.944 there); in round 2 its misses and false positives were studied and the rules
  improved on them, so it is a tuning set now and its figures are a regression floor.

Floors are the measured figures rounded down to two places; a rule change that moves them must update
them knowingly.
"""

import pytest

from lora_lib.clean import pii_eval

SETS = {
    # Measured once on branch pii2 (after round 2): recall 0.782 (395/505), precision 0.949 (429/452),
    # keep-rate 0.978 (667/682). By kind recall: NAME .686 (144/210), PHONE .922 (59/64), EMAIL .978 (44/45),
    # ADDRESS .786 (33/42), HANDLE .766 (36/47), ID .885 (46/52), USER .733 (33/45).
    # Before round 2 (main at 3593476): recall 0.735, precision 0.939, keep-rate 0.974; by kind NAME .633,
    # PHONE .844, EMAIL .956, ADDRESS .619, HANDLE .745, ID .885, USER .756. ko-pii alone: 0.329 / 0.766.
    "holdout2": dict(path=pii_eval.HOLDOUT_SET, lines=658, negatives=223,
                     recall=0.78, precision=0.94, keep_rate=0.97,
                     per_kind={"NAME": 0.68, "PHONE": 0.92, "EMAIL": 0.97, "ADDRESS": 0.78, "HANDLE": 0.76,
                               "ID": 0.88, "USER": 0.73}),
    # Measured on branch pii2: recall 0.988 (394/399), precision 0.978 (404/413), keep-rate 0.957
    # (617/645); by kind recall NAME .973, PHONE 1, EMAIL 1, ADDRESS 1, HANDLE 1, ID 1, USER .971.
    "tuning2": dict(path=pii_eval.TUNING2_SET, lines=603, negatives=236,
                    recall=0.98, precision=0.97, keep_rate=0.95,
                    per_kind={"NAME": 0.97, "PHONE": 1.0, "EMAIL": 1.0, "ADDRESS": 1.0, "HANDLE": 1.0, "ID": 1.0,
                              "USER": 0.97}),
}


@pytest.fixture(scope="module", params=sorted(SETS))
def scored(request):
    spec = SETS[request.param]
    rows = pii_eval.load_holdout(spec["path"])
    return spec, rows, pii_eval.score_holdout(rows, pii_eval.ours_with_keep)


def test_the_set_is_the_one_written_independently(scored):
    spec, rows, _ = scored
    assert len(rows) == spec["lines"] and sum(1 for r in rows if not r["pii"]) == spec["negatives"]
    assert {i["kind"] for r in rows for i in r["pii"]} == set(pii_eval.HOLDOUT_KINDS)


def test_overall_figures(scored):
    spec, _, result = scored
    overall = result["overall"]
    assert overall["recall"] >= spec["recall"], overall
    assert overall["precision"] >= spec["precision"], overall
    assert result["keep"]["rate"] >= spec["keep_rate"], result["keep"]


def test_recall_per_kind(scored):
    spec, _, result = scored
    for kind, floor in spec["per_kind"].items():
        assert result["per_kind"][kind]["recall"] >= floor, (kind, result["per_kind"][kind])


def test_ours_beats_ko_pii_alone(scored):
    _, rows, result = scored
    base = pii_eval.score_holdout(rows, pii_eval.ko_pii_alone_holdout)
    assert result["overall"]["recall"] > base["overall"]["recall"]
    assert result["overall"]["precision"] > base["overall"]["precision"]
