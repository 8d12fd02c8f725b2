package console_test

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"rampart/fleet/store"
	"rampart/sim"
)

var screenshots = flag.String("console.screenshots", os.Getenv("RAMPART_CONSOLE_SCREENSHOTS"), "directory the browser test writes its screenshots to (default: a temporary one)")

// chromium finds Debian's chromium (RAMPART_CHROMIUM overrides).
func chromium(t *testing.T) string {
	if p := os.Getenv("RAMPART_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (apt-get install chromium); the console's browser tests need it")
	return ""
}

// axeScript is axe-core from npm, installed once into the user's cache
// directory (RAMPART_AXE names an axe.min.js instead).
func axeScript(t *testing.T) string {
	path := os.Getenv("RAMPART_AXE")
	if path == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "rampart", "axe-core-4.10")
		path = filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
		if _, err := os.Stat(path); err != nil {
			npm, err := exec.LookPath("npm")
			if err != nil {
				t.Skip("npm not installed: the accessibility check needs axe-core from npm")
			}
			out, err := exec.Command(npm, "install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund", "axe-core@4.10.3").CombinedOutput()
			if err != nil {
				t.Fatalf("npm install axe-core: %v\n%s", err, out)
			}
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		// The admin listener's certificate is the test fleet's own CA's.
		chromedp.Flag("ignore-certificate-errors", true)}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(c, actions...); err != nil {
		t.Fatal(err)
	}
}

