"""The book as a student meets it: JupyterLab in a real browser, every widget moved.

For each chapter that shows a widget, this opens the notebook in JupyterLab (headless Chromium
driven by Playwright), runs all cells, fails on any error output, then moves every enabled
control of every widget and asserts that a picture the widget draws changes. A screenshot of
each chapter lands in build/screenshots/ (git-ignored).

Run with `make test-browser` (part of `make test`). Needs Debian's chromium (the Makefile
installs it) and the `playwright` Python package (in the test extra).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("FREQFUSION_EDU_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
RUN_TIMEOUT_S = float(os.environ.get("FREQFUSION_EDU_BROWSER_TIMEOUT", 420))

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                      "(pip install playwright; it is in the test extra)")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install -y "
                "chromium) or set FREQFUSION_EDU_CHROMIUM", allow_module_level=True)


def widget_chapters() -> list[Path]:
    """Chapters whose code builds an ipywidgets widget (directly or via freqfusion_edu.widgets)."""
    found = []
    for nb in sorted(BOOK.glob("[0-9][0-9]_*.ipynb")):
        src = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                        if c["cell_type"] == "code")
        if "freqfusion_edu.widgets" in src or "ipywidgets" in src or "interact" in src:
            found.append(nb)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab from this environment on loopback: free port, no token, private runtime dir."""
    port = _free_port()
    runtime = tmp_path_factory.mktemp("jupyter_runtime")
    # Private settings: no autosave (running the chapters must never write outputs into the
    # book on disk) and no news pop-up over the page.
    settings = tmp_path_factory.mktemp("lab_settings")
    for plugin, value in {"@jupyterlab/docmanager-extension/plugin": {"autosave": False},
                          "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"}}.items():
        target = settings / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), FREQFUSION_EDU_MODE="fast",
               JUPYTER_CONFIG_DIR=str(tmp_path_factory.mktemp("jupyter_config")))
    env.pop("MPLBACKEND", None)
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [str(jupyter), "lab", "--no-browser", "--ip", "127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           f"--ServerApp.root_dir={ROOT}", f"--LabApp.user_settings_dir={settings}",
           f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('lab_workspaces')}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(runtime / "lab.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early:\n{(runtime / 'lab.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("JupyterLab did not answer /api/status within 90 s")
                time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-quic"])
        yield b
        b.close()


JS_STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.sessionContext) return null;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  let pending = 0;
  cells.forEach((c, i) => {
    if (c.model.executionCount === null && c.model.sharedModel.getSource().trim()) pending += 1;
    const outs = c.model.outputs.toJSON();
    outs.forEach(o => { if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`); });
  });
  return {kernel: k ? k.status : 'none', pending, errors, ncells: cells.length};
}"""


def _wait_state(page, predicate, timeout_s, what):
    deadline = time.time() + timeout_s
    state = None
    while time.time() < deadline:
        state = page.evaluate(JS_STATE)
        if state and state["errors"]:
            pytest.fail("error output in the notebook:\n" + "\n".join(state["errors"]))
        if state and predicate(state):
            return state
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}; last state {state}")


def _pictures(area, tries: int = 6) -> list[bytes]:
    """Rendered pixels of every picture in a widget (element screenshots, not src strings).

    A widget callback replaces its picture element while it redraws; an element that vanishes
    between listing and screenshot (a timeout, or playwright's 'not attached to the DOM') is read again (all pictures anew, so a half-old, half-new
    list never compares as a change). Fails only if the pictures keep vanishing."""
    for _ in range(tries):
        try:
            return [img.screenshot(timeout=5_000) for img in area.locator("img").all()
                    if img.is_visible()]
        except playwright_sync.Error:  # TimeoutError, or 'Element is not attached to the DOM'
            time.sleep(1.0)
    pytest.fail(f"a widget's pictures kept vanishing while being read ({tries} tries)")


_CONTROL_SELECTOR = (".widget-slider, .widget-dropdown, .widget-toggle-buttons, .widget-checkbox, "
                     ".widget-radio-box")


def _controls(area):
    return area.locator(_CONTROL_SELECTOR).all()


def _enabled(control) -> bool:
    """Visible and not disabled (a widget may disable controls that do not apply)."""
    return control.is_visible() and control.locator("[disabled]").count() == 0


def _move(page, control) -> str:
    """Change a control's value the way a user would; returns a description."""
    cls = control.get_attribute("class") or ""
    if "widget-slider" in cls:
        handle = control.locator(".noUi-handle").first
        readout = control.locator(".widget-readout").first
        before = readout.inner_text() if readout.count() else ""
        handle.focus()
        page.keyboard.press("ArrowRight")
        handle.blur()
        after = readout.inner_text() if readout.count() else ""
        if after == before:  # at the maximum: go the other way
            handle.focus()
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")
            handle.blur()
            after = readout.inner_text() if readout.count() else ""
        return f"slider {before} -> {after}"
    if "widget-dropdown" in cls:
        select = control.locator("select").first
        if select.is_disabled():
            return ""
        options = select.locator("option").all_inner_texts()
        current = select.evaluate("s => s.selectedIndex")
        new = (current + 1) % len(options)
        select.select_option(index=new)
        return f"dropdown {options[current]!r} -> {options[new]!r}"
    if "widget-toggle-buttons" in cls:
        buttons = [b for b in control.locator("button").all() if "mod-active" not in (b.get_attribute("class") or "")]
        if buttons and buttons[0].is_enabled():
            buttons[0].click()
            return f"toggle -> {buttons[0].inner_text()!r}"
        return ""
    if "widget-checkbox" in cls:
        box = control.locator("input").first
        if box.is_enabled():
            box.click()
            return "checkbox toggled"
        return ""
    if "widget-radio-box" in cls:
        radios = [r for r in control.locator("input").all() if not r.is_checked()]
        if radios:
            radios[0].click()
            return "radio changed"
    return ""


@pytest.mark.parametrize("chapter", widget_chapters(), ids=lambda p: p.stem)
def test_chapter_runs_and_widgets_respond(lab, browser, chapter):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # ?reset: start from an empty workspace (otherwise the last page's tabs are restored).
        page.goto(f"{lab}/lab/tree/book/{chapter.name}?reset", timeout=120_000)
        page.wait_for_function(
            """name => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                         return !!(w && w.context && w.context.path.endsWith(name) && w.content); }""",
            arg=chapter.name, timeout=120_000)
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=120_000)
        _wait_state(page, lambda s: s["kernel"] == "idle", 120, "the kernel to start")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        _wait_state(page, lambda s: s["pending"] == 0 and s["kernel"] == "idle", RUN_TIMEOUT_S,
                    "every cell to run")
        views = [v for v in page.locator(".jp-OutputArea-output > .jupyter-widgets, "
                                         ".jp-OutputArea-output > .widget-container").all()]
        areas = [a for a in page.locator(".jp-OutputArea-output").all()
                 if a.locator(".jupyter-widgets").count() and any(map(_enabled, _controls(a)))]
        assert areas, f"{chapter.name}: no widget with controls rendered (views: {len(views)})"
        moved = 0
        for area in areas:
            area.scroll_into_view_if_needed()
            for index in range(len(_controls(area))):
                control = _controls(area)[index]  # re-query: earlier moves may re-render
                if not _enabled(control):
                    continue
                before = _pictures(area)
                what = _move(page, control)
                if not what:
                    continue
                run_buttons = [b for b in area.locator("button.widget-button, .widget-button").all()
                               if b.is_visible() and b.is_enabled()]
                for b in run_buttons:  # interact_manual: "Run interact"
                    b.click()
                deadline = time.time() + 90
                changed = False
                while time.time() < deadline:
                    _wait_state(page, lambda s: s["kernel"] == "idle", 120, "the widget callback")
                    if _pictures(area) != before:
                        changed = True
                        break
                    time.sleep(0.5)
                assert changed, f"{chapter.name}: moving a control ({what}) did not change any picture"
                moved += 1
        assert moved, f"{chapter.name}: found widgets but no control could be moved"
        for area in areas:  # a picture stretched beyond its pixels reads blurred
            for img in area.locator("img").all():
                natural, shown = img.evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]")
                assert shown <= 1.05 * natural, (
                    f"{chapter.name}: a widget picture {natural} px wide is stretched to {shown:.0f} px "
                    "(set the Image widget's width to the PNG's width)")
        areas[0].scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"{chapter.stem}.png"), full_page=False)
        for i, area in enumerate(areas):
            area.screenshot(path=str(SHOTS / f"{chapter.stem}_widget{i}.png"))
    finally:
        try:  # stop this notebook's kernel so the next chapter has the CPU
            page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        except Exception:
            pass
        page.close()


def test_there_are_widget_chapters():
    """Guards against the glob finding nothing (the suite would then prove nothing)."""
    assert len(widget_chapters()) >= 1
