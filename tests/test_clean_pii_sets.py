"""The eleven Korean chat sets written by someone who never saw the rules (who wrote them and how:
tests/data/pii_holdout11_README.md, pii_holdout10_README.md, pii_holdout9_README.md, pii_holdout8_README.md, pii_holdout7_README.md, pii_holdout6_README.md, pii_holdout5_README.md, pii_holdout4_README.md, pii_holdout3_README.md, pii_holdout2_README.md, pii_tuning2_README.md), one
table of figures each.

- holdout11 (tests/data/pii_holdout11_ko.jsonl): round 11's independent held-out set, scored once per system
  before and after round 11 (which tuned on set 10). Not tuned on, not in the tagger's training: held-out floors,
  the next round's tuning set.

- holdout10 (tests/data/pii_holdout10_ko.jsonl): round 10's independent held-out set, scored once per system
  before and after round 10 (which tuned on set 9); round 11 tuned the rules on it (not the tagger, which a
  retrain on sets 1-10 made worse elsewhere: tagger_train.py): floors in-sample for the rules.

- holdout9 (tests/data/pii_holdout9_ko.jsonl): round 9's independent held-out set, scored once per system before
  and after round 9 (which tuned on set 8); round 10 tuned on it and the tagger (sets 1-9, min_prob 0.8 as the
  cross-validation over sets 1-7 chose) is trained on it: floors in-sample.

- holdout8 (tests/data/pii_holdout8_ko.jsonl): round 8's independent held-out set, scored once per system before
  and after round 8 (which tuned on set 7); round 9 tuned on it and the tagger is trained on it: floors in-sample.

- holdout7 (tests/data/pii_holdout7_ko.jsonl): round 7's independent held-out set, scored once per system
  before and after round 7 (which tuned on set 6), then studied in round 8 (pii_anchored.py's roster, holder,
  door-code and Latin-name rules) and added to the tagger's training: a tuning set now, floors in-sample.

- holdout6 (tests/data/pii_holdout6_ko.jsonl): round 6's independent held-out set, written from the label
  definitions only, scored exactly once per system before anything was tuned on it (the rules, rules + the tagger
  of sets 1-4, rules + the tagger of sets 1-5). Round 7 studied its misses and false positives (the rules of
  clean/pii_anchored.py, spaced names with a context word, example and office numbers) and the tagger is trained
  on it, so it is a tuning set now; its floors are the round-7 in-sample figures, rounded down.

- holdout5 (tests/data/pii_holdout5_ko.jsonl): round 5's independent held-out set, written from the label
  definitions only while round 5 tuned on the other four, scored exactly twice as held out (before and after
  round 5: the rules alone, then rules + the tagger trained on sets 1-4). In round 6 the tagger is trained on it
  too, so it is a tuning set now; its floors are the rules + tagger (sets 1-5) in-sample figures, rounded down.

- holdout4 (tests/data/pii_holdout4_ko.jsonl): round 4's independent held-out set, written from the label
  definitions only while round 4 tuned on the other three, never read by the tuner, scored exactly twice
  (before and after round 4). Its floors are the figures measured after round 4 on unseen text, rounded down.

- holdout3 (tests/data/pii_holdout3_ko.jsonl): round 3's independent held-out set, written from the label
  definitions only while round 3 tuned on the other two, scored twice as held out (before and after round 3);
  round 4 studied its misses and false positives, so it is a tuning set now (round 4's held-out set is
  holdout4). Its floors are the round-4 figures, rounded down.

- holdout2 (tests/data/pii_holdout2_ko.jsonl): the independent held-out set of round 2 of issue 17, measured
  once at the end of round 2 without being read; in round 3 its misses and false positives were studied and
  the rules improved on them, so it became a tuning set (round 3's held-out set lives outside the repository).
- tuning2 (tests/data/pii_tuning2_ko.jsonl): round 1's independent held-out set (recall 0.870, precision
  0.951, keep-rate 0.944 there), tuned on in rounds 2 and 3.

Since the learned second pass (clean.tagger, on by default) is trained on sets 1-9, the figures here are
rules + tagger in-sample and only floors; the tagger's held-out figures are leave-one-set-out ones
(python -m lora_lib.clean.tagger_train --cross-validate), the rules' held-out figures the ones recorded below.

The goal of issue 17 is recall >= 0.98 and precision >= 0.97 on text the rules never saw; these floors are
the tuning-set figures reached, rounded down to two places: a rule change that moves them must update them
knowingly.
"""

import pytest

from lora_lib.clean import pii_eval

