"""`make bench` rewrites only its generated parts of bench/RESULTS.md."""

from __future__ import annotations

from bench.record import END, START, flatten, generated_block, rewrite, scale_section

HAND = (
    "# Benchmark results\n\nIntro.\n\n## Pricing\n\nHand-written table.\n\n"
    "## Scale\n\nold numbers\n\n## Reports\n\nMore.\n"
)
SCALE = {
    "duckdb workflow x day @10M": {"value": 0.25, "unit": "s", "baseline": 0.2, "ratio": 1.25, "runs": 5}
}


def test_rewrite_keeps_hand_written_sections_and_replaces_generated_ones() -> None:
    block = generated_block({"scale": SCALE, "pricing": {"events_per_s": 1.5e6}}, "now", {"cores": "2"}, {})
    once = rewrite(HAND, block, scale_section(SCALE))
    assert "Hand-written table." in once and "## Reports\n\nMore." in once
    assert "old numbers" not in once and "| duckdb workflow x day @10M | 0.25 | s | 0.2 | 1.25x | 5 |" in once
    assert "| pricing / events_per_s | 1,500,000 |" in once
    twice = rewrite(once, block.replace("now", "later"), scale_section(SCALE))
    assert twice.count(START) == 1 and twice.count(END) == 1 and "Last `make bench`: later" in twice
    assert twice.count("## Scale") == 1


def test_flatten_reads_nested_and_figure_dicts() -> None:
    rows = flatten("sdk", {"overhead": {"p50_us": 12.5, "p99_us": 40}, "ok": True, "ingest": SCALE})
    names = [r["name"] for r in rows]
    assert names == [
        "sdk / overhead / p50_us",
        "sdk / overhead / p99_us",
        "sdk / ingest / duckdb workflow x day @10M",
    ]
    assert rows[2]["ratio"] == 1.25
