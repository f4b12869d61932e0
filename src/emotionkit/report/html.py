"""Render a study (the ``report.json`` dict) as one self-contained HTML page.

Figures are embedded as base64 PNG, so the file opens offline and can be mailed; the page is
one column that fits a phone, and follows the system's light or dark theme.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

CSS = """
:root { --bg: #ffffff; --fg: #1d1f23; --muted: #5f6670; --card: #f5f6f8; --line: #d9dce1;
        --ok: #1a7f37; --bad: #c62828; --accent: #3563c9; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15171a; --fg: #e6e8eb; --muted: #9aa1ab; --card: #1f2226; --line: #33373d;
          --ok: #56c271; --bad: #ef6b6b; --accent: #7ea2f2; }
  figure img { background: #ffffff; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; } h2 { font-size: 1.25rem; margin-top: 2.2rem;
  border-bottom: 1px solid var(--line); padding-bottom: .3rem; }
p.meta, .muted { color: var(--muted); font-size: .9rem; }
nav ul { list-style: none; padding-left: 0; } nav a { color: var(--accent); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .6rem; }
.card { background: var(--card); border-radius: .5rem; padding: .6rem .8rem; }
.card b { display: block; font-size: 1.35rem; }
.table { overflow-x: auto; } table { border-collapse: collapse; font-size: .88rem; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border-radius: .3rem; }
figcaption { color: var(--muted); font-size: .88rem; }
.status-failed { color: var(--bad); } .status-skipped { color: var(--muted); }
pre { background: var(--card); padding: .6rem; overflow-x: auto; font-size: .78rem; }
details summary { cursor: pointer; color: var(--accent); }
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _e(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _figure(path: Any, caption: str) -> str:
    if not path:
        return ""
    file = Path(path)
    if not file.is_file():
        return f'<p class="muted">(figure {_e(file.name)} missing)</p>'
    data = base64.b64encode(file.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (f'<div class="table"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _cards(items: list[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{value}</b>{_e(label)}</div>' for label, value in items) + "</div>"


# ----------------------------------------------------------------------------- sections
def _cnn(s: dict[str, Any], report: dict[str, Any]) -> str:
    acc = s.get("accuracy", {})
    parts = [_cards([(f"accuracy on {report['validation']}", _pct(acc.get("none"))),
                     ("with flip TTA", _pct(acc.get("flip"))),
                     ("with ten-crop TTA", _pct(acc.get("tencrop"))),
                     ("parameters", _num(s.get("params")))])]
    if s.get("trained"):
        opts = s.get("options", {})
        parts.append(f"<p>Trained <code>{_e(s.get('model'))}</code> from scratch for "
                     f"{len((s.get('history') or {}).get('epochs', []))} epochs "
                     f"({_e(opts.get('optimizer'))}, lr {_e(opts.get('lr'))}, "
                     f"{_e(opts.get('scheduler'))} schedule, batch {_e(opts.get('batch_size'))}) "
                     f"in {s.get('seconds', 0):.0f} s; best epoch {_e(s.get('best_epoch'))}, "
                     f"selected on {_e(report['validation'])}.</p>")
        parts.append(_figure(s.get("curves"), "Training curves of the CNN"))
    else:
        parts.append(f"<p>Reported on the given model <code>{_e(s.get('model'))}</code> "
                     f"(not trained here).</p>")
    summary = s.get("summary") or {}
    rows = [[_e(r["name"]), _e(r["type"]),
             _e("x".join(map(str, r["output_shape"][1:])) if r.get("output_shape") else "-"),
             _num(r["params"]), _num(r["macs"])] for r in summary.get("layers", [])
            if r["params"] or r["macs"] or r["type"].endswith("Pool2d")]
    parts.append("<details><summary>Summary table (layers with parameters or pooling)"
                 "</summary>" + _table(["layer", "type", "output", "params", "MACs"], rows)
                 + f"<p>Total params {_num(summary.get('total_params'))} (trainable "
                 f"{_num(summary.get('trainable_params'))}); "
                 f"{_num(summary.get('total_macs'))} multiply-accumulates per image.</p>"
                 "</details>")
    return "".join(parts)


def _dnn(s: dict[str, Any], report: dict[str, Any]) -> str:
    widths = " &rarr; ".join(["2304", *map(str, s.get("hidden", [])), "7"])
    return (_cards([("CNN accuracy", _pct(s.get("cnn_accuracy"))),
                    ("DNN accuracy", _pct(s.get("accuracy"))),
                    ("CNN trainable params", _num(s.get("cnn_trainable_params"))),
                    ("DNN trainable params", _num(s.get("dnn_trainable_params")))])
            + f"<p>Fully connected net {widths}, {s.get('param_ratio', 0):.3f} times the CNN's "
              f"trainable parameters, trained {len((s.get('history') or {}).get('epochs', []))} "
              f"epochs in {s.get('seconds', 0):.0f} s.</p>"
            + _figure(s.get("curves"), "Training curves: CNN (stage 1) and DNN"))


def _ablation(s: dict[str, Any], report: dict[str, Any]) -> str:
    rows = [[_e(r["run"]), _num(r["normalize"]), _num(r["augment"]), _pct(r["best_val_acc"]),
             _pct(r["final_train_acc"])] for r in s.get("rows", [])]
    text = ""
    if len(s.get("rows", [])) == 3:
        a, b, c = (r["best_val_acc"] for r in s["rows"])
        text = (f"<p>Normalizing changed the accuracy by {100 * (b - a):+.1f} points; "
                f"augmenting on top of it by {100 * (c - b):+.1f} points "
                f"({s.get('epochs')} epochs on {_num(s.get('images'))} training images each; "
                "short runs, so augmentation's benefit, which grows with training length, is "
                "understated).</p>")
    return (_table(["run", "normalize", "augment", f"best {report['validation']} acc",
                    "final train acc"], rows) + text
            + _figure(s.get("chart"), "Best validation accuracy per ablation run")
            + _figure(s.get("curves"), "Curves of the ablation runs")
            + _figure(s.get("examples"), "Augmentation examples"))


def _confusion(s: dict[str, Any], report: dict[str, Any]) -> str:
    sentences = "".join(f"<li>{_e(t)}</li>" for t in s.get("sentences", []))
    return (f"<ul>{sentences}</ul>"
            + _figure(s.get("figure"), f"Normalized confusion matrix on {report['validation']}")
            + _figure(s.get("mistakes_figure"),
                      f"Most confident mistakes ({_num(s.get('n_wrong'))} wrong in all)"))


def _maps(s: dict[str, Any], report: dict[str, Any]) -> str:
    figs = s.get("figures", {})
    return ("<p>One face per class, explained for its true class. Columns show the raw map "
            "scaled per image (min-max), clipped at the 1st/99th percentile (outliers no longer "
            "wash out the rest), on one scale for all faces (comparable strength), as an "
            "overlay, and the face masked to its 10% most important pixels.</p>"
            + _figure(figs.get("saliency"), "Saliency (vanilla gradient)")
            + _figure(figs.get("guided-backprop"), "Guided backpropagation")
            + _figure(figs.get("grad-cam"), "Grad-CAM"))


def _filters(s: dict[str, Any], report: dict[str, Any]) -> str:
    parts = [_figure(path, f"Activation maximization: {layer}")
             for layer, path in s.get("figures", {}).items()]
    parts.append(_figure(s.get("feature_maps"), "Feature maps of the first conv layer "
                         f"({' x '.join(map(str, s.get('feature_map_shape', [])))})"))
    return "".join(parts)


def _trust(s: dict[str, Any], report: dict[str, Any]) -> str:
    rows = []
    for r in s.get("rows", []):
        if "error" in r:
            rows.append([_e(r["method"]), f'<span class="status-failed">{_e(r["error"])}</span>',
                         "", "", ""])
            continue
        rows.append([_e(r["method"]), _num(r.get("sanity_spearman"), 3),
                     _num(r.get("sanity_ssim"), 3), _num(r.get("deletion_gain"), 3),
                     _num(r.get("insertion_gain"), 3)])
    return (_table(["method", "Spearman after randomization", "SSIM after randomization",
                    "deletion gain", "insertion gain"], rows)
            + f"<p class='muted'>Sanity check: similarity of each method's maps to the "
              "original ones once every layer is re-initialized (cascading); near 0 is what a "
              "method that depends on the weights shows, near 1 means the map barely depends "
              "on what the model learned. Faithfulness: deleting (inserting) pixels in the "
              "map's order against a random order, area under the probability curve; gains "
              f"above 0 beat chance. {s.get('images')} images, {s.get('steps')} steps.</p>")


def _math(s: dict[str, Any], report: dict[str, Any]) -> str:
    rows = [[_e(r["name"]), _e(r["type"]), _e("x".join(map(str, r["output_shape"][1:]))),
             _num(r["params"]), _num(r["multiplications"]), _num(r["additions"])]
            for r in s.get("layers", [])]
    t = s.get("totals", {})
    return (f"<p>Time complexity: <code>{_e(s.get('big_o'))}</code>.</p>"
            + _cards([("learnable params", _num(t.get("params"))),
                      ("multiplications", _num(t.get("multiplications"))),
                      ("additions", _num(t.get("additions")))])
            + "<details><summary>Per-layer shapes and counts</summary>"
            + _table(["layer", "type", "output", "params", "mults", "adds"], rows)
            + "</details>")


RENDERERS = {"cnn": _cnn, "dnn": _dnn, "ablation": _ablation, "confusion": _confusion,
             "maps": _maps, "filters": _filters, "trust": _trust, "math": _math}


def render(report: dict[str, Any]) -> str:
    """The HTML page of a study report dict (as written to ``report.json``)."""
    nav, body = [], []
    for key, section in report["sections"].items():
        title = section.get("title", key)
        status = section.get("status")
        nav.append(f'<li><a href="#{key}">{_e(title)}</a>'
                   + ("" if status == "ok" else f' <span class="status-{status}">({status})</span>')
                   + "</li>")
        body.append(f'<section id="{key}"><h2>{_e(title)}</h2>')
        if status == "ok":
            try:
                body.append(RENDERERS[key](section, report))
            except Exception as exc:  # noqa: BLE001  (a rendering bug must not lose the page)
                body.append(f'<p class="status-failed">Could not render this section: '
                            f"{_e(type(exc).__name__)}: {_e(exc)}</p>")
        elif status == "skipped":
            body.append(f'<p class="status-skipped">Skipped: {_e(section.get("reason"))}</p>')
        else:
            body.append(f'<p class="status-failed">This stage failed: {_e(section.get("error"))}'
                        "</p><details><summary>Details</summary><pre>"
                        f"{_e(section.get('traceback', ''))}</pre></details>")
        body.append(f'<p class="muted">{section.get("stage_seconds", 0):.1f} s</p></section>')
    b = report["budget"]
    meta = (f"Data: {_e(report['data'])} ({_num(report['n_train'])} training, "
            f"{_num(report['n_val'])} validation images: {_e(report['validation'])}). "
            f"Budget <b>{_e(b['name'])}</b>, seed {_e(report['seed'])}, device "
            f"{_e(report['device'])}, {report['seconds']:.0f} s in all. emotionkit "
            f"{_e(report['version'])}; {_e(report['machine'])}.")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<meta name='color-scheme' content='light dark'>"
            f"<title>FER study: {_e(report['title'])}</title><style>{CSS}</style></head>"
            "<body><main>"
            f"<h1>Facial-expression study: {_e(report['title'])}</h1><p class='meta'>{meta}</p>"
            f"<nav><ul>{''.join(nav)}</ul></nav>{''.join(body)}"
            "<p class='muted'>Generated by <code>emotionkit report</code>; every number is in "
            "report.json beside this file.</p></main></body></html>")
