"""Explorers: one interactive figure that works both with a kernel and on the static site.

Used by every chapter that lets the reader move a control (Months 1, 7, 8 and 9). An author
precomputes the states a reader can choose from and writes one drawing function; :func:`explorer`
builds both forms from them:

- with a kernel (JupyterLab, Colab, VS Code): an ``ipywidgets`` view, sliders or dropdowns that
  redraw the figure from the same states;
- on the static site (no kernel, no network): a Plotly figure whose sliders or dropdowns switch
  between the precomputed states in the browser. Its HTML loads nothing: it waits for
  ``window.Plotly``, which the book's Sphinx extension (``_ext/aieng_explorer.py``) vendors from the
  ``plotly`` package into ``_static/vendor/plotly.min.js`` on the pages that need it.

>>> import plotly.graph_objects as go
>>> states = {t: [p ** (1 / t) for p in (0.6, 0.3, 0.1)] for t in (0.5, 1.0, 2.0)}
>>> ex = explorer(states, lambda q: go.Figure(go.Bar(y=q)), name="temperature",
...               axes="temperature", alt="Bars of three probabilities; the slider sets T.")
>>> ex  # in a notebook: the widget with a kernel, the Plotly figure on the site
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import math
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

__all__ = ["Explorer", "explorer", "show_figure", "CONTROLS"]

CONTROLS = ("slider", "dropdown")
"""The kinds of control an axis can have."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_ANIMATE = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}
_CONFIG = {"displaylogo": False, "responsive": True, "showLink": False, "showSendToCloud": False,
           "showEditInChartStudio": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}

# The page loads plotly.min.js as a separate file: wait for it, draw, then switch frames on each
# control change (every axis keeps its current index; the frame for the combination is shown).
_SCRIPT = """(function () {
  var spec = %s;
  function start() {
    var gd = document.getElementById(spec.id);
    if (!window.Plotly || !gd) { window.setTimeout(start, 50); return; }
    var current = spec.initial.slice();
    function show() {
      window.Plotly.animate(gd, [spec.lookup[current.join(",")]], spec.animate);
    }
    window.Plotly.newPlot(gd, {data: spec.data, layout: spec.layout, frames: spec.frames,
                               config: spec.config}).then(function () {
      gd.on("plotly_sliderchange", function (e) {
        var a = spec.axis[e.slider.name];
        if (a !== undefined && current[a] !== e.slider.active) { current[a] = e.slider.active; show(); }
      });
      gd.on("plotly_buttonclicked", function (e) {
        var a = spec.axis[e.menu.name];
        if (a !== undefined && current[a] !== e.active) { current[a] = e.active; show(); }
      });
    });
  }
  start();
})();"""


