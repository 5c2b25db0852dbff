"""The throughput benchmark's bookkeeping: alternating order and the ratio of medians."""

from benchmarks.throughput import alternating, summarise


def test_pairs_alternate_their_order_so_a_drifting_cpu_weighs_on_both_sides():
    assert alternating(1) == ["plain", "kit"]
    assert alternating(3) == ["plain", "kit", "kit", "plain", "plain", "kit"]
    assert alternating(4).count("kit") == alternating(4).count("plain") == 4


def test_the_ratio_is_the_median_of_the_pairs_not_of_one_lucky_run():
    """Pair i is the i-th kit and the i-th plain run, made next to each other in time."""
    runs = {"plain": [{"samples_per_second": v} for v in (400.0, 300.0, 500.0)],
            "kit": [{"samples_per_second": v} for v in (380.0, 900.0, 200.0)]}
    row = summarise("digits", 10, runs)
    assert (row["kit_median"], row["plain_median"]) == (380.0, 400.0)
    assert row["pair_ratios"] == [0.95, 3.0, 0.4] and row["ratio"] == 0.95 and row["repeats"] == 3
