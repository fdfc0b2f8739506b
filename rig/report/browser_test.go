package report

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds each step in the browser: its start, and each
// page's load, measurement and screenshot. It is generous, for a loaded
// CI machine with two cores.
const browserTimeout = 60 * time.Second

// screenshotDirEnv names a directory to copy the screenshots to, for a
// person (or CI's artifact upload) to look at.
const screenshotDirEnv = "MMAPRIG_SCREENSHOT_DIR"

// chromium is the browser's path. Without one, the test skips under
// -short and fails otherwise, so CI cannot pass without the check.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("chromium is not installed, and -short: the HTML report's layout is not checked in a browser (make deps installs chromium)")
	}
	t.Fatal("chromium is not installed: run make deps (it installs Debian's chromium), the HTML report's layout is checked in a real browser")
	return ""
}

// browserLog keeps what chromedp logs, for a failing test to show:
// the browser's goroutines may log after the test ends, when t.Logf
// would panic.
type browserLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *browserLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
}

func (l *browserLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startBrowser starts a headless chromium with a fresh profile, for the
// test's life, and returns its context.
func startBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	log := &browserLog{}
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithLogf(log.printf), chromedp.WithErrorf(log.printf))
	t.Cleanup(func() {
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing the browser: %v", err)
		}
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromedp's log:\n%s", log)
		}
	})
	// The first run starts the browser; it must not carry a timeout
	// (that would end the browser with it), so a timer stands guard.
	guard := time.AfterFunc(browserTimeout, cancel)
	defer guard.Stop()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx
}

// view is one way to look at the page: a window width and a colour scheme.
type view struct {
	name  string
	width int64
	dark  bool
}

// pageLayout is what layoutScript measured on the page.
type pageLayout struct {
	Viewport    float64   `json:"viewport"`
	ScrollWidth float64   `json:"scrollWidth"`
	Overflowing []string  `json:"overflowing"`
	Scrolling   []string  `json:"scrolling"`
	Boxes       []textBox `json:"boxes"`
	LowContrast []string  `json:"lowContrast"`
}

// textBox is a <pre> (diagnostics, output, warnings, a stack, the
// excerpt): its width, its rendered lines, its lines of text, and how
// many characters its rendered lines hold on average.
type textBox struct {
	Where        string  `json:"where"`
	Width        float64 `json:"width"`
	Lines        float64 `json:"lines"`
	Logical      float64 `json:"logical"`
	CharsPerLine float64 `json:"charsPerLine"`
}

// render opens the page in a new tab at the view's width and colour
// scheme, and returns its screenshot, its layout as a reader first sees
// it, and its layout with every <details> open.
func render(t *testing.T, browser context.Context, url string, v view) (png []byte, closed, opened pageLayout) {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(tab, browserTimeout)
	defer cancelTimeout()
	scheme := "light"
	if v.dark {
		scheme = "dark"
	}
	media := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.width, 900), media, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s at %dpx: %v", url, v.width, err)
	}
	var err error
	if closed, err = chromedp.Run(ctx, chromedp.Evaluate[pageLayout](layoutScript)); err != nil {
		t.Fatalf("measuring the page: %v", err)
	}
	if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	open := `document.querySelectorAll("details").forEach(d => d.open = true)`
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](open)); err != nil {
		t.Fatalf("opening the details: %v", err)
	}
	if opened, err = chromedp.Run(ctx, chromedp.Evaluate[pageLayout](layoutScript)); err != nil {
		t.Fatalf("measuring the page with its details open: %v", err)
	}
	return png, closed, opened
}

// saveScreenshot writes the screenshot into the test's directory, logs
// its path, and copies it to $MMAPRIG_SCREENSHOT_DIR when that is set.
func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dirs := []string{t.TempDir()}
	if d := os.Getenv(screenshotDirEnv); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("%s: %v", screenshotDirEnv, err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
}

