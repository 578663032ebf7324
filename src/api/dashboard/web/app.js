// dkv dashboard: polls this node's /dashboard/v0/cluster and /metrics about
// once a second and redraws in place (no reload, no framework). Each
// member's element carries data-member="<name>" and data-role="leader|
// follower|learner|unreachable" for tests and scripts.
(() => {
  'use strict';
  const POLL_MS = 1000;
  const FETCH_TIMEOUT_MS = 3000;
  const POINTS_KEPT = 120;
  const $ = (id) => document.getElementById(id);

  async function fetchWithTimeout(url) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), FETCH_TIMEOUT_MS);
    try {
      return await fetch(url, { signal: ac.signal, cache: 'no-store' });
    } finally {
      clearTimeout(timer);
    }
  }

  // Runs `step` now and then POLL_MS after each run ends (never overlapping).
  function every(step) {
    const run = async () => {
      try { await step(); } catch (e) { /* shown by step itself */ }
      setTimeout(run, POLL_MS);
    };
    run();
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function bytes(n) {
    if (!(n >= 0)) return '?';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }

  // ---- Members ------------------------------------------------------------

  function memberFields(m) {
    if (m.role === 'unreachable') return [['address', m.address]];
    return [
      ['address', m.address],
      ['term', m.term],
      ['commit / applied', m.commitIndex + ' / ' + m.appliedIndex],
      ['lag', m.lagKnown ? m.lag + (m.lag === '1' ? ' entry' : ' entries') : 'no leader'],
      ['database', bytes(Number(m.dbSizeBytes))],
      ['version', m.version],
      ['raft state', m.raftRole + (m.leaderId ? ' (leader ' + m.leaderId + ')' : '')],
    ];
  }

  function renderMember(node, m) {
    node.dataset.member = m.name;
    node.dataset.role = m.role;
    node.replaceChildren();
    const top = el('div', 'top');
    top.append(el('span', 'name', m.name));
    if (m.isSelf) top.append(el('span', 'self', 'this node'));
    top.append(el('span', 'role', m.role));
    const dl = el('dl');
    for (const [k, v] of memberFields(m)) dl.append(el('dt', '', k), el('dd', '', String(v)));
    node.append(top, dl);
    if (m.error) node.append(el('div', 'err', m.error));
  }

  function renderMembers(members) {
    const box = $('members');
    const byName = new Map();
    for (const e of box.querySelectorAll('[data-member]')) byName.set(e.dataset.member, e);
    let prev = null;
    for (const m of members) {
      let node = byName.get(m.name);
      byName.delete(m.name);
      if (!node) node = el('article', 'member');
      renderMember(node, m);
      const want = prev ? prev.nextSibling : box.firstChild;
      if (want !== node) box.insertBefore(node, want);
      prev = node;
    }
    for (const stale of byName.values()) stale.remove();
  }

  function renderEvents(events) {
    const list = $('events');
    list.replaceChildren();
    if (!events.length) {
      list.append(el('li', 'empty', 'nothing yet'));
      return;
    }
    for (const e of events.slice().reverse()) {
      const li = el('li');
      const t = el('time', '', new Date(Number(e.unixMs)).toLocaleTimeString());
      t.dateTime = new Date(Number(e.unixMs)).toISOString();
      li.append(t, el('span', 'kind', e.kind), el('span', 'text', e.text));
      list.append(li);
    }
  }

  function setConn(state, text) {
    const pill = $('conn');
    pill.dataset.state = state;
    pill.textContent = text;
  }

  async function pollCluster() {
    let r;
    try {
      r = await fetchWithTimeout('/dashboard/v0/cluster');
    } catch (e) {
      setConn('error', 'node unreachable');
      throw e;
    }
    if (!r.ok) {
      setConn('error', 'HTTP ' + r.status);
      return;
    }
    const c = await r.json();
    $('served-by').textContent = 'served by ' + c.nodeId + ' · cluster ' + c.clusterId;
    renderMembers(c.members || []);
    renderEvents(c.events || []);
    setConn('live', 'live');
  }

  // ---- Metrics ------------------------------------------------------------

  // Prometheus text format: [{name, labels, value}] (comments skipped).
  function parseMetrics(text) {
    const out = [];
    const re = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const m = re.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[2]) for (const l of m[2].matchAll(labelRe)) labels[l[1]] = l[2];
      out.push({ name: m[1], labels, value: Number(m[3]) });
    }
    return out;
  }

  const WRITES = new Set(['Put', 'Delete']);
  const READS = new Set(['Get']);
  const KV = new Set(['Put', 'Delete', 'Get']);

  // The numbers the charts need, as cumulative values.
  function summarize(samples) {
    const s = { writes: 0, reads: 0, committed: 0, lat: new Map(), fsync: new Map() };
    for (const x of samples) {
      if (x.name === 'dkv_grpc_server_handled_total') {
        if (WRITES.has(x.labels.grpc_method)) s.writes += x.value;
        if (READS.has(x.labels.grpc_method)) s.reads += x.value;
      } else if (x.name === 'dkv_server_proposals_committed_total') {
        s.committed += x.value;
      } else if (x.name === 'dkv_request_duration_seconds_bucket') {
        if (KV.has(x.labels.method) && x.labels.code === 'OK') {
          s.lat.set(x.labels.le, (s.lat.get(x.labels.le) || 0) + x.value);
        }
      } else if (x.name === 'dkv_disk_wal_fsync_duration_seconds_bucket') {
        s.fsync.set(x.labels.le, (s.fsync.get(x.labels.le) || 0) + x.value);
      }
    }
    return s;
  }

  // histogram_quantile over the bucket deltas between two summaries;
  // null when nothing was observed in between. Seconds.
  function quantile(q, now, before) {
    const buckets = [...now.entries()]
      .map(([le, v]) => [le === '+Inf' ? Infinity : Number(le), v - (before.get(le) || 0)])
      .sort((a, b) => a[0] - b[0]);
    if (!buckets.length) return null;
    const total = buckets[buckets.length - 1][1];
    if (!(total > 0)) return null;
    const rank = q * total;
    let lower = 0, below = 0;
    for (const [le, count] of buckets) {
      if (count >= rank) {
        if (le === Infinity) return lower;
        const inBucket = count - below;
        return inBucket > 0 ? lower + (le - lower) * ((rank - below) / inBucket) : le;
      }
      lower = le;
      below = count;
    }
    return lower;
  }

  const series = { t: [], writes: [], reads: [], p50: [], p99: [], committed: [], f50: [], f99: [] };
  let previous = null;
  const charts = {};

  const clock = (secs) => new Date(secs * 1000).toLocaleTimeString([], { hour12: false });

  function makeChart(id, lines) {
    const box = $(id);
    const opts = {
      width: Math.max(box.clientWidth, 200),
      height: 160,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{ space: 70, values: (u, splits) => splits.map(clock) }, { size: 50 }],
      series: [{}].concat(lines.map(([label, stroke]) => ({ label, stroke, width: 1.5, spanGaps: false }))),
    };
    const chart = new uPlot(opts, [[], ...lines.map(() => [])], box);
    new ResizeObserver(() => chart.setSize({ width: Math.max(box.clientWidth, 200), height: 160 }))
      .observe(box);
    return chart;
  }

  function initCharts() {
    charts.ops = makeChart('chart-ops', [['writes/s', '#2b5fb3'], ['reads/s', '#1f7a3d']]);
    charts.lat = makeChart('chart-lat', [['p50', '#2b5fb3'], ['p99', '#b3261e']]);
    charts.prop = makeChart('chart-prop', [['committed/s', '#6a3fb3']]);
    charts.fsync = makeChart('chart-fsync', [['p50', '#2b5fb3'], ['p99', '#b3261e']]);
  }

  function push(name, v) {
    series[name].push(v);
    if (series[name].length > POINTS_KEPT) series[name].shift();
  }

  const ms = (s) => (s === null ? null : s * 1000);

  async function pollMetrics() {
    const r = await fetchWithTimeout('/metrics');
    if (!r.ok) return;
    const now = { at: Date.now() / 1000, s: summarize(parseMetrics(await r.text())) };
    if (previous) {
      const dt = now.at - previous.at;
      const rate = (k) => Math.max(0, (now.s[k] - previous.s[k]) / dt);
      push('t', now.at);
      push('writes', rate('writes'));
      push('reads', rate('reads'));
      push('committed', rate('committed'));
      push('p50', ms(quantile(0.5, now.s.lat, previous.s.lat)));
      push('p99', ms(quantile(0.99, now.s.lat, previous.s.lat)));
      push('f50', ms(quantile(0.5, now.s.fsync, previous.s.fsync)));
      push('f99', ms(quantile(0.99, now.s.fsync, previous.s.fsync)));
      charts.ops.setData([series.t, series.writes, series.reads]);
      charts.lat.setData([series.t, series.p50, series.p99]);
      charts.prop.setData([series.t, series.committed]);
      charts.fsync.setData([series.t, series.f50, series.f99]);
    }
    previous = now;
  }

  // ---- Key browser --------------------------------------------------------

  let lastValue = null;  // Uint8Array of the last value read.
  let asHex = false;

  function base64url(bytesIn) {
    let bin = '';
    for (const b of bytesIn) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function fromBase64(s) {
    const bin = atob(s || '');
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function hexDump(b) {
    const lines = [];
    for (let i = 0; i < b.length; i += 16) {
      const row = Array.from(b.subarray(i, i + 16), (x) => x.toString(16).padStart(2, '0'));
      lines.push(i.toString(16).padStart(6, '0') + '  ' + row.join(' '));
    }
    return lines.join('\n');
  }

  function showValue() {
    $('as-text').setAttribute('aria-pressed', String(!asHex));
    $('as-hex').setAttribute('aria-pressed', String(asHex));
    if (lastValue === null) return;
    $('value').textContent = asHex ? hexDump(lastValue) : new TextDecoder().decode(lastValue);
  }

  async function getKey(ev) {
    ev.preventDefault();
    const key = new TextEncoder().encode($('key').value);
    const serializable = $('serializable').checked ? '?serializable=true' : '';
    lastValue = null;
    $('value').textContent = '';
    $('value-meta').textContent = 'reading…';
    try {
      const r = await fetchWithTimeout('/v0/kv/key/' + base64url(key) + serializable);
      const body = await r.json();
      if (!r.ok) {
        $('value-meta').textContent = (r.status === 404 ? 'not found' : 'error ' + r.status) +
          (body.message ? ': ' + body.message : '');
        return;
      }
      lastValue = fromBase64(body.value);
      $('value-meta').textContent = lastValue.length + ' bytes';
      showValue();
    } catch (e) {
      $('value-meta').textContent = 'request failed: ' + e.message;
    }
  }

  $('get-form').addEventListener('submit', getKey);
  $('as-text').addEventListener('click', () => { asHex = false; showValue(); });
  $('as-hex').addEventListener('click', () => { asHex = true; showValue(); });

  every(pollCluster);
  initCharts();
  every(pollMetrics);
})();
