from __future__ import annotations

import json

import pytest

from conftest import make_tiny
from reptune.compare import CompareConfig, conditions, run_compare
from reptune.errors import ReptuneError


def tiny_config(**overrides) -> CompareConfig:
    base = dict(
        quick=True,
        tune={"steps": 2, "batch_size": 4},
        capability_items=4,
        replies=2,
        reply_tokens=4,
    )
    return CompareConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    return out, run_compare(
        out, tiny_config(), load=lambda _: make_tiny("llama"), progress=False, log=lambda _: None
    )


def test_every_condition_is_measured_beside_its_random_control(results):
    _, r = results
    names = set(r["conditions"])
    for name in ("steered +v", "steered -v", "rep-tuned +v", "rep-tuned -v"):
        assert name in names and f"{name} (random)" in names
    assert {"untuned", "token-tuned +", "token-tuned -"} <= names
    assert [e["condition"] for e in r["specific_effects"]] == [
        "steered +v", "steered -v", "rep-tuned +v", "rep-tuned -v",
    ]  # fmt: skip


def test_held_out_categories_are_not_in_training_and_are_scored(results):
    _, r = results
    held_out = r["holdout_categories"]
    assert len(held_out) == 2
    for cond in r["conditions"].values():
        assert cond["held_out"]["n"] == r["conditions"]["untuned"]["held_out"]["n"] > 0
        assert (
            0
            <= cond["held_out"]["honest_rate"]["low"]
            <= cond["held_out"]["honest_rate"]["high"]
            <= 1
        )


def test_untuned_costs_nothing_and_interventions_cost_something(results):
    _, r = results
    assert r["conditions"]["untuned"]["kl"] == 0.0
    assert r["conditions"]["untuned"]["held_out"]["lie_rate_vs_untuned_p"] == 1.0
    assert r["conditions"]["rep-tuned -v"]["kl"] > 0
    assert r["conditions"]["steered +v"]["kl"] > 0


def test_results_json_has_training_logs_robustness_and_a_summary(results):
    out, r = results
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["summary"] == r["summary"] and r["summary"]
    assert set(r["training"]) == {
        n for n, c in r["conditions"].items() if c["kind"].endswith("-tuned")
    }
    assert set(r["robustness"]) == {
        "rep-tuned +v",
        "rep-tuned -v",
        "token-tuned +",
        "token-tuned -",
    }
    assert not (out / "models").exists()  # tuned models are dropped unless kept


def test_no_controls_runs_only_the_papers_conditions():
    names = [c.name for c in conditions(tiny_config(controls=False))]
    assert not any("random" in n for n in names) and len(names) == 7


def test_bad_compare_options_are_refused():
    with pytest.raises(ReptuneError, match="--behavior"):
        CompareConfig(behavior="humour")
    with pytest.raises(ReptuneError, match="--multiplier"):
        CompareConfig(multiplier=float("nan"))


def test_a_judge_endpoint_scores_every_condition_against_untuned(tmp_path):
    from test_judge import completion, serve

    for url in serve(lambda _prompt: completion("A")):
        config = tiny_config(controls=False, judge_url=url, judge_model="local")
        r = run_compare(
            tmp_path, config, load=lambda _: make_tiny("llama"), progress=False, log=lambda _: None
        )
    assert set(r["judge"]) == set(r["conditions"]) - {"untuned"}
    assert all(j["ties"]["value"] == 1.0 for j in r["judge"].values())  # position bias -> ties
    from reptune.report import write_report

    page = write_report(r, tmp_path)["html"].read_text()
    assert 'id="judge"' in page


def test_frontier_places_every_method_at_several_strengths_beside_its_control(results):
    _, r = results
    points = r["frontier"]["points"]
    steered = [p for p in points if p["method"] == "steered"]
    assert {(p["sign"], p["strength"]) for p in steered} == {
        (s, m) for s in (1, -1) for m in r["config"]["frontier_multipliers"]
    } | {(s, r["steering"]["multiplier"]) for s in (1, -1)}
    assert all(p["controlled"] for p in steered)
    for method, controlled in (("rep-tuned", True), ("token-tuned", False)):
        mine = [p for p in points if p["method"] == method]
        assert {p["strength"] for p in mine} == {1.0, 2.0}  # part-way and at the end
        assert all(p["controlled"] is controlled for p in mine)
    final = next(
        p for p in points if p["method"] == "rep-tuned" and p["sign"] == -1 and p["strength"] == 2
    )
    assert final["kl"] == r["conditions"]["rep-tuned -v"]["kl"]
    assert sum(line.startswith("Frontier toward") for line in r["summary"]) == 2
