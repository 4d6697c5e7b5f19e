// cxnet dashboard: draws the charts a page describes (JSON in
// <script type="application/json">, read with Chart.js) and refreshes the
// page's content when the node's state changes (server-sent events from
// /ui/events). No inline script: the Content-Security-Policy forbids it.
(function () {
  'use strict';

  // Okabe-Ito: distinguishable with every common colour-vision deficiency.
  var palette = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
  // Point styles tell lines apart without colour.
  var points = ['circle', 'triangle', 'rect', 'rectRot', 'star', 'crossRot', 'cross', 'rectRounded'];
  var charts = [];

  function colour(i) { return palette[i % palette.length]; }

  function dataset(spec, s, i) {
    var c = colour(spec.type === 'bar' ? (s.role === 'own' ? 1 : 0) : s.group);
    var own = s.role === 'own';
    var d = { label: s.label, data: s.data, borderColor: c, pointStyle: points[s.group % points.length] };
    if (spec.type === 'bar') {
      // Own values: outlined bars; the network's: solid. Fill is not colour.
      d.backgroundColor = own ? c + '33' : c;
      d.borderWidth = own ? 2 : 0;
    } else {
      d.backgroundColor = c;
      d.borderWidth = 2;
      d.borderDash = own ? [6, 4] : [];
      d.pointRadius = 4;
      d.spanGaps = false; // a suppressed cell is a gap, never a line through zero
    }
    return d;
  }

  function draw(root) {
    if (typeof Chart === 'undefined') { return; }
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    root.querySelectorAll('canvas[data-chart]').forEach(function (canvas) {
      var el = document.getElementById(canvas.getAttribute('data-chart'));
      if (!el) { return; }
      var spec = JSON.parse(el.textContent);
      var chart = new Chart(canvas, {
        type: spec.type,
        data: { labels: spec.labels, datasets: spec.series.map(function (s, i) { return dataset(spec, s, i); }) },
        options: {
          animation: false,
          maintainAspectRatio: false,
          plugins: {
            legend: { labels: { usePointStyle: spec.type === 'line' } },
            tooltip: { callbacks: { label: function (ctx) {
              return ctx.dataset.label + ': ' + (ctx.raw === null ? 'suppressed' : ctx.raw);
            } } }
          },
          scales: {
            x: { title: { display: true, text: spec.x_label } },
            y: { title: { display: true, text: spec.y_label } }
          }
        }
      });
      charts.push(chart);
    });
  }

  var live = document.getElementById('live');

  function stamp() {
    var m = document.getElementById('main');
    return m ? m.getAttribute('data-stamp') : '';
  }

  // refresh replaces the page's content with the server's current one.
  function refresh() {
    return fetch(location.href, { credentials: 'same-origin', cache: 'no-store' }).then(function (resp) {
      if (!resp.ok) { throw new Error(resp.status + ' ' + resp.statusText); }
      return resp.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, 'text/html');
      var next = doc.getElementById('main');
      var main = document.getElementById('main');
      if (!next || !main) { return; }
      charts.forEach(function (c) { c.destroy(); });
      charts = [];
      main.replaceWith(document.adoptNode(next));
      draw(next);
      if (live) { live.textContent = 'updated ' + new Date().toLocaleTimeString(); }
    });
  }

  function listen() {
    var url = live && live.getAttribute('data-events');
    if (!url || typeof EventSource === 'undefined') { return; }
    var es = new EventSource(url);
    var busy = false, latest = '';
    es.addEventListener('open', function () {
      live.classList.add('live');
      if (!live.textContent) { live.textContent = 'live'; }
    });
    es.addEventListener('error', function () { live.classList.remove('live'); });
    function update() {
      if (busy || latest === stamp()) { return; }
      busy = true;
      refresh().catch(function (err) {
        live.textContent = 'could not refresh: ' + err.message;
        latest = stamp(); // wait for the next change rather than retry in a loop
      }).then(function () {
        busy = false;
        update(); // a change that came while refreshing
      });
    }
    es.addEventListener('change', function (ev) {
      latest = ev.data;
      update();
    });
  }

  draw(document);
  listen();
}());
