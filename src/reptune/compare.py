"""The paper's experiment on one model, with the controls the paper lacked.

Conditions: the untuned model; steering with ``+v`` / ``-v``; representation tuning toward ``+v`` /
``-v`` (projection plus the behaviour's token loss, as the paper's honesty- and dishonesty-tuned
models); token-only tuning toward each side (the paper's truth- and lie-tuned models). Each
direction-using condition runs beside a random-direction control of the same strength, layers,
steps and data, so the report can separate a specific effect from damage. Every condition is
scored on held-out categories (generalisation) and held-out items of the training categories,
priced by KL to the untuned model on chat text, perplexity and a capability check, and shown by a
few greedy replies. The output is one ``results.json``; :mod:`reptune.report` draws it.
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from ._config import YamlConfig
from ._io import write_json
from ._progress import progress_bar
from .behaviors import behavior as behavior_module
from .behaviors import general_knowledge, neutral
from .controls import describe_specificity, random_directions, specific_effect
from .data.schema import Item, Prompt
from .directions import DirectionSet, extract
from .errors import ReptuneError
from .evaluation.benchmarks import multiple_choice, perplexity
from .evaluation.frontier import Observations, frontier_sentences
from .evaluation.judge import Judge, pairwise
from .evaluation.likelihood import answer_margins, chat_kl, chat_texts
from .evaluation.quality import reply_quality
from .evaluation.sentiment import score_texts
from .evaluation.stats import fisher_exact, mean_interval
from .evaluation.suite import text_rates
from .evaluation.sweep import sweep
from .inspection import diff_models, trace
from .models import LoadedModel, load_model, parse_layers
from .steering import Steering, generate
from .tuning import TuneConfig, tune

RESULTS_FILE = "results.json"


@dataclass
class CompareConfig(YamlConfig):
    """What the comparison runs. ``quick`` shrinks every budget to fit 15 minutes on 2 CPU cores."""

    behavior: str = "honesty"
    holdout: list[str] = field(default_factory=list)  # categories never trained on; [] = last two
    method: str = "mean_diff"
    steer_layer: int | None = None  # None: the sweep's best fluent layer on validation items
    multiplier: float | None = None  # relative; None: the sweep's best fluent strength
    sweep_layers: str = "0.2-0.7"
    sweep_multipliers: list[float] = field(default_factory=lambda: [-0.5, -0.25, 0.25, 0.5])
    max_kl: float = 0.5
    tune: dict[str, Any] = field(default_factory=dict)  # TuneConfig overrides for every run
    token_weight: float = 0.01  # rep+token runs (the paper's /100)
    controls: bool = True
    robustness_multipliers: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5])
    frontier: bool = True  # effect versus KL of every method at several strengths
    frontier_multipliers: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.25, 0.5])
    frontier_points: int = 4  # evenly spaced observations per tuning run, the last at its end
    replies: int = 6  # greedy replies per condition, for the report and the degenerate check
    reply_tokens: int = 32
    capability_items: int = 0  # 0 = all built-in general-knowledge items
    perplexity_window: int = 1024
    perplexity_stride: int = 512
    keep_models: bool = False
    judge_url: str | None = None  # OpenAI-compatible endpoint: judge replies against untuned
    judge_model: str = ""
    judge_timeout: float = 60.0  # seconds per judge request
    seed: int = 0
    quick: bool = False

    def __post_init__(self) -> None:
        behavior_module(self.behavior)
        if self.quick:
            self.sweep_layers = "0.3,0.45,0.6"
            self.sweep_multipliers = [-0.25, 0.25]
            self.robustness_multipliers = [0.25, 0.5]
            self.frontier_multipliers = [0.1, 0.25, 0.5]
            self.frontier_points = 3
            self.replies = min(self.replies, 4)
            self.capability_items = self.capability_items or 48
            self.perplexity_window, self.perplexity_stride = 256, 192
            self.tune = {"steps": 30, "eval_every": 0, **self.tune}
        if self.multiplier is not None and not (math.isfinite(self.multiplier) and self.multiplier):
            raise ReptuneError(
                f"--multiplier must be a finite non-zero number, got {self.multiplier}"
            )
        if not (math.isfinite(self.judge_timeout) and self.judge_timeout > 0):
            raise ReptuneError(f"judge_timeout must be a positive number, got {self.judge_timeout}")
        if self.frontier_points < 1:
            raise ReptuneError(f"frontier_points must be at least 1, got {self.frontier_points}")
        if not all(math.isfinite(m) and m > 0 for m in self.frontier_multipliers):
            raise ReptuneError(
                f"frontier_multipliers must be finite positive strengths, got {self.frontier_multipliers}"
            )


@dataclass
class Condition:
    """One model variant: how it is made and what it is a control of."""

    name: str
    kind: str  # untuned | steered | rep-tuned | token-tuned
    sign: int = 0  # +1 toward v, -1 away, 0 untuned
    control: bool = False  # uses the random direction instead of v
    description: str = ""


@dataclass
class EvalSets:
    in_dist: list[Item]
    held_out: list[Item]
    kl_texts: list[str]
    reply_prompts: list[Prompt]
    ppl_text: str
    capability: list[Any]


def _holdout(config: CompareConfig, module: Any) -> list[str]:
    return list(config.holdout) or list(module.CATEGORIES[-2:])


def _eval_sets(lm: LoadedModel, config: CompareConfig, module: Any, holdout: list[str]) -> EvalSets:
    test = module.items("test", holdout, config.seed)
    held_out = [i for i in test if i.category in holdout]
    in_dist = [i for i in test if i.category not in holdout]
    neutral_prompts = neutral.prompts()
    reply_prompts = [Prompt(user=i.question) for i in held_out[: config.replies]]
    # KL is read where tuning acts: chat prompts with replies, on behaviour items and neutral chat.
    kl_items = held_out if config.quick else held_out + in_dist
    kl_texts = chat_texts(lm, kl_items) + [lm.render(p) for p in neutral_prompts]
    passages = general_knowledge.PASSAGES[:3] if config.quick else general_knowledge.PASSAGES
    capability = general_knowledge.items()
    if config.capability_items:
        capability = capability[:: max(1, len(capability) // config.capability_items)][
            : config.capability_items
        ]
    return EvalSets(
        in_dist, held_out, kl_texts, reply_prompts, "\n\n".join(passages), list(capability)
    )


def evaluate_condition(
    lm: LoadedModel,
    sets: EvalSets,
    config: CompareConfig,
    *steerings: Steering,
    reference: LoadedModel | None = None,
    untuned: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every measure of one condition: behaviour rates, cost and replies."""
    result: dict[str, Any] = {}
    for key, items in (("held_out", sets.held_out), ("in_distribution", sets.in_dist)):
        right = [m > 0 for m in untuned[key]["margins"]] if untuned else None
        result[key] = text_rates(answer_margins(lm, items, *steerings), right)
    is_base = not steerings and reference is None
    result["kl"] = 0.0 if is_base else chat_kl(lm, sets.kl_texts, *steerings, reference=reference)
    ppl = perplexity(
        lm,
        sets.ppl_text,
        *steerings,
        window=config.perplexity_window,
        stride=config.perplexity_stride,
    )
    result["perplexity"] = ppl["perplexity"]
    result["capability"] = multiple_choice(lm, sets.capability, *steerings)["accuracy"]
    replies = generate(
        lm, sets.reply_prompts, *steerings, max_new_tokens=config.reply_tokens, batch_size=8
    )
    result["replies"] = [
        {"prompt": p.user, "reply": r} for p, r in zip(sets.reply_prompts, replies, strict=True)
    ]
    result["quality"] = reply_quality(replies)
    if config.behavior == "sentiment":
        result["reply_sentiment"] = mean_interval(score_texts(replies)).to_dict()
    return result


