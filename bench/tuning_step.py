"""The tuning step: reptune's ``Trainer.step`` vs a re-implementation of the paper's procedure.

The paper's loop (Ackerman 2024, ``custom_fine_tune.ipynb`` of the author's repository) does, per
batch: one full forward pass of the model keeping every hidden state, the token loss divided by
100 backward with ``retain_graph=True``, then the projection loss ``(1 - cos(h, s·v)) / 2``
averaged over the tuned blocks backward through the same graph, then one optimizer step.
:class:`PaperProcedure` does exactly that, here with ``output_hidden_states=True``. Both tools get
the same batch (the same 8 examples, tokenized by the same function), the same blocks and read
position, the same loss weights and the same AdamW settings; a check compares their loss terms
and their first weight update.

Peak memory is a process's peak resident size, so each tool runs in its own worker process, and the
parent asks the workers for one step in turn (reptune, paper, reptune, paper, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from reptune import DirectionSet, LoadedModel, load_model
from reptune.activations import Position, tokenize
from reptune.behaviors import honesty
from reptune.data.schema import TuneExample
from reptune.models import parse_layers
from reptune.tuning.config import TuneConfig
from reptune.tuning.losses import next_token_columns
from reptune.tuning.trainer import Trainer

from .common import Sizes, load_average, peak_rss_mb, set_threads, summary
from .flops import output_weights, profile, weights

BATCH = 8
MODES = ("rep+token", "rep")


def examples() -> list[TuneExample]:
    """One batch of built-in tuning examples (question -> truthful answer), the same every step."""
    return honesty.tuning_examples("train", "+")[:BATCH]


def tune_config(mode: str) -> TuneConfig:
    """reptune's defaults (blocks 8-17 of 30, last prompt token, token weight 0.01, lr 5e-5)."""
    return TuneConfig(mode=mode, toward="+", batch_size=BATCH, steps=1000, eval_every=0)


class PaperProcedure:
    """The paper's training step, on the same blocks, position, loss weights and optimizer
    (AdamW in torch's default implementation, as the paper's code builds it)."""

    def __init__(self, lm: LoadedModel, directions: DirectionSet, config: TuneConfig) -> None:
        self.lm, self.config = lm, config
        self.layers = parse_layers(config.layers, lm.num_layers)
        self.positions = [Position.parse(p) for p in config.positions]
        self.targets = {layer: directions.vector(layer) * config.sign for layer in self.layers}
        for p in lm.model.parameters():
            p.requires_grad_(False)
        params = [p for layer in self.layers for p in lm.adapter.blocks[layer].parameters()]
        for p in params:
            p.requires_grad_(True)
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        lm.model.train()

    def step(self, batch: Sequence[TuneExample]) -> dict[str, float]:
        lm, config = self.lm, self.config
        self.optimizer.zero_grad()
        texts = [lm.render(ex.prompt) for ex in batch]
        targets = [ex.target for ex in batch] if config.uses_token else None
        tokens = tokenize(lm, texts, self.positions, padding_side="right", targets=targets)
        inputs = tokens.model_inputs(lm.device)
        if config.uses_token:
            inputs["labels"] = tokens.labels
        outputs = lm.model(**inputs, output_hidden_states=True, use_cache=False)
        terms = {}
        if config.uses_token:
            token_loss = outputs.loss * config.token_weight
            token_loss.backward(retain_graph=True)
            terms["token"] = float(outputs.loss)
        rows = torch.arange(len(batch)).unsqueeze(1)
        projection = torch.zeros(())
        for layer in self.layers:
            h = outputs.hidden_states[layer + 1][rows, tokens.positions]
            d = self.targets[layer]
            cos = (h @ d) / (d.norm() * h.norm(dim=-1))
            projection = projection + ((1 - cos) / 2).mean() / len(self.layers)
        projection.backward()
        self.optimizer.step()
        terms["rep"] = float(projection)
        return terms


def _tool(name: str, lm: LoadedModel, directions: DirectionSet, mode: str, folder: Path):
    """A ``step(i) -> loss terms`` callable for one tool, set up and ready."""
    config = tune_config(mode)
    if name == "paper":
        paper = PaperProcedure(lm, directions, config)
        return lambda i: paper.step(examples())
    trainer = Trainer(lm, directions, examples(), config, folder / "out")
    trainer._prepare_model()  # what Trainer.run does before its loop; the loop calls step()
    return lambda i: trainer.step(i, [])


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def serve(tool: str, mode: str, directions_path: str) -> None:
    """A worker process for one tool: set up, then one step per ``step`` line on stdin.

    Each answer is one JSON line: the step's seconds and the process's peak memory so far;
    ``profile`` runs one step under the profiler instead. Keeping one worker per tool lets the
    parent take the tools in turn step by step, while each tool's memory stays its own.
    """
    set_threads()
    lm = load_model()
    directions = DirectionSet.load(directions_path)
    with tempfile.TemporaryDirectory() as folder:
        step = _tool(tool, lm, directions, mode, Path(folder))
        print(json.dumps({"setup_rss_mb": _current_rss_mb()}), flush=True)
        for i, line in enumerate(sys.stdin):
            if line.strip() == "profile":
                answer: dict[str, object] = {"profile": profile(lambda i=i: step(i))}
            elif line.strip() == "step":
                start = time.perf_counter()
                step(i)
                answer = {"s": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}
            else:
                break
            print(json.dumps(answer), flush=True)


class _Worker:
    """The parent's handle on a :func:`serve` process."""

    def __init__(self, tool: str, mode: str, directions_path: str, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.tuning_step", "--serve", "--tool", tool, "--mode", mode,
             "--directions", directions_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )  # fmt: skip
        self.setup = self._answer()

    def _answer(self) -> dict:
        while line := self.process.stdout.readline():
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"tuning worker died:\n{self.log.read_text()[-3000:]}")

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=120)