// eval runs expr (a promise is awaited) and decodes its value into out.
func eval(t *testing.T, ctx context.Context, expr string, out any) {
	t.Helper()
	run(t, ctx, chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
}

// waitJS polls expr in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, d time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := chromedp.Run(c, chromedp.Evaluate(expr, &ok))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var page string
			chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('main').innerText.slice(0, 2000)`, &page))
			t.Fatalf("timed out after %s waiting for %s (err %v); the page shows:\n%s", d, what, err, page)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func signIn(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	run(t, ctx, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", token, chromedp.ByID), chromedp.Click(`form button[type=submit]`, chromedp.ByQuery))
	waitJS(t, ctx, 10*time.Second, "signed in", `!document.getElementById('nav').hidden && document.body.dataset.role !== undefined`)
}

func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	run(t, ctx, chromedp.Click("#signout", chromedp.ByID))
	waitJS(t, ctx, 10*time.Second, "signed out", `!!document.getElementById('token')`)
}

func goTo(t *testing.T, ctx context.Context, hash, ready string) {
	t.Helper()
	run(t, ctx, chromedp.Evaluate(fmt.Sprintf(`location.hash = %q`, hash), nil))
	waitJS(t, ctx, 15*time.Second, hash+" loaded", ready)
}

// TestConsoleInBrowser drives the console in headless Chromium against a
// fleet of 20 simulated devices: roles, a campaign created through the
// form that reaches verified live, an automatic pause, a suspension seen
// on the overview, the telemetry chart against the store, accessibility
// and both viewport sizes of every page.
func TestConsoleInBrowser(t *testing.T) {
	ctx := newBrowser(t)
	axe := axeScript(t)
	r := newRig(t, 20)
	base := r.f.AdminURL
	st := r.f.Server.Store()

	t.Run("viewer", func(t *testing.T) {
		signIn(t, ctx, base, viewerToken)
		dev := r.agents[0].DeviceID()
		goTo(t, ctx, "#/devices/"+dev, `!!document.getElementById('h-id')`)
		var n int
		eval(t, ctx, `document.querySelectorAll('[data-action], #create-campaign, #rel-file').length`, &n)
		if n != 0 {
			t.Fatalf("the viewer's device page shows %d mutating controls", n)
		}
		for _, p := range []string{"#/campaigns", "#/releases"} {
			goTo(t, ctx, p, `!!document.querySelector('main table, main .empty')`)
			eval(t, ctx, `document.querySelectorAll('[data-action], #create-campaign, #rel-file').length`, &n)
			if n != 0 {
				t.Fatalf("%s shows a viewer %d mutating controls", p, n)
			}
		}
		// A forged suspension from the viewer's own page, with its CSRF
		// token: the API refuses the role.
		var status int
		forge := `(async () => { const s = await (await fetch('/ui/session')).json();
			const r = await fetch('/ui/api/v1/devices/%s/suspend', {method: 'POST', headers: {'X-Rampart-CSRF': %s, 'Content-Type': 'application/json'}, body: '{"reason":"forged"}'});
			return r.status; })()`
		eval(t, ctx, fmt.Sprintf(forge, dev, "s.csrf"), &status)
		if status != http.StatusForbidden {
			t.Fatalf("viewer's suspension answered %d, want 403", status)
		}
		// Without the CSRF token.
		eval(t, ctx, fmt.Sprintf(forge, dev, "'guess'"), &status)
		if status != http.StatusForbidden {
			t.Fatalf("a POST without the CSRF token answered %d, want 403", status)
		}
		// From another origin with the session cookie and the right token.
		var cookies []*network.Cookie
		run(t, ctx, chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			cookies, err = network.GetCookies().Do(ctx)
			return err
		}))
		var csrf string
		eval(t, ctx, `fetch('/ui/session').then(r => r.json()).then(s => s.csrf)`, &csrf)
		req, _ := http.NewRequest("POST", base+"/ui/api/v1/devices/"+dev+"/resume", strings.NewReader("{}"))
		for _, c := range cookies {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		req.Header.Set("X-Rampart-CSRF", csrf)
		req.Header.Set("Origin", "https://attacker.example")
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.f.Roots()}}}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a cross-origin POST answered %d, want 403", resp.StatusCode)
		}
		denied, err := st.AuditLog(context.Background(), store.AuditFilter{Decision: "deny", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var role, cross bool
		for _, e := range denied {
			role = role || (e.Actor == "console:viewer" && strings.Contains(e.Reason, "weaker"))
			cross = cross || (e.Actor == "console:viewer" && strings.Contains(e.Reason, "cross-site"))
		}
		if !role || !cross {
			t.Fatalf("refusals audited: role %v, cross-site %v; want both", role, cross)
		}
		signOut(t, ctx)
	})

	signIn(t, ctx, base, operatorToken)
	run(t, ctx, chromedp.Evaluate(`window.__sameDocument = true`, nil))
	createCampaign := func(t *testing.T, id, version, threshold string) {
		goTo(t, ctx, "#/campaigns", `!!document.getElementById('create-campaign')`)
		waitJS(t, ctx, 10*time.Second, "the live count of targets", `document.getElementById('c-count').textContent === '19 devices match'`)
		run(t, ctx, chromedp.SendKeys("#c-id", id, chromedp.ByID), chromedp.SetValue("#c-release", r.releases[version], chromedp.ByID),
			chromedp.SetValue("#c-phases", "50, 100", chromedp.ByID), chromedp.SetValue("#c-failure", threshold, chromedp.ByID),
			chromedp.SetValue("#c-conc", "20", chromedp.ByID), chromedp.Click(`#create-campaign button[type=submit]`, chromedp.ByQuery))
		waitJS(t, ctx, 10*time.Second, "the campaign's page", fmt.Sprintf(`location.hash === '#/campaigns/%s' && !!document.querySelector('[data-k=state]')`, id))
	}

	dev := r.agents[19].DeviceID()
	t.Run("suspend goes offline", func(t *testing.T) {
		goTo(t, ctx, "#/overview", `document.querySelector('[data-k=online]')?.textContent === '20'`)
		goTo(t, ctx, "#/devices/"+dev, `!!document.querySelector('[data-action=suspend]')`)
		run(t, ctx, chromedp.Click(`[data-action=suspend]`, chromedp.ByQuery), chromedp.WaitVisible("#confirm-reason", chromedp.ByID))
		var text string
		eval(t, ctx, `document.getElementById('confirm-text').textContent`, &text)
		if !strings.Contains(text, dev) {
			t.Fatalf("the confirmation %q does not name the device %s", text, dev)
		}
		run(t, ctx, chromedp.SendKeys("#confirm-reason", "browser test", chromedp.ByID), chromedp.Click("#confirm-ok", chromedp.ByID))
		waitJS(t, ctx, 10*time.Second, "suspended", `document.querySelector('[data-k=state]')?.textContent.startsWith('suspended')`)
		goTo(t, ctx, "#/overview", `!!document.querySelector('[data-k=online]')`)
		waitJS(t, ctx, 20*time.Second, "19 online on the overview", `document.querySelector('[data-k=online]').textContent === '19'`)
	})

	t.Run("telemetry chart", func(t *testing.T) {
		goTo(t, ctx, "#/devices/"+dev, `!!document.querySelector('svg.chart')`)
		deadline := time.Now().Add(20 * time.Second)
		for {
			var got map[string]int
			eval(t, ctx, `Object.fromEntries([...document.querySelectorAll('svg.chart [data-series]')].map(g => [g.dataset.series, +g.dataset.points]))`, &got)
			want := map[string]int{}
			for m := range got {
				pts, err := st.Points(context.Background(), store.PointQuery{DeviceID: dev, Metric: m, From: time.Now().Add(-2 * time.Hour), To: time.Now().Add(time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
				want[m] = len(pts)
			}
			if len(got) >= 2 && fmt.Sprint(got) == fmt.Sprint(want) && got["temperature"] > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("chart draws %v points, the store holds %v", got, want)
			}
			time.Sleep(time.Second)
		}
		// The claims of the token its certificate was issued on, decoded:
		// the firmware it booted, measured by its bootloader.
		var claims string
		eval(t, ctx, `document.querySelector('[data-k=claims]')?.innerText || ''`, &claims)
		if !strings.Contains(claims, "secured") || !strings.Contains(claims, "1.0.0") {
			t.Fatalf("the device page's claims do not show the lifecycle and the booted 1.0.0:\n%s", claims)
		}
		shoot(t, ctx, "device")
	})

	t.Run("campaign reaches verified live", func(t *testing.T) {
		createCampaign(t, "rollout-2", "2.0.0", "0.5")
		waitJS(t, ctx, 90*time.Second, "every device verified", `document.querySelector('[data-k=state]').textContent === 'completed' &&
			[...document.querySelectorAll('[data-k=count-verified]')].reduce((a, e) => a + +e.textContent, 0) === 19`)
		shoot(t, ctx, "campaign-verified")
	})

	t.Run("30% failing pauses", func(t *testing.T) {
		for i := range 6 {
			r.fails.Store(i, true)
		}
		createCampaign(t, "rollout-3", "3.0.0", "0.2")
		waitJS(t, ctx, 90*time.Second, "the automatic pause", `!!document.querySelector('[data-k=pause]') &&
			document.querySelector('[data-k=pause]').textContent.includes('Paused automatically') &&
			document.querySelector('[data-k=pause]').textContent.includes('failure threshold')`)
		waitJS(t, ctx, 30*time.Second, "the failing devices listed", `[...document.querySelectorAll('#h-fail ~ div tbody tr')].length > 0`)
		shoot(t, ctx, "campaign-paused")
	})

	var same bool
	eval(t, ctx, `window.__sameDocument === true`, &same)
	if !same {
		t.Fatal("the page was reloaded: live updates should not need it")
	}
	signOut(t, ctx)

	t.Run("admin uploads a release", func(t *testing.T) {
		signIn(t, ctx, base, sim.AdminToken)
		img, err := r.f.SignFirmware("4.0.0", 5000)
		if err != nil {
			t.Fatal(err)
		}
		good := filepath.Join(t.TempDir(), "v4.bin")
		bad := filepath.Join(t.TempDir(), "v4-tampered.bin")
		os.WriteFile(good, img, 0o600)
		tampered := append([]byte(nil), img...)
		tampered[len(tampered)/2] ^= 1
		os.WriteFile(bad, tampered, 0o600)
		goTo(t, ctx, "#/releases", `!!document.getElementById('rel-file')`)
		run(t, ctx, chromedp.SetUploadFiles("#rel-file", []string{bad}, chromedp.ByID), chromedp.Click(`main form button[type=submit]`, chromedp.ByQuery))
		waitJS(t, ctx, 10*time.Second, "the refusal of a tampered image", `document.querySelector('main [role=alert]')?.textContent.startsWith('Refused (422)')`)
		run(t, ctx, chromedp.SetUploadFiles("#rel-file", []string{good}, chromedp.ByID), chromedp.Click(`main form button[type=submit]`, chromedp.ByQuery))
		waitJS(t, ctx, 10*time.Second, "the verification result", `document.querySelector('[data-k=security-counter]')?.textContent !== undefined &&
			document.querySelector('main [role=status]')?.textContent.includes('4.0.0')`)
		var sc string
		eval(t, ctx, `document.querySelector('[data-k=security-counter]').textContent`, &sc)
		if sc == "—" || sc == "" {
			t.Fatalf("no security counter shown: %q", sc)
		}
		shoot(t, ctx, "release-uploaded")
	})

	t.Run("every page: accessibility and both sizes", func(t *testing.T) {
		pages := []struct{ name, hash, ready string }{
			{"overview", "#/overview", `!!document.querySelector('[data-k=online]')`},
			{"devices", "#/devices", `!!document.querySelector('main table')`},
			{"device", "#/devices/" + dev, `!!document.querySelector('svg.chart')`},
			{"releases", "#/releases", `!!document.querySelector('main table')`},
			{"campaigns", "#/campaigns", `!!document.querySelector('main table')`},
			{"campaign", "#/campaigns/rollout-3", `!!document.querySelector('[data-k=state]')`},
			{"audit", "#/audit", `!!document.querySelector('main table')`},
		}
		for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
			run(t, ctx, chromedp.EmulateViewport(size[0], size[1]))
			for _, p := range pages {
				goTo(t, ctx, p.hash, p.ready)
				var bad []string
				eval(t, ctx, axe+`;axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join('; ')))`, &bad)
				if len(bad) > 0 {
					t.Errorf("%s at %dx%d: serious or critical accessibility violations:\n%s", p.name, size[0], size[1], strings.Join(bad, "\n"))
				}
				var overflow bool
				eval(t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow)
				if overflow {
					t.Errorf("%s at %dx%d scrolls sideways", p.name, size[0], size[1])
				}
				shoot(t, ctx, fmt.Sprintf("%s-%dx%d", p.name, size[0], size[1]))
			}
		}
	})
}

// shoot saves a full-page PNG screenshot under -console.screenshots.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := *screenshots
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "rampart-console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	run(t, ctx, chromedp.FullScreenshot(&buf, 100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}