// checkLayout fails the test for what a reader would suffer: a page
// wider than the window, an element past its right edge outside a box
// that scrolls, a box other than code that has to scroll sideways, a
// text box too narrow to read (one character a line), or text too faint
// on its background.
func checkLayout(t *testing.T, state string, l pageLayout) {
	t.Helper()
	if l.Viewport <= 0 || len(l.Boxes) == 0 {
		t.Fatalf("%s: the measurement found no viewport (%v) or no text boxes (%d): it measured nothing", state, l.Viewport, len(l.Boxes))
	}
	if l.ScrollWidth > l.Viewport {
		t.Errorf("%s: the page is %.0fpx wide, wider than the %.0fpx window: it scrolls sideways", state, l.ScrollWidth, l.Viewport)
	}
	for _, o := range l.Overflowing {
		t.Errorf("%s: past the window's right edge: %s", state, o)
	}
	// Code may scroll sideways in its box; a table of the report must
	// fit, or a reader would not see its last columns.
	for _, s := range l.Scrolling {
		t.Errorf("%s: scrolls sideways: %s", state, s)
	}
	for _, b := range l.Boxes {
		// A box that wrapped its text must still hold lines of many
		// characters; one that did not wrap may hold short lines.
		if b.Width < 300 || (b.Lines > b.Logical && b.CharsPerLine < 20) {
			t.Errorf("%s: %s is %.0fpx wide, %.0f lines of %.1f characters on average: too narrow to read",
				state, b.Where, b.Width, b.Lines, b.CharsPerLine)
		}
	}
	for _, c := range l.LowContrast {
		t.Errorf("%s: text too faint: %s", state, c)
	}
}

// The report, seen in a real browser at a wide and a narrow window, and
// in the dark: nothing makes the page scroll sideways, nothing sticks
// out past the window except inside a box that scrolls itself, the
// diagnostics, output, warnings and stack read in lines of many
// characters, and all text is legible on its background.
func TestHTMLInBrowser(t *testing.T) {
	exe := chromium(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := WriteHTML(path, matrix(t, dir)); err != nil {
		t.Fatal(err)
	}
	browser := startBrowser(t, exe)
	for _, v := range []view{{"1280", 1280, false}, {"800", 800, false}, {"1280-dark", 1280, true}, {"800-dark", 800, true}, {"480", 480, false}} {
		t.Run(v.name, func(t *testing.T) {
			png, closed, opened := render(t, browser, "file://"+path, v)
			saveScreenshot(t, "html-report-"+v.name+".png", png)
			checkLayout(t, "as the page opens", closed)
			checkLayout(t, "with every <details> open", opened)
		})
	}
}

// layoutScript measures the page as checkLayout needs it. It walks the
// elements from the body down, and does not descend into a box that
// scrolls sideways by itself (what is inside may be wider than the box),
// nor into one that sticks out already (it is the one to name).
// Contrast is WCAG's, of each text's colour on the backgrounds under it,
// composited.
const layoutScript = `(() => {
  const vw = document.documentElement.clientWidth;
  const scrolls = el => /^(auto|scroll)$/.test(getComputedStyle(el).overflowX);
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const path = el => { const p = []; for (let e = el; e && e !== document.body; e = e.parentElement) p.unshift(name(e)); return p.join(" > "); };
  const overflowing = [];
  const walk = el => {
    for (const c of el.children) {
      const r = c.getBoundingClientRect();
      if (r.width > 0 && r.right > vw + 0.5) overflowing.push(path(c) + ": right edge at " + Math.round(r.right) + "px");
      else if (!scrolls(c)) walk(c);
    }
  };
  walk(document.body);
  const scrolling = [...document.body.querySelectorAll("*")]
    .filter(el => el.tagName !== "PRE" && scrolls(el) && el.scrollWidth > el.clientWidth + 1)
    .map(el => path(el) + ": " + el.scrollWidth + "px of content in " + el.clientWidth + "px");

  const boxes = [];
  for (const pre of document.querySelectorAll("pre")) {
    if (pre.getClientRects().length === 0) continue; // in a closed <details>
    const s = getComputedStyle(pre);
    const lh = parseFloat(s.lineHeight);
    const h = pre.scrollHeight - parseFloat(s.paddingTop) - parseFloat(s.paddingBottom);
    const text = pre.textContent.replace(/\n$/, "");
    const lines = Math.max(1, Math.round(h / lh));
    boxes.push({where: path(pre), width: pre.getBoundingClientRect().width, lines: lines,
      logical: text.split("\n").length, charsPerLine: text.replace(/\n/g, "").length / lines});
  }

  const rgba = s => { const m = /rgba?\(([^)]*)\)/.exec(s); if (!m) return null;
    const v = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const lowContrast = [];
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim() !== "");
    if (!own || el.getClientRects().length === 0) continue;
    const bg = background(el), fg0 = rgba(getComputedStyle(el).color);
    if (!fg0) continue;
    const fg = over(fg0, bg);
    const a = lum(fg), b = lum(bg), ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) lowContrast.push(path(el) + " " + JSON.stringify(el.textContent.trim().slice(0, 40)) + ": " + ratio.toFixed(2) + ":1");
  }
  return {viewport: vw, scrollWidth: document.documentElement.scrollWidth, overflowing, scrolling, boxes, lowContrast};
})()`
