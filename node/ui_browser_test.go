package node_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/cxnet/cxnet/cli"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

// chromium finds a Chromium to drive: $CXNET_CHROMIUM, or one on PATH.
// Without one the browser tests skip, saying how to get it (.ci/run
// installs Debian's chromium, so CI runs them).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CXNET_CHROMIUM"); p != "" {
		return p
	}
	names := []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skipf("no Chromium found (looked for $CXNET_CHROMIUM and %s on PATH): the browser tests need one; "+
		"install it (`apt-get install -y chromium`, as .ci/run does) or set CXNET_CHROMIUM", strings.Join(names, ", "))
	return ""
}

// browser starts a headless Chromium for the test: its own profile, no
// proxy, evil.example resolving to 127.0.0.1 (a DNS-rebinding page). Every
// page it opens records Content-Security-Policy violations in
// window.__csp.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP evil.example 127.0.0.1"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	const recordCSP = `window.__csp = []; document.addEventListener('securitypolicyviolation',
		e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordCSP})
		return err
	}))
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// run runs a browser action with a time limit, failing the test on error.
func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(actx, a)
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// screenshot saves the page as NAME.png in dir.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// importQuarters gives a member NPS answers in two quarters of 2026:
// per quarter, two in pharmacy (under any floor network-wide), a third
// inpatient, the rest outpatient; extra adds more in one cell.
func importQuarters(t *testing.T, m *nodetest.Member, prefix string, n int, care, date string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("record_id,subject,measure,value,time,care_setting\n")
	for i := range n {
		c, d := care, date
		if c == "" {
			c = "outpatient"
			switch {
			case i%100 < 2:
				c = "pharmacy"
			case i%3 == 0:
				c = "inpatient"
			}
			d = "2026-02-10"
			if i%2 == 1 {
				d = "2026-05-10"
			}
		}
		fmt.Fprintf(&b, "%s-%s-%d,%s%d,nps,%d,%s,%s\n", m.Org, prefix, i, prefix, i, nps(i, m.Org), d, c)
	}
	_, err := m.Client.Import(context.Background(), client.ImportRequest{Format: "csv"}, nil,
		[]client.ImportFile{{Name: m.Org + "-" + prefix + ".csv", Body: strings.NewReader(b.String())}})
	if err != nil {
		t.Fatal(err)
	}
}

// nps is a made-up answer, 0 to 10, mostly passives and promoters.
func nps(i int, org string) int {
	return []int{9, 10, 8, 7, 9, 3, 10, 6, 9, 8, 5, 10, 0}[(i*7+len(org)+int(org[len(org)-1]))%13]
}

