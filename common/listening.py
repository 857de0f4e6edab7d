"""``python -m common.listening``: a self-contained listening page for any systems' output folders.

For each track: the mixture, every reference source and every system's estimate as audio players in
a grid (rows = sources, columns = reference then systems), spectrograms on one frequency scale and
colour range, and per-track scores; an index with the aggregated table, sortable by column. The page
is a folder with relative links that works offline from ``file://``; audio is 16-bit FLAC.

It reads folders only (``<dir>/<track>/<source>.wav``, any system) plus the reference dataset, and
never imports a system.
"""
from __future__ import annotations

import argparse
import html
import re
import sys
import warnings
from pathlib import Path

import numpy as np

from common.plots import DB_RANGE, LOW_HZ, log_spectrogram, save_spectrogram_image

# Every spectrogram of a track shares one log-frequency scale and one colour range (dB below the
# mixture's peak), so that columns can be compared by eye.

# Row order and the names that mean the same source in different systems' conventions.
_CANONICAL = {"vocal": "vocals", "voice": "vocals", "music": "accompaniment", "percussive": "drums"}
_ROW_ORDER = ["vocals", "accompaniment", "drums", "bass", "other", "harmonic"]

# The metric each system's paper reports, by system family; SI-SDR is shown for all.
PAPER_METRICS = {"v3": "SDR (BSS Eval v3)", "v4": "SDR (BSSv4, median of 1-s frames)", "si": "SI-SDR"}


def slug(name: str) -> str:
    """A file-name-safe version of a track, system or source name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"


def canonical(target: str) -> str:
    return _CANONICAL.get(target, target)


def _save_flac(path: Path, audio: np.ndarray, rate: int) -> None:
    from common.audio import save_audio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # estimates louder than full scale are clipped
        save_audio(path, audio, rate, subtype="PCM_16", overflow="clip")


def _v4_sdr(references: dict, estimates: dict, rate: int) -> dict[str, float]:
    """Median over 1-s frames of BSSv4 SDR per target (needs two or more targets); NaN where
    BSSv4 is undefined (a silent estimate or reference)."""
    from common.bsseval import BSSEvalError, bss_eval_v4

    targets = sorted(estimates)
    if len(targets) < 2:
        return {t: float("nan") for t in targets}
    n = min(min(references[t].shape[1], estimates[t].shape[1]) for t in targets)
    refs = np.stack([references[t].mean(0)[:n, None] for t in targets])
    ests = np.stack([estimates[t].mean(0)[:n, None] for t in targets])
    try:
        frames = bss_eval_v4(refs, ests, rate)["SDR"]
    except BSSEvalError as err:
        print(f"note: no BSSv4 score for this track: {err}", file=sys.stderr)
        return {t: float("nan") for t in targets}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {t: float(np.nanmedian(frames[i])) for i, t in enumerate(targets)}


def _fmt(value, why: str = "undefined") -> str:
    """A score with two decimals, or a note saying why there is none (never a bare dash)."""
    if value is not None and np.isfinite(value):
        return f"{value:.2f}"
    return f"<span class='na' title='{html.escape(why, quote=True)}'>n/a: {html.escape(why)}</span>"


def _why_undefined(reference: np.ndarray | None, estimate: np.ndarray) -> str:
    """Why BSS Eval / SI-SDR gives no number for this estimate (they divide by signal energies)."""
    if not np.any(estimate):
        return "silent estimate"
    if reference is None or not np.any(reference):
        return "silent reference"
    return "undefined on this track"


# Index-table notes where a median is missing.
_NOT_COMPUTED = {"SDRv4": "not computed for this system (BSSv4 runs where --paper-metric NAME=v4)"}
_LEGEND = ("n/a marks a score that does not exist, with the reason: BSS Eval and SI-SDR are undefined for a "
           "silent estimate or a silent reference (they divide by its energy), and SDR v4 (BSSv4) is computed "
           "only for the systems whose paper reports it.")


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3;cursor:pointer}td.l,th.l{text-align:left}
.grid td{vertical-align:top;text-align:center}.grid img{display:block;width:360px;height:160px}
audio{width:360px}.score{font-size:.85em;color:#444}.note{color:#666;font-size:.9em}
.na{color:#8a5a00;font-size:.85em;font-style:italic}
"""

