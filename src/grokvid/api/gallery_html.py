"""The gallery page's markup, style and script: every byte of it inline, every text escaped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from grokvid import __version__

if TYPE_CHECKING:
    from grokvid.api.gallery import Card

# Nothing may be fetched but inline data and the local clips; links still navigate.
CSP = (
    "default-src 'none'; img-src data:; media-src 'self' file:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)

STYLE = """
:root{color-scheme:light dark;--bg:#f6f7f9;--fg:#14161a;--card:#fff;--dim:#5b6270;--line:#d9dde3;
--bad:#b3261e;--ok:#1b7f3b;--accent:#2456c7}
@media (prefers-color-scheme:dark){:root{--bg:#111318;--fg:#e9ebef;--card:#1b1e25;--dim:#9aa1ae;
--line:#2c313b;--bad:#ff8a80;--ok:#7bd88f;--accent:#8ab4ff}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:var(--bg);color:var(--fg)}
header{position:sticky;top:0;z-index:1;background:var(--bg);border-bottom:1px solid var(--line);
padding:.75rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}
h1{font-size:1.1rem;margin:0;flex:1 1 12rem}
.totals{color:var(--dim);font-size:.9rem}
label{font-size:.9rem;color:var(--dim)}
input,select{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:6px;
background:var(--card);color:var(--fg)}
input[type=search]{width:min(22rem,100%)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,300px),1fr));gap:1rem;
padding:1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden;
display:flex;flex-direction:column}
.card[hidden]{display:none}
.media{position:relative;aspect-ratio:16/9;background:#000;display:flex;align-items:center;
justify-content:center}
.media img,.media video{width:100%;height:100%;object-fit:contain;display:block}
.media video[hidden]{display:none}
.playing img,.playing .play{display:none}
.play{position:absolute;inset:0;margin:auto;width:3.5rem;height:3.5rem;border-radius:50%;border:0;
background:rgba(0,0,0,.6);color:#fff;font-size:1.4rem;cursor:pointer}
.nopic{color:#c9ced6;font-size:.9rem;padding:1rem;text-align:center}
.body{padding:.6rem .8rem .8rem;display:flex;flex-direction:column;gap:.35rem}
.prompt{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;max-height:9.5em;overflow:auto}
.meta{display:flex;flex-wrap:wrap;gap:.25rem .8rem;margin:0;font-size:.85rem;color:var(--dim)}
.meta div{display:flex;gap:.3rem}.meta dt{font-weight:600}.meta dd{margin:0}
.state{font-weight:600;font-size:.8rem;text-transform:uppercase;letter-spacing:.04em}
.state.downloaded,.state.done{color:var(--ok)}
.state.failed,.state.moderated,.state.expired,.state.rejected,.state.missing,
.state.submit-unknown{color:var(--bad)}
.id{font:12px ui-monospace,Menlo,Consolas,monospace;color:var(--dim)}
.error{margin:0;color:var(--bad);overflow-wrap:anywhere;font-size:.9rem}
.sha{margin:0;font:12px/1.3 ui-monospace,Menlo,Consolas,monospace;color:var(--dim);
overflow-wrap:anywhere}
.links{display:flex;gap:.8rem;font-size:.9rem}.links a{color:var(--accent)}
@media (max-width:600px){header{position:static}}
footer{color:var(--dim);font-size:.8rem;padding:0 1rem 1rem}
"""

SCRIPT = """
(()=>{const q=document.getElementById('q'),st=document.getElementById('state'),
shown=document.getElementById('shown'),cards=[...document.querySelectorAll('.card')];
function apply(){const t=q.value.trim().toLowerCase(),s=st.value;let n=0;
for(const c of cards){const ok=(!s||c.dataset.state===s)&&(!t||c.dataset.text.includes(t));
c.hidden=!ok;if(ok)n++}shown.textContent=n+' of '+cards.length+' shown'}
q.addEventListener('input',apply);st.addEventListener('change',apply);
document.addEventListener('keydown',e=>{if(e.key==='/'&&document.activeElement!==q){
e.preventDefault();q.focus();q.select()}else if(e.key==='Escape'&&document.activeElement===q){
q.value='';apply();q.blur()}});
document.addEventListener('click',e=>{const b=e.target.closest('.play');if(!b)return;
const m=b.closest('.media'),v=m.querySelector('video');m.classList.add('playing');v.hidden=false;
v.play().catch(()=>{});v.focus()});apply()})();
"""


def _money(value: float | None) -> str:
    return "" if value is None else f"${value:.2f}"


def _audio(value: object) -> str:
    return "on" if value is True else "off" if value is False else ""


def _meta(card: Card) -> list[tuple[str, str]]:
    params = card.params
    pairs = [
        ("model", card.model or str(params.get("model") or "")),
        ("duration", f"{params['duration']} s" if params.get("duration") is not None else ""),
        ("resolution", str(params.get("resolution") or "")),
        ("aspect", str(params.get("aspect_ratio") or "")),
        ("audio", _audio(params.get("generate_audio"))),
        ("cost", _money(card.cost_usd)),
        ("size", f"{card.bytes / 1e6:.1f} MB" if card.bytes else ""),
    ]
    return [(k, v) for k, v in pairs if v]


def _card(card: Card, page_dir: Path) -> str:
    from grokvid.api.gallery import poster_data_uri, relative_url

    label = escape(card.id)
    text = " ".join([card.id, card.state, card.prompt, card.model or "", card.error or ""])
    parts = [
        f'<article class="card" data-state="{escape(card.state)}" '
        f'data-text="{escape(text.lower())}" aria-label="{label}">',
        '<div class="media">',
    ]
    poster = poster_data_uri(card.poster)
    if poster is not None:
        parts.append(f'<img class="poster" src="{poster}" alt="Poster of {label}">')
    elif card.video is None:
        parts.append(f'<div class="nopic">{escape(card.state)}: no clip</div>')
    else:
        parts.append('<div class="nopic">no poster yet (grokvid preview makes one)</div>')
    if card.video is not None:
        src = escape(relative_url(card.video, page_dir))
        if poster is not None:
            parts.append(f'<button class="play" type="button" aria-label="Play {label}">▶</button>')
            parts.append(f'<video controls preload="none" src="{src}" hidden></video>')
        else:
            parts.append(f'<video controls preload="metadata" src="{src}"></video>')
    parts.append("</div>")
    parts.append('<div class="body">')
    parts.append(
        f'<div><span class="state {escape(card.state)}">{escape(card.state)}</span> '
        f'<code class="id">{label}</code></div>'
    )
    parts.append(f'<p class="prompt">{escape(card.prompt) or "<i>(no prompt)</i>"}</p>')
    meta = "".join(f"<div><dt>{k}</dt><dd>{escape(v)}</dd></div>" for k, v in _meta(card))
    parts.append(f'<dl class="meta">{meta}</dl>')
    if card.error:
        parts.append(f'<p class="error">{escape(card.error)}</p>')
    if card.sha256:
        parts.append(f'<p class="sha">sha256 {escape(card.sha256)}</p>')
    links = [
        (name, path)
        for name, path in (
            ("clip", card.video),
            ("sheet", card.sheet),
            ("animation", card.animation),
            ("metadata", card.metadata),
        )
        if path is not None
    ]
    if links:
        anchors = "".join(
            f'<a href="{escape(relative_url(path, page_dir))}">{name}</a>' for name, path in links
        )
        parts.append(f'<p class="links">{anchors}</p>')
    parts.append("</div></article>")
    return "".join(parts)


def render_page(cards: Sequence[Card], *, page_dir: Path, title: str) -> str:
    states = Counter(card.state for card in cards)
    total = sum(card.cost_usd or 0.0 for card in cards)
    options = "".join(
        f'<option value="{escape(s)}">{escape(s)} ({n})</option>' for s, n in sorted(states.items())
    )
    summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    clips = f"{len(cards)} clip{'s' if len(cards) != 1 else ''}"
    totals = f"{clips}{' · ' + summary if summary else ''} · {_money(total) or '$0.00'}"
    body = "\n".join(_card(card, page_dir) for card in cards)
    empty = "" if cards else '<p class="totals">No clips found.</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="generator" content="grokvid {__version__}">
<title>{escape(title)}</title><style>{STYLE}</style></head>
<body><header><h1>{escape(title)}</h1><span class="totals">{totals}</span>
<label>State <select id="state"><option value="">all ({len(cards)})</option>{options}
</select></label>
<label>Search <input id="q" type="search" placeholder="prompt, id, error… (press /)"
 autocomplete="off"></label><span id="shown" class="totals" aria-live="polite"></span></header>
<main>{empty}
{body}
</main><footer>Made by grokvid {__version__}. Opens offline; videos play from the files beside
this page.</footer><script>{SCRIPT}</script></body></html>
"""
