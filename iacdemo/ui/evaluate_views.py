"""What the Evaluate tab shows of an evaluation: table rows, chart data, a task's answers as HTML.

Pure functions of a `Comparison` (no Gradio), so they are tested directly and reused by anything that
renders evaluations. HTML uses inline styles: the app's stylesheet is not ours to extend, and a task's
detail must look the same wherever it is pasted.
"""
from __future__ import annotations

import dataclasses
import html
from typing import Any, Sequence

import pandas as pd

from iacdemo.evaluation.comparison import REFERENCE, Comparison
from iacdemo.hcl.check import CheckResult
from iacdemo.hcl.highlight import highlight_hcl

METRICS: tuple[tuple[str, str], ...] = (
    ("pass@1", "pass_at_1"),
    ("plannable", "plannable_rate"),
    ("code block", "code_block_rate"),
    ("parses", "parse_rate"),
    ("hallucinated types", "hallucinated_type_rate"),
    ("unknown arguments", "unknown_argument_rate"),
)
DIFFICULTY_LEVELS = (1, 2, 3, 4, 5, 6)
MODE_NOTES = {
    "static": "static mode: plannability judged offline (parse + provider-docs schema + references), "
              "policies run on an emulated plan",
    "real": "real mode: `terraform plan` with the AWS provider, policies run on its JSON plan",
}
LEVEL_STYLES = {
    "ok": "background:#dcfce7;color:#14532d;border:1px solid #16a34a",
    "info": "background:#e0e7ff;color:#1e1b4b;border:1px solid #6366f1",
    "warn": "background:#fef3c7;color:#78350f;border:1px solid #d97706",
    "error": "background:#fee2e2;color:#7f1d1d;border:1px solid #dc2626",
}
PROMPT_CHARS_IN_PICKER = 70


def pct(value: Any) -> str:
    return f"{100 * float(value):.1f}%" if isinstance(value, (int, float)) else ""


def mode_note(mode: str) -> str:
    return MODE_NOTES.get(mode, f"{mode} mode")


# ---- summary and table -------------------------------------------------------------------------------------
def summary_md(comparison: Comparison | None) -> str:
    """One paragraph that always says what was scored and in which mode."""
    if comparison is None:
        return ""
    what = ("the tasks' reference programs (the harness's fidelity check)" if comparison.answers == REFERENCE
            else f"answers of `{comparison.model_id}`")
    settings = comparison.settings
    if not getattr(comparison, "complete", True):
        return (f"**Running…** {len(comparison.tasks)} task(s) scored so far ({comparison.seconds} s); the table "
                f"fills in as each task's answers are scored. **Mode: {comparison.mode}**: "
                f"{mode_note(comparison.mode)}.")
    lines = [f"**Mode: {comparison.mode}**: {mode_note(comparison.mode)}.",
             f"Scored {what} on {len(comparison.tasks)} IaC-Eval tasks in {comparison.seconds} s."]
    if comparison.answers != REFERENCE:
        decoding = ("greedy" if settings.get("greedy") else
                    f"sampled (temperature {settings.get('temperature')}, seed {settings.get('seed')})")
        lines.append(f"{settings.get('samples', 1)} answer(s) per task, {decoding}, at most "
                     f"{settings.get('max_new_tokens')} new tokens; {comparison.generated} generated now, "
                     f"{comparison.cached} from the answer cache.")
    lines.append(f"Evaluation `{comparison.id}`.")
    return "\n\n".join(lines)


def results_frame(comparison: Comparison | None) -> pd.DataFrame:
    """One row per system: the headline rates, pass@k when sampled, and pass@1 by difficulty."""
    headers = ["system", "mode", "tasks", "samples/task", *(name for name, _ in METRICS)]
    if comparison is None:
        return pd.DataFrame(columns=headers)
    ks = sorted({int(key[len("pass_at_"):]) for report in comparison.reports.values() for key in report
                 if key.startswith("pass_at_") and key[len("pass_at_"):].isdigit() and key != "pass_at_1"})
    levels = sorted({int(level) for report in comparison.reports.values()
                     for level in (report.get("by_difficulty") or {})})
    headers = headers[:5] + [f"pass@{k}" for k in ks] + headers[5:] + [f"pass@1 d{level}" for level in levels]
    rows = []
    for label in comparison.labels:
        report = comparison.reports.get(label) or {}
        by_level = report.get("by_difficulty") or {}
        rows.append([label, report.get("mode", comparison.mode), report.get("tasks", 0),
                     report.get("samples_per_task", 0), pct(report.get("pass_at_1")),
                     *(pct(report.get(f"pass_at_{k}")) for k in ks),
                     *(pct(report.get(key)) for _, key in METRICS[1:]),
                     *(pct((by_level.get(str(level)) or {}).get("pass_at_1")) for level in levels)])
    return pd.DataFrame(rows, columns=headers)


