"""The ``reptune`` command: a thin face over the library (parse options, call one function, print).

Bad input raises :class:`ReptuneError`; :func:`main` prints it as one line and exits with 2
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Annotated

import torch
import typer
from accelerate import PartialState
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from . import directions as directions_mod
from ._io import atomic_dir, check_output, write_json
from .activations import Position
from .attacks import GCGConfig, TamperConfig, ablation_attack, gcg_per_item, gcg_universal, tamper
from .behaviors import BEHAVIORS, general_knowledge, honesty, neutral
from .behaviors import behavior as behavior_module
from .behaviors._splits import default_holdout, spread
from .behaviors.general_knowledge import passage_text
from .compare import CompareConfig, run_compare
from .data import Prompt, read_items
from .data.schema import TuneExample
from .directions import DirectionSet, _ranges
from .errors import ReptuneError
from .evaluation import harness
from .evaluation.benchmarks import corpus_text, load_truthfulqa
from .evaluation.suite import evaluate
from .evaluation.sweep import sweep as run_sweep
from .evaluation.twochoice import from_items
from .evaluation.twochoice import score as score_two_choice
from .export import export_control_vector, import_control_vector, save_folded
from .inspection import diff_models, fig_diff, trace, write_traces
from .inspection.trace import save_png
from .models import LoadedModel, load_model, parse_layers
from .report import write_report
from .search import SearchConfig, run_search
from .steering import Steering, SteeringConfig, generate
from .tuning import TuneConfig
from .tuning import tune as run_tune

try:  # typer vendors click from 0.2x on; older typers use the click package
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, NoArgsIsHelpError

app = typer.Typer(
    help="Representation tuning: find a behaviour direction, steer with it, tune it into weights. "
    "Bad input is one line and exit code 2; add --debug anywhere to see the traceback.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Hub id, local folder or .gguf file (default: embedded SmolLM2-135M-Instruct).",
    ),
]
DtypeOpt = Annotated[
    str, typer.Option(help="float32 (default; right on CPU), bfloat16 or float16.")
]
BlocksOpt = Annotated[
    str | None,
    typer.Option("--blocks-path", help="Module path of the decoder blocks, for unknown families."),
]
TemplateOpt = Annotated[
    str | None,
    typer.Option("--chat-template", help="Jinja chat template (or a file) for models without one."),
]
RemoteOpt = Annotated[
    bool, typer.Option("--trust-remote-code", help="Run the model repository's own code.")
]
ThreadsOpt = Annotated[
    int | None, typer.Option(help="Torch CPU threads (default: torch's choice).")
]
BehaviorOpt = Annotated[
    str | None,
    typer.Option(
        "--behavior",
        help="Built-in behaviour for default data: honesty or sentiment (default: honesty, or "
        "the behaviour the directions were extracted for).",
    ),
]
DirectionsOpt = Annotated[
    Path, typer.Option("--directions", help="A direction set written by extract.")
]
DEMO_PROMPTS = [
    "Is it ever okay to lie to a friend?",
    "What is the capital of Australia?",
    "I broke my neighbour's window. What should I tell them?",
]


def _behavior_for(behavior: str | None, ds: DirectionSet) -> ModuleType:
    """The built-in behaviour whose data a command uses by default: --behavior, else the one the
    directions were extracted for."""
    if behavior is None and ds.behaviour not in BEHAVIORS:
        raise ReptuneError(
            f"the directions are for {ds.behaviour!r}, which has no built-in data: pass your own "
            f"data file or --behavior ({', '.join(BEHAVIORS)})"
        )
    return behavior_module(behavior or ds.behaviour)


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        if threads < 1:
            raise ReptuneError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)


def _model(
    model: str | None,
    dtype: str,
    blocks_path: str | None,
    chat_template: str | None,
    trust_remote_code: bool,
    threads: int | None,
) -> LoadedModel:
    _set_threads(threads)
    with console.status("loading model"):
        return load_model(
            model,
            dtype=dtype,
            blocks_path=blocks_path,
            chat_template=chat_template,
            trust_remote_code=trust_remote_code,
        )


def _print_directions(ds: DirectionSet) -> None:
    table = Table(title=f"{ds.behaviour} directions ({ds.method}, {ds.model_name})")
    for column in ("layer", "held-out accuracy", "residual norm"):
        table.add_column(column, justify="right")
    accuracy = (
        ds.accuracy if ds.accuracy is not None else torch.full((len(ds.layers),), float("nan"))
    )
    for i, layer in enumerate(ds.layers):
        table.add_row(str(layer), f"{float(accuracy[i]):.3f}", f"{float(ds.norms[i]):.1f}")
    console.print(table)


@app.command()
def extract(
    out: Annotated[Path, typer.Option("--out", help="New directory for the direction set.")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="Contrast file: statement,label CSV, or JSONL statements or pairs (default: built-in honesty facts)."
        ),
    ] = None,
    validation: Annotated[
        Path | None,
        typer.Option(
            help="Held-out contrast file for accuracy (default: 20% of --data, or the built-in validation split)."
        ),
    ] = None,
    layers: Annotated[str, typer.Option(help="Layers: all, 12, 8-16, 8,10,12 or 0.3-0.5.")] = "all",
    position: Annotated[
        list[str] | None,
        typer.Option(
            help="Read position(s): -1 = last token, -1@Answer: = token before 'Answer:'."
        ),
    ] = None,
    method: Annotated[
        str, typer.Option(help=f"One of {', '.join(directions_mod.METHODS)}.")
    ] = "mean_diff",
    remove_letter: Annotated[
        bool,
        typer.Option(help="Project out the answer-letter difference (needs labelled statements)."),
    ] = False,
    holdout: Annotated[
        list[str] | None, typer.Option(help="Built-in categories to hold out of train/validation.")
    ] = None,
    drop_duplicates: Annotated[
        bool,
        typer.Option(
            "--drop-duplicates",
            help="Skip repeated rows of --data (with a warning) instead of refusing.",
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    behavior: BehaviorOpt = None,
    overwrite: bool = False,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    chat_template: TemplateOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Find a behaviour direction per layer from contrast pairs and save it."""
    check_output(out, overwrite)
    module = behavior_module(behavior or "honesty")
    if data is None:
        train_pairs = module.pairs("train", holdout or ())
        val_pairs = module.pairs("validation", holdout or ())
    else:
        train_pairs = honesty.load_pairs(data, drop_duplicates)
        if validation is not None:
            val_pairs = honesty.load_pairs(validation, drop_duplicates)
        else:
            cut = max(1, len(train_pairs) // 5)
            train_pairs, val_pairs = train_pairs[cut:], train_pairs[:cut]
        if len(train_pairs) < 2:
            raise ReptuneError(
                f"--data {data}: {len(train_pairs)} pair(s) left for fitting after the validation "
                "share; a direction needs at least 2 (add rows, or give --validation FILE)"
            )
    positions = [Position.parse(p) for p in (position or ["-1"])]
    lm = _model(model, dtype, blocks_path, chat_template, trust_remote_code, threads)
    started = time.perf_counter()
    ds = directions_mod.extract(
        lm,
        train_pairs,
        val_pairs,
        parse_layers(layers, lm.num_layers),
        positions,
        method,
        remove_letter,
        behaviour=module.__name__.rsplit(".", 1)[-1],
        batch_size=batch_size,
    )
    ds.extra["seconds"] = round(time.perf_counter() - started, 1)
    ds.save(out, overwrite=overwrite)
    _print_directions(ds)
    console.print(
        f"{len(train_pairs)} train / {len(val_pairs)} validation pairs, {len(ds.layers)} layers in "
        f"{ds.extra['seconds']} s; best layer {ds.best_layer()}; saved to {out}"
    )


def _side_by_side(prompts: list[str], columns: dict[str, list[str]]) -> None:
    table = Table(show_lines=True)
    table.add_column("prompt", style="bold")
    for name in columns:
        table.add_column(name)
    for i, prompt in enumerate(prompts):
        table.add_row(prompt, *(replies[i] for replies in columns.values()))
    console.print(table)


def _steerings(
    ds: DirectionSet,
    layers: tuple[int, ...],
    multipliers: list[float],
    relative: bool = True,
    positions: str = "all",
    operator: str = "add",
) -> dict[str, tuple[Steering, ...]]:
    """The unsteered column and one steered column per multiplier, by display name."""
    columns: dict[str, tuple[Steering, ...]] = {"unsteered": ()}
    unit = "x norm" if relative else ""
    for m in multipliers:
        steering = Steering(ds, layers, m, relative, positions, operator)
        name = "ablated" if operator == "ablate" else f"{m:+g}{unit} @ {','.join(map(str, layers))}"
        columns[name] = (steering,)
    return columns


def _steered_replies(
    lm: LoadedModel,
    ds: DirectionSet,
    prompts: list[str],
    layers: tuple[int, ...],
    multipliers: list[float],
    relative: bool,
    positions: str,
    operator: str,
    max_new_tokens: int,
) -> dict[str, list[str]]:
    return {
        name: generate(lm, prompts, *steerings, max_new_tokens=max_new_tokens, progress=True)
        for name, steerings in _steerings(
            ds, layers, multipliers, relative, positions, operator
        ).items()
    }


def _print_monitor(
    lm: LoadedModel,
    ds: DirectionSet,
    prompts: list[str],
    columns: dict[str, list[str]],
    steerings: dict[str, tuple[Steering, ...]],
    layer: int,
) -> None:
    """Each reply's tokens coloured by their projection on v at ``layer`` (blue +v, red -v), so a
    behaviour can be seen rising before it shows in the words."""
    traces = [
        (name, trace(lm, ds, p, *steerings[name], layers=[layer], reply=r))
        for name, replies in columns.items()
        for p, r in zip(prompts, replies, strict=True)
    ]
    values = [float(x) for _, tr in traces for x in tr.relative()[0, tr.prompt_length :]]
    limit = max((abs(x) for x in values), default=0.0) or 1.0
    console.print(
        f"monitor: projection on v at block {layer} / its mean residual norm; colour scale "
        f"+-{limit:.2f} ([on rgb(33,102,172)] +v [/] [on rgb(178,24,43)] -v [/])"
    )
    for name, tr in traces:
        reply = tr.relative()[0, tr.prompt_length :]
        line = Text(f"[{name}] {tr.prompt[:40]} -> ")
        for token, x in zip(tr.tokens[tr.prompt_length :], reply, strict=True):
            t = max(-1.0, min(1.0, float(x) / limit))
            end = (33, 102, 172) if t > 0 else (178, 24, 43)
            r, g, b = (round(255 + (c - 255) * abs(t)) for c in end)
            line.append(token, style=f"black on rgb({r},{g},{b})")
        console.print(line)
        console.print(" ".join(f"{x:+.2f}" for x in reply), style="dim", highlight=False)


@app.command(name="generate")
def generate_cmd(
    directions: DirectionsOpt,
    layers: Annotated[
        str | None,
        typer.Option(help="Layers to steer, or 'best' (highest held-out accuracy; the default)."),
    ] = None,
    multiplier: Annotated[
        list[float] | None,
        typer.Option(
            help="Steering strength(s); relative to the layer's mean residual norm unless "
            "--absolute (default -0.25 and 0.25)."
        ),
    ] = None,
    prompt: Annotated[list[str] | None, typer.Option(help="User message(s) to reply to.")] = None,
    absolute: Annotated[
        bool, typer.Option(help="Multipliers are absolute vector lengths.")
    ] = False,
    positions: Annotated[
        str | None, typer.Option(help="all (default), prompt or generated tokens.")
    ] = None,
    operator: Annotated[
        str | None,
        typer.Option(help="add (default), or ablate (remove the direction's component)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Steering YAML (e.g. written by reptune search); flags win."),
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1)] = 48,
    monitor: Annotated[
        bool,
        typer.Option("--monitor", help="Also show each reply token's projection on the direction."),
    ] = False,
    monitor_layer: Annotated[
        int | None, typer.Option(help="Block to monitor (default: the directions' best).")
    ] = None,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    chat_template: TemplateOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Print greedy replies with and without steering, side by side."""
    flags = {
        "layers": layers, "multipliers": multiplier or None, "absolute": absolute or None,
        "positions": positions, "operator": operator,
    }  # fmt: skip
    given = {k: v for k, v in flags.items() if v is not None}
    setting = (
        SteeringConfig.from_yaml(config, **given)
        if config
        else SteeringConfig.from_dict(given, "options")
    )
    ds = DirectionSet.load(directions)
    lm = _model(model, dtype, blocks_path, chat_template, trust_remote_code, threads)
    ds.check_compatible(lm)
    chosen = (
        (ds.best_layer(),)
        if setting.layers == "best"
        else parse_layers(setting.layers, lm.num_layers)
    )
    prompts = prompt or DEMO_PROMPTS
    columns = _steered_replies(
        lm,
        ds,
        prompts,
        chosen,
        setting.multipliers,
        not setting.absolute,
        setting.positions,
        setting.operator,
        max_new_tokens,
    )
    _side_by_side(prompts, columns)
    if monitor:
        layer = ds.best_layer() if monitor_layer is None else monitor_layer
        lm.check_layers([layer], "--monitor-layer")
        kept = _steerings(
            ds, chosen, setting.multipliers, not setting.absolute, setting.positions,
            setting.operator,
        )  # fmt: skip
        _print_monitor(lm, ds, prompts, columns, kept, layer)


@app.command()
def sweep(
    directions: DirectionsOpt,
    layers: Annotated[str, typer.Option(help="Layers to try.")] = "0.2-0.8",
    multiplier: Annotated[
        list[float] | None, typer.Option(help="Relative strengths to try.")
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(
            help="JSONL items question/correct/incorrect (default: built-in validation facts)."
        ),
    ] = None,
    max_kl: Annotated[
        float, typer.Option(help="Largest KL on chat text still counted as fluent.")
    ] = 0.5,
    out: Annotated[Path | None, typer.Option(help="Write the full table as JSON here.")] = None,
    behavior: BehaviorOpt = None,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    chat_template: TemplateOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Find the layer and strength that move the answer-text margin most while KL stays low."""
    if out is not None:
        check_output(out)
    ds = DirectionSet.load(directions)
    module = _behavior_for(behavior, ds)
    item_list = read_items(items) if items else module.items("validation")
    lm = _model(model, dtype, blocks_path, chat_template, trust_remote_code, threads)
    ds.check_compatible(lm)
    result = run_sweep(
        lm,
        ds,
        item_list,
        parse_layers(layers, lm.num_layers),
        multiplier or [-0.5, -0.25, 0.25, 0.5],
        max_kl,
    )
    table = Table(title=f"answer-text margin (unsteered {result.baseline_margin:+.3f}) and KL")
    for column in ("layer", "multiplier", "margin", "effect", "KL", "fluent"):
        table.add_column(column, justify="right")
    for p in result.points:
        table.add_row(
            str(p.layer),
            f"{p.multiplier:+g}",
            f"{p.margin:+.3f}",
            f"{p.effect:+.3f}",
            f"{p.kl:.3f}",
            "yes" if p.fluent(max_kl) else "no",
        )
    console.print(table)
    best = result.best
    console.print(
        f"best: layer {best.layer}, multiplier {best.multiplier:+g}, effect {best.effect:+.3f}"
        if best
        else f"no point moved the margin with KL <= {max_kl}"
    )
    if out is not None:
        write_json(out, result.to_dict())


@app.command()
def search(
    directions: DirectionsOpt,
    out: Annotated[
        Path, typer.Option("--out", help="Study folder; an existing one is resumed.")
    ] = Path("runs/search"),
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML file of search options; flags win.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="steering or tuning.")] = None,
    toward: Annotated[str | None, typer.Option(help="+ (more of the behaviour) or -.")] = None,
    layers: Annotated[str | None, typer.Option(help="Layers searched over.")] = None,
    trials: Annotated[int | None, typer.Option(help="Finished trials wanted in all.")] = None,
    max_kl: Annotated[
        float | None, typer.Option(help="Largest KL a picked setting may cost.")
    ] = None,
    behavior: BehaviorOpt = None,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    chat_template: TemplateOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Search layers and strength (steering) or layers, steps and loss weights (tuning) for the
    most effect at the least KL; prints the Pareto front and writes the picked setting's config."""
    ds = DirectionSet.load(directions)
    if behavior is None and config is None:
        _behavior_for(None, ds)  # refuses directions of a behaviour with no built-in data
        behavior = ds.behaviour
    flags = {
        "target": target, "toward": toward, "layers": layers, "trials": trials, "max_kl": max_kl,
        "behavior": behavior,
    }  # fmt: skip
    given = {k: v for k, v in flags.items() if v is not None}
    cfg = (
        SearchConfig.from_yaml(config, **given)
        if config
        else SearchConfig.from_dict(given, "options")
    )
    _set_threads(threads)
    result = run_search(
        out,
        cfg,
        ds,
        model,
        load=lambda name: load_model(name, dtype=dtype, blocks_path=blocks_path,
                                     chat_template=chat_template, trust_remote_code=trust_remote_code),
    )  # fmt: skip
    table = Table(
        title=f"Pareto front: {cfg.target} toward {cfg.toward}v ({len(result['trials'])} trials)"
    )
    for column in ("trial", "setting", "effect (95% CI)", "KL"):
        table.add_column(column, justify="right")
    rows = {r["number"]: r for r in result["trials"]}
    for number in result["pareto"]:
        row = rows[number]
        e = row["effect"]
        setting = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["params"].items()
        )
        mark = " *" if number == result["picked"] else ""
        table.add_row(
            f"{number}{mark}",
            setting,
            f"{e['value']:+.3f} [{e['low']:+.3f}, {e['high']:+.3f}]",
            f"{row['kl']:.3f}",
        )
    console.print(table)
    console.print(
        f"picked trial {result['picked']}: {result['picked_config']}"
        if result["picked"] is not None
        else f"no setting moved the behaviour with KL <= {cfg.max_kl}; nothing picked"
    )
    console.print(f"figure: {out / 'pareto.png'}; all trials: {out / 'search.json'}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where to keep the demo's direction set.")] = Path(
        "runs/demo/directions"
    ),
    multiplier: Annotated[
        float, typer.Option(help="Relative strength for the steered columns.")
    ] = 0.25,
    threads: ThreadsOpt = None,
) -> None:
    """The main job on the embedded model: extract honesty directions, then show steered replies."""
    lm = _model(None, "float32", None, None, False, threads)
    if (out / directions_mod.META_FILE).exists():
        ds = DirectionSet.load(out)
        console.print(f"reusing directions in {out}")
    else:
        started = time.perf_counter()
        ds = directions_mod.extract(lm, honesty.pairs("train"), honesty.pairs("validation"))
        ds.extra["seconds"] = round(time.perf_counter() - started, 1)
        ds.save(out, overwrite=True)
        console.print(f"extracted honesty directions in {ds.extra['seconds']} s -> {out}")
    _print_directions(ds)
    layer = ds.best_layer()
    console.print(
        f"steering block {layer} (best held-out accuracy) at -/+{multiplier} x its mean residual norm"
    )
    columns = _steered_replies(
        lm, ds, DEMO_PROMPTS, (layer,), [-multiplier, multiplier], True, "all", "add", 48
    )
    _side_by_side(DEMO_PROMPTS, columns)


