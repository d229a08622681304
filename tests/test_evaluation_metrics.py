"""Metrics: binomial intervals, McNemar, confusion tallies, the per-segment table, NOvA flavours."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nuclassify.errors import NuclassifyError, UsageError
from nuclassify.evaluation import (
    FlavourTally,
    SegmentCounts,
    Tally,
    binomial_ci,
    compare_table,
    format_segment_table,
    mcnemar,
    mcnemar_counts,
    segment_rows,
    upstream_rule_z,
)
from nuclassify.evaluation._runner import ModelEvaluation


def test_wilson_interval_matches_textbook_value():
    # Wilson 95% for 81/263 (Newcombe 1998, example): 0.2553 - 0.3662
    lo, hi = binomial_ci(81, 263)
    assert lo == pytest.approx(0.2553, abs=2e-4)
    assert hi == pytest.approx(0.3662, abs=2e-4)


def test_clopper_pearson_matches_beta_quantiles_and_edges():
    lo, hi = binomial_ci(7, 20, method="clopper-pearson")
    assert lo == pytest.approx(stats.beta.ppf(0.025, 7, 14))
    assert hi == pytest.approx(stats.beta.ppf(0.975, 8, 13))
    assert binomial_ci(0, 10, method="clopper-pearson")[0] == 0.0
    assert binomial_ci(10, 10, method="clopper-pearson")[1] == 1.0
    assert all(np.isnan(binomial_ci(0, 0)))


def test_wilson_covers_close_to_nominal():
    rng = np.random.default_rng(0)
    p, n = 0.94, 200
    ks = rng.binomial(n, p, 2000)
    cover = np.mean([lo <= p <= hi for lo, hi in (binomial_ci(int(k), n) for k in ks)])
    assert 0.93 <= cover <= 0.97


def test_mcnemar_exact_for_few_discordant_pairs():
    a = np.array([1] * 8 + [0] * 2 + [1] * 50, bool)
    b = np.array([0] * 8 + [1] * 2 + [1] * 50, bool)
    res = mcnemar(a, b)
    assert (res.b, res.c, res.method) == (8, 2, "exact")
    assert res.p_value == pytest.approx(stats.binomtest(2, 10, 0.5).pvalue)
    assert res.p_value == pytest.approx(0.109375)


def test_mcnemar_chi2_with_continuity_correction():
    res = mcnemar_counts(40, 20)
    stat = (abs(40 - 20) - 1) ** 2 / 60
    assert res.method == "chi2"
    assert res.statistic == pytest.approx(stat)
    assert res.p_value == pytest.approx(stats.chi2.sf(stat, 1))
    assert res.p_value == pytest.approx(0.01417, abs=1e-4)
    assert mcnemar_counts(0, 0).p_value == 1.0


def test_mcnemar_rejects_unpaired_lengths():
    with pytest.raises(UsageError, match="differ in length"):
        mcnemar(np.ones(3, bool), np.ones(4, bool))


def test_bad_arguments_raise_the_projects_one_line_errors():
    # Library misuse is a UsageError (a NuclassifyError: the CLI prints it as one line), not a bare ValueError.
    for call in (lambda: binomial_ci(5, 3), lambda: binomial_ci(1, 3, method="bayes")):
        with pytest.raises(UsageError) as info:
            call()
        assert isinstance(info.value, NuclassifyError) and "\n" not in str(info.value)
    views = {"x": np.zeros((1, 127, 10, 2))}
    with pytest.raises(UsageError, match="one z array per view"):
        upstream_rule_z(views, [np.zeros(10), np.zeros(5)])
    with pytest.raises(UsageError, match="10 columns but 9 z values"):
        upstream_rule_z(views, [np.zeros(9)])


def test_tally_accumulates_batches_and_per_class():
    t = Tally(3)
    t.update([0, 0, 1], [0, 1, 1])
    t.update([2, 2, 1], [2, 0, 1])
    assert t.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert t.accuracy == pytest.approx(4 / 6)
    pc = t.per_class(["a", "b", "c"])
    assert pc[0]["precision"] == pytest.approx(0.5) and pc[0]["recall"] == pytest.approx(0.5)
    assert pc[1]["precision"] == pytest.approx(2 / 3) and pc[1]["recall"] == 1.0
    assert pc[2]["precision"] == 1.0 and pc[2]["recall"] == pytest.approx(0.5)
    empty = Tally(2)
    empty.update([0], [0])
    assert empty.per_class()[1]["precision"] is None  # never predicted, no support


def test_segment_table_in_z_order_with_better_marked():
    model, base = SegmentCounts(), SegmentCounts()
    y = np.repeat(np.arange(11), 10)
    model.update(y, np.tile(np.arange(10) < 9, 11))  # 90% everywhere
    ok_base = np.tile(np.arange(10) < 9, 11)
    ok_base[y == 3] = True  # baseline 100% in segment 3
    ok_base[y == 9] = np.arange(10) < 5  # 50% in segment 9
    base.update(y, ok_base)
    rows = segment_rows(model, base)
    assert [r["segment"] for r in rows] == [0, 1, 6, 2, 7, 3, 8, 4, 9, 5, 10]
    by_seg = {r["segment"]: r for r in rows}
    assert by_seg[3]["better"] == "baseline" and by_seg[9]["better"] == "model" and by_seg[0]["better"] == "tie"
    assert by_seg[6]["target"] is None and by_seg[5]["target"] == 5
    text = format_segment_table(rows, "cnn", "trackfit").splitlines()
    seg_lines = {int(line.split()[0]): line for line in text[2:13]}
    assert list(seg_lines) == [0, 1, 6, 2, 7, 3, 8, 4, 9, 5, 10]
    assert seg_lines[6].split()[1] == "-"
    assert "100.0% *" in seg_lines[3] and "90.0% *" in seg_lines[9]
    assert "*" not in seg_lines[0]


def test_flavour_tally_efficiency_purity_and_curve():
    names = ["numu CC", "nue CC", "nutau CC", "NC"]
    tally = FlavourTally(names, score_cut=0.7)
    y = np.array([1, 1, 1, 0, 3])  # three nue, one numu, one NC
    p = np.array([[0.1, 0.8, 0.05, 0.05], [0.2, 0.6, 0.1, 0.1], [0.7, 0.2, 0.05, 0.05],
                  [0.1, 0.75, 0.1, 0.05], [0.0, 0.1, 0.0, 0.9]])
    tally.update(y, p)
    s = tally.summary()
    assert s["nue_cc"]["n"] == 3
    assert s["nue_cc"]["argmax"]["efficiency"] == pytest.approx(2 / 3)
    assert s["nue_cc"]["argmax"]["purity"] == pytest.approx(2 / 3)
    assert s["nue_cc"]["cut"]["efficiency"] == pytest.approx(1 / 3)  # only the 0.8 passes 0.7
    assert s["nue_cc"]["cut"]["purity"] == pytest.approx(1 / 2)
    curve = tally.curves()["nue_cc"]
    assert curve["efficiency"][0] == 1.0 and curve["purity"][0] == pytest.approx(3 / 5)


def test_sixteen_code_scheme_groups_subclasses():
    tally = FlavourTally([f"code {i}" for i in range(16)])
    assert tally.groups["numu_cc"] == [0, 1, 2, 3] and tally.groups["nue_cc"] == [4, 5, 6, 7]
    assert tally.groups["nc"] == [13]


def _ev(name, correct):
    t = Tally(2)
    correct = np.asarray(correct, bool)
    t.update(np.zeros(len(correct), int), np.where(correct, 0, 1))
    return ModelEvaluation(name, ("a", "b"), t, correct)


def test_compare_table_tests_each_model_against_the_best():
    rng = np.random.default_rng(4)
    a = rng.random(400) < 0.95
    b = a.copy()
    b[:60] = False  # clearly worse
    c = a.copy()
    c[a][:3] = False
    rows = compare_table([_ev("b", b), _ev("a", a), _ev("c", c)])
    best = [r for r in rows if r["best"]]
    assert len(best) == 1 and best[0]["model"] in ("a", "c")
    row_b = next(r for r in rows if r["model"] == "b")
    assert row_b["p_value"] < 1e-6 and row_b["vs"] == best[0]["model"]
    assert row_b["p_value"] == pytest.approx(mcnemar(a, b).p_value)


def test_the_upstream_rule_as_a_model_calls_what_the_rule_calls():
    """UpstreamRule (``--model upstream``): its probabilities' argmax is the rule's segment, an event
    with nothing active goes downstream of target 5 as the rule says, z is the rule's, and
    non-MINERvA views are refused by name."""
    from nuclassify.detector import minerva
    from nuclassify.evaluation import upstream_rule_segments
    from nuclassify.evaluation.upstream_rule import UpstreamRule

    shapes = {"x": (127, 94, 2), "u": (127, 47, 2), "v": (127, 47, 2)}
    rng = np.random.default_rng(5)
    views = [np.zeros((12,) + shapes[v], np.float32) for v in "xuv"]
    for i in range(11):  # a straight track from a different plane in each event; event 11 stays empty
        first = 4 + 7 * i
        views[0][i, 60, first:first + 20, 0] = rng.uniform(2, 4, 20)
        views[1][i, 60, first // 2:first // 2 + 10, 0] = 3.0
        views[2][i, 60, first // 2:first // 2 + 10, 0] = 3.0
    rule = UpstreamRule(["x", "u", "v"], shapes)
    result = rule.predict(views)
    view_z = [minerva.view_plane_z(v, shapes[v][1]) for v in "xuv"]
    expected = upstream_rule_segments(views, view_z)
    assert np.array_equal(result.segment, expected) and np.array_equal(result.probabilities.argmax(axis=1), expected)
    assert len(set(expected[:11].tolist())) >= 4  # the events span several segments
    assert expected[11] == 10 and np.isnan(result.z[11]) and np.all(np.isfinite(result.z[:11]))
    assert np.allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert result.probabilities.max() < 0.95  # the floor: a module's miss is never ruled out
    with pytest.raises(UsageError, match="x/u/v"):
        UpstreamRule(["xz", "yz"], [(100, 80, 1), (100, 80, 1)])


def test_segment_comparison_pairs_each_model_with_the_reference_per_segment():
    from nuclassify.evaluation._segments import format_segment_compare, segment_compare_rows

    y = np.repeat(np.arange(11), 20)
    a, b = SegmentCounts(), SegmentCounts()
    ok_a = np.ones(len(y), bool)
    ok_b = np.ones(len(y), bool)
    ok_b[(y == 0)] = np.arange(20) < 8  # b misses 12 of segment 0's 20 events: p = 2 x 0.5^12
    ok_a[(y == 8)] = np.arange(20) < 15
    for counts, ok in ((a, ok_a), (b, ok_b)):
        counts.update(y[:100], ok[:100])  # in two batches, as the runner streams them
        counts.update(y[100:], ok[100:])
    rows = segment_compare_rows(["a", "b"], [a, b], [ok_a, ok_b], reference=0)
    by_seg = {row["segment"]: row for row in rows}
    assert [row["segment"] for row in rows] == [0, 1, 6, 2, 7, 3, 8, 4, 9, 5, 10]
    assert by_seg[0]["accuracy"] == {"a": 1.0, "b": 0.4}
    assert by_seg[0]["p_value"]["b"] == pytest.approx(2 * 0.5 ** 12)
    assert by_seg[8]["accuracy"]["a"] == 0.75 and by_seg[8]["p_value"]["b"] == pytest.approx(2 * 0.5 ** 5)
    assert by_seg[3]["p_value"]["b"] == 1.0 and "a" not in by_seg[3]["p_value"]
    text = format_segment_compare(rows)
    assert "40.0% (5e-04)" in text and "against a" in text.splitlines()[-1]
