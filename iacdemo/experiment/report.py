"""The report folder: report.json (every number), report.md (the page a presenter shows), PNG plots.

The headline table is system x (learned / kept / drift / task). Below it each of the original
experiment's three findings is restated as numbers with a verdict: reproduced (the direction the
original saw) or not, so a run that does not show a finding says so plainly.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from iacdemo.settings import Settings

SMALL = 1e-9
COLUMNS = (  # (key in the table row, header, what it is)
    ("ppl_trained", "ppl trained", "perplexity of the trained pages (geometric mean)"),
    ("ppl_held_out", "ppl held-out", "perplexity of the slice's pages held out of training"),
    ("probe_right_type", "probe type", "docs-style probe: the answer declares the page's resource type"),
    ("probe_known_args", "probe args known", "docs-style probe: share of written arguments the provider documents"),
    ("probe_required", "probe required", "docs-style probe: required arguments all present"),
    ("request_right_type", "request type", "chat request from the page's description: right resource type"),
    ("request_known_args", "request args known", "chat request: share of written arguments that exist"),
    ("code_block_rate", "code block", "fixed chat requests answered with a fenced code block"),
    ("parse_rate", "parses", "... whose code parses"),
    ("plannable_rate", "plannable", "... whose code passes the static plan check"),
    ("prose_rate", "prose", "general (non-Terraform) questions answered in prose"),
    ("forgetting_ratio", "forgetting", "perplexity of the base model's own general answers, relative to base (>1 = forgot)"),
    ("drift_rate", "docs artefacts", "chat answers with docs artefacts (-> **Note:**, ~>, ## Argument Reference, ...)"),
    ("pass_at_1", "IaC-Eval pass@1", "IaC-Eval dev subset: pass@1"),
    ("iac_plannable", "IaC-Eval plannable", "IaC-Eval dev subset: plannable rate"),
    ("hallucinated_type_rate", "invented types", "IaC-Eval answers with an invented resource type"),
    ("unknown_argument_rate", "unknown args", "IaC-Eval answers with an unknown argument"),
)


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def table_rows(results: dict) -> dict[str, dict]:
    """{system: {column key: value or None}} from the step results."""
    learned, kept, task = results.get("learned") or {}, results.get("kept") or {}, results.get("task") or {}
    systems: list[str] = []
    for part in (learned.get("chat_request") or {}, kept, (task.get("systems") or {})):
        systems += [s for s in part if s not in systems]
    rows = {}
    for s in systems:
        rows[s] = {
            "ppl_trained": _get(learned, "perplexity", s, "trained"),
            "ppl_held_out": _get(learned, "perplexity", s, "held_out"),
            "probe_right_type": _get(learned, "docs_probe", s, "right_type_rate"),
            "probe_known_args": _get(learned, "docs_probe", s, "known_argument_share"),
            "probe_required": _get(learned, "docs_probe", s, "required_present_rate"),
            "request_right_type": _get(learned, "chat_request", s, "right_type_rate"),
            "request_known_args": _get(learned, "chat_request", s, "known_argument_share"),
            "code_block_rate": _get(kept, s, "code_block_rate"),
            "parse_rate": _get(kept, s, "parse_rate"),
            "plannable_rate": _get(kept, s, "plannable_rate"),
            "prose_rate": _get(kept, s, "prose_rate"),
            "forgetting_ratio": _get(kept, s, "forgetting_ratio"),
            "drift_rate": _get(kept, s, "drift", "artefact_rate"),
            "pass_at_1": _get(task, "systems", s, "pass_at_1"),
            "iac_plannable": _get(task, "systems", s, "plannable_rate"),
            "hallucinated_type_rate": _get(task, "systems", s, "hallucinated_type_rate"),
            "unknown_argument_rate": _get(task, "systems", s, "unknown_argument_rate"),
        }
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


PARTLY = "partly"  # a verdict: some of the finding's numbers moved the original's way, not all


def _verdict(ok: bool | str | None) -> str:
    if ok == PARTLY:
        return "**partly reproduced**"
    return "not measurable" if ok is None else ("**reproduced**" if ok else "**not reproduced**")


def _cmp(a: Any, b: Any, op) -> bool | None:
    return None if a is None or b is None else bool(op(a, b))


def findings(rows: dict[str, dict]) -> list[dict]:
    """The original's three findings (and the next steps' claims) as numbers with a verdict."""
    base, tuned = rows.get("base", {}), rows.get("tuned", {})
    out = []
    # "Learned the type" needs the tuned model to write it at all: 0 -> 0 is not learning.
    learned_type = _cmp(tuned.get("probe_right_type"), base.get("probe_right_type"), lambda t, b: t > 0 and t >= b)
    learned_ppl = _cmp(tuned.get("ppl_trained"), base.get("ppl_trained"), lambda t, b: t < b)
    invented = tuned.get("probe_known_args")
    if learned_type is None or invented is None:
        learned = PARTLY if learned_ppl or learned_type else (None if learned_ppl is None else False)
    elif learned_type and learned_ppl is not False and invented < 1.0:
        learned = True
    else:
        learned = PARTLY if learned_ppl or learned_type else False
    out.append({
        "finding": "1. Learned the types, but invented their arguments",
        "numbers": (f"trained-page perplexity base {_fmt(base.get('ppl_trained'))} → tuned {_fmt(tuned.get('ppl_trained'))} "
                    f"(held-out {_fmt(base.get('ppl_held_out'))} → {_fmt(tuned.get('ppl_held_out'))}); docs-probe right type "
                    f"{_fmt(base.get('probe_right_type'))} → {_fmt(tuned.get('probe_right_type'))}; share of the tuned "
                    f"model's probe arguments that exist: {_fmt(invented)}"),
        "reproduced": learned})
    chat_lost = _cmp(tuned.get("code_block_rate"), base.get("code_block_rate"), lambda t, b: t < b)
    prose_lost = _cmp(tuned.get("prose_rate"), base.get("prose_rate"), lambda t, b: t < b)
    forgot = None if tuned.get("forgetting_ratio") is None else tuned["forgetting_ratio"] > 1.0
    out.append({
        "finding": "2. Lost its chat ability",
        "numbers": (f"code-block rate base {_fmt(base.get('code_block_rate'))} → tuned {_fmt(tuned.get('code_block_rate'))}; "
                    f"prose answers to general questions {_fmt(base.get('prose_rate'))} → {_fmt(tuned.get('prose_rate'))}; "
                    f"forgetting ratio {_fmt(tuned.get('forgetting_ratio'))}"),
        # Answering chat with docs is the finding; a higher perplexity on general text alone is only part of it.
        "reproduced": (None if chat_lost is None and prose_lost is None else
                       True if chat_lost or prose_lost else PARTLY if forgot else False)})
    drifted = _cmp(tuned.get("drift_rate"), base.get("drift_rate"), lambda t, b: t > b)
    out.append({
        "finding": "3. Drifted into the docs' voice",
        "numbers": f"docs-artefact rate in chat answers base {_fmt(base.get('drift_rate'))} → tuned {_fmt(tuned.get('drift_rate'))}",
        "reproduced": drifted})
    return out


def next_steps(rows: dict[str, dict], results: dict) -> list[str]:
    """RAG, repair and better data against their baselines, and whether each meets its target."""
    lines = []
    task = results.get("task") or {}
    for label, source in (("tuned + repair", "tuned"), ("base + repair", "base")):
        rounds = _get(task, "systems", label, "by_round")
        if rounds:
            first, last = rounds[0]["plannable_rate"], rounds[-1]["plannable_rate"]
            ratio = (last / first) if first else None
            target = ("meets" if ratio is not None and ratio >= 1.3 else "misses") + " the ≥ 1.3x target"
            lines.append(f"Repair ({label}, {len(rounds) - 1} rounds): IaC-Eval plannable {first:.3f} → {last:.3f}"
                         + (f" ({ratio:.2f}x, {target})" if ratio is not None else
                            " (single-shot plannable is 0: no ratio; " + ("it rose" if last > 0 else "no change") + ")")
                         + f"; pass@1 {rounds[0]['pass_at_1']:.3f} → {rounds[-1]['pass_at_1']:.3f}.")
    for rag, plain in (("base + RAG", "base"), ("tuned + RAG", "tuned")):
        a, b = rows.get(rag, {}).get("pass_at_1"), rows.get(plain, {}).get("pass_at_1")
        if a is not None and b is not None:
            verdict = "does not lower" if a >= b else f"lowers (by {b - a:.3f})"
            lines.append(f"RAG ({rag} vs {plain}): IaC-Eval pass@1 {b:.3f} → {a:.3f}: RAG {verdict} pass@1; "
                         f"plannable {_fmt(rows[plain].get('iac_plannable'))} → {_fmt(rows[rag].get('iac_plannable'))}.")
    better, tuned = rows.get("tuned (better data)"), rows.get("tuned")
    if better and tuned:
        keys = ("code_block_rate", "plannable_rate", "prose_rate", "forgetting_ratio", "drift_rate",
                "probe_known_args", "request_right_type", "ppl_trained")
        parts = [f"{k} {_fmt(tuned.get(k))} → {_fmt(better.get(k))}" for k in keys]
        lines.append("Better data vs plain CPT (kept and learned): " + "; ".join(parts) + ".")
    return lines


def _plots(report_dir: Path, rows: dict[str, dict], results: dict) -> list[str]:
    import matplotlib  # only when a report is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    train = results.get("train") or {}
    if train:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for label, run in train.items():
            points = [(r["step"], r["loss"]) for r in run.get("metrics", []) if r.get("loss") is not None]
            evals = [(r["step"], r["eval_loss"]) for r in run.get("metrics", []) if r.get("eval_loss") is not None]
            if points:
                ax.plot(*zip(*points), label=f"{label} train")
            if evals:
                ax.plot(*zip(*evals), "o--", label=f"{label} held-out")
        ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.set_title("CPT loss"), ax.legend(fontsize=8)
        fig.tight_layout(), fig.savefig(report_dir / "loss.png", dpi=110), plt.close(fig)
        made.append("loss.png")
    groups = [("learned", ("probe_right_type", "probe_known_args", "request_right_type", "request_known_args")),
              ("kept", ("code_block_rate", "parse_rate", "plannable_rate", "prose_rate")),
              ("drift & task", ("drift_rate", "pass_at_1", "iac_plannable"))]
    headers = {k: h for k, h, _ in COLUMNS}
    fig, axes = plt.subplots(1, len(groups), figsize=(14, 4))
    systems = list(rows)
    width = 0.8 / max(1, len(systems))
    for ax, (title, keys) in zip(axes, groups):
        for i, system in enumerate(systems):
            values = [rows[system].get(k) or 0.0 for k in keys]
            ax.bar([x + i * width for x in range(len(keys))], values, width, label=system)
        ax.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(keys))])
        ax.set_xticklabels([headers[k] for k in keys], rotation=25, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05), ax.set_title(title)
    axes[0].legend(fontsize=7)
    fig.tight_layout(), fig.savefig(report_dir / "systems.png", dpi=110), plt.close(fig)
    made.append("systems.png")
    ppl = [(s, r["ppl_trained"], r["ppl_held_out"]) for s, r in rows.items() if r.get("ppl_trained")]
    if ppl:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        xs = range(len(ppl))
        ax.bar([x - 0.2 for x in xs], [p[1] for p in ppl], 0.4, label="trained pages")
        ax.bar([x + 0.2 for x in xs], [p[2] or 0 for p in ppl], 0.4, label="held-out pages")
        ax.set_xticks(list(xs)), ax.set_xticklabels([p[0] for p in ppl], fontsize=8)
        ax.set_ylabel("perplexity"), ax.set_title("learned: page perplexity"), ax.legend(fontsize=8)
        fig.tight_layout(), fig.savefig(report_dir / "perplexity.png", dpi=110), plt.close(fig)
        made.append("perplexity.png")
    task = results.get("task") or {}
    repaired = {l: _get(task, "systems", l, "by_round") for l in ("base + repair", "tuned + repair")}
    if any(repaired.values()):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for label, rounds in repaired.items():
            if rounds:
                ax.plot([r["round"] for r in rounds], [r["plannable_rate"] for r in rounds], "o-", label=f"{label} plannable")
                ax.plot([r["round"] for r in rounds], [r["pass_at_1"] for r in rounds], "s--", label=f"{label} pass@1")
        ax.set_xlabel("repair round (0 = single shot)"), ax.set_ylim(0, 1.05), ax.legend(fontsize=7)
        ax.set_title("IaC-Eval: repair rounds")
        fig.tight_layout(), fig.savefig(report_dir / "repair.png", dpi=110), plt.close(fig)
        made.append("repair.png")
    return made


def _examples(results: dict) -> list[str]:
    """A few answers side by side, so the numbers can be checked by eye."""
    lines = []
    learned = results.get("learned") or {}
    for system in ("base", "tuned", "tuned (better data)"):
        answers = _get(learned, "docs_probe", system, "answers") or []
        if answers:
            a = answers[0]
            lines += [f"**{system}**, docs probe for `{a['type']}` (right type: {a['right_type']}, arguments known: "
                      f"{a['known_arguments']}/{a['arguments']}):", "", "```", a["continuation"].strip()[:800], "```", ""]
    kept = results.get("kept") or {}
    for system in ("base", "tuned"):
        answers = _get(kept, system, "general_answers") or []
        if answers:
            lines += [f"**{system}**, general question *{answers[0]['prompt']}*:", "", "```",
                      answers[0]["answer"].strip()[:600], "```", ""]
    return lines


def write_report(report_dir: Path, config, results: dict, settings: Settings) -> dict:
    rows = table_rows(results)
    found = findings(rows)
    steps_lines = next_steps(rows, results)
    plots = _plots(report_dir, rows, results)
    slice_result = results.get("slice") or {}
    task = results.get("task") or {}
    train = results.get("train") or {}
    report = {
        "name": config.name, "model": config.model, "created": time.time(), "config": config.to_dict(),
        "slice": {k: v for k, v in slice_result.items() if k != "pages"},
        "slice_pages": [{k: p[k] for k in ("path", "type", "held_out")} for p in slice_result.get("pages", [])],
        "train": {label: {k: v for k, v in run.items() if k != "metrics"} for label, run in train.items()},
        "table": rows, "findings": found, "next_steps": steps_lines,
        "iac_eval": {k: task.get(k) for k in ("mode", "tasks", "difficulty", "limit")} if task else None,
        "plots": plots,
    }
    (report_dir / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    (report_dir / "report.md").write_text(render_markdown(report, results), encoding="utf-8")
    return report


COMPACT = (("learned: probe type / args known", ("probe_right_type", "probe_known_args")),
           ("kept: code block / prose", ("code_block_rate", "prose_rate")),
           ("drift: docs artefacts", ("drift_rate",)),
           ("IaC-Eval pass@1", ("pass_at_1",)),
           ("IaC-Eval plannable", ("iac_plannable",)))


def compact_table(rows: dict[str, dict]) -> str:
    """system x learned / kept / drift / pass@1 / plannable: the table the README shows."""
    lines = ["| system | " + " | ".join(h for h, _ in COMPACT) + " |", "|---" * (len(COMPACT) + 1) + "|"]
    for system, row in rows.items():
        cells = [" / ".join(_fmt(row.get(k)) for k in keys) for _, keys in COMPACT]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sizes_line(config: dict, results: dict) -> str:
    m, learned = config["measure"], results.get("learned") or {}
    return (f"Sizes: {len(learned.get('types') or [])} resource types probed, {len(m['chat_requests'])} chat requests, "
            f"{len(m['general_prompts'])} general questions, answers up to {m['max_new_tokens']} new tokens "
            f"(IaC-Eval {config['iac_eval']['max_new_tokens']}), {m['repair_rounds']} repair rounds, greedy decoding. "
            "Small samples: read the rates as counts (0.5 of 2 prompts is one answer).")


def render_markdown(report: dict, results: dict) -> str:
    config = report["config"]
    rows = report["table"]
    slice_info = report["slice"]
    lines = [f"# Experiment `{report['name']}`: {report['model']}", ""]
    train_bits = []
    for label, run in report["train"].items():
        status = run.get("status") or {}
        data = status.get("data") or {}
        train_bits.append(f"{label}: {status.get('step')}/{status.get('total_steps')} steps in "
                          f"{_fmt(status.get('elapsed_s'))} s, {data.get('doc_tokens', '?')} doc tokens + "
                          f"{data.get('chat_tokens', 0)} chat/instruction tokens")
    lines += [f"Slice: {', '.join(config['slice']['services']) or config['slice']['path_pattern']} — "
              f"{slice_info.get('trained_pages')} pages trained, {slice_info.get('held_out_pages')} held out "
              f"({_fmt((slice_info.get('stats') or {}).get('tokens'))} tokens).", "",
              "Training: " + ("; ".join(train_bits) or "–") + ".", "", sizes_line(config, results), ""]
    if report.get("iac_eval"):
        ie = report["iac_eval"]
        lines += [f"IaC-Eval: {len(ie['tasks'] or [])} dev tasks (difficulty {ie['difficulty']}, first {ie['limit']}), "
                  f"**{ie['mode']} mode** ({'Terraform plan' if ie['mode'] == 'real' else 'the static emulated plan, not Terraform: [iac_eval].mode'}).", ""]
    lines += ["## Headline", "", compact_table(rows), "", "## Every measurement", "",
              "| system | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
              "|---" * (len(COLUMNS) + 1) + "|"]
    for system, row in rows.items():
        lines.append(f"| {system} | " + " | ".join(_fmt(row.get(k)) for k, _, _ in COLUMNS) + " |")
    lines += ["", "<details><summary>Columns</summary>", ""]
    lines += [f"- **{h}**: {what}" for _, h, what in COLUMNS]
    lines += ["", "</details>", "", "## The original's findings, as numbers", ""]
    for f in report["findings"]:
        lines += [f"- {f['finding']}: {_verdict(f['reproduced'])}. {f['numbers']}."]
    lines += ["", "## RAG, repair, better data", ""]
    lines += [f"- {line}" for line in report["next_steps"]] or ["- (not measured)"]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in report["plots"]]
    lines += ["", "## Examples", ""] + _examples(results)
    lines += ["", "Every answer and number: `report.json`, `steps/*.json`; training runs (with TensorBoard event "
              "files) under `runs/`."]
    return "\n".join(lines) + "\n"