def _plain(value: Any, digits: int) -> Any:
    """JSON-ready copy of a figure's data: numpy arrays become lists, floats keep `digits` significant digits."""
    if isinstance(value, Mapping) and "bdata" in value and "dtype" in value:  # plotly's typed arrays
        import numpy as np

        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if isinstance(shape, str):  # plotly writes a 2-D array's shape as "2, 3"
            shape = [int(n) for n in shape.split(",")]
        value = array.reshape(shape) if shape is not None else array
    if isinstance(value, Mapping):
        return {str(k): _plain(v, digits) for k, v in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # numpy arrays and scalars
    if isinstance(value, (list, tuple)):
        return [_plain(v, digits) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None  # JSON has no NaN; Plotly leaves a gap
        return float(f"{value:.{digits}g}")
    return str(value)


class Explorer:
    """States, a drawing function and their two renderings. Build one with :func:`explorer`."""

    def __init__(self, states, draw, *, name, alt, axes, controls, formats, initial, digits, height):
        self.states, self.draw, self.name, self.alt = states, draw, name, alt
        self.axes, self.controls, self.formats, self.digits, self.height = axes, controls, formats, digits, height
        self.keys = list(states)
        tuples = [k if len(axes) > 1 else (k,) for k in self.keys]
        self.values = [list(dict.fromkeys(t[a] for t in tuples)) for a in range(len(axes))]
        self.index = {k: tuple(vals.index(v) for vals, v in zip(self.values, t)) for k, t in zip(self.keys, tuples)}
        self.initial = initial
        self._figures = self._figure_dicts()
        self.frames()  # every state draws alike, or a clear error now rather than in the browser

    # -- drawing -------------------------------------------------------------------------------------
    def figure(self, key: Hashable):
        """The Plotly figure for one state, exactly as the live widget draws it."""
        import plotly.graph_objects as go

        if key not in self.states:
            raise KeyError(f"explorer {self.name!r} has no state {key!r}; its states are {self.keys}")
        try:
            drawn = self.draw(self.states[key])
        except Exception as err:
            raise RuntimeError(f"explorer {self.name!r}: draw() failed for state {key!r}: {err!r}") from err
        if isinstance(drawn, go.Figure):
            return drawn
        if isinstance(drawn, Mapping) and "data" in drawn:
            return go.Figure(drawn)
        if (isinstance(drawn, Sequence) and not isinstance(drawn, str)) or hasattr(drawn, "to_plotly_json"):
            return go.Figure(data=drawn)
        raise TypeError(f"explorer {self.name!r}: draw() must return a plotly Figure or traces, "
                        f"not {type(drawn).__name__}")

    def _figure_dicts(self) -> list[dict]:
        """Every state's figure as plain JSON data. Only the initial one carries the template (the
        theme: ~10 KB, and most of plotly's time to build a figure); the frames never need it."""
        import plotly.io as pio

        def plain(key):
            fig = self.figure(key).to_plotly_json()
            return {"data": _plain(fig.get("data", []), self.digits), "layout": _plain(fig.get("layout", {}), self.digits)}

        first = plain(self.initial)
        default = pio.templates.default
        pio.templates.default = None
        try:
            return [first if key == self.initial else plain(key) for key in self.keys]
        finally:
            pio.templates.default = default

    def frames(self) -> list[dict]:
        """One Plotly frame a state, in the order of ``states``: only the traces and layout keys that vary."""
        first = self._figures[0]
        n = len(first["data"])
        for key, fig in zip(self.keys, self._figures):
            kinds = [t.get("type") for t in fig["data"]]
            if kinds != [t.get("type") for t in first["data"]]:
                raise ValueError(f"explorer {self.name!r}: every state must draw the same traces; state "
                                 f"{key!r} draws {kinds}, the first draws {[t.get('type') for t in first['data']]}")
        varying = [i for i in range(n) if any(f["data"][i] != first["data"][i] for f in self._figures)]
        for i in varying:  # a frame replaces a trace's keys: a key missing in one state would go stale
            keysets = {tuple(sorted(f["data"][i])) for f in self._figures}
            if len(keysets) > 1:
                raise ValueError(f"explorer {self.name!r}: trace {i} sets different properties in different "
                                 f"states ({[list(k) for k in keysets][:2]}); set the same ones in every state")
        keys = sorted({k for f in self._figures for k in f["layout"]} - {"template"})
        layout_keys = [k for k in keys if any(f["layout"].get(k) != first["layout"].get(k) for f in self._figures)]
        return [{"name": str(i), "traces": varying, "data": [f["data"][t] for t in varying],
                 "layout": {k: f["layout"].get(k) for k in layout_keys}}
                for i, f in enumerate(self._figures)]

    def _controls(self, layout: dict) -> dict:
        sliders, menus = [], []
        start = self.index[self.initial]
        for a, (axis, kind, fmt, vals) in enumerate(zip(self.axes, self.controls, self.formats, self.values)):
            steps = [{"label": fmt(v), "method": "skip", "args": []} for v in vals]
            if kind == "slider":
                sliders.append({"name": f"axis-{a}", "active": start[a], "steps": steps, "pad": {"t": 30},
                                "currentvalue": {"prefix": f"{axis}: "}, "len": 1.0, "x": 0})
            else:
                menus.append({"name": f"axis-{a}", "type": "dropdown", "active": start[a], "buttons": steps,
                              "direction": "down", "showactive": True, "x": 0.25 * len(menus), "xanchor": "left",
                              "y": 1.02, "yanchor": "bottom"})
        margin = {"t": 80, "b": 60, "l": 70, "r": 30, **(layout.get("margin") or {})}
        if menus:
            margin["t"] = max(margin["t"], 100)
        plot_height = max(self.height - margin["t"] - margin["b"], 100)
        margin["b"] += 90 * len(sliders)
        for i, s in enumerate(sliders):  # stacked under the plot, 90 px apart
            s["y"], s["yanchor"] = -(50 + 90 * i) / plot_height, "top"
        return {"sliders": sliders, "updatemenus": menus, "margin": margin}

    # -- the two renderings --------------------------------------------------------------------------
    def spec(self) -> dict:
        """Everything the static HTML draws: data, layout with the controls, frames and the lookup table."""
        start = self.keys.index(self.initial)
        fig = self._figures[start]
        layout = {**fig["layout"], **self._controls(fig["layout"])}
        n_sliders = sum(c == "slider" for c in self.controls)
        layout["height"] = self.height + 90 * n_sliders
        layout.pop("width", None)
        lookup = {",".join(map(str, self.index[k])): str(i) for i, k in enumerate(self.keys)}
        return {"id": f"aieng-explorer-{self.name}", "data": fig["data"], "layout": layout,
                "frames": self.frames(), "config": _CONFIG, "animate": _ANIMATE, "lookup": lookup,
                "initial": list(self.index[self.initial]),
                "axis": {f"axis-{a}": a for a in range(len(self.axes))}}

    def html(self) -> str:
        """The static form: a Plotly figure with its controls, loading nothing from the network."""
        spec = self.spec()
        blob = json.dumps(spec, separators=(",", ":"), allow_nan=False)
        blob = blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        height = spec["layout"]["height"]
        return (f'<div class="aieng-explorer" data-explorer="{self.name}" role="figure" '
                f'aria-label="{html.escape(self.alt, quote=True)}">\n'
                f'<div id="{spec["id"]}" class="plotly-graph-div" style="height:{height}px; width:100%;"></div>\n'
                f"<script>{_SCRIPT % blob}</script>\n</div>")

    def widget(self, display: Callable[[Any], Any] | None = None):
        """The live form: one ipywidgets control an axis and an output that redraws the chosen state.

        ``display`` shows a figure in the output (default: :func:`show_figure`).
        """
        import ipywidgets as widgets

        if display is None:
            display = show_figure
        out = widgets.Output()
        start = self.index[self.initial]
        controls = []
        for a, (axis, kind, fmt, vals) in enumerate(zip(self.axes, self.controls, self.formats, self.values)):
            kw = dict(options=[(fmt(v), i) for i, v in enumerate(vals)], value=start[a], description=axis,
                      style={"description_width": "initial"})
            controls.append(widgets.SelectionSlider(**kw) if kind == "slider" else widgets.Dropdown(**kw))
        by_index = {v: k for k, v in self.index.items()}

        def redraw(change=None):
            key = by_index[tuple(c.value for c in controls)]
            out.clear_output(wait=True)
            with out:
                display(self.figure(key))

        for c in controls:
            c.observe(redraw, names="value")
        redraw()
        box = widgets.VBox([*controls, out])
        box.add_class("aieng-explorer-widget")
        return box

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.widget()._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.html()
        bundle["text/plain"] = f"Explorer {self.name!r}: {self.alt}"
        return bundle

    def __repr__(self) -> str:
        sizes = " x ".join(f"{len(v)} {a}" for a, v in zip(self.axes, self.values))
        return f"Explorer({self.name!r}, {sizes})"


def show_figure(fig: Any) -> None:
    """Display a Plotly figure as Plotly's own MIME bundle, without importing ``plotly.io``'s renderers.

    JupyterLab, Notebook 7 and VS Code draw ``application/vnd.plotly.v1+json`` themselves. Letting plotly
    choose a renderer instead imports ``nbformat`` and with it ``jsonschema``, whose optional IRI checker
    compiles a grammar at import: about 4 s of CPU in every kernel that shows a figure (measured in this
    book's test suite, where every explorer paid it). Colab does not draw that MIME type, so there the
    figure goes through plotly's renderer as usual.
    """
    import sys

    from IPython.display import display

    if "google.colab" in sys.modules:
        display(fig)
        return
    spec = fig.to_plotly_json()
    bundle = {"data": _plain(spec.get("data", []), 17), "layout": _plain(spec.get("layout", {}), 17),
              "config": {"displaylogo": False, "responsive": True}}
    display({"application/vnd.plotly.v1+json": bundle,
             "text/plain": f"<Figure: {fig.layout.title.text or 'plotly figure'}>"}, raw=True)


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def explorer(states: Mapping[Hashable, Any], draw: Callable[[Any], Any], *, name: str, alt: str,
             axes: str | Sequence[str] = "state", control: str | Sequence[str] = "slider",
             format: Callable[[Any], str] | Sequence[Callable[[Any], str]] | None = None,
             initial: Hashable | None = None, digits: int = 4, height: int = 380) -> Explorer:
    """An interactive figure over precomputed states, for the kernel and for the static site.

    Parameters
    ----------
    states
        The states a reader can choose from, by key, in the order the controls list them. With one
        axis the keys are its values (``{0.5: ..., 1.0: ...}``); with several, tuples with one value an
        axis (``{(layer, head): ...}``), every combination present.
    draw
        ``draw(state)`` returns a plotly ``Figure`` (or a list of traces). Every state must draw the
        same traces (same number and types): the controls swap their data.
    name
        A short id (lowercase letters, digits, ``-``), unique on the page: ``data-explorer`` in the HTML.
    alt
        Alt text for readers who cannot see the figure: what it shows and what moving the control does.
    axes
        The name of each axis, shown beside its control (one string for one axis).
    control
        ``"slider"`` (ordered values) or ``"dropdown"`` (categories), or one of them an axis.
    format
        How a value is labelled on its control (default ``f"{v:g}"`` for floats, ``str`` otherwise).
    initial
        The key shown first (default: the first key).
    digits, height
        Significant digits kept in the static HTML; the plot's height in pixels.
    """
    names = (axes,) if isinstance(axes, str) else tuple(axes)
    if not names:
        raise ValueError("explorer needs at least one axis")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"explorer name {name!r} must be lowercase letters, digits and '-' (an HTML id)")
    if not isinstance(alt, str) or len(alt.split()) < 4:
        raise ValueError(f"explorer {name!r} needs alt text (a sentence): what it shows, what the control does")
    states = dict(states)
    if not states:
        raise ValueError(f"explorer {name!r} has no states: give at least one")
    controls = (control,) * len(names) if isinstance(control, str) else tuple(control)
    bad = [c for c in controls if c not in CONTROLS]
    if bad or len(controls) != len(names):
        raise ValueError(f"explorer {name!r}: control must be one of {CONTROLS}, or one for each of the "
                         f"{len(names)} axes; got {control!r}")
    formats = (format or _fmt,) * len(names) if format is None or callable(format) else tuple(format)
    if len(formats) != len(names):
        raise ValueError(f"explorer {name!r}: give one format for each of the {len(names)} axes")
    if len(names) > 1:
        wrong = [k for k in states if not (isinstance(k, tuple) and len(k) == len(names))]
        if wrong:
            raise ValueError(f"explorer {name!r} has axes {names}: every key must be a tuple of "
                             f"{len(names)} values; {wrong[0]!r} is not")
        values = [list(dict.fromkeys(k[a] for k in states)) for a in range(len(names))]
        missing = [c for c in itertools.product(*values) if c not in states]
        if missing:
            raise ValueError(f"explorer {name!r}: the states must cover every combination of the axes; "
                             f"{len(missing)} are missing, e.g. {missing[0]!r}")
    if initial is None:
        initial = next(iter(states))
    if initial not in states:
        raise ValueError(f"explorer {name!r}: initial {initial!r} is not one of the states")
    return Explorer(states, draw, name=name, alt=alt, axes=names, controls=controls, formats=formats,
                    initial=initial, digits=digits, height=height)