_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach((th, col) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
  const key = r => { const t = r.cells[col].innerText; const v = parseFloat(t);
                     return isNaN(v) ? t : v; };
  Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b);
    return (x > y ? 1 : x < y ? -1 : 0) * (asc ? 1 : -1); }).forEach(r => body.appendChild(r));
}));
"""


def _summary_note(metric: str, medians: dict, reasons: set | None) -> str:
    """Why a median over tracks is missing: never computed, or undefined on every track (and why)."""
    if metric not in medians:
        return _NOT_COMPUTED.get(metric, "not computed")
    causes = sorted((reasons or set()) - {"undefined on this track"}) or ["undefined"]
    return f"undefined on every track ({', '.join(causes)})"


def _page(title: str, body: str, script: str = "") -> str:
    js = f"<script>{script}</script>" if script else ""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><link rel='icon' href='data:,'><style>{_STYLE}</style></head><body>{body}{js}"
            "</body></html>\n")


def build_page(dataset: str, root, split: str, systems: dict[str, Path], out: Path,
               paper_metric: dict[str, str] | None = None, limit: int | None = None,
               progress: bool = True, musdb_format: str = "auto") -> Path:
    """Build the listening page in ``out`` and return the path of its ``index.html``.

    systems: name -> folder of ``<track>/<source>.wav``; paper_metric: name -> "v3" | "v4" | "si"
    (default "v3"). Only tracks that at least one system has are shown. musdb_format: the MUSDB
    release (auto-detected by default).
    """
    from tqdm import tqdm

    from common.audio import load_audio
    from common.bsseval import write_json
    from common.evaluate import score_track, summarize
    from common.references import estimate_files, iter_tracks, reference_for

    paper_metric = {name: (paper_metric or {}).get(name, "v3") for name in systems}
    out.mkdir(parents=True, exist_ok=True)
    per_track: dict[str, dict] = {name: {} for name in systems}
    undefined: dict[tuple[str, str], set] = {}  # (system, target) -> reasons a track's score can be missing
    track_links = []
    tracks = iter_tracks(dataset, root, split, musdb_format=musdb_format)
    for track in tqdm(tracks, desc="listening page", unit="track", disable=not progress):
        present = {s: d / track.name for s, d in systems.items() if (d / track.name).is_dir()}
        if not present:
            continue
        if limit is not None and len(track_links) >= limit:
            break
        folder = out / "tracks" / slug(track.name)
        estimates: dict[str, dict[str, np.ndarray]] = {}
        for system, track_dir in present.items():
            for wav in estimate_files(track_dir):
                if reference_for(track, wav.stem) is not None:
                    estimates.setdefault(system, {})[wav.stem] = load_audio(
                        wav, sr=track.rate, max_channels=None)[0]
        rows = sorted({canonical(t) for e in estimates.values() for t in e},
                      key=lambda r: (_ROW_ORDER.index(r) if r in _ROW_ORDER else 99, r))
        mix_spec = log_spectrogram(track.mixture, track.rate)
        top_db = float(mix_spec.max())

        def media(stem: str, audio: np.ndarray) -> str:
            _save_flac(folder / f"{stem}.flac", audio, track.rate)
            save_spectrogram_image(folder / f"{stem}.png", log_spectrogram(audio, track.rate), top_db)
            return (f"<audio controls preload='metadata' src='{stem}.flac'></audio>"
                    f"<img src='{stem}.png' alt='spectrogram of {html.escape(stem)}'>")

        scores: dict[str, dict] = {}
        for system, est in estimates.items():
            refs = {t: reference_for(track, t) for t in est}
            scores[system] = score_track(refs, est)
            if paper_metric[system] == "v4":
                for t, value in _v4_sdr(refs, est, track.rate).items():
                    scores[system][t]["SDRv4"] = value
            per_track[system][track.name] = scores[system]

        head = "".join(f"<th>{html.escape(s)}<br><span class='score'>{PAPER_METRICS[paper_metric[s]]}"
                       "</span></th>" for s in estimates)
        grid = [f"<tr><th class='l'>mixture</th><td>{media('mixture', track.mixture)}</td>"
                + "<td></td>" * len(estimates) + "</tr>"]
        for row in rows:
            cells = [f"<th class='l'>{html.escape(row)}</th>"]
            ref_name = next((t for e in estimates.values() for t in e if canonical(t) == row), row)
            cells.append(f"<td>{media('reference__' + slug(row), reference_for(track, ref_name))}</td>")
            for system, est in estimates.items():
                name = next((t for t in est if canonical(t) == row), None)
                if name is None:
                    cells.append("<td></td>")
                    continue
                s = scores[system][name]
                paper = {"v3": s.get("SDR"), "v4": s.get("SDRv4"), "si": s.get("SI-SDR")}[paper_metric[system]]
                why = _why_undefined(reference_for(track, name), est[name])
                undefined.setdefault((system, name), set()).add(why)
                cells.append(f"<td>{media(slug(system) + '__' + slug(row), est[name])}"
                             f"<div class='score'>paper metric {_fmt(paper, why)} dB · SI-SDR "
                             f"{_fmt(s.get('SI-SDR'), why)} dB</div></td>")
            grid.append("<tr>" + "".join(cells) + "</tr>")
        body = (f"<p><a href='../../index.html'>← all tracks</a></p><h1>{html.escape(track.name)}</h1>"
                f"<p class='note'>Spectrograms: log frequency {LOW_HZ:.0f} Hz – {track.rate / 2000:g} kHz, "
                f"colour range {DB_RANGE:.0f} dB below the mixture's peak, the same for every image.</p>"
                f"<table class='grid'><thead><tr><th></th><th>reference</th>{head}</tr></thead>"
                f"<tbody>{''.join(grid)}</tbody></table>")
        (folder / "index.html").write_text(_page(track.name, body), encoding="utf-8")
        track_links.append(track.name)

    summary = summarize(per_track)
    write_json(out / "scores.json", {"tracks": per_track, "summary": summary})
    head = ("<tr><th class='l'>system</th><th class='l'>target</th><th>tracks</th>"
            "<th>SDR v3</th><th>SIR v3</th><th>SAR v3</th><th>SDR v4</th><th>SI-SDR</th></tr>")
    rows_html = []
    for system, targets in summary.items():
        for target, m in targets.items():
            rows_html.append(
                f"<tr><td class='l'>{html.escape(system)}</td><td class='l'>{html.escape(target)}</td>"
                f"<td>{m.get('tracks', '')}</td>" + "".join(
                    f"<td>{_fmt(m.get(k), _summary_note(k, m, undefined.get((system, target))))}</td>"
                    for k in ("SDR", "SIR", "SAR", "SDRv4", "SI-SDR")) + "</tr>")
    links = "".join(f"<li><a href='tracks/{slug(t)}/index.html'>{html.escape(t)}</a></li>"
                    for t in track_links)
    weight = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    body = (f"<h1>Listening page: {html.escape(dataset)} {html.escape(split)}</h1>"
            f"<p class='note'>{len(track_links)} track(s), {len(systems)} system(s); page weight "
            f"{weight / 1e6:.1f} MB (16-bit FLAC audio, PNG spectrograms). Medians over tracks, dB. "
            f"Click a column to sort. {_LEGEND}</p>"
            f"<table class='sortable'><thead>{head}</thead><tbody>{''.join(rows_html)}</tbody></table>"
            f"<h2>Tracks</h2><ul>{links}</ul>")
    index = out / "index.html"
    index.write_text(_page("Listening page", body, _SORT_JS), encoding="utf-8")
    return index


def main(argv=None) -> int:
    from common.datasets import add_musdb_format_argument

    parser = argparse.ArgumentParser(prog="python -m common.listening", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=("musdb", "mir1k", "stems"))
    parser.add_argument("--reference", required=True, type=Path, help="dataset folder (references)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--estimates", required=True, nargs="+", metavar="NAME=DIR")
    parser.add_argument("--paper-metric", nargs="*", default=[], metavar="NAME=v3|v4|si",
                        help="the metric each system's paper reports (default v3 = BSS Eval v3 SDR)")
    parser.add_argument("--out", required=True, type=Path, help="folder of the page")
    parser.add_argument("--limit", type=int, default=None, help="at most this many tracks")
    add_musdb_format_argument(parser)
    args = parser.parse_args(argv)

    from common.cli import run_cli
    from common.evaluate import parse_named_dirs

    systems = parse_named_dirs(args.estimates)
    metrics = dict(item.split("=", 1) for item in args.paper_metric)
    bad = [m for m in metrics.values() if m not in PAPER_METRICS]
    if bad:
        parser.error(f"--paper-metric takes v3, v4 or si, not {bad[0]}")

    def run() -> None:
        index = build_page(args.dataset, args.reference, args.split, systems, args.out,
                           paper_metric=metrics, limit=args.limit, musdb_format=args.musdb_format)
        print(f"listening page: {index.resolve()}")

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