SETS = {
    # Held out from round 11 (894 lines, 332 negatives), scored once per system before and after round 11. Before
    # (eaed796): rules 0.793 / 0.954 / 0.956 (NAME .748, PHONE .944, EMAIL .904, ADDRESS .741, HANDLE .766, ID .898,
    # USER .761); rules + tagger of sets 1-9 at 0.8 0.841 / 0.954 / 0.956 (NAME .789). After round 11: rules 0.806 /
    # 0.954; rules + tagger 0.851 (686/806) / 0.954 (732/767) / 0.956 (NAME .809, PHONE .978, EMAIL .962, ADDRESS
    # .879, HANDLE .830, ID .932, USER .761). ko-pii alone 0.360 / 0.722.
    "holdout11": dict(path=pii_eval.HOLDOUT11_SET, lines=894, negatives=332,
                      recall=0.85, precision=0.95, keep_rate=0.95,
                      per_kind={"NAME": 0.80, "PHONE": 0.97, "EMAIL": 0.96, "ADDRESS": 0.87, "HANDLE": 0.82,
                                "ID": 0.93, "USER": 0.76}),
    # Held out from round 10 (895 lines, 360 negatives), scored once per system before and after round 10. Before
    # (301d504): rules 0.824 / 0.944 / 0.971 (NAME .744, PHONE .960, EMAIL .980, ADDRESS .900, HANDLE .853, ID .877,
    # USER .868); rules + tagger of sets 1-8 at 0.6 0.875 / 0.927 / 0.959. After round 10: rules 0.824 / 0.944;
    # rules + tagger of sets 1-9 at 0.8 0.871 (635/729) / 0.939 (665/708) / 0.967 (NAME .804, PHONE .960, EMAIL 1, ADDRESS
    # .967, HANDLE .880, ID .954, USER .868). ko-pii alone 0.347 / 0.629. Round 10 gained no recall on it.
    # Tuned on in round 11 (the rules; rules + the same tagger, in-sample): 0.908 (662/729) / 0.942 (687/729) /
    # 0.967; NAME .877.
    "holdout10": dict(path=pii_eval.HOLDOUT10_SET, lines=895, negatives=360,
                      recall=0.90, precision=0.94, keep_rate=0.96,
                      per_kind={"NAME": 0.87, "PHONE": 0.96, "EMAIL": 1.0, "ADDRESS": 0.96, "HANDLE": 0.88,
                                "ID": 0.95, "USER": 0.86}),
    # Held out from round 9 (967 lines, 405 negatives), scored once per system before and after round 9. Before
    # (7ee9f77): rules 0.795 / 0.899 / 0.951 (NAME .753, PHONE .942, EMAIL .966, ADDRESS .827, HANDLE .814, ID .750,
    # USER .605); rules + tagger of sets 1-7 0.885 / 0.881 / 0.938. After round 9: rules 0.801 / 0.898 / 0.951;
    # rules + tagger of sets 1-8 0.903 (673/745) / 0.883 / 0.938 (NAME .892, PHONE .977, EMAIL .983, ADDRESS .942,
    # HANDLE .919, ID .912, USER .651). ko-pii alone 0.275 / 0.510.
    # Tuned on in round 10 (rules + tagger of sets 1-9 at 0.8, in-sample): 0.961 (716/745) / 0.914 (750/821) /
    # 0.951; NAME .957, PHONE .988, EMAIL 1, ADDRESS .962, HANDLE .942, ID .971, USER .907.
    "holdout9": dict(path=pii_eval.HOLDOUT9_SET, lines=967, negatives=405,
                     recall=0.96, precision=0.91, keep_rate=0.95,
                     per_kind={"NAME": 0.95, "PHONE": 0.98, "EMAIL": 1.0, "ADDRESS": 0.96, "HANDLE": 0.94,
                               "ID": 0.97, "USER": 0.90}),
    # Held out from round 8 (854 lines, 341 negatives), scored once per system before and after round 8. Before
    # (7ec6591): rules 0.712 / 0.918 / 0.936 (NAME .649, PHONE 1, EMAIL 1, ADDRESS .821, HANDLE .618, ID .491, USER
    # .643); rules + tagger of sets 1-6 0.797 / 0.905 / 0.915. After round 8 (d152eec): rules 0.741 / 0.918 / 0.940;
    # rules + tagger of sets 1-7 0.825 (585/709) / 0.903 (630/698) / 0.913 (NAME .835, PHONE 1, EMAIL 1, ADDRESS .925, HANDLE
    # .697, ID .561, USER .643). ko-pii alone 0.265 / 0.570.
    # Tuned on in round 9 (rules + tagger of sets 1-8, in-sample): 0.921 (653/709) / 0.931 / 0.940; NAME .938,
    # PHONE 1, EMAIL 1, ADDRESS 1, HANDLE .934, ID .579 (set 8 writes the bank's name inside an account's span;
    # the rules leave it, it names no one: the digits are masked), USER .857.
    "holdout8": dict(path=pii_eval.HOLDOUT8_SET, lines=854, negatives=341,
                     recall=0.92, precision=0.93, keep_rate=0.94,
                     per_kind={"NAME": 0.93, "PHONE": 1.0, "EMAIL": 1.0, "ADDRESS": 1.0, "HANDLE": 0.93,
                               "ID": 0.57, "USER": 0.85}),
    # Held out from round 7 (920 lines, 378 negatives), scored once per system before and after round 7 (tuned on
    # set 6). Before (30384e6): rules 0.742 / 0.946 / 0.972 (NAME .695, PHONE .983, EMAIL .922, ADDRESS .627, HANDLE
    # .733, ID .788, USER .628); rules + tagger of sets 1-5 0.833 / 0.935 / 0.962. After round 7 (7ec6591): rules
    # 0.772 / 0.958 / 0.980; rules + tagger of sets 1-6 0.859 / 0.945 / 0.969 (NAME .825, PHONE 1, EMAIL 1, ADDRESS
    # .784, HANDLE .853, ID .970, USER .674). ko-pii alone 0.275 / 0.567. Tuned on in round 8: rules 0.886 / 0.966,
    # rules + tagger of sets 1-7 0.950 (626/659) / 0.967 (634/656) / 0.982; NAME .959, PHONE 1, EMAIL 1, ADDRESS 1,
    # HANDLE .947, ID 1, USER .628.
    "holdout7": dict(path=pii_eval.HOLDOUT7_SET, lines=920, negatives=378,
                     recall=0.94, precision=0.96, keep_rate=0.98,
                     per_kind={"NAME": 0.95, "PHONE": 1.0, "EMAIL": 1.0, "ADDRESS": 1.0, "HANDLE": 0.94,
                               "ID": 1.0, "USER": 0.62}),
    # Held out from round 6 (812 lines, 364 negatives), scored once per system before round 7: rules alone (main
    # 93d6ebf) recall 0.765, precision 0.928, keep-rate 0.942 (NAME .743, PHONE .879, EMAIL .913, ADDRESS .681,
    # HANDLE .702, ID .741, USER .780); rules + tagger of sets 1-4 (b453059) 0.844 / 0.920 / 0.932; rules + tagger
    # of sets 1-5 (93d6ebf) 0.850 / 0.920 / 0.930 (NAME .841, PHONE .924, EMAIL .935, ADDRESS .830, HANDLE .821, ID
    # .828, USER .780); ko-pii alone 0.280 / 0.611. Tuned on in round 7: rules alone 0.855 / 0.952, rules + tagger
    # of sets 1-6 0.955 (533/558) / 0.957 (553/578) / 0.960; NAME .936, PHONE .955, EMAIL 1, ADDRESS .979, HANDLE
    # .955, ID .983, USER .951.
    "holdout6": dict(path=pii_eval.HOLDOUT6_SET, lines=812, negatives=364,
                     recall=0.95, precision=0.95, keep_rate=0.95,
                     per_kind={"NAME": 0.93, "PHONE": 0.95, "EMAIL": 1.0, "ADDRESS": 0.97, "HANDLE": 0.95,
                               "ID": 0.98, "USER": 0.95}),
    # Held out from round 5 (683 lines, 270 negatives). Rules alone before round 5 (main 9b6c604): recall 0.831,
    # precision 0.964, keep-rate 0.939; NAME .794, PHONE .961, EMAIL .939, ADDRESS .906, HANDLE .736, ID .885, USER
    # .700. Rules + tagger (sets 1-4, fba0cb0), held out: 0.889 / 0.948 / 0.934; NAME .867, PHONE .980, EMAIL 1,
    # ADDRESS .981, HANDLE .792, ID .942, USER .700. ko-pii alone: 0.352 / 0.613. In-sample with the tagger trained
    # on sets 1-5 (round 6): recall 0.957 (508/531), precision 0.969 (522/539), keep-rate 0.939 (781/832); NAME .979,
    # PHONE 1, EMAIL 1, ADDRESS .981, HANDLE .925, ID .981, USER .700.
    # (round 10, tagger of sets 1-9 at min_prob 0.8: NAME .966)
    "holdout5": dict(path=pii_eval.HOLDOUT5_SET, lines=683, negatives=270,
                     recall=0.95, precision=0.96, keep_rate=0.93,
                     per_kind={"NAME": 0.96, "PHONE": 1.0, "EMAIL": 1.0, "ADDRESS": 0.98, "HANDLE": 0.92,
                               "ID": 0.98, "USER": 0.70}),
    # Held out from round 4. Before round 4 (main after round 3, 4e5b27e): recall 0.824 (421/511), precision 0.952
    # (436/458), keep-rate 0.919; NAME 174/222, PHONE 47/52, EMAIL 44/49, ADDRESS 37/48, HANDLE 40/48, ID 43/49,
    # USER 36/43. After round 4 (pii4 at 5957568): recall 0.834 (426/511), precision 0.957 (440/460), keep-rate
    # 0.921; NAME 183/222 (.824), USER 32/43 (.744: four fewer than before, round 4's narrower nickname
    # endings), every other kind unchanged. ko-pii alone: 0.346 / 0.687 / 0.886. The goal (0.98 / 0.97 on unseen
    # text) is not reached: round 4 reached 0.923 / 0.994 on the set it tuned on (holdout3), +0.01 here.
    "holdout4": dict(path=pii_eval.HOLDOUT_SET, lines=691, negatives=246,
                     recall=0.83, precision=0.95, keep_rate=0.92,
                     per_kind={"NAME": 0.82, "PHONE": 0.90, "EMAIL": 0.89, "ADDRESS": 0.77, "HANDLE": 0.83,
                               "ID": 0.87, "USER": 0.74}),
    # Held out from round 3, a tuning set since round 4 (branch pii4). Before round 3 (main at 17b24b8): recall
    # 0.819, precision 0.946, keep-rate 0.961; NAME .757, PHONE .918, EMAIL .952, ADDRESS .756, HANDLE .792, ID .875,
    # USER .929. After round 3 (held out, pii3 at d7760d7): recall 0.874, precision 0.950, keep-rate 0.961; NAME .807
    # (176/218), PHONE .918, EMAIL .952, ADDRESS .933, HANDLE .917, ID .896, USER .952; precision NAME 182/190, USER
    # 42/51, EMAIL 42/45. After round 4 (tuned on, pii4 at c3812d4): recall 0.923 (454/492), precision 0.994 (464/467),
    # keep-rate 0.996 (463/465); NAME .917 (200/218), PHONE .918, EMAIL .952, ADDRESS .933, HANDLE .917, ID .896, USER
    # .952; precision NAME 208/209, USER 42/43, EMAIL 42/42. ko-pii alone: 0.321 / 0.728 / 0.946. The goal is not reached.
    "holdout3": dict(path=pii_eval.HOLDOUT3_SET, lines=722, negatives=279,
                     recall=0.92, precision=0.99, keep_rate=0.99,
                     per_kind={"NAME": 0.91, "PHONE": 0.91, "EMAIL": 0.95, "ADDRESS": 0.93, "HANDLE": 0.91,
                               "ID": 0.89, "USER": 0.95}),
    # Tuning-set floors since round 3 (branch pii3): recall 0.958 (484/505), precision 0.992 (507/511),
    # keep-rate 0.997 (680/682); by kind NAME .919 (193/210), PHONE 1 (64/64), EMAIL .978 (44/45), ADDRESS 1 (42/42),
    # HANDLE .979 (46/47), ID 1 (52/52), USER .956 (43/45). Before round 3 (held out, measured once after round 2):
    # recall 0.782, precision 0.949, keep-rate 0.978; NAME .686, PHONE .922, EMAIL .978, ADDRESS .786, HANDLE .766,
    # ID .885, USER .733. ko-pii alone: 0.329 / 0.766. After round 4: recall 0.960 (485/505), precision 0.994
    # (508/511), keep-rate 0.999; NAME .924 (194/210), other kinds as after round 3.
    "holdout2": dict(path=pii_eval.HOLDOUT2_SET, lines=658, negatives=223,
                     recall=0.95, precision=0.99, keep_rate=0.99,
                     per_kind={"NAME": 0.91, "PHONE": 1.0, "EMAIL": 0.97, "ADDRESS": 1.0, "HANDLE": 0.97,
                               "ID": 1.0, "USER": 0.95}),
    # Tuning-set floors since round 3: recall 0.992 (396/399), precision 0.993 (406/409), keep-rate 0.966
    # (623/645); by kind recall NAME .980 (145/148), every other kind 1. After round 2: 0.988 / 0.978 / 0.957.
    "tuning2": dict(path=pii_eval.TUNING2_SET, lines=603, negatives=236,
                    recall=0.99, precision=0.99, keep_rate=0.96,
                    per_kind={"NAME": 0.97, "PHONE": 1.0, "EMAIL": 1.0, "ADDRESS": 1.0, "HANDLE": 1.0, "ID": 1.0,
                              "USER": 1.0}),
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
