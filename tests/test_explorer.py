"""aieng.book.explorer: one explorer, two renderings (the live widget and the static Plotly HTML) that agree.

The static form is what readers of the site get with no kernel and no network; the browser test
(tests/browser/) drags its controls in Chromium. Here: the mime bundle, the DOM contract, no URL,
one frame a state, the frames equal to what the widget draws, and clear errors on bad input.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest

from aieng.book import Explorer, explorer

ROOT = Path(__file__).resolve().parent.parent
ALT = "Bars of four probabilities; moving the control changes their heights."


def _bars(q):
    q = np.asarray(q, dtype=float)
    return go.Figure(go.Bar(x=["a", "b", "c", "d"], y=q, marker_color=["red" if v > 0.3 else "blue" for v in q]),
                     layout={"title": {"text": f"largest {q.max():.3f}"}, "yaxis": {"range": [0, 1]}})


def _softmax(t):
    z = np.array([2.0, 1.0, 0.5, -1.0]) / t
    return np.exp(z) / np.exp(z).sum()


def _one_axis(**kw):
    states = {t: _softmax(t) for t in (0.25, 0.5, 1.0, 2.0, 4.0)}
    return explorer(states, _bars, name="temp", axes="temperature", alt=ALT, **kw)


def _two_axes(**kw):
    states = {(t, k): np.where(np.arange(4) < k, _softmax(t), 0.0) for t in (0.5, 1.0, 2.0) for k in (1, 2, 4)}
    return explorer(states, _bars, name="temp-k", axes=("temperature", "top-k"), alt=ALT, **kw)


def _spec(html: str) -> dict:
    blob = re.search(r"var spec = (\{.*?\});\n", html, re.S).group(1)
    return json.loads(blob)


def _shown(spec: dict, key_index: tuple[int, ...]) -> dict:
    """What the page draws after the controls move to `key_index`: the frame merged into the figure."""
    frame = next(f for f in spec["frames"] if f["name"] == spec["lookup"][",".join(map(str, key_index))])
    data = [dict(t) for t in spec["data"]]
    for i, trace in zip(frame["traces"], frame["data"]):
        data[i].update(trace)
    return {"data": data, "layout": {**spec["layout"], **frame["layout"]}}


def _close(a, b, path="") -> list[str]:
    """Differences between two JSON-like values; floats agree to the 4 significant digits kept."""
    if hasattr(b, "tolist"):
        b = b.tolist()
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _close(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _close(x, y, f"{path}[{i}]")]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return [] if math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-9) else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _decode(value):
    """Plotly's JSON, with its base64 typed arrays ({"dtype", "bdata"}) read back as lists."""
    if isinstance(value, dict) and {"dtype", "bdata"} <= set(value):
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return (array.reshape(value["shape"]) if "shape" in value else array).tolist()
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _plain_json(fig: go.Figure) -> dict:
    return _decode(json.loads(fig.to_json(engine="json")))  # plotly's own JSON of the live figure


def test_bundle_has_the_widget_for_a_kernel_and_the_html_for_the_site():
    bundle = _one_axis()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert bundle["text/html"].startswith('<div class="aieng-explorer"')
    assert "temp" in bundle["text/plain"]


def test_html_keeps_the_dom_contract_and_fetches_nothing():
    html = _one_axis().html()
    assert re.match(r'<div class="aieng-explorer" data-explorer="temp" role="figure" aria-label="([^"]+)">', html)
    assert f'aria-label="{ALT}"' in html
    assert 'class="plotly-graph-div"' in html
    assert "http://" not in html and "https://" not in html
    assert "window.Plotly" in html and "<script src" not in html  # waits for the vendored file
    spec = _spec(html)
    assert spec["config"]["displaylogo"] is False
    (slider,) = spec["layout"]["sliders"]
    assert [s["label"] for s in slider["steps"]] == ["0.25", "0.5", "1", "2", "4"]
    assert len(html) < 300_000


def test_alt_text_is_escaped_into_the_attribute():
    html = explorer({1: 1, 2: 2}, lambda s: [go.Bar(y=[s])], name="esc", alt='He said "<b>no</b>" & left the room').html()
    assert 'aria-label="He said &quot;&lt;b&gt;no&lt;/b&gt;&quot; &amp; left the room"' in html
    assert "</b>" not in html  # nothing in the script can close a tag early


def test_one_frame_a_state_and_one_step_a_value():
    ex = _two_axes()
    spec = _spec(ex.html())
    assert len(spec["frames"]) == 9 and len({f["name"] for f in spec["frames"]}) == 9
    assert sorted(spec["lookup"]) == sorted(f"{i},{j}" for i in range(3) for j in range(3))
    assert [len(s["steps"]) for s in spec["layout"]["sliders"]] == [3, 3]
    # only the varying trace and layout keys travel in the frames
    assert all(f["traces"] == [0] and set(f["layout"]) == {"title"} for f in spec["frames"])


