"""Budget edges: a budget that keeps nothing, and a token budget over a pool without
tokens, are one clear usage error (exit 2), however they are written."""

from __future__ import annotations


import pytest
from click.testing import CliRunner

from thresher.budget import Budget
from thresher.cli import main
from thresher.errors import UsageError
from tests.conftest import make_records, write_jsonl


@pytest.mark.parametrize("budget", [0, "0", "0%", "0 tokens", "0k", "0.0%"])
def test_a_budget_of_zero_is_a_usage_error_however_written(budget):
    with pytest.raises(UsageError, match="keeps nothing"):
        Budget.parse(budget)


@pytest.mark.parametrize("budget", ["0", "0%"])
def test_the_cli_refuses_a_zero_budget_and_writes_nothing(tmp_path, budget):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(30))
    out = tmp_path / "picked.jsonl"
    result = CliRunner().invoke(main, ["select", str(pool), "-b", budget, "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "keeps nothing" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_a_token_budget_on_a_pool_without_tokens_is_a_usage_error():
    with pytest.raises(UsageError, match="no tokens"):
        Budget.parse("1k tokens").resolve(50, total_tokens=0, replace=True)


def test_the_cli_does_not_draw_copies_of_empty_texts_for_a_token_budget(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", [{"text": " " * (i % 3)} for i in range(40)])
    out = tmp_path / "picked.jsonl"
    result = CliRunner().invoke(main, ["select", str(pool), "-b", "2M tokens", "--replace", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "no tokens" in result.output
    assert not out.exists()