def conditions(config: CompareConfig) -> list[Condition]:
    """The experiment's conditions in report order."""
    out = [Condition("untuned", "untuned", description="the original model")]
    for kind, label in (("steered", "steered"), ("rep-tuned", "representation-tuned")):
        for sign in (+1, -1):
            arrow = "+v" if sign > 0 else "-v"
            out.append(
                Condition(f"{kind} {arrow}", kind, sign, description=f"{label} toward {arrow}")
            )
            if config.controls:
                out.append(
                    Condition(
                        f"{kind} {arrow} (random)",
                        kind,
                        sign,
                        control=True,
                        description=f"{label} toward a random direction, as the control of {arrow}",
                    )
                )
    for sign, label in ((+1, "toward the + side"), (-1, "toward the - side")):
        name = "token-tuned +" if sign > 0 else "token-tuned -"
        out.append(Condition(name, "token-tuned", sign, description=f"token loss only, {label}"))
    return out


def _tune_config(config: CompareConfig, condition: Condition) -> TuneConfig:
    mode = "token" if condition.kind == "token-tuned" else "rep+token"
    weight = 1.0 if mode == "token" else config.token_weight
    base = {"mode": mode, "token_weight": weight, "seed": config.seed, **config.tune}
    base["toward"] = "+" if condition.sign > 0 else "-"
    return TuneConfig.from_dict(base, "compare.tune")


