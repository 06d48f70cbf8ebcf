"""Looking inside a model: where the direction lives per token (:mod:`.trace`) and what tuning
changed in the weights (:mod:`.diff`)."""

from .diff import WeightDiff, diff_models, effective_rank, fig_diff, fig_diff_summary
from .trace import Trace, fig_heatmap, fig_lines, trace, trace_html, write_traces

__all__ = [
    "Trace",
    "WeightDiff",
    "diff_models",
    "effective_rank",
    "fig_diff",
    "fig_diff_summary",
    "fig_heatmap",
    "fig_lines",
    "trace",
    "trace_html",
    "write_traces",
]