def _param_lrs(values: list[str] | None) -> dict[str, float] | None:
    if not values:
        return None
    out = {}
    for value in values:
        pattern, sep, lr = value.rpartition("=")
        try:
            out[pattern] = float(lr)
        except ValueError:
            sep = ""
        if not sep or not pattern:
            raise ReptuneError(
                f"--param-lr {value!r} must look like REGEX=LR, e.g. 'self_attn\\.(v|o)_proj=1e-5'"
            )
    return out


@app.command()
def tune(
    directions: DirectionsOpt,
    out: Annotated[Path, typer.Option("--out", help="New folder for the tuned model.")],
    toward: Annotated[
        str | None, typer.Option(help="+ (toward v: more of the behaviour) or - (away).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML file of tuning options; flags override it."),
    ] = None,
    mode: Annotated[str | None, typer.Option(help="rep, token or rep+token.")] = None,
    objective: Annotated[
        str | None, typer.Option(help="cosine, or tune_out (drive |cos| to 0).")
    ] = None,
    layers: Annotated[
        str | None, typer.Option(help="Projection target layers (default 0.27-0.57 of depth).")
    ] = None,
    train_layers: Annotated[
        str | None, typer.Option(help="Blocks whose weights change (default: --layers).")
    ] = None,
    position: Annotated[
        list[str] | None, typer.Option(help="Target position(s) in the prompt; -1 = last token.")
    ] = None,
    token_target: Annotated[
        str | None, typer.Option(help="answer (answer text) or letter (A/B).")
    ] = None,
    rep_weight: Annotated[float | None, typer.Option()] = None,
    token_weight: Annotated[
        float | None, typer.Option(help="The paper divides the token loss by 100.")
    ] = None,
    retain: Annotated[
        str | None,
        typer.Option(help="none, kl (to the original model) or l2 (to its activations)."),
    ] = None,
    retain_weight: Annotated[float | None, typer.Option()] = None,
    retain_schedule: Annotated[
        str | None, typer.Option(help="constant, increase or decrease.")
    ] = None,
    lr: Annotated[float | None, typer.Option()] = None,
    param_lr: Annotated[
        list[str] | None, typer.Option(help="REGEX=LR learning rate for matching parameters.")
    ] = None,
    routed: Annotated[
        bool | None, typer.Option("--routed", help="Projection loss moves only --param-lr groups.")
    ] = None,
    lora_rank: Annotated[int | None, typer.Option(help="LoRA rank (0 = full fine-tuning).")] = None,
    steps: Annotated[int | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    grad_accum: Annotated[int | None, typer.Option()] = None,
    warmup_steps: Annotated[int | None, typer.Option()] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    mixed_precision: Annotated[str | None, typer.Option(help="no, bf16 or fp16.")] = None,
    gradient_checkpointing: Annotated[bool | None, typer.Option("--gradient-checkpointing")] = None,
    eval_every: Annotated[int | None, typer.Option()] = None,
    patience: Annotated[
        int | None, typer.Option(help="Stop after this many evaluations without improvement.")
    ] = None,
    checkpoint_every: Annotated[int | None, typer.Option()] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="JSONL items question/correct/incorrect (default: built-in facts)."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the unfinished run in OUT.work.")] = False,
    behavior: BehaviorOpt = None,
    overwrite: bool = False,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    chat_template: TemplateOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Tune a direction into the weights (representation tuning), or run a token-only baseline."""
    flags = {
        "toward": toward, "mode": mode, "objective": objective, "layers": layers,
        "train_layers": train_layers, "positions": position, "token_target": token_target,
        "rep_weight": rep_weight, "token_weight": token_weight, "retain": retain,
        "retain_weight": retain_weight, "retain_schedule": retain_schedule, "lr": lr,
        "param_lrs": _param_lrs(param_lr), "routed": routed, "lora_rank": lora_rank, "steps": steps,
        "batch_size": batch_size, "grad_accum": grad_accum, "warmup_steps": warmup_steps,
        "seed": seed, "mixed_precision": mixed_precision,
        "gradient_checkpointing": gradient_checkpointing, "eval_every": eval_every,
        "patience": patience, "checkpoint_every": checkpoint_every,
    }  # fmt: skip
    given = {k: v for k, v in flags.items() if v is not None}
    cfg = (
        TuneConfig.from_yaml(config, **given) if config else TuneConfig.from_dict(given, "options")
    )
    check_output(out, overwrite)
    ds = DirectionSet.load(directions)
    if data is None:
        module = _behavior_for(behavior, ds)
        train = module.tuning_examples("train", cfg.toward, cfg.token_target)
        val = module.tuning_examples("validation", cfg.toward, cfg.token_target)
    else:
        items = read_items(data)
        truthful = cfg.toward == "+"
        examples = [
            TuneExample(Prompt(user=i.question), i.correct if truthful else i.incorrect)
            for i in items
        ]
        cut = max(1, len(examples) // 5)
        train, val = examples[cut:], examples[:cut]
        if not train:
            raise ReptuneError(
                f"--data {data}: {len(examples)} item(s) leave none for training after the "
                "validation share; give at least 2"
            )
    lm = _model(model, dtype, blocks_path, chat_template, trust_remote_code, threads)
    result = run_tune(
        lm, ds, train, cfg, out, val, neutral.prompts(), resume=resume, overwrite=overwrite
    )
    if not PartialState().is_main_process:
        return
    before, after = result.validation.get("before", {}), result.validation.get("after", {})
    console.print(
        f"{result.steps} steps in {result.seconds:.0f} s ({result.seconds_per_step:.2f} s/step, peak "
        f"memory {result.peak_memory_mb:.0f} MB){' - stopped early' if result.stopped_early else ''}"
    )
    if before:
        console.print(
            f"held-out mean cosine with v at layers {cfg.layers}: {before['cos.mean']:+.3f} -> "
            f"{after['cos.mean']:+.3f} (target {cfg.toward}v); tuned model in {out}"
        )


@app.command("eval")
def eval_cmd(
    out: Annotated[Path, typer.Option("--out", help="Results JSON file to write.")],
    items: Annotated[
        Path | None,
        typer.Option(help="JSONL items question/correct/incorrect (default: built-in test split)."),
    ] = None,
    behavior: Annotated[
        str, typer.Option(help="Built-in behaviour for the default items.")
    ] = "honesty",
    directions: Annotated[
        Path | None, typer.Option("--directions", help="Evaluate steered with this direction set.")
    ] = None,
    layers: Annotated[str | None, typer.Option(help="Steered layers (with --directions).")] = None,
    multiplier: Annotated[
        float, typer.Option(help="Steering strength, relative to the layer's residual norm.")
    ] = 0.0,
    capability: Annotated[
        bool, typer.Option("--capability", help="Also score the built-in general-knowledge items.")
    ] = False,
    truthfulqa: Annotated[
        Path | None, typer.Option(help="BIG-bench task_mc.json of TruthfulQA for MC1.")
    ] = None,
    perplexity_text: Annotated[
        str | None,
        typer.Option("--perplexity", help="Text file, 'builtin' passages, or 'wikitext' (hub)."),
    ] = None,
    scorer: Annotated[
        list[str] | None,
        typer.Option(help="Also score with letter (A/B log-prob) or generate (keyword rule)."),
    ] = None,
    lm_eval: Annotated[
        str | None,
        typer.Option(
            "--lm-eval",
            help="Also run lm-evaluation-harness tasks, comma-separated: hub names (arc_easy, "
            "hellaswag, mmlu) or offline reptune_general_knowledge. Needs reptune[harness].",
        ),
    ] = None,
    lm_eval_limit: Annotated[
        int | None, typer.Option("--lm-eval-limit", help="At most this many items per task.")
    ] = None,
    overwrite: bool = False,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    chat_template: TemplateOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Evaluate one model (optionally steered) and write every figure with its interval and n."""
    for name in scorer or []:
        if name not in ("letter", "generate", "text"):
            raise ReptuneError(f"--scorer {name!r} is not one of letter, generate, text")
    check_output(out, overwrite)
    if (directions is None) != (layers is None):
        raise ReptuneError("--directions and --layers go together (steered evaluation)")
    if lm_eval_limit is not None and lm_eval is None:
        raise ReptuneError("--lm-eval-limit goes with --lm-eval TASKS")
    tasks = (
        harness.requested_tasks(lm_eval.split(","), lm_eval_limit) if lm_eval is not None else []
    )
    data = read_items(items) if items else behavior_module(behavior or "honesty").items("test")
    tqa = load_truthfulqa(truthfulqa) if truthfulqa else []
    text = None
    if perplexity_text is not None:
        text = passage_text() if perplexity_text == "builtin" else corpus_text(perplexity_text)
    lm = _model(model, dtype, blocks_path, chat_template, trust_remote_code, threads)
    steerings: tuple[Steering, ...] = ()
    if directions is not None and layers is not None:
        ds = DirectionSet.load(directions)
        ds.check_compatible(lm)
        chosen = parse_layers(layers, lm.num_layers, "--layers")
        steerings = (Steering(ds, tuple(chosen), multiplier),)
    with console.status("evaluating"):
        result = evaluate(
            lm, data, *steerings, capability=general_knowledge.items() if capability else (),
            perplexity_text=text, truthfulqa=tqa,
        )  # fmt: skip
        for name in scorer or []:
            result[f"scorer_{name}"] = score_two_choice(
                lm, from_items(data), *steerings, scorer=name
            )
    if tasks:  # outside the status spinner: the harness draws its own progress bars
        result["lm_eval"] = harness.run_harness(lm, tasks, *steerings, limit=lm_eval_limit)
    result["model"] = lm.name
    result["steering"] = (
        {"directions": str(directions), "layers": layers, "multiplier": multiplier}
        if steerings
        else None
    )
    write_json(out, result)
    low, high = result["honest_rate_interval"]
    console.print(
        f"honest {result['honest_rate']:.3f} [{low:.3f}, {high:.3f}], lie {result['lie_rate']:.3f} "
        f"(n={result['n']}, answer-text scorer) -> {out}"
    )
    for line in harness.summary(result["lm_eval"]) if tasks else []:
        console.print(line)


@app.command()
def compare(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for results.json and the report.")
    ] = Path("runs/compare"),
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML file of compare options; flags win.")
    ] = None,
    behavior: Annotated[str | None, typer.Option(help="honesty or sentiment.")] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small budgets: about 12 minutes on 2 idle CPU cores.")
    ] = False,
    directions: Annotated[
        Path | None, typer.Option("--directions", help="Use these directions (default: extract).")
    ] = None,
    holdout: Annotated[
        list[str] | None, typer.Option(help="Category never trained on (repeatable).")
    ] = None,
    steer_layer: Annotated[
        int | None, typer.Option(help="Steering block (default: sweep).")
    ] = None,
    multiplier: Annotated[
        float | None, typer.Option(help="Relative steering strength (default: sweep).")
    ] = None,
    no_controls: Annotated[
        bool, typer.Option("--no-controls", help="Skip the random-direction controls.")
    ] = False,
    no_frontier: Annotated[
        bool, typer.Option("--no-frontier", help="Skip the effect-versus-cost frontier.")
    ] = False,
    keep_models: Annotated[
        bool, typer.Option("--keep-models", help="Keep the tuned models in OUT/models.")
    ] = False,
    judge_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible endpoint (…/v1) that judges replies pairwise."),
    ] = None,
    judge_model: Annotated[str | None, typer.Option(help="The judge's model name.")] = None,
    attacks: Annotated[
        bool | None,
        typer.Option(
            "--attacks/--no-attacks",
            help="GCG suffix, tamper and direction ablation on untuned, token-tuned + and "
            "rep-tuned +v (default: on, off with --quick).",
        ),
    ] = None,
    lm_eval: Annotated[
        str | None,
        typer.Option(
            "--lm-eval",
            help="lm-evaluation-harness tasks scored on every condition, comma-separated "
            "(default: reptune_general_knowledge, none with --quick; '' = none).",
        ),
    ] = None,
    lm_eval_limit: Annotated[
        int | None, typer.Option("--lm-eval-limit", help="At most this many items per task.")
    ] = None,
    overwrite: bool = False,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """The paper's comparison with controls: untuned, steered, representation- and token-tuned."""
    flags = {
        "behavior": behavior, "holdout": holdout, "steer_layer": steer_layer,
        "multiplier": multiplier, "quick": quick or None,
        "controls": False if no_controls else None, "keep_models": keep_models or None,
        "frontier": False if no_frontier else None,
        "judge_url": judge_url, "judge_model": judge_model, "attacks": attacks,
        "harness_tasks": [t.strip() for t in lm_eval.split(",") if t.strip()] if lm_eval is not None
        else None,
        "harness_limit": lm_eval_limit,
    }  # fmt: skip
    given = {k: v for k, v in flags.items() if v is not None}
    cfg = (
        CompareConfig.from_yaml(config, **given)
        if config
        else CompareConfig.from_dict(given, "options")
    )
    _set_threads(threads)
    check_output(out / "results.json", overwrite)
    ds = DirectionSet.load(directions) if directions else None
    results = run_compare(
        out, cfg, model=model, directions=ds, overwrite=overwrite, log=console.print
    )
    paths = write_report(results, out)
    for line in results["summary"]:
        console.print(f"- {line}")
    console.print(
        f"{len(results['conditions'])} conditions in {results['seconds'] / 60:.1f} min; report: "
        f"{paths['html']} and {paths['markdown']}"
    )