def check(mode: str, directions_path: str) -> dict[str, object]:
    """Same batch, blocks and loss: the first step's loss terms and weight update of both tools."""
    set_threads()
    directions = DirectionSet.load(directions_path)
    result: dict[str, object] = {}
    deltas = {}
    for tool in ("reptune", "paper"):
        lm = load_model()
        layers = parse_layers(tune_config(mode).layers, lm.num_layers)
        before = [p.detach().clone() for i in layers for p in lm.adapter.blocks[i].parameters()]
        with tempfile.TemporaryDirectory() as folder:
            terms = _tool(tool, lm, directions, mode, Path(folder))(0)
        after = [p.detach() for i in layers for p in lm.adapter.blocks[i].parameters()]
        deltas[tool] = torch.cat([(a - b).flatten() for a, b in zip(after, before, strict=True)])
        result[tool] = {k: terms[k] for k in ("rep", "token") if k in terms}
    result["update_cosine"] = float(
        F.cosine_similarity(deltas["reptune"].double(), deltas["paper"].double(), dim=0)
    )
    return result


def step_flops(lm: LoadedModel, mode: str, procedure: str) -> float:
    """Model FLOPs of one step (see :mod:`bench.flops` for the counting rule).

    reptune: one forward (stopping after the last target block when there is no token loss, and
    with the output head only on the columns whose next token is a target) and one backward. The
    paper: a full forward with the output head on every token, the token loss's backward, and the
    projection loss's backward through the target blocks a second time.
    """
    config = tune_config(mode)
    layers = parse_layers(config.layers, lm.num_layers)
    tokens, head_tokens = batch_tokens(lm, mode)
    if procedure == "paper":
        head_tokens = tokens
    w = [weights(b) for b in lm.adapter.blocks]
    head = output_weights(lm.model)
    first, last = min(layers), max(layers)
    tuned = sum(w[first : last + 1])
    if mode == "rep+token":
        forward = 2 * sum(w) * tokens + 2 * head * head_tokens
        backward = 2 * sum(w[first:]) * tokens + 2 * head * head_tokens + 2 * tuned * tokens
        second = 4 * tuned * tokens if procedure == "paper" else 0  # projection backward again
        return float(forward + backward + second)
    forward = 2 * (sum(w) + head) if procedure == "paper" else 2 * sum(w[: last + 1])
    return float((forward + 4 * tuned) * tokens)


def batch_tokens(lm: LoadedModel, mode: str) -> tuple[int, int]:
    """Real tokens in the step's batch (prompts, plus the answer tokens with a token loss), and
    the positions reptune runs the output head on (rows x columns followed by a target)."""
    config = tune_config(mode)
    batch = examples()
    targets = [ex.target for ex in batch] if config.uses_token else None
    tokens = tokenize(
        lm, [lm.render(ex.prompt) for ex in batch], padding_side="right", targets=targets
    )
    kept = len(batch) * len(next_token_columns(tokens.labels)) if config.uses_token else 0
    return int(tokens.attention_mask.sum()), kept


def _check(mode: str, directions_path: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.tuning_step", "--check", "--mode", mode,
         "--directions", directions_path],
        check=True,
        capture_output=True,
        text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(lm: LoadedModel, directions: DirectionSet, sizes: Sizes) -> dict:
    """Per loss: the like-for-like check, then one worker per tool, steps taken in turn."""
    layers = parse_layers(tune_config("rep").layers, lm.num_layers)
    results: dict[str, object] = {"batch": BATCH, "layers": list(layers)}
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "directions")
        directions.save(path)
        for mode in MODES:
            checked = _check(mode, path)
            workers = {
                tool: _Worker(tool, mode, path, Path(folder) / f"{tool}.log")
                for tool in ("reptune", "paper")
            }
            try:
                load_before = load_average()
                for worker in workers.values():
                    worker.ask("step")  # warm-up
                answers: dict[str, list[dict]] = {tool: [] for tool in workers}
                for _ in range(sizes.tuning_reps):
                    for tool, worker in workers.items():
                        answers[tool].append(worker.ask("step"))
                load_after = load_average()
                profiled = workers["reptune"].ask("profile")["profile"]
            finally:
                for worker in workers.values():
                    worker.close()
            tokens = batch_tokens(lm, mode)[0]
            needed = step_flops(lm, mode, "reptune")
            tools = {}
            for tool, answered in answers.items():
                row = summary([a["s"] for a in answered])
                row["peak_rss_mb"] = answered[-1]["peak_rss_mb"]
                row["setup_rss_mb"] = workers[tool].setup["setup_rss_mb"]
                row["flops"] = step_flops(lm, mode, tool)
                tools[tool] = row
            paired = sorted(
                p["s"] / r["s"] for p, r in zip(answers["paper"], answers["reptune"], strict=True)
            )
            results[mode] = {
                "tokens": tokens,
                "needed_flops": needed,
                "check": checked,
                "reptune_profile": profiled,
                "tools": tools,
                "speedup": tools["paper"]["median_s"] / tools["reptune"]["median_s"],
                "paired_speedup_median": paired[len(paired) // 2],
                "flop_ratio": tools["paper"]["flops"] / tools["reptune"]["flops"],
                "load_average": {"before": load_before, "after": load_after},
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", choices=("reptune", "paper"))
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--directions", required=True)
    parser.add_argument("--serve", action="store_true", help="answer step requests on stdin")
    parser.add_argument("--check", action="store_true", help="compare the first step of both")
    args = parser.parse_args()
    if args.check:
        print(json.dumps(check(args.mode, args.directions)))
    else:
        serve(args.tool, args.mode, args.directions)


if __name__ == "__main__":
    main()