@pytest.mark.parametrize("make", [_one_axis, _two_axes, lambda: _two_axes(control=("dropdown", "slider"))])
def test_the_html_draws_exactly_what_the_widget_draws(make):
    ex = make()
    spec = _spec(ex.html())
    shown = []
    box = ex.widget(display=shown.append)
    controls = box.children[:-1]
    assert len(controls) == len(ex.axes)
    for key in ex.states:
        index = ex.index[key]
        for control, i in zip(controls, index):
            control.value = i
        live = _plain_json(shown[-1])
        page = _shown(spec, index)
        assert not _close(page["data"], live["data"]), (key, _close(page["data"], live["data"]))
        assert page["layout"]["title"] == live["layout"]["title"]
    # and the widget's figure is draw(state), the very states given
    assert _close(_plain_json(shown[-1])["data"][0]["y"], ex.states[key].tolist()) == []


def test_a_heatmap_of_a_2d_array_is_kept_as_rows():
    from aieng.book.explorer import _plain

    z = np.arange(6.0).reshape(2, 3)
    data = _plain(go.Figure(go.Heatmap(z=z)).to_plotly_json()["data"], 6)
    assert data[0]["z"] == z.tolist()


def test_dropdown_axes_become_plotly_menus():
    spec = _spec(_two_axes(control=("dropdown", "slider")).html())
    (menu,) = spec["layout"]["updatemenus"]
    assert menu["type"] == "dropdown" and [b["label"] for b in menu["buttons"]] == ["0.5", "1", "2"]
    assert len(spec["layout"]["sliders"]) == 1
    assert spec["axis"] == {"axis-0": 0, "axis-1": 1} and menu["name"] == "axis-0"


def test_initial_state_is_drawn_first():
    ex = _one_axis(initial=2.0)
    spec = _spec(ex.html())
    assert spec["initial"] == [3] and spec["layout"]["sliders"][0]["active"] == 3
    assert not _close(spec["data"], _plain_json(ex.figure(2.0))["data"])


@pytest.mark.parametrize("kwargs, message", [
    ({"states": {}}, "no states"),
    ({"control": "knob"}, "control must be one of"),
    ({"control": ("slider", "slider")}, "control must be one of"),
    ({"name": "Has Spaces"}, "lowercase"),
    ({"alt": ""}, "alt text"),
    ({"initial": 99}, "initial"),
])
def test_bad_input_gets_a_clear_error(kwargs, message):
    args = {"states": {t: _softmax(t) for t in (0.5, 1.0)}, "draw": _bars, "name": "bad", "alt": ALT, **kwargs}
    with pytest.raises(ValueError, match=message):
        explorer(**args)


def test_draw_that_raises_names_the_state():
    def draw(q):
        if q[0] > 0.9:
            raise ZeroDivisionError("boom")
        return _bars(q)

    with pytest.raises(RuntimeError, match=r"draw\(\) failed for state 0.25.*boom"):
        explorer({t: _softmax(t) for t in (1.0, 0.25)}, draw, name="bad", alt=ALT)


def test_grids_must_be_complete_and_traces_alike():
    with pytest.raises(ValueError, match="every combination"):
        explorer({(1, "a"): 1, (2, "b"): 2}, lambda s: [go.Bar(y=[s])], name="bad", axes=("n", "c"), alt=ALT)
    with pytest.raises(ValueError, match="tuple of 2"):
        explorer({1: 1}, lambda s: [go.Bar(y=[s])], name="bad", axes=("n", "c"), alt=ALT)
    with pytest.raises(ValueError, match="same traces"):
        explorer({1: 1, 2: 2}, lambda s: [go.Bar(y=[s])] * s, name="bad", alt=ALT).html()
    with pytest.raises(TypeError, match="must return a plotly Figure"):
        explorer({1: 1}, lambda s: s, name="bad", alt=ALT)


def test_sphinx_extension_adds_plotly_only_to_pages_with_an_explorer():
    spec = importlib.util.spec_from_file_location("aieng_explorer_ext", ROOT / "_ext" / "aieng_explorer.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    added = []
    app = SimpleNamespace(add_js_file=lambda path, **kw: added.append((path, kw)))
    ext._add_to_explorer_pages(app, "plain", "page.html", {"body": "<p>no explorer</p>"}, None)
    assert added == []
    ext._add_to_explorer_pages(app, "ch", "page.html", {"body": _one_axis().html()}, None)
    assert added == [("vendor/plotly.min.js", {"loading_method": "defer"})]
    assert ext.plotly_js_source().stat().st_size > 1_000_000
    assert isinstance(_one_axis(), Explorer)