# Okabe-Ito: told apart with every common colour-vision deficiency, and on light and dark themes.
SYSTEM_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
LOWER_IS_BETTER = {"hallucinated types", "unknown arguments"}


def system_colours(labels: Sequence[str]) -> dict[str, str]:
    """One colour per system, by its position in the table (the legend and the bars share this)."""
    return {label: SYSTEM_COLOURS[i % len(SYSTEM_COLOURS)] for i, label in enumerate(labels)}


def chart_html(comparison: Comparison | None) -> str:
    """Bars per metric, one per system, as plain HTML: every label in full and colours that match the legend.

    Gradio's bar plot stacks bars sharing an x value, keeps the colour domain it first drew (a later
    run's systems got other colours than its legend said) and cuts long x labels
    ("tuned:smollm2-135m-instru…"), so the chart is drawn here instead; it also reads without JavaScript.
    """
    if comparison is None or not comparison.labels:
        return ""
    colours = system_colours(comparison.labels)
    legend = "".join(
        f'<span class="eval-chart-key" style="display:inline-flex;align-items:center;margin:0 14px 4px 0">'
        f'<span style="width:12px;height:12px;border-radius:2px;background:{colours[label]};margin-right:6px;'
        f'flex:none"></span>{html.escape(label)}</span>' for label in comparison.labels)
    groups = []
    for name, key in METRICS:
        note = " (lower is better)" if name in LOWER_IS_BETTER else ""
        rows = []
        for label in comparison.labels:
            value = (comparison.reports.get(label) or {}).get(key)
            if not isinstance(value, (int, float)):
                continue
            percent = round(100 * float(value), 1)
            rows.append(
                f'<div class="eval-chart-row" data-system="{html.escape(label, quote=True)}" data-metric="{name}" '
                f'data-percent="{percent}" style="display:flex;align-items:center;gap:8px;margin:2px 0">'
                f'<span class="eval-chart-label" style="flex:0 0 34%;overflow-wrap:anywhere;font-size:0.9em">'
                f"{html.escape(label)}</span>"
                f'<span style="flex:1;background:rgba(127,127,127,0.15);border-radius:3px;height:16px">'
                f'<span class="eval-chart-bar" style="display:block;height:100%;width:{percent}%;'
                f'background:{colours[label]};border-radius:3px"></span></span>'
                f'<span class="eval-chart-value" style="flex:0 0 4.5em;text-align:right;'
                f'font-variant-numeric:tabular-nums">{percent:.1f}%</span></div>')
        if rows:
            groups.append(f'<div class="eval-chart-group" style="margin:8px 0">'
                          f'<div style="font-weight:600">{html.escape(name)}{note}</div>{"".join(rows)}</div>')
    return (f'<div class="eval-chart" aria-label="Rates per system (%)"><div style="font-weight:600;'
            f'margin-bottom:4px">Rates per system (%)</div>'
            f'<div class="eval-chart-legend" style="margin-bottom:4px">{legend}</div>{"".join(groups)}</div>')


# ---- the task picker and a task's detail ------------------------------------------------------------------------
def _marks(task: dict, labels: Sequence[str]) -> str:
    marks = []
    for label in labels:
        samples = task["answers"].get(label) or []
        passed = sum(bool(s.get("passed")) for s in samples)
        marks.append(("✓" if passed == len(samples) else f"{passed}/{len(samples)}") if passed else "✗")
    return " ".join(marks)


def task_choices(comparison: Comparison | None) -> list[tuple[str, int]]:
    """Dropdown entries: task id, difficulty, a pass mark per system (in table order), prompt start."""
    if comparison is None:
        return []
    choices = []
    for task in comparison.tasks:
        prompt = " ".join(task["prompt"].split())
        if len(prompt) > PROMPT_CHARS_IN_PICKER:
            prompt = prompt[:PROMPT_CHARS_IN_PICKER] + "…"
        choices.append((f"#{task['id']} · d{task['difficulty']} · {_marks(task, comparison.labels)} · {prompt}",
                        task["id"]))
    return choices


_CHECK_FIELDS = {f.name for f in dataclasses.fields(CheckResult)}


def check_badges(sample: dict) -> list[tuple[str, str]]:
    """The HCL checker's badges for a scored sample (the same ones the Compare tab shows)."""
    check = sample.get("check") or {}
    result = CheckResult(**{k: v for k, v in check.items() if k in _CHECK_FIELDS})
    result.has_code = bool(sample.get("has_code"))
    return result.badges()


def badge_html(text: str, level: str) -> str:
    style = LEVEL_STYLES.get(level, LEVEL_STYLES["info"])
    return (f'<span class="eval-badge eval-badge-{level}" style="{style};border-radius:999px;padding:1px 9px;'
            f'margin:2px 4px 2px 0;display:inline-block;font-size:0.9em">{html.escape(text)}</span>')