// cliOutput runs the cxnet command line on a member's home.
func cliOutput(t *testing.T, m *nodetest.Member, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := cli.Run(context.Background(), cli.NewApp(&out, &errb), append([]string{"cxnet", "--home", m.Home}, args...)); err != nil {
		t.Fatalf("cxnet %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// roundID matches a round's id, which only a page with data shows.
var roundID = regexp.MustCompile(`nps-[a-z]+/[0-9]+`)

// shownCell is a row of the results page's cells table.
type shownCell struct {
	Group      string  `json:"group"`
	Count      *string `json:"count"`
	Value      *string `json:"value"`
	OwnCount   *string `json:"own_count"`
	OwnValue   *string `json:"own_value"`
	Suppressed bool    `json:"suppressed"`
	Reason     string  `json:"reason"`
	Text       string  `json:"text"`
	Cells      int     `json:"cells"` // how many cells the row has: own beside the network's
}

const readCells = `Array.from(document.querySelectorAll('#cells tbody tr')).map(tr => {
	const q = c => { const td = tr.querySelector('td[data-col="' + c + '"]'); return td ? td.textContent.trim() : null; };
	const s = tr.querySelector('td[data-col="network"]');
	return {group: tr.dataset.group, count: q('count'), value: q('value'), own_count: q('own-count'), own_value: q('own-value'),
		suppressed: !!s, reason: s ? s.dataset.reason : '', text: s ? s.textContent.trim() : '', cells: tr.children.length};
})`

// groupKey is a cell's group as the dashboard keys its rows.
func groupKey(g map[string]string) string {
	var parts []string
	for k, v := range g {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// requireShown checks the cells table shows res, the result `cxnet
// results --json` gives: each network value and count as released, each
// suppressed cell as suppressed with its reason (never a number), and the
// own value in the same row.
func requireShown(t *testing.T, shown []shownCell, res *client.Results) {
	t.Helper()
	if len(shown) != len(res.Cells) {
		t.Fatalf("page shows %d cells, the result has %d", len(shown), len(res.Cells))
	}
	for i, cell := range res.Cells {
		s := shown[i]
		if s.Group != groupKey(cell.Group) {
			t.Fatalf("row %d is %q, want %q", i, s.Group, groupKey(cell.Group))
		}
		if cell.Suppressed {
			if !s.Suppressed || s.Reason != cell.Reason || s.Count != nil || s.Value != nil || !strings.Contains(s.Text, "suppressed") {
				t.Errorf("%s is suppressed (%s) but the page shows %+v", s.Group, cell.Reason, s)
			}
		} else {
			got, err := strconv.ParseFloat(deref(s.Value), 64)
			want, _ := cell.Value.(float64)
			if s.Suppressed || deref(s.Count) != strconv.FormatInt(*cell.Count, 10) || err != nil || math.Abs(got-want) > 1e-9 {
				t.Errorf("%s: page shows count %q value %q, results --json has %d and %v", s.Group, deref(s.Count), deref(s.Value), *cell.Count, cell.Value)
			}
		}
		ownWant, _ := cell.Local.Value.(float64)
		ownGot, err := strconv.ParseFloat(deref(s.OwnValue), 64)
		if deref(s.OwnCount) != strconv.FormatInt(cell.Local.Count, 10) || err != nil || math.Abs(ownGot-ownWant) > 1e-9 {
			t.Errorf("%s: own value shown %q/%q, want %d/%v", s.Group, deref(s.OwnCount), deref(s.OwnValue), cell.Local.Count, cell.Local.Value)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return *s
}

// TestDashboardInBrowser drives the dashboard of a real node in headless
// Chromium. Three members hold NPS answers in two quarters; a contract
// per care setting and quarter has two released rounds (the second with a
// cell suppressed for differencing; pharmacy is under the floor in both),
// and a second contract is released to org-0 only. On org-1's dashboard:
// nothing without a session; the login link works once; the results page
// shows what `cxnet results --json` gives, suppressed cells as suppressed
// with their reason, the own value beside the network's, charts whose
// network series has gaps (not zeros) where cells are suppressed; the
// downloads are `results --csv` and `--json` byte for byte; a third
// release appears without a reload; a page reached under another Host
// name (DNS rebinding) is refused; no page breaks the CSP. A screenshot of
// each page is kept in $CXNET_SCREENSHOTS (or the test's temporary
// directory, logged).
func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t) // skips without Chromium, before the cluster starts
	shots := os.Getenv("CXNET_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	bg := context.Background()
	c := nodetest.NewCluster(t, 3, nodetest.Options{})
	c.Form("dashboard")
	c.WaitForKeys()
	for i, m := range c.Nodes {
		importQuarters(t, m, "a", 150+50*i, "", "")
	}
	const contract = "id: nps-quarterly\ntitle: NPS by care setting and quarter\nmeasure: nps\naggregate: nps\n" +
		"group_by: {care_setting: [inpatient, outpatient, pharmacy]}\nwindow: {from: 2026-01-01, to: 2026-06-30}\nperiod: quarter\n" +
		"participants: [org-0, org-1, org-2]\napprovals: all\nprivacy: {min_cohort: 11}\n"
	agree(t, "nps-quarterly", contract, c.Nodes[0], c.Nodes[1:]...)
	const sealed = "id: nps-sealed\nmeasure: nps\naggregate: nps\nparticipants: [org-0, org-1, org-2]\napprovals: 1\nreaders: [org-0]\nprivacy: {min_cohort: 11}\n"
	agree(t, "nps-sealed", sealed, c.Nodes[0])
	const noisy = "id: nps-noisy\nmeasure: nps\naggregate: nps\nparticipants: [org-0, org-1, org-2]\napprovals: 1\nprivacy: {min_cohort: 11, epsilon: 1, budget: 3}\n"
	agree(t, "nps-noisy", noisy, c.Nodes[0])
	c.RequireSameState()
	if _, err := c.Nodes[0].Client.RunRound(bg, "nps-quarterly"); err != nil {
		t.Fatal(err)
	}
	// 15 new inpatient answers in Q1 move that cell past the floor; 4 new
	// outpatient ones in Q2 do not: that cell is suppressed (differencing).
	importQuarters(t, c.Nodes[1], "b", 15, "inpatient", "2026-03-01")
	importQuarters(t, c.Nodes[2], "c", 4, "outpatient", "2026-04-01")
	if _, err := c.Nodes[2].Client.RunRound(bg, "nps-quarterly"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"nps-sealed", "nps-noisy"} {
		if _, err := c.Nodes[0].Client.RunRound(bg, id); err != nil {
			t.Fatal(err)
		}
	}

	viewer := c.Nodes[1]
	st := c.Status(viewer)
	base := "http://" + st.API
	want, err := viewer.Client.Results(bg, "nps-quarterly", "")
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, cell := range want.Cells {
		reasons[cell.Reason]++
	}
	if reasons["min_cohort"] == 0 || reasons["differencing"] == 0 {
		t.Fatalf("the scenario needs cells suppressed for both reasons; the release has %v", reasons)
	}

	t.Run("no data without a session", func(t *testing.T) {
		for _, p := range []string{"/ui/", "/ui/contracts", "/ui/contracts/nps-quarterly", "/ui/rounds", "/ui/audit",
			"/ui/contracts/nps-quarterly/results.json", "/ui/contracts/nps-quarterly/results.csv"} {
			resp := run(t, ctx, "open "+p, chromedp.NavigateResponse(base+p))
			body := run(t, ctx, "read "+p, chromedp.Evaluate[string](`document.body.innerText`))
			if resp.Status != 401 || !strings.Contains(body, "cxnet --home DIR ui") || strings.Contains(body, "org-1") ||
				roundID.MatchString(body) || strings.Contains(body, "outpatient") {
				t.Errorf("%s without a session: status %d, page %q; want 401 and only how to sign in", p, resp.Status, body)
			}
		}
		screenshot(t, ctx, shots, "signin")
	})

	link, err := viewer.Client.UILogin(bg, "/ui/contracts/nps-quarterly")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("login link lands on the page asked for", func(t *testing.T) {
		run(t, ctx, "open the login link", chromedp.Navigate(link.URL))
		if loc := run(t, ctx, "location", chromedp.Location()); loc != base+"/ui/contracts/nps-quarterly" {
			t.Fatalf("landed on %s", loc)
		}
		cookies := run(t, ctx, "cookies", chromedp.Evaluate[string](`document.cookie`))
		if cookies != "" {
			t.Fatalf("a script reads the session cookie (%q): it must be HttpOnly", cookies)
		}
	})

	t.Run("results page shows results --json", func(t *testing.T) {
		run(t, ctx, "wait for the charts", chromedp.Poll[bool](`typeof Chart !== 'undefined' && !!Chart.getChart('cells-chart') && !!Chart.getChart('periods-chart') && !!Chart.getChart('rounds-chart')`))
		requireShown(t, run(t, ctx, "read the cells", chromedp.Evaluate[[]shownCell](readCells)), want)
		for _, s := range run(t, ctx, "read the cells", chromedp.Evaluate[[]shownCell](readCells)) {
			if s.Cells != 2+2+2 && s.Cells != 2+1+2 { // care setting and period, network (count and value, or suppressed), own count and value
				t.Errorf("row %s has %d cells", s.Group, s.Cells)
			}
		}
		// The chart's network series: the released values, null (a gap)
		// where a cell is suppressed; the own series beside it.
		network := run(t, ctx, "chart data", chromedp.Evaluate[[]*float64](`Chart.getChart('cells-chart').data.datasets[0].data`))
		own := run(t, ctx, "chart data", chromedp.Evaluate[[]*float64](`Chart.getChart('cells-chart').data.datasets[1].data`))
		for i, cell := range want.Cells {
			v, _ := cell.Value.(float64)
			if cell.Suppressed != (network[i] == nil) || (network[i] != nil && math.Abs(*network[i]-v) > 1e-9) {
				t.Errorf("chart: cell %d is %v, released %+v", i, network[i], cell)
			}
			if lv, _ := cell.Local.Value.(float64); own[i] == nil || math.Abs(*own[i]-lv) > 1e-9 {
				t.Errorf("chart: own value of cell %d is %v, want %v", i, own[i], lv)
			}
		}
		rounds := run(t, ctx, "rounds table", chromedp.Evaluate[int](`document.querySelectorAll('#over-rounds tbody tr').length`))
		if rounds != 2 {
			t.Errorf("the table over rounds has %d rounds, want 2", rounds)
		}
		if csp := run(t, ctx, "CSP", chromedp.Evaluate[[]string](`window.__csp`)); len(csp) > 0 {
			t.Errorf("the page broke its Content-Security-Policy: %v", csp)
		}
		screenshot(t, ctx, shots, "results")
	})

	t.Run("downloads are results --csv and --json", func(t *testing.T) {
		for _, format := range []string{"csv", "json"} {
			got := run(t, ctx, "download "+format, chromedp.Evaluate[string](
				`fetch('/ui/contracts/nps-quarterly/results.`+format+`').then(r => r.text())`,
				chromedp.EvalAwaitPromise))
			if wantOut := cliOutput(t, viewer, "results", "nps-quarterly", "--"+format); got != wantOut {
				t.Errorf("download %s:\n%s\nresults --%s:\n%s", format, got, format, wantOut)
			}
		}
	})

	t.Run("the login link works once", func(t *testing.T) {
		resp := run(t, ctx, "reuse the login link", chromedp.NavigateResponse(link.URL))
		body := run(t, ctx, "read", chromedp.Evaluate[string](`document.body.innerText`))
		if resp.Status != 401 || !strings.Contains(body, "already used") {
			t.Fatalf("second use: status %d, page %q", resp.Status, body)
		}
	})

	t.Run("pages", func(t *testing.T) {
		checks := []struct{ name, path, js string }{
			{"overview", "/ui/", `document.querySelector('#latest-releases') !== null && document.body.innerText.includes('nps-quarterly') && document.body.innerText.includes('Threshold')`},
			{"contracts", "/ui/contracts", `document.querySelector('#c-nps-sealed').innerText.includes('org-0') && document.querySelector('#c-nps-quarterly').innerText.includes('floor 11') && document.querySelector('#c-nps-noisy').innerText.includes('spent 1, left 2')`},
			{"rounds", "/ui/rounds", `document.querySelectorAll('#rounds-nps-quarterly tbody tr.round-released').length === 2`},
			{"audit", "/ui/audit", `document.querySelector('#verify.ok') !== null && document.querySelectorAll('#audit tbody tr').length > 5`},
			{"sealed", "/ui/contracts/nps-sealed", `document.querySelector('#forbidden') !== null && document.querySelector('#cells') === null`},
		}
		for _, ch := range checks {
			run(t, ctx, "open "+ch.path, chromedp.Navigate(base+ch.path))
			if ok := run(t, ctx, "check "+ch.name, chromedp.Evaluate[bool](ch.js)); !ok {
				body := run(t, ctx, "read", chromedp.Evaluate[string](`document.body.innerText`))
				t.Errorf("%s page: %s is false; it shows:\n%s", ch.name, ch.js, body)
			}
			if csp := run(t, ctx, "CSP", chromedp.Evaluate[[]string](`window.__csp`)); len(csp) > 0 {
				t.Errorf("%s page broke its Content-Security-Policy: %v", ch.name, csp)
			}
			screenshot(t, ctx, shots, ch.name)
		}
	})

	t.Run("a new release appears without a reload", func(t *testing.T) {
		run(t, ctx, "open results", chromedp.Navigate(base+"/ui/contracts/nps-quarterly"))
		run(t, ctx, "mark the document", chromedp.Evaluate[chromedp.Void](`window.__same = true`))
		run(t, ctx, "wait for the event stream", chromedp.Poll[bool](`document.getElementById('live').classList.contains('live')`))
		importQuarters(t, c.Nodes[0], "d", 20, "outpatient", "2026-02-20")
		next, err := c.Nodes[0].Client.RunRound(bg, "nps-quarterly")
		if err != nil {
			t.Fatal(err)
		}
		run(t, ctx, "wait for round "+string(next.Round), chromedp.Poll[bool](
			`document.getElementById('round').textContent.startsWith(`+strconv.Quote(string(next.Round))+`)`, chromedp.WithPollingTimeout(20*time.Second)))
		if same := run(t, ctx, "same document", chromedp.Evaluate[bool](`window.__same === true`)); !same {
			t.Fatal("the page was reloaded")
		}
		latest, err := viewer.Client.Results(bg, "nps-quarterly", "")
		if err != nil {
			t.Fatal(err)
		}
		run(t, ctx, "wait for the charts", chromedp.Poll[bool](`!!Chart.getChart('cells-chart')`))
		requireShown(t, run(t, ctx, "read the cells", chromedp.Evaluate[[]shownCell](readCells)), latest)
		screenshot(t, ctx, shots, "results-live")
	})

	t.Run("a foreign Host is refused", func(t *testing.T) {
		// evil.example resolves to 127.0.0.1 in this browser: a page that
		// rebinds its name to the node's machine.
		_, port, _ := strings.Cut(st.API, ":")
		resp := run(t, ctx, "open under another name", chromedp.NavigateResponse("http://evil.example:"+port+"/ui/"))
		body := run(t, ctx, "read", chromedp.Evaluate[string](`document.body.innerText`))
		if resp.Status != 421 || !strings.Contains(body, "wrong_host") || strings.Contains(body, "org-1") {
			t.Fatalf("evil.example: status %d, page %q; want 421 and nothing else", resp.Status, body)
		}
	})
}