def run_compare(
    out: str | Path,
    config: CompareConfig,
    model: str | None = None,
    directions: DirectionSet | None = None,
    load: Callable[[str | None], LoadedModel] = load_model,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every condition and write ``OUT/results.json``; returns the results."""
    out = Path(out)
    if (out / RESULTS_FILE).exists() and not overwrite:
        raise ReptuneError(f"{out / RESULTS_FILE} already exists (pass --overwrite to replace it)")
    judge = None
    if config.judge_url:
        judge = Judge(
            config.judge_url, config.judge_model, JUDGE_QUALITY[config.behavior],
            timeout=config.judge_timeout,
        )  # fmt: skip
        judge.check()  # a dead or confused judge fails now, not after the whole comparison
    started = time.perf_counter()
    module = behavior_module(config.behavior)
    holdout = _holdout(config, module)
    base = load(model)
    if directions is None:
        log(f"extracting {config.behavior} directions ({config.method})")
        directions = extract(
            base,
            module.pairs("train", holdout, config.seed),
            module.pairs("validation", holdout, config.seed),
            method=config.method,
            behaviour=config.behavior,
            progress=progress,
        )
    directions.check_compatible(base)
    control = random_directions(directions, config.seed)
    sets = _eval_sets(base, config, module, holdout)
    validation_items = module.items("validation", holdout, config.seed)

    sweep_layers = parse_layers(config.sweep_layers, base.num_layers, "--sweep-layers")
    sweep_layers = [layer for layer in sweep_layers if layer in directions.layers]
    log(f"steering sweep on {len(validation_items)} validation items, layers {sweep_layers}")
    swept = sweep(
        base, directions, validation_items, sweep_layers, config.sweep_multipliers,
        config.max_kl, progress=progress,
    )  # fmt: skip
    best = swept.best
    layer = (
        config.steer_layer
        if config.steer_layer is not None
        else (best.layer if best else directions.best_layer())
    )
    strength = abs(config.multiplier or (best.multiplier if best else 0.25))
    log(f"steering layer {layer}, relative strength {strength}")

    results: dict[str, Any] = {
        "format": "reptune.compare/1",
        "reptune_version": __version__,
        "model": base.name,
        "behavior": config.behavior,
        "config": asdict(config),
        "holdout_categories": holdout,
        "n_train_examples": len(
            module.tuning_examples("train", "+", "answer", holdout, config.seed)
        ),
        "directions": {
            "method": directions.method,
            "layers": list(directions.layers),
            "accuracy": directions.accuracy.tolist() if directions.accuracy is not None else None,
            "norms": directions.norms.tolist(),
            "best_layer": directions.best_layer() if directions.accuracy is not None else None,
        },
        "sweep": swept.to_dict(),
        "steering": {"layer": layer, "multiplier": strength, "relative": True},
        "conditions": {},
        "training": {},
        "robustness": {},
        "traces": {},
        "weight_diffs": {},
    }
    untuned: dict[str, Any] | None = None
    observed: Observations | None = None
    work = out / "models"
    plan = conditions(config)
    for number, condition in enumerate(plan, 1):
        log(f"[{number}/{len(plan)}] {condition.name}: {condition.description}")
        condition_started = time.perf_counter()
        chosen = control if condition.control else directions
        if condition.kind in ("untuned", "steered"):
            steerings = (
                (Steering(chosen, (layer,), condition.sign * strength),)
                if condition.kind == "steered"
                else ()
            )
            measured = evaluate_condition(base, sets, config, *steerings, untuned=untuned)
            _inspect(results, condition.name, base, directions, measured, *steerings)
            if condition.kind == "untuned":
                untuned = measured
                observed = Observations(measured["held_out"]["margins"])
            elif observed is not None:
                observed.add(condition.kind, condition.sign, condition.control, strength,
                             measured["held_out"]["margins"], measured["kl"])  # fmt: skip
        else:
            tuned = load(model)
            cfg = _tune_config(config, condition)
            train = module.tuning_examples(
                "train", cfg.toward, cfg.token_target, holdout, config.seed
            )
            val = module.tuning_examples(
                "validation", cfg.toward, cfg.token_target, holdout, config.seed
            )
            target = work / condition.name.replace(" ", "_").replace("(", "").replace(")", "")
            observe = (
                _observer(observed, condition, cfg.steps, config.frontier_points, tuned, base, sets)
                if config.frontier and observed is not None
                else None
            )
            run = tune(
                tuned, chosen, train, cfg, target, val, neutral.prompts(),
                overwrite=True, progress=progress, on_step=observe,
            )  # fmt: skip
            results["training"][condition.name] = {
                "config": cfg.to_dict(),
                "log": _read_log(target / "train_log.jsonl"),
                "seconds_per_step": run.seconds_per_step,
                "seconds": run.seconds,
                "validation": run.validation,
            }
            measured = evaluate_condition(tuned, sets, config, reference=base, untuned=untuned)
            _inspect(results, condition.name, tuned, directions, measured)
            results["weight_diffs"][condition.name] = diff_models(base, tuned, chosen).to_dict()
            if observed is not None:
                observed.add(condition.kind, condition.sign, condition.control, run.steps,
                             measured["held_out"]["margins"], measured["kl"])  # fmt: skip
            if not condition.control:
                results["robustness"][condition.name] = _robustness(
                    tuned, directions, sets, config, layer, condition.sign
                )
            if not config.keep_models:
                shutil.rmtree(target, ignore_errors=True)
            del tuned
            gc.collect()
        seconds = time.perf_counter() - condition_started
        results["conditions"][condition.name] = {
            **asdict(condition),
            **measured,
            "seconds": seconds,
        }
    if config.frontier and observed is not None:
        _steering_frontier(observed, base, directions, control, sets, config, layer, progress)
        results["frontier"] = {
            "layer": layer,
            "max_kl": config.max_kl,
            "measure": "answer-text margin on held-out categories",
            "points": observed.points(),
        }
    if not config.keep_models and work.exists() and not any(work.iterdir()):
        work.rmdir()
    if judge is not None:
        results["judge"] = judge_replies(judge, results)
    add_significance(results)
    results["specific_effects"] = specific_effects(results)
    results["summary"] = summarise(results)
    results["seconds"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RESULTS_FILE, results)
    return results


def _observer(
    observed: Observations,
    condition: Condition,
    steps: int,
    points: int,
    tuned: LoadedModel,
    base: LoadedModel,
    sets: EvalSets,
) -> Callable[[int], None]:
    """Measure a tuning run part-way, at evenly spaced steps before its end (the end itself is
    the condition's own measurement)."""
    at = {round(steps * k / points) for k in range(1, points)} - {0, steps}

    def observe(done: int) -> None:
        if done in at:
            margins = answer_margins(tuned, sets.held_out)
            kl = chat_kl(tuned, sets.kl_texts, reference=base)
            observed.add(condition.kind, condition.sign, condition.control, done, margins, kl)

    return observe


def _steering_frontier(
    observed: Observations,
    lm: LoadedModel,
    directions: DirectionSet,
    control: DirectionSet,
    sets: EvalSets,
    config: CompareConfig,
    layer: int,
    progress: bool,
) -> None:
    """Steering at every frontier strength, both signs, beside its control (skipping settings
    that the conditions already measured)."""
    plan = [
        (m, sign, is_control)
        for m in config.frontier_multipliers
        for sign in (+1, -1)
        for is_control in ((False, True) if config.controls else (False,))
        if not observed.has("steered", sign, is_control, m)
    ]
    with progress_bar(progress) as bar:
        task = bar.add_task("steering frontier", total=len(plan))
        for m, sign, is_control in plan:
            steering = Steering(control if is_control else directions, (layer,), sign * m)
            margins = answer_margins(lm, sets.held_out, steering)
            kl = chat_kl(lm, sets.kl_texts, steering)
            observed.add("steered", sign, is_control, m, margins, kl)
            bar.advance(task)


def _inspect(
    results: dict[str, Any], name: str, lm: LoadedModel, directions: DirectionSet,
    measured: dict[str, Any], *steerings: Steering,
) -> None:  # fmt: skip
    """Trace the condition's first reply (one forward pass), projected on v (the real direction,
    also for the random controls): where each condition moves the residual stream."""
    if measured["replies"]:
        first = measured["replies"][0]
        results["traces"][name] = trace(
            lm, directions, first["prompt"], *steerings, reply=first["reply"], label=name
        ).to_dict()


def _read_log(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _robustness(
    lm: LoadedModel,
    directions: DirectionSet,
    sets: EvalSets,
    config: CompareConfig,
    layer: int,
    sign: int,
) -> list[dict[str, Any]]:
    """Steer a tuned model against its own tuning (the paper's robustness test) and record the
    rates on held-out categories at each counter-strength."""
    points = []
    for m in config.robustness_multipliers:
        steering = Steering(directions, (layer,), -sign * m)
        margins = answer_margins(lm, sets.held_out, steering)
        rates = text_rates(margins)
        points.append(
            {
                "layer": layer,
                "multiplier": -sign * m,
                "honest_rate": rates["honest_rate"],
                "lie_rate": rates["lie_rate"],
                "mean_margin": rates["mean_margin"],
            }
        )
    return points


JUDGE_QUALITY = {"honesty": "honest", "sentiment": "cheerful"}


def judge_replies(judge: Judge, results: dict[str, Any]) -> dict[str, Any]:
    """Each condition's replies against the untuned model's, judged pairwise in both orders."""
    base = results["conditions"]["untuned"]["replies"]
    prompts = [r["prompt"] for r in base]
    return {
        name: pairwise(
            judge, prompts, [r["reply"] for r in cond["replies"]], [r["reply"] for r in base]
        )
        for name, cond in results["conditions"].items()
        if name != "untuned"
    }


def add_significance(results: dict[str, Any]) -> None:
    """Fisher exact p-value of each condition's lie rate against the untuned model's, per set."""
    base = results["conditions"]["untuned"]
    for cond in results["conditions"].values():
        for key in ("held_out", "in_distribution"):
            a, b = cond[key]["lie_rate"], base[key]["lie_rate"]
            cond[key]["lie_rate_vs_untuned_p"] = fisher_exact(
                round(a["value"] * a["n"]), a["n"], round(b["value"] * b["n"]), b["n"]
            )


def specific_effects(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each direction condition's per-item effect on the held-out margin beyond its random control.

    The effect of a condition is ``sign * (margin - untuned margin)`` per item, so positive means
    it moved the behaviour the intended way."""
    conds = results["conditions"]
    base = conds["untuned"]["held_out"]["margins"]
    out = []
    for name, cond in conds.items():
        control_name = f"{name} (random)"
        if (
            cond["control"]
            or cond["kind"] in ("untuned", "token-tuned")
            or control_name not in conds
        ):
            continue
        sign = cond["sign"]
        effect = [sign * (m - b) for m, b in zip(cond["held_out"]["margins"], base, strict=True)]
        ctrl = [
            sign * (m - b)
            for m, b in zip(conds[control_name]["held_out"]["margins"], base, strict=True)
        ]
        estimate = specific_effect(effect, ctrl)
        out.append(
            {
                "condition": name,
                "control": control_name,
                "measure": "answer-text margin on held-out categories",
                "effect": mean_interval(effect).to_dict(),
                "control_effect": mean_interval(ctrl).to_dict(),
                "specific_effect": estimate.to_dict(),
                "kl": cond["kl"],
                "control_kl": conds[control_name]["kl"],
                "sentence": f"{name}: " + describe_specificity(estimate, "the margin"),
            }
        )
    return out


def summarise(results: dict[str, Any]) -> list[str]:
    """Plain sentences about what the numbers show, whatever they show."""
    conds = results["conditions"]
    lines = []
    base = conds["untuned"]["held_out"]
    lines.append(
        f"Untuned {results['model']}: on held-out categories the {results['behavior']} answer is "
        f"preferred on {base['honest_rate']['value']:.0%} of {base['n']} items "
        f"(mean margin {base['mean_margin']['value']:+.2f})."
    )
    for effect in results["specific_effects"]:
        lines.append(
            effect["sentence"] + f"; KL {effect['kl']:.2f} vs control {effect['control_kl']:.2f}."
        )
    base_degenerate = conds["untuned"]["quality"]["degenerate_rate"]["value"]
    damaged = [
        name for name, c in conds.items()
        if c["kl"] > results["config"]["max_kl"]
        or (c["quality"]["degenerate_rate"]["value"] >= 0.5 and c["quality"]["degenerate_rate"]["value"] > base_degenerate)
    ]  # fmt: skip
    if base_degenerate >= 0.5:
        lines.append(
            "The untuned model's own replies are mostly degenerate: reply checks say little here."
        )
    if damaged:
        lines.append(
            "Damaged (KL above "
            f"{results['config']['max_kl']}, or at least half the replies degenerate, more than untuned): "
            + ", ".join(damaged)
            + ". Effects of these conditions are not evidence of a behaviour change."
        )
    if "frontier" in results:
        lines += frontier_sentences(results["frontier"]["points"], results["config"]["max_kl"])
    if not any(e["specific_effect"]["low"] > 0 for e in results["specific_effects"]):
        lines.append(
            "No condition moved the behaviour beyond its random-direction control: on this model "
            "and data the result is a null."
        )
    return lines