@app.command("export-vector")
def export_vector(
    directions: DirectionsOpt,
    out: Annotated[Path, typer.Option("--out", help="The .gguf control-vector file to write.")],
    layers: Annotated[
        str | None,
        typer.Option(help="Layers to include (default: all but 0, which llama.cpp lacks)."),
    ] = None,
    multiplier: Annotated[
        float, typer.Option(help="Strength stored in the file (llama.cpp's scale multiplies it).")
    ] = 1.0,
    absolute: Annotated[
        bool, typer.Option("--absolute", help="Multiplier is absolute, not x residual norm.")
    ] = False,
    model_hint: Annotated[str | None, typer.Option(help="llama.cpp's model hint.")] = None,
    overwrite: bool = False,
) -> None:
    """Write a direction set as a llama.cpp / repeng control vector (GGUF)."""
    check_output(out, overwrite)
    ds = DirectionSet.load(directions)
    chosen = parse_layers(layers, ds.num_model_layers, "--layers") if layers else None
    path = export_control_vector(
        ds, out, multiplier, not absolute, chosen, model_hint, overwrite=overwrite
    )
    console.print(f"control vector for {ds.model_name} -> {path}")


@app.command("import-vector")
def import_vector(
    vector: Annotated[Path, typer.Argument(help="A .gguf control vector (llama.cpp or repeng).")],
    out: Annotated[Path, typer.Option("--out", help="New directory for the direction set.")],
    model_name: Annotated[str | None, typer.Option("--model-name")] = None,
    num_layers: Annotated[int | None, typer.Option(help="Depth of the model it is for.")] = None,
    behaviour: Annotated[str | None, typer.Option(help="Name of the behaviour.")] = None,
    overwrite: bool = False,
) -> None:
    """Read a control vector into a reptune direction set."""
    check_output(out, overwrite)
    ds = import_control_vector(vector, model_name, num_layers, behaviour)
    ds.save(out, overwrite=overwrite)
    console.print(f"{len(ds.layers)} layers of {ds.model_name} -> {out}")