def _sample_html(sample: dict, label: str, index: int, of: int) -> str:
    verdict = badge_html("PASS", "ok") if sample.get("passed") else badge_html(
        "FAIL" + (f": {sample['cause']}" if sample.get("cause") else ""), "error")
    head = f"<b>{html.escape(label)}</b>" + (f" · sample {index + 1} of {of}" if of > 1 else "")
    parts = ['<div class="eval-sample" style="border:1px solid #cbd5e1;border-radius:8px;padding:8px 10px;'
             'margin:8px 0">', f"<div>{head} {verdict}</div>",
             '<div class="eval-badges">' + "".join(badge_html(t, lvl) for t, lvl in check_badges(sample))
             + "".join(badge_html(line, "error") for line in sample.get("terraform") or []) + "</div>"]
    rules = sample.get("failed_rules") or []
    if rules:
        parts.append("<div>Rego rules that failed: " + ", ".join(f"<code>{html.escape(str(r))}</code>" for r in rules)
                     + "</div>")
    elif sample.get("plannable") and not sample.get("passed") and not sample.get("error"):
        parts.append("<div>No Rego rule evaluated to false, but the policy's result did not pass.</div>")
    if sample.get("error"):
        parts.append(f"<div>Engine/plan message: <code>{html.escape(str(sample['error'])[:400])}</code></div>")
    if sample.get("sources"):
        parts.append("<div>Retrieved docs in the prompt: " + ", ".join(
            f"<code>{html.escape(s)}</code>" for s in sample["sources"]) + "</div>")
    meta = []
    if sample.get("new_tokens"):
        meta.append(f"{sample['new_tokens']} new tokens" + ("" if sample.get("finished") else " (cut at the limit)"))
    if sample.get("prompt_tokens"):
        meta.append(f"{sample['prompt_tokens']} prompt tokens")
    if sample.get("cached"):
        meta.append("from the answer cache")
    if meta:
        parts.append(f'<div style="opacity:0.75;font-size:0.9em">{" · ".join(meta)}</div>')
    code = sample.get("code") or ""
    if code.strip():
        error_line = (sample.get("check") or {}).get("parse_error_line")
        parts.append('<div style="font-size:0.9em">Code (first fenced block, as IaC-Eval extracts it):</div>')
        parts.append('<div style="max-height:360px;overflow:auto">'
                     + highlight_hcl(code, error_line=error_line, inline=True) + "</div>")
    answer = sample.get("answer")
    if answer is not None:
        parts.append(f"<details{' open' if not code.strip() else ''}><summary>Full answer</summary>"
                     f'<pre style="white-space:pre-wrap;margin:4px 0">{html.escape(answer) or "(empty)"}</pre>'
                     "</details>")
    parts.append("</div>")
    return "".join(parts)


def task_detail_html(comparison: Comparison | None, task_id: Any) -> str:
    """A task's prompt and policy, then each system's answer(s) with badges and failed rules."""
    if comparison is None or task_id is None or task_id == "":
        return ""
    task = comparison.task(int(task_id))
    parts = [f'<div class="eval-task" data-task-id="{task["id"]}">',
             f"<h4 style=\"margin:4px 0\">Task #{task['id']} · difficulty {task['difficulty']}"
             f" · {html.escape(task.get('resource') or '')}</h4>",
             f'<div class="eval-prompt" style="background:#f8fafc;border-left:4px solid #6366f1;padding:6px 10px">'
             f"{html.escape(task['prompt'])}</div>"]
    if task.get("intent"):
        parts.append(f"<details><summary>Intent</summary><div>{html.escape(task['intent'])}</div></details>")
    if task.get("policy"):
        parts.append("<details><summary>Rego intent policy</summary>"
                     f'<pre style="white-space:pre-wrap">{html.escape(task["policy"])}</pre></details>')
    for label in comparison.labels:
        samples = task["answers"].get(label) or []
        for i, sample in enumerate(samples):
            parts.append(_sample_html(sample, label, i, len(samples)))
    parts.append("</div>")
    return "".join(parts)


# ---- earlier evaluations ---------------------------------------------------------------------------------------
def history_choices(metas: Sequence[dict]) -> list[tuple[str, str]]:
    """Saved evaluations for a dropdown: title plus each system's pass@1."""
    choices = []
    for meta in metas:
        scores = ", ".join(f"{label} {pct(value)}" for label, value in (meta.get("pass_at_1") or {}).items())
        choices.append((f"{meta.get('title', meta['id'])} · pass@1 {scores}", meta["id"]))
    return choices


__all__ = ["METRICS", "badge_html", "chart_html", "check_badges", "history_choices", "mode_note", "pct",
           "results_frame", "summary_md", "task_choices", "task_detail_html"]