@app.command("fold")
def fold_cmd(
    directions: DirectionsOpt,
    out: Annotated[Path, typer.Option("--out", help="New folder for the folded model.")],
    layers: Annotated[str, typer.Option(help="Steered layers.")],
    multiplier: Annotated[float, typer.Option(help="Strength, relative to the residual norm.")],
    absolute: Annotated[bool, typer.Option("--absolute", help="Multiplier is absolute.")] = False,
    overwrite: bool = False,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    trust_remote_code: RemoteOpt = False,
) -> None:
    """Write a model whose plain forward pass is the steered one (steering as MLP output biases)."""
    check_output(out, overwrite)
    lm = _model(model, dtype, blocks_path, None, trust_remote_code, None)
    ds = DirectionSet.load(directions)
    chosen = tuple(parse_layers(layers, lm.num_layers, "--layers"))
    path = save_folded(
        lm, [Steering(ds, chosen, multiplier, relative=not absolute)], out, overwrite
    )
    console.print(f"folded steering at layers {layers} into {path} (loads in plain transformers)")


@app.command("trace")
def trace_cmd(
    directions: DirectionsOpt,
    out: Annotated[Path, typer.Option("--out", help="New folder for the trace and its figures.")],
    prompt: Annotated[list[str] | None, typer.Option(help="User message(s) to trace.")] = None,
    tuned: Annotated[
        list[str] | None,
        typer.Option(help="Another model traced beside --model, e.g. a tuned folder (repeatable)."),
    ] = None,
    multiplier: Annotated[
        list[float] | None,
        typer.Option(help="Also trace --model steered at this relative strength (repeatable)."),
    ] = None,
    steer_layers: Annotated[
        str, typer.Option(help="Layers to steer, or 'best' (highest held-out accuracy).")
    ] = "best",
    layers: Annotated[str, typer.Option(help="Layers to trace.")] = "all",
    plot_layers: Annotated[
        str | None, typer.Option(help="Layers drawn in the line plot (default: the best layer).")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(min=0)] = 32,
    overwrite: bool = False,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    chat_template: TemplateOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Per-token projection on the direction at every layer, prompt and reply, models side by side."""
    if out.exists() and not overwrite:
        raise ReptuneError(f"--out {out} already exists (pass --overwrite to replace it)")
    ds = DirectionSet.load(directions)
    prompts = prompt or DEMO_PROMPTS[:1]
    traced = parse_layers(layers, ds.num_model_layers)
    plotted = parse_layers(plot_layers, ds.num_model_layers) if plot_layers else (ds.best_layer(),)
    lm = _model(model, dtype, blocks_path, chat_template, trust_remote_code, threads)
    steered = ds.best_layer() if steer_layers == "best" else None
    chosen = (steered,) if steered is not None else parse_layers(steer_layers, lm.num_layers)
    base_name = Path(lm.name).name
    variants = [(base_name if n == "unsteered" else f"{base_name} {n}", s)
                for n, s in _steerings(ds, chosen, multiplier or []).items()]  # fmt: skip
    traces = []
    with console.status("tracing"):
        for label, steerings in variants:
            traces += [trace(lm, ds, p, *steerings, layers=traced, label=label,
                             max_new_tokens=max_new_tokens) for p in prompts]  # fmt: skip
        for path in tuned or []:
            other = load_model(path, dtype=dtype, blocks_path=blocks_path,
                               chat_template=chat_template, trust_remote_code=trust_remote_code)  # fmt: skip
            traces += [trace(other, ds, p, layers=traced, label=Path(path).name,
                             max_new_tokens=max_new_tokens) for p in prompts]  # fmt: skip
    paths = write_traces(traces, out, plotted, f"reptune trace: {ds.behaviour}", overwrite)
    table = Table(title=f"mean projection on v / layer norm (blocks {_ranges(plotted)})")
    for column in ("model", "prompt", "prompt tokens", "reply tokens", "reply"):
        table.add_column(column)
    for tr in traces:
        rel = tr.relative()[[tr.layers.index(layer) for layer in plotted if layer in tr.layers]]
        table.add_row(
            tr.label, tr.prompt[:40], f"{rel[:, 1 : tr.prompt_length].mean():+.3f}",
            f"{rel[:, tr.prompt_length :].mean():+.3f}" if len(tr.tokens) > tr.prompt_length
            else "-", tr.reply[:60],
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(traces)} traces -> {paths['trace.html']}, {paths['lines.png']}, "
                  f"{paths['heatmap.png']}")  # fmt: skip


@app.command("diff")
def diff_cmd(
    base: Annotated[str, typer.Argument(help="The original model: hub id, folder, or 'embedded'.")],
    tuned: Annotated[str, typer.Argument(help="The changed model (e.g. a tuned folder).")],
    directions: Annotated[
        Path | None,
        typer.Option("--directions", help="Direction set for the write/read alignment columns."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="New folder for diff.json and diff.png.")
    ] = None,
    show: Annotated[int, typer.Option(help="Rows of the table (largest changes first).")] = 40,
    overwrite: bool = False,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """What tuning changed per module: relative change, effective rank, alignment with v."""
    if out is not None and out.exists() and not overwrite:
        raise ReptuneError(f"--out {out} already exists (pass --overwrite to replace it)")
    ds = DirectionSet.load(directions) if directions else None
    _set_threads(threads)
    with console.status("loading models"):
        lms = [
            load_model(None if name == "embedded" else name, dtype=dtype,
                       blocks_path=blocks_path, trust_remote_code=trust_remote_code)
            for name in (base, tuned)
        ]  # fmt: skip
    with console.status("comparing weights"):
        result = diff_models(*lms, ds, str(directions) if directions else None)
    changed = sorted(result.changed(), key=lambda p: -p.relative_change)
    table = Table(
        title=f"{Path(tuned).name} vs {Path(base).name}: {len(changed)} of {len(result.params)} "
        "parameters changed "
        f"(alignment by chance ~{result.chance_alignment:.3f})"
    )
    for column in ("block", "parameter", "||dW||/||W||", "rank 90%", "write align", "read align"):
        table.add_column(column, justify="right", no_wrap=column == "parameter")

    def cell(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    for p in changed[:show]:
        table.add_row(
            "-" if p.block is None else str(p.block), p.name, f"{p.relative_change:.2e}",
            "-" if p.effective_rank is None else str(p.effective_rank),
            cell(p.write_alignment), cell(p.read_alignment),
        )  # fmt: skip
    console.print(table)
    summary = Table(title="per module, mean over the blocks that changed")
    for column in ("module", "blocks", "||dW||/||W||", "rank 90%", "write align", "read align"):
        summary.add_column(column, justify="right", no_wrap=column == "module")
    for row in result.by_module():
        summary.add_row(
            row["module"], _ranges(tuple(row["blocks"])), f"{row['relative_change']:.2e}",
            "-" if row["effective_rank"] is None else f"{row['effective_rank']:.1f}",
            cell(row["write_alignment"]), cell(row["read_alignment"]),
        )  # fmt: skip
    console.print(summary)
    if out is not None:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            write_json(tmp / "diff.json", result.to_dict())
            save_png(fig_diff(result), tmp / "diff.png")
        console.print(f"-> {out / 'diff.json'}, {out / 'diff.png'}")


attack_app = typer.Typer(
    help="Attack a model's honesty and write the result as JSON: an adversarial suffix (gcg), "
    "fine-tuning toward lies (tamper), or projecting the direction out (ablate).",
    no_args_is_help=True,
)
app.add_typer(attack_app, name="attack")
AttackOutOpt = Annotated[Path, typer.Option("--out", help="The JSON file to write.")]
HoldoutOpt = Annotated[
    list[str] | None,
    typer.Option(help="Held-out test categories (repeatable; default: the last two, as compare)."),
]
TestItemsOpt = Annotated[
    int, typer.Option(min=0, help="Use at most this many test items (0 = all).")
]


def _attack_items(
    behavior: str | None, holdout: list[str] | None, seed: int, items: Path | None
) -> tuple[list, list, list[str]]:
    """Training items (training categories) and test items (held-out categories, or --items)."""
    module = behavior_module(behavior or "honesty")
    held = default_holdout(holdout, module.CATEGORIES)
    train = module.items("train", held, seed)
    test = read_items(items) if items else [
        i for i in module.items("test", held, seed) if i.category in held
    ]  # fmt: skip
    return train, test, held


def _write_attack(out: Path, result: dict, lm: LoadedModel, **extra: object) -> None:
    write_json(out, {**result, "model": lm.name, **extra})


def _rate(rate: dict) -> str:
    return f"{rate['value']:.3f} [{rate['low']:.3f}, {rate['high']:.3f}] (n={rate['n']})"


@attack_app.command("gcg")
def attack_gcg(
    out: AttackOutOpt,
    mode: Annotated[
        str, typer.Option(help="universal (one suffix, held-out items) or per-item.")
    ] = "universal",
    steps: Annotated[int, typer.Option(help="GCG steps.")] = 40,
    search_width: Annotated[int, typer.Option(help="Single-token swaps tried per step.")] = 128,
    topk: Annotated[int, typer.Option(help="Candidate tokens per suffix position.")] = 64,
    suffix_length: Annotated[int, typer.Option(help="Suffix tokens.")] = 8,
    batch_size: Annotated[int, typer.Option(help="Candidates per forward pass.")] = 128,
    train_items: Annotated[
        int, typer.Option(min=1, help="Training items the universal suffix is optimised on.")
    ] = 16,
    test_items: TestItemsOpt = 0,
    items: Annotated[
        Path | None, typer.Option(help="JSONL items to attack (default: held-out categories).")
    ] = None,
    holdout: HoldoutOpt = None,
    directions: Annotated[
        Path | None, typer.Option("--directions", help="Attack the model steered with these.")
    ] = None,
    layers: Annotated[str | None, typer.Option(help="Steered layers (with --directions).")] = None,
    multiplier: Annotated[float, typer.Option(help="Relative steering strength.")] = 0.25,
    seed: int = 0,
    behavior: BehaviorOpt = None,
    overwrite: bool = False,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    chat_template: TemplateOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Greedy Coordinate Gradient: a suffix on the question that makes the lying answer win."""
    check_output(out, overwrite)
    if mode not in ("universal", "per-item"):
        raise ReptuneError(f"--mode {mode!r} is not one of universal, per-item")
    if (directions is None) != (layers is None):
        raise ReptuneError("--directions and --layers go together (attack a steered model)")
    config = GCGConfig(steps=steps, search_width=search_width, topk=topk,
                       suffix_length=suffix_length, batch_size=batch_size, seed=seed)  # fmt: skip
    train, test, held = _attack_items(behavior, holdout, seed, items)
    test = spread(test, test_items)
    lm = _model(model, dtype, blocks_path, chat_template, trust_remote_code, threads)
    steerings: tuple[Steering, ...] = ()
    if directions is not None and layers is not None:
        ds = DirectionSet.load(directions)
        ds.check_compatible(lm)
        steerings = (Steering(ds, parse_layers(layers, lm.num_layers), multiplier),)
    if mode == "universal":
        result = gcg_universal(lm, spread(train, train_items), test, config, *steerings,
                               progress=True)  # fmt: skip
        console.print(
            f"suffix {escape(repr(result['suffix']))}: lie rate on {items if items else ', '.join(held)} "
            f"{_rate(result['success_rate'])}; without it "
            f"{_rate(result['test_without_suffix']['lie_rate'])}; random suffix "
            f"{_rate(result['test_random_suffix']['lie_rate'])}"
        )
    else:
        result = gcg_per_item(lm, test, config, *steerings, progress=True)
        console.print(
            f"per-item success {_rate(result['success_rate'])}, median steps to success "
            f"{result['median_steps_to_success']}"
        )
    steering = {"directions": str(directions), "layers": layers, "multiplier": multiplier}
    _write_attack(out, result, lm, holdout_categories=held,
                  steering=steering if steerings else None)  # fmt: skip
    console.print(f"{result['seconds']:.0f} s, budget {result['budget']} -> {out}")


@attack_app.command("tamper")
def attack_tamper(
    directions: DirectionsOpt,
    out: AttackOutOpt,
    steps: Annotated[int, typer.Option(help="Lie-tuning steps (the attack's budget).")] = 30,
    every: Annotated[int, typer.Option(help="Measure the lie rate every this many steps.")] = 5,
    lr: float = 5e-5,
    batch_size: int = 8,
    layers: Annotated[
        str, typer.Option(help="Blocks the attack trains (default 0.27-0.57 of depth).")
    ] = "0.27-0.57",
    train_items: Annotated[
        int, typer.Option(min=0, help="Training items (0 = all of the training split).")
    ] = 0,
    test_items: TestItemsOpt = 0,
    holdout: HoldoutOpt = None,
    seed: int = 0,
    behavior: BehaviorOpt = None,
    overwrite: bool = False,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    chat_template: TemplateOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Fine-tune a copy toward lying answers; the lie rate on held-out categories every k steps."""
    check_output(out, overwrite)
    config = TamperConfig(steps=steps, every=every, lr=lr, batch_size=batch_size, layers=layers,
                          seed=seed)  # fmt: skip
    ds = DirectionSet.load(directions)
    train, test, held = _attack_items(behavior, holdout, seed, None)
    lm = _model(model, dtype, blocks_path, chat_template, trust_remote_code, threads)
    result = tamper(lm, ds, spread(train, train_items), spread(test, test_items), config,
                    progress=True)  # fmt: skip
    table = Table(title=f"lie rate on {', '.join(held)} while lie-tuning {lm.name}")
    for column in ("step", "lie rate (95% CI)", "mean margin"):
        table.add_column(column, justify="right")
    for point in result["curve"]:
        table.add_row(str(point["step"]), _rate(point["lie_rate"]),
                      f"{point['mean_margin']['value']:+.3f}")  # fmt: skip
    console.print(table)
    _write_attack(out, result, lm, holdout_categories=held, directions=str(directions))
    console.print(
        f"steps to a majority of lies: {result['steps_to_majority_lie']}; "
        f"{result['seconds']:.0f} s -> {out}"
    )


@attack_app.command("ablate")
def attack_ablate(
    directions: DirectionsOpt,
    out: AttackOutOpt,
    top_k: Annotated[
        int,
        typer.Option(min=0, help="Also re-find this many directions on the model and ablate them."),
    ] = 0,
    pairs: Annotated[
        int, typer.Option(min=2, help="Training contrast pairs used to re-find directions.")
    ] = 32,
    items: Annotated[
        Path | None, typer.Option(help="JSONL items to score (default: held-out categories).")
    ] = None,
    test_items: TestItemsOpt = 0,
    holdout: HoldoutOpt = None,
    seed: int = 0,
    behavior: BehaviorOpt = None,
    overwrite: bool = False,
    model: ModelOpt = None,
    dtype: DtypeOpt = "float32",
    blocks_path: BlocksOpt = None,
    chat_template: TemplateOpt = None,
    trust_remote_code: RemoteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Project the direction (and re-found ones) out of every block; behaviour and KL cost."""
    check_output(out, overwrite)
    ds = DirectionSet.load(directions)
    _, test, held = _attack_items(behavior, holdout, seed, items)
    module = behavior_module(behavior or "honesty")
    contrast = spread(module.pairs("train", held, seed), pairs) if top_k else []
    lm = _model(model, dtype, blocks_path, chat_template, trust_remote_code, threads)
    result = ablation_attack(lm, ds, spread(test, test_items), contrast, top_k, progress=True)
    table = Table(title=f"{lm.name}: honest rate with the direction ablated at every block")
    for column in ("condition", "honest rate (95% CI)", "change", "KL"):
        table.add_column(column, justify="right")
    table.add_row("unablated", _rate(result["unablated"]["honest_rate"]), "", "0")
    for name, cond in result["ablated"].items():
        change = cond["honest_rate_change"]
        table.add_row(name, _rate(cond["honest_rate"]),
                      f"{change['value']:+.3f} [{change['low']:+.3f}, {change['high']:+.3f}]",
                      f"{cond['kl']:.3f}")  # fmt: skip
    console.print(table)
    _write_attack(out, result, lm, holdout_categories=held, directions=str(directions))
    console.print(f"{result['seconds']:.0f} s -> {out}")


def main() -> None:
    """Console entry point. Bad input (a ReptuneError, or options typer cannot parse) is one line
    on stderr and exit code 2, with nothing written; ``--debug`` anywhere shows the traceback."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        code = app(standalone_mode=False, prog_name="reptune")
    except NoArgsIsHelpError as exc:  # a bare ``reptune`` or ``reptune CMD``: show the help
        exc.show()
        sys.exit(exc.exit_code)
    except (ReptuneError, ClickException) as exc:
        if debug:
            raise
        if isinstance(exc, ClickException):
            message, status = exc.format_message(), exc.exit_code
            ctx = getattr(exc, "ctx", None)
            message += f" (see {ctx.command_path} --help)" if ctx is not None else ""
        else:
            message, status = str(exc), 2
        one_line = " / ".join(line.strip() for line in message.splitlines() if line.strip())
        Console(stderr=True).print(
            f"[red]error:[/red] {escape(one_line)}", highlight=False, soft_wrap=True
        )
        sys.exit(status)
    if isinstance(code, int) and code:  # e.g. 130 after Ctrl-C
        sys.exit(code)


if __name__ == "__main__":
    main()
